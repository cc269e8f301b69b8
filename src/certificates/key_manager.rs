//! The key manager loop: while issuing, keeps the next private key in a temporary
//! Secret that matches `spec.privateKey`; removes temporary keys no longer needed.

use crate::certificates::snapshot::Snapshot;
use crate::pki::key::PrivateKey;

/// What the key manager wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// Create the next key Secret; with `reuse_current`, copy the key of the issued Secret
    /// (rotationPolicy Never).
    Generate { reuse_current: bool },
    /// Delete a temporary key Secret (and forget it in status when it is the next key).
    Delete(String),
}

fn rotation_never(s: &Snapshot) -> bool {
    s.certificate
        .spec
        .private_key
        .as_ref()
        .and_then(|k| k.rotation_policy)
        .is_some_and(|p| p == crate::api::certificate::RotationPolicy::Never)
}

/// The key manager decision for a snapshot.
pub fn decide(s: &Snapshot) -> Option<KeyAction> {
    if let Some(stale) = s.stale_keys.first() {
        return Some(KeyAction::Delete(stale.clone()));
    }
    if !s.issuing() {
        return s
            .next_key
            .as_ref()
            .map(|k| KeyAction::Delete(k.name.clone()));
    }
    let spec_key = s.certificate.spec.private_key.as_ref();
    match &s.next_key {
        None => {
            let current_fits = s
                .secret
                .as_ref()
                .and_then(|sec| sec.data.get(crate::api::annotations::TLS_KEY))
                .and_then(|pem| PrivateKey::from_pem(pem).ok())
                .is_some_and(|k| k.matches_spec(spec_key));
            Some(KeyAction::Generate {
                reuse_current: rotation_never(s) && current_fits,
            })
        }
        Some(next) => {
            let fits = next
                .pem
                .as_deref()
                .and_then(|pem| PrivateKey::from_pem(pem).ok())
                .is_some_and(|k| k.matches_spec(spec_key));
            (!fits).then(|| KeyAction::Delete(next.name.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::snapshot::NextKey;
    use crate::certificates::testing::{cert, issuing, snapshot};

    #[test]
    fn issuing_without_a_next_key_generates_one() {
        let s = issuing(snapshot(cert("web", &["web.example"]), None));
        assert_eq!(
            decide(&s),
            Some(KeyAction::Generate {
                reuse_current: false
            })
        );
    }

    #[test]
    fn a_next_key_of_the_wrong_algorithm_is_replaced() {
        let mut s = issuing(snapshot(cert("web", &["web.example"]), None));
        let rsa = PrivateKey::generate(crate::pki::key::KeyAlgorithm::Ecdsa(384)).unwrap();
        let pem = rsa
            .to_pem(crate::api::certificate::PrivateKeyEncoding::Pkcs8)
            .unwrap();
        s.next_key = Some(NextKey {
            name: "web-abcde".into(),
            pem: Some(pem.into_bytes()),
        });
        assert_eq!(decide(&s), Some(KeyAction::Delete("web-abcde".into())));
    }

    #[test]
    fn leftovers_go_first_and_a_next_key_goes_when_not_issuing() {
        let mut s = snapshot(cert("web", &["web.example"]), None);
        s.stale_keys = vec!["web-old".into()];
        assert_eq!(decide(&s), Some(KeyAction::Delete("web-old".into())));
        s.stale_keys.clear();
        s.next_key = Some(NextKey {
            name: "web-next".into(),
            pem: None,
        });
        assert_eq!(decide(&s), Some(KeyAction::Delete("web-next".into())));
    }
}
