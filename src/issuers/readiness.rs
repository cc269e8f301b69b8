//! Issuer and ClusterIssuer readiness (pure): the Ready condition cert-manager's
//! issuer controllers set, from the issuer's config and its CA Secret.

use std::collections::BTreeMap;

use crate::api::IssuerConfig;
use crate::api::meta::ConditionStatus;
use crate::issuers::ca;

/// The Ready condition of an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerReady {
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

fn ready(status: ConditionStatus, reason: &str, message: impl Into<String>) -> IssuerReady {
    IssuerReady {
        status,
        reason: reason.to_string(),
        message: message.into(),
    }
}

/// The Secret a CA issuer uses, as looked up: `None` when it does not exist.
pub type SecretLookup<'a> = Option<&'a BTreeMap<String, Vec<u8>>>;

/// The name of the Secret the issuer needs read, if any.
pub fn secret_needed(config: &IssuerConfig) -> Option<&str> {
    match (&config.ca, &config.acme) {
        (Some(c), _) => Some(c.secret_name.as_str()),
        (None, Some(a)) => Some(a.private_key_secret_ref.name.as_str()),
        _ => None,
    }
}

/// Whether a change to the Secret `name` (in the issuer's resource namespace) can
/// change the issuer's readiness.
pub fn uses_secret(config: &IssuerConfig, name: &str) -> bool {
    secret_needed(config) == Some(name)
        || config
            .vault
            .as_ref()
            .is_some_and(|v| crate::issuers::vault::spec::secret_names(v).contains(&name))
}

/// The readiness of an issuer; `secret` is the Secret `secret_needed` names.
pub fn evaluate(
    config: &IssuerConfig,
    secret_namespace: &str,
    secret: SecretLookup<'_>,
) -> IssuerReady {
    if config.self_signed.is_some() {
        return ready(ConditionStatus::True, "IsReady", "");
    }
    if let Some(ca_cfg) = &config.ca {
        let Some(data) = secret else {
            return ready(
                ConditionStatus::False,
                ca::REASON_ERR_GET_KEY_PAIR,
                format!(
                    "{}secret \"{}\" not found in namespace \"{secret_namespace}\"",
                    ca::MESSAGE_ERROR_GET_KEY_PAIR,
                    ca_cfg.secret_name
                ),
            );
        };
        return match ca::CaKeyPair::from_secret_data(data) {
            Ok(_) => ready(
                ConditionStatus::True,
                ca::REASON_KEY_PAIR_VERIFIED,
                ca::MESSAGE_KEY_PAIR_VERIFIED,
            ),
            Err(e) => ready(ConditionStatus::False, e.reason(), e.condition_message()),
        };
    }
    // ACME and Vault issuers are checked by talking to their servers
    // (issuer_controller); they do not come here.
    let kind = if config.acme.is_some() {
        "ACME"
    } else if config.vault.is_some() {
        "Vault"
    } else if config.venafi.is_some() {
        "Venafi"
    } else {
        "this"
    };
    ready(
        ConditionStatus::False,
        "NotSupported",
        format!("certgate cannot sign with {kind} issuers yet"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::issuer::{CaIssuer, SelfSignedIssuer};

    #[test]
    fn self_signed_is_ready_and_a_ca_needs_its_key_pair() {
        let ss = IssuerConfig {
            self_signed: Some(SelfSignedIssuer::default()),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&ss, "ns", None),
            ready(ConditionStatus::True, "IsReady", "")
        );
        let ca_cfg = IssuerConfig {
            ca: Some(CaIssuer {
                secret_name: "ca-kp".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(secret_needed(&ca_cfg), Some("ca-kp"));
        let missing = evaluate(&ca_cfg, "ns", None);
        assert_eq!(missing.status, ConditionStatus::False);
        assert_eq!(missing.reason, "ErrGetKeyPair");
        assert!(missing.message.contains("\"ca-kp\""), "{}", missing.message);
        let empty = BTreeMap::new();
        let bad = evaluate(&ca_cfg, "ns", Some(&empty));
        assert_eq!(bad.status, ConditionStatus::False);
        assert!(
            bad.message
                .starts_with("Error getting keypair for CA issuer"),
            "{}",
            bad.message
        );
    }
}
