//! PKCS#12 keystores in the Secret (`keystore.p12`, `truststore.p12`), as cert-manager
//! writes them for `spec.keystores.pkcs12`.

use p12_keystore::{
    Certificate as P12Cert, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm,
    PrivateKeyChain,
};

use crate::api::certificate::Pkcs12Profile;
use crate::pki::key::PrivateKey;

/// Why a keystore could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("the private key cannot be read: {0}")]
    Key(#[from] crate::pki::key::KeyError),
    #[error("a certificate cannot be read for the PKCS#12 keystore: {0}")]
    Certificate(String),
    #[error("encoding the PKCS#12 keystore failed: {0}")]
    Encode(String),
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<P12Cert>, KeystoreError> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let p = p.map_err(|e| KeystoreError::Certificate(e.to_string()))?;
        if p.label == "CERTIFICATE" {
            out.push(
                P12Cert::from_der(&p.contents)
                    .map_err(|e| KeystoreError::Certificate(e.to_string()))?,
            );
        }
    }
    Ok(out)
}

fn writer_settings(profile: Option<Pkcs12Profile>) -> (EncryptionAlgorithm, MacAlgorithm) {
    match profile.unwrap_or(Pkcs12Profile::LegacyRC2) {
        Pkcs12Profile::LegacyRC2 => (
            EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc,
            MacAlgorithm::HmacSha1,
        ),
        Pkcs12Profile::LegacyDES => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
        Pkcs12Profile::Modern2023 | Pkcs12Profile::Modern2026 => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
    }
}

/// `keystore.p12`: the private key with the certificate chain, alias `certificate`.
pub fn pkcs12_keystore(
    key_pem: &[u8],
    chain_pem: &[u8],
    ca_pem: Option<&[u8]>,
    password: &str,
    profile: Option<Pkcs12Profile>,
) -> Result<Vec<u8>, KeystoreError> {
    let key = PrivateKey::from_pem(key_pem)?;
    let p12_key = p12_keystore::PrivateKey::from_der(&key.to_der_pkcs8())
        .map_err(|e| KeystoreError::Encode(e.to_string()))?;
    let mut certs = pem_certificates(chain_pem)?;
    if let Some(ca) = ca_pem {
        for c in pem_certificates(ca)? {
            if !certs.iter().any(|x| x.as_der() == c.as_der()) {
                certs.push(c);
            }
        }
    }
    let local_key_id = certs
        .first()
        .map(|c| c.as_der().iter().take(20).copied().collect::<Vec<u8>>())
        .unwrap_or_default();
    let mut store = KeyStore::new();
    store.add_entry(
        "certificate",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, p12_key, certs)),
    );
    let (enc, mac) = writer_settings(profile);
    store
        .writer(password)
        .encryption_algorithm(enc)
        .mac_algorithm(mac)
        .write()
        .map_err(|e| KeystoreError::Encode(e.to_string()))
}

/// `truststore.p12`: the CA certificate, alias `ca`.
pub fn pkcs12_truststore(
    ca_pem: &[u8],
    password: &str,
    profile: Option<Pkcs12Profile>,
) -> Result<Vec<u8>, KeystoreError> {
    let mut store = KeyStore::new();
    for (i, c) in pem_certificates(ca_pem)?.into_iter().enumerate() {
        let alias = if i == 0 {
            "ca".to_string()
        } else {
            format!("ca-{i}")
        };
        store.add_entry(&alias, KeyStoreEntry::Certificate(c));
    }
    let (enc, mac) = writer_settings(profile);
    store
        .writer(password)
        .encryption_algorithm(enc)
        .mac_algorithm(mac)
        .write()
        .map_err(|e| KeystoreError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::testing::{cert, issued_snapshot};

    #[test]
    fn a_keystore_round_trips_with_its_password_and_profile() {
        let s = issued_snapshot(cert("web", &["web.example"]));
        let data = &s.secret.as_ref().unwrap().data;
        for profile in [
            None,
            Some(Pkcs12Profile::LegacyDES),
            Some(Pkcs12Profile::Modern2023),
        ] {
            let p12 = pkcs12_keystore(
                &data["tls.key"],
                &data["tls.crt"],
                data.get("ca.crt").map(Vec::as_slice),
                "s3cret",
                profile,
            )
            .unwrap();
            let store =
                KeyStore::from_pkcs12(&p12, "s3cret", p12_keystore::Pkcs12ImportPolicy::Relaxed)
                    .unwrap();
            let (alias, chain) = store.private_key_chain().expect("a key entry");
            assert_eq!(alias, "certificate");
            assert!(!chain.certs().is_empty());
            assert!(
                KeyStore::from_pkcs12(&p12, "wrong", p12_keystore::Pkcs12ImportPolicy::Relaxed)
                    .is_err()
            );
        }
        let trust = pkcs12_truststore(&data["ca.crt"], "s3cret", None).unwrap();
        let store =
            KeyStore::from_pkcs12(&trust, "s3cret", p12_keystore::Pkcs12ImportPolicy::Relaxed)
                .unwrap();
        assert_eq!(store.entries_len(), 1);
    }
}
