//! ACME accounts: the account key in the issuer's `privateKeySecretRef` Secret,
//! generated when absent, registered once per process and shared by the Order and
//! Challenge controllers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine;
use instant_acme::{Account, ExternalAccountKey, Key, NewAccount};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::api::AcmeIssuer;
use crate::issuers::acme::client::{ClientError, account_builder, with_action};

/// Ready reason and message once the account is registered (cert-manager's wording).
pub const REASON_REGISTERED: &str = "ACMEAccountRegistered";
pub const MESSAGE_REGISTERED: &str = "The ACME account was registered with the ACME server";
/// Ready reason when the account cannot be registered or its key cannot be used.
pub const REASON_REGISTER_FAILED: &str = "ErrRegisterACMEAccount";
pub const REASON_VERIFY_FAILED: &str = "ErrVerifyACMEAccount";

/// Why an account is not available.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error(
        "the ACME account key Secret {secret} does not exist and spec.acme.disableAccountKeyGeneration is true: create it with the account's private key under {key:?}"
    )]
    KeyMissing { secret: String, key: String },
    #[error(
        "the ACME account key in Secret {secret} (key {key:?}) cannot be used: {why}. Delete the Secret to have a new account key generated, or put a PEM ECDSA P-256 key there"
    )]
    KeyInvalid {
        secret: String,
        key: String,
        why: String,
    },
    #[error(
        "the external account binding key in Secret {secret} (key {key:?}) cannot be read: {why}"
    )]
    EabKey {
        secret: String,
        key: String,
        why: String,
    },
    #[error("Failed to register ACME account: {0}")]
    Register(String),
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
}

impl AccountError {
    /// The issuer's Ready reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            AccountError::KeyInvalid { .. } | AccountError::KeyMissing { .. } => {
                REASON_VERIFY_FAILED
            }
            _ => REASON_REGISTER_FAILED,
        }
    }
}

/// Adds what to do to the ACME client's error text, for the failures users meet.
pub fn explain_registration_error(error: &instant_acme::Error) -> String {
    let text = error.to_string();
    let hint = match error {
        instant_acme::Error::Api(p) => match p.r#type.as_deref() {
            Some(t) if t.ends_with(":externalAccountRequired") => Some(
                "this ACME server requires External Account Binding: set spec.acme.externalAccountBinding with the key ID and HMAC key your CA gave you",
            ),
            Some(t) if t.ends_with(":unauthorized") || t.ends_with(":malformed") => {
                if text.to_ascii_lowercase().contains("external account") || text.contains("EAB") {
                    Some(
                        "the External Account Binding was refused: check spec.acme.externalAccountBinding.keyID and the HMAC key in its Secret",
                    )
                } else {
                    None
                }
            }
            _ => None,
        },
        _ => {
            let lower = format!("{error:?}").to_ascii_lowercase();
            if lower.contains("unknownissuer")
                || lower.contains("invalid peer certificate")
                || lower.contains("certificate")
            {
                Some(
                    "the ACME server's TLS certificate is not trusted: set spec.acme.caBundle to the CA that signed it (spec.acme.skipTLSVerify only for testing)",
                )
            } else if lower.contains("connect")
                || lower.contains("dns error")
                || lower.contains("invalid uri")
                || lower.contains("json")
                || lower.contains("404")
            {
                Some(
                    "check spec.acme.server: it must be the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory",
                )
            } else {
                None
            }
        }
    };
    let detail = match error {
        instant_acme::Error::Api(_) => text,
        _ => format!("{text} ({})", source_chain(error)),
    };
    match hint {
        Some(h) => format!("{detail}: {h}"),
        None => detail,
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = error.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    if parts.is_empty() {
        format!("{error:?}")
    } else {
        parts.join(": ")
    }
}

/// A registered account and what it was registered with.
#[derive(Clone)]
pub struct Registered {
    pub account: Account,
    pub server: String,
    pub key_hash: String,
    pub email: Option<String>,
    pub eab_key_id: Option<String>,
}

/// Accounts by issuer (`Issuer/<ns>/<name>` or `ClusterIssuer/<name>`).
#[derive(Default)]
pub struct AccountRegistry {
    accounts: Mutex<HashMap<String, Registered>>,
}

impl AccountRegistry {
    fn get(&self, issuer: &str) -> Option<Registered> {
        self.accounts.lock().ok()?.get(issuer).cloned()
    }

