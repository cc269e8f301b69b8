//! ACME accounts: the account key in the issuer's `privateKeySecretRef` Secret
//! (RSA, as cert-manager generates it, or ECDSA P-256/P-384), generated when
//! absent, registered once per process and shared by the Order and Challenge
//! controllers, with the issuer's ACME client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

use crate::api::AcmeIssuer;
use crate::issuers::acme::client::{ClientError, new_client, with_action};
use crate::issuers::acme::protocol::{
    self, Account, AccountKey, AccountKeyAlgorithm, EabKey, NewAccount,
};

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
        "the ACME account key in Secret {secret} (key {key:?}) cannot be used: {why}. Delete the Secret to have a new account key generated, or put the account's PEM private key there (RSA 2048 to 4096 bits, ECDSA P-256 or P-384)"
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
pub fn explain_registration_error(error: &protocol::Error) -> String {
    let text = error.to_string();
    // A problem document the server sent (not just an error status).
    let problem = error.problem().filter(|p| p.kind.is_some());
    let hint = match problem {
        Some(p) if p.is("externalAccountRequired") => Some(
            "this ACME server requires External Account Binding: set spec.acme.externalAccountBinding with the key ID and HMAC key your CA gave you",
        ),
        Some(p) if p.is("unauthorized") || p.is("malformed") => {
            if text.to_ascii_lowercase().contains("external account") || text.contains("EAB") {
                Some(
                    "the External Account Binding was refused: check spec.acme.externalAccountBinding.keyID and the HMAC key in its Secret",
                )
            } else {
                None
            }
        }
        Some(_) => None,
        None => {
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
                || lower.contains("invalid url")
                || lower.contains("json")
                || lower.contains("acme directory")
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
    match hint {
        Some(h) => format!("{text}: {h}"),
        None => text,
    }
}

/// What an issuer's ACME client was made for: its server and how it is reached.
#[derive(Clone, PartialEq, Eq)]
struct ClientConfig {
    server: String,
    ca_bundle: Option<String>,
    skip_tls_verify: bool,
}

impl ClientConfig {
    fn of(acme: &AcmeIssuer) -> ClientConfig {
        ClientConfig {
            server: acme.server.clone(),
            ca_bundle: acme.ca_bundle.clone(),
            skip_tls_verify: acme.skip_tls_verify.unwrap_or(false),
        }
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
    client_config: ClientConfig,
}

/// Accounts and ACME clients by issuer (`Issuer/<ns>/<name>` or
/// `ClusterIssuer/<name>`). A client is kept while the issuer's server, caBundle
/// and skipTLSVerify stay the same: the directory is read once.
#[derive(Default)]
pub struct AccountRegistry {
    accounts: Mutex<HashMap<String, Registered>>,
    clients: Mutex<HashMap<String, (ClientConfig, protocol::Client)>>,
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

    /// Forgets the issuer's account and client: the next use reads the directory
    /// again and looks the account up by its key (after the server stopped
    /// answering at a URL its directory named, as when a CA moves its endpoints).
    pub fn forget(&self, issuer: &str) {
        if let Ok(mut m) = self.accounts.lock() {
            m.remove(issuer);
        }
        if let Ok(mut m) = self.clients.lock() {
            m.remove(issuer);
        }
    }

    /// The issuer's ACME client, made (reading the directory) when there is none
    /// for its current settings.
    async fn client(
        &self,
        issuer: &str,
        acme: &AcmeIssuer,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<protocol::Client, protocol::Error> {
        let config = ClientConfig::of(acme);
        if let Ok(m) = self.clients.lock()
            && let Some((c, client)) = m.get(issuer)
            && *c == config
        {
            return Ok(client.clone());
        }
        let client = new_client(acme, metrics).await?;
        if let Ok(mut m) = self.clients.lock() {
            m.insert(issuer.to_string(), (config, client.clone()));
        }
        Ok(client)
    }
}

/// The DER of the first PEM block of a Secret value (what
/// `status.acme.lastPrivateKeyHash` hashes).
fn first_pem_block(pem: &[u8]) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .find_map(Result::ok)
        .map(|p| p.contents)
}

/// The account key in a Secret value — PEM PKCS#1 `RSA PRIVATE KEY` (what
/// cert-manager writes), SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`: RSA 2048
/// to 4096 bits, ECDSA P-256 or P-384 — and the DER of its PEM block.
pub fn parse_account_key(pem: &[u8]) -> Result<(AccountKey, Vec<u8>), String> {
    let der = first_pem_block(pem).ok_or_else(|| "it holds no PEM block".to_string())?;
    let key = AccountKey::from_pem(pem).map_err(|e| e.to_string())?;
    Ok((key, der))
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
) -> Result<Option<EabKey>, AccountError> {
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
    let eab = EabKey::from_base64url(eab.key_id.clone(), &text).map_err(|e| match e {
        protocol::jws::JwsError::EabKeyEncoding(_) => err("it is not base64url".into()),
        other => err(other.to_string()),
    })?;
    Ok(Some(eab))
}

fn register_error(e: protocol::Error) -> AccountError {
    AccountError::Register(explain_registration_error(&e))
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
    let contact = contacts(email.as_deref());
    let eab_key_id = req
        .acme
        .external_account_binding
        .as_ref()
        .map(|e| e.key_id.clone());
    let client_config = ClientConfig::of(req.acme);
    if let Some(pem) = &existing {
        let (key, der) = parse_account_key(pem).map_err(|why| AccountError::KeyInvalid {
            secret: secret_ref.clone(),
            key: key_name.clone(),
            why,
        })?;
        let hash = key_hash(&der);
        if let Some(r) = registry.get(req.issuer_key)
            && r.client_config == client_config
            && r.key_hash == hash
            && r.eab_key_id == eab_key_id
        {
            if r.email != email {
                with_action("update_registration", r.account.update_contact(&contact))
                    .await
                    .map_err(register_error)?;
                let updated = Registered { email, ..r };
                registry.put(req.issuer_key, updated.clone());
                return Ok(updated);
            }
            return Ok(r);
        }
        let acme_client = registry
            .client(req.issuer_key, req.acme, req.metrics.clone())
            .await
            .map_err(register_error)?;
        let key = Arc::new(key);
        // The key's account (cert-manager's Secret holds the key of an account it
        // registered), else a new account for the key.
        let found = with_action("get_registration", acme_client.find_account(key.clone()))
            .await
            .map_err(register_error)?;
        let account = match found {
            Some(found) => {
                if found.resource.contact != contact {
                    with_action(
                        "update_registration",
                        found.account.update_contact(&contact),
                    )
                    .await
                    .map_err(register_error)?;
                }
                found.account
            }
            None => {
                let eab = eab_key(client, req).await?;
                let new = NewAccount {
                    contact: contact.clone(),
                    terms_of_service_agreed: true,
                };
                with_action(
                    "register_account",
                    acme_client.new_account(key, &new, eab.as_ref()),
                )
                .await
                .map_err(register_error)?
                .account
            }
        };
        let r = Registered {
            account,
            server: req.acme.server.clone(),
            key_hash: hash,
            email,
            eab_key_id,
            client_config,
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
    // A new key (RSA 2048, as cert-manager generates) and a new account, then the
    // key is stored as cert-manager stores it (PKCS#1 PEM).
    let eab = eab_key(client, req).await?;
    let acme_client = registry
        .client(req.issuer_key, req.acme, req.metrics.clone())
        .await
        .map_err(register_error)?;
    let key = AccountKey::generate(AccountKeyAlgorithm::Rsa2048)
        .map_err(|e| AccountError::Register(format!("cannot generate an account key: {e}")))?;
    let pem = key
        .to_pem()
        .map_err(|e| AccountError::Register(format!("cannot encode the account key: {e}")))?;
    let der = first_pem_block(pem.as_bytes()).unwrap_or_default();
    let new = NewAccount {
        contact,
        terms_of_service_agreed: true,
    };
    let registration = with_action(
        "register_account",
        acme_client.new_account(Arc::new(key), &new, eab.as_ref()),
    )
    .await
    .map_err(register_error)?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(req.acme.private_key_secret_ref.name.clone()),
            namespace: Some(req.secret_namespace.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            key_name.clone(),
            ByteString(pem.into_bytes()),
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
        account: registration.account,
        server: req.acme.server.clone(),
        key_hash: key_hash(&der),
        email,
        eab_key_id,
        client_config,
    };
    registry.put(req.issuer_key, r.clone());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_load_as_cert_manager_stores_them() {
        // PKCS#8 ECDSA P-256 (what certgate stored until now): same DER, same hash.
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let Ok((_, parsed)) = parse_account_key(p256.serialize_pem().as_bytes()) else {
            panic!("a P-256 PKCS#8 key parses")
        };
        assert_eq!(parsed, p256.serialize_der());
        assert_eq!(key_hash(&parsed), key_hash(&p256.serialize_der()));

        // cert-manager's RSA 2048 PKCS#1 key, and SEC1 / P-384 keys.
        let rsa = AccountKey::generate(AccountKeyAlgorithm::Rsa2048).unwrap();
        let pem = rsa.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
        let (loaded, der) = parse_account_key(pem.as_bytes()).unwrap();
        assert_eq!(loaded.thumbprint(), rsa.thumbprint());
        assert_eq!(
            der,
            first_pem_block(pem.as_bytes()).unwrap(),
            "the PKCS#1 DER is hashed"
        );
        for alg in [
            AccountKeyAlgorithm::EcdsaP256,
            AccountKeyAlgorithm::EcdsaP384,
        ] {
            let ec = AccountKey::generate(alg).unwrap();
            let pem = ec.to_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{pem}");
            let (loaded, _) = parse_account_key(pem.as_bytes()).unwrap();
            assert_eq!(loaded.thumbprint(), ec.thumbprint());
        }

        let err = |pem: &[u8]| match parse_account_key(pem) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        };
        let broken = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(!err(broken.as_bytes()).is_empty());
        assert!(err(b"garbage").contains("no PEM"));
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ed = err(ed.serialize_pem().as_bytes());
        assert!(ed.contains("P-256") && ed.contains("RSA"), "{ed}");
    }

    #[test]
    fn registration_errors_say_what_to_do() {
        let server = |kind: &str, detail: &str| protocol::Error::Server {
            url: "https://ca.test/new-acct".into(),
            status: 400,
            problem: Box::new(protocol::Problem {
                kind: Some(format!("urn:ietf:params:acme:error:{kind}")),
                detail: Some(detail.into()),
                ..Default::default()
            }),
            retry_after: None,
        };
        let text = explain_registration_error(&server(
            "externalAccountRequired",
            "External account binding required",
        ));
        assert!(text.contains("requires External Account Binding"), "{text}");
        let text = explain_registration_error(&server(
            "unauthorized",
            "EAB key ID unknown: external account binding failed",
        ));
        assert!(
            text.contains("check spec.acme.externalAccountBinding.keyID"),
            "{text}"
        );
        let text = explain_registration_error(&server("rateLimited", "slow down"));
        assert_eq!(text, "urn:ietf:params:acme:error:rateLimited: slow down");
        let text = explain_registration_error(&protocol::Error::Transport {
            url: "https://ca.test/dir".into(),
            reason: "client error (Connect): invalid peer certificate: UnknownIssuer".into(),
        });
        assert!(text.contains("TLS certificate is not trusted"), "{text}");
        let text = explain_registration_error(&protocol::Error::Transport {
            url: "https://ca.test/dir".into(),
            reason: "client error (Connect): dns error: no such host".into(),
        });
        assert!(text.contains("check spec.acme.server"), "{text}");
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