    fn put(&self, issuer: &str, r: Registered) {
        if let Ok(mut m) = self.accounts.lock() {
            m.insert(issuer.to_string(), r);
        }
    }
}

/// The PEM text of a PKCS#8 key.
pub fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// The account key in a Secret value: a PEM PKCS#8 ECDSA P-256 key.
pub fn parse_account_key(pem: &[u8]) -> Result<(Key, Vec<u8>), String> {
    let block = x509_parser::pem::Pem::iter_from_buffer(pem)
        .find_map(Result::ok)
        .ok_or_else(|| "it holds no PEM block".to_string())?;
    match block.label.as_str() {
        "PRIVATE KEY" => {}
        "RSA PRIVATE KEY" => {
            return Err(
                "it is an RSA key; certgate's ACME client signs with ECDSA P-256 account keys only"
                    .into(),
            );
        }
        "EC PRIVATE KEY" => {
            return Err("it is a SEC1 \"EC PRIVATE KEY\"; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)".into());
        }
        other => return Err(format!("its PEM block is {other:?}, not \"PRIVATE KEY\"")),
    }
    let key = Key::from_pkcs8_der(PrivatePkcs8KeyDer::from(block.contents.clone()))
        .map_err(|_| "it is not an ECDSA P-256 PKCS#8 key".to_string())?;
    Ok((key, block.contents))
}

/// A short hash of the account key, stored as `status.acme.lastPrivateKeyHash`.
pub fn key_hash(der: &[u8]) -> String {
    use hickory_proto::dnssec::DigestType;
    use hickory_proto::dnssec::crypto::Digest;
    Digest::new(der, DigestType::SHA256)
        .map(|d| base64::engine::general_purpose::STANDARD.encode(d.as_ref()))
        .unwrap_or_default()
}

/// The account's contact URIs for its email, if any.
fn contacts(email: Option<&str>) -> Vec<String> {
    email.iter().map(|e| format!("mailto:{e}")).collect()
}

/// Everything needed to get an issuer's account.
pub struct AccountRequest<'a> {
    /// `Issuer/<ns>/<name>` or `ClusterIssuer/<name>`.
    pub issuer_key: &'a str,
    pub acme: &'a AcmeIssuer,
    /// Where the issuer's Secrets live.
    pub secret_namespace: &'a str,
    /// Where the ACME client's requests are counted.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.clone())
}

async fn eab_key(
    client: &kube::Client,
    req: &AccountRequest<'_>,
) -> Result<Option<ExternalAccountKey>, AccountError> {
    let Some(eab) = &req.acme.external_account_binding else {
        return Ok(None);
    };
    let key = eab
        .key_secret_ref
        .key
        .clone()
        .unwrap_or_else(|| "secret".into());
    let secret_name = format!("{}/{}", req.secret_namespace, eab.key_secret_ref.name);
    let err = |why: String| AccountError::EabKey {
        secret: secret_name.clone(),
        key: key.clone(),
        why,
    };
    let secret = Api::<Secret>::namespaced(client.clone(), req.secret_namespace)
        .get_opt(&eab.key_secret_ref.name)
        .await?
        .ok_or_else(|| err("the Secret does not exist".into()))?;
    let value = secret_value(&secret, &key).ok_or_else(|| err("the key is missing".into()))?;
    let text = String::from_utf8(value).map_err(|_| err("it is not text".into()))?;
    let hmac = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| err("it is not base64url".into()))?;
    Ok(Some(ExternalAccountKey::new(eab.key_id.clone(), &hmac)))
}

/// The issuer's account: from the registry when nothing changed, else registered
/// (creating the account key when the Secret is absent).
pub async fn ensure(
    client: &kube::Client,
    registry: &AccountRegistry,
    req: &AccountRequest<'_>,
) -> Result<Registered, AccountError> {
    let key_name = req
        .acme
        .private_key_secret_ref
        .key
        .clone()
        .unwrap_or_else(|| "tls.key".into());
    let secret_ref = format!(
        "{}/{}",
        req.secret_namespace, req.acme.private_key_secret_ref.name
    );
    let secrets = Api::<Secret>::namespaced(client.clone(), req.secret_namespace);
    let existing = secrets
        .get_opt(&req.acme.private_key_secret_ref.name)
        .await?
        .and_then(|s| secret_value(&s, &key_name));
    let email = req.acme.email.clone().filter(|e| !e.is_empty());
    let eab_key_id = req
        .acme
        .external_account_binding
        .as_ref()
        .map(|e| e.key_id.clone());
    if let Some(pem) = &existing {
        let (key, der) = parse_account_key(pem).map_err(|why| AccountError::KeyInvalid {
            secret: secret_ref.clone(),
            key: key_name.clone(),
            why,
        })?;
        let hash = key_hash(&der);
        if let Some(r) = registry.get(req.issuer_key)
            && r.server == req.acme.server
            && r.key_hash == hash
            && r.eab_key_id == eab_key_id
        {
            if r.email != email {
                let contact = contacts(email.as_deref());
                let refs: Vec<&str> = contact.iter().map(String::as_str).collect();
                with_action("update_registration", r.account.update_contacts(&refs))
                    .await
                    .map_err(|e| AccountError::Register(explain_registration_error(&e)))?;
                let updated = Registered { email, ..r };
                registry.put(req.issuer_key, updated.clone());
                return Ok(updated);
            }
            return Ok(r);
        }
        let builder = account_builder(req.acme, req.metrics.clone())?;
        let (account, _) = with_action(
            "get_registration",
            builder.create_from_key(
                (key, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))),
                req.acme.server.clone(),
            ),
        )
        .await
        .map_err(|e| AccountError::Register(explain_registration_error(&e)))?;
        if email.is_some() {
            let contact = contacts(email.as_deref());
            let refs: Vec<&str> = contact.iter().map(String::as_str).collect();
            with_action("update_registration", account.update_contacts(&refs))
                .await
                .map_err(|e| AccountError::Register(explain_registration_error(&e)))?;
        }
        let r = Registered {
            account,
            server: req.acme.server.clone(),
            key_hash: hash,
            email,
            eab_key_id,
        };
        registry.put(req.issuer_key, r.clone());
        return Ok(r);
    }
    if req.acme.disable_account_key_generation.unwrap_or(false) {
        return Err(AccountError::KeyMissing {
            secret: secret_ref,
            key: key_name,
        });
    }
    // A new key and a new account, then the key is stored.
    let eab = eab_key(client, req).await?;
    let contact = contacts(email.as_deref());
    let refs: Vec<&str> = contact.iter().map(String::as_str).collect();
    let builder = account_builder(req.acme, req.metrics.clone())?;
    let (account, credentials) = with_action(
        "register_account",
        builder.create(
            &NewAccount {
                contact: &refs,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            req.acme.server.clone(),
            eab.as_ref(),
        ),
    )
    .await
    .map_err(|e| AccountError::Register(explain_registration_error(&e)))?;
    let der = credentials.private_key().secret_pkcs8_der().to_vec();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(req.acme.private_key_secret_ref.name.clone()),
            namespace: Some(req.secret_namespace.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            key_name.clone(),
            ByteString(pkcs8_pem(&der).into_bytes()),
        )])),
        ..Default::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => {}
        // Another replica or an earlier run stored a key first: use that one next time.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            return Err(AccountError::Register(format!(
                "the account key Secret {secret_ref} was created meanwhile; retrying with it"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let r = Registered {
        account,
        server: req.acme.server.clone(),
        key_hash: key_hash(&der),
        email,
        eab_key_id,
    };
    registry.put(req.issuer_key, r.clone());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_must_be_pkcs8_p256() {
        let (_, der) = Key::generate_pkcs8().unwrap();
        let pem = pkcs8_pem(der.secret_pkcs8_der());
        let Ok((_, parsed)) = parse_account_key(pem.as_bytes()) else {
            panic!("a generated key parses")
        };
        assert_eq!(parsed, der.secret_pkcs8_der());
        assert_eq!(key_hash(&parsed), key_hash(der.secret_pkcs8_der()));

        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = |pem: &[u8]| match parse_account_key(pem) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        };
        assert!(err(rsa.as_bytes()).contains("RSA"));
        assert!(err(b"garbage").contains("no PEM"));
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(err(ed.serialize_pem().as_bytes()).contains("P-256"));
    }

    #[test]
    fn errors_say_what_to_do_and_carry_no_key() {
        let e = AccountError::KeyInvalid {
            secret: "cert-manager/acme-key".into(),
            key: "tls.key".into(),
            why: "it holds no PEM block".into(),
        };
        let text = e.to_string();
        assert!(text.contains("cert-manager/acme-key"), "{text}");
        assert!(text.contains("Delete the Secret"), "{text}");
        assert_eq!(e.reason(), REASON_VERIFY_FAILED);
    }
}
