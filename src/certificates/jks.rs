//! JKS keystores in the Secret (`keystore.jks`, `truststore.jks`), as cert-manager v1.21
//! writes them for `spec.keystores.jks` with pavlo-v-chernykh/keystore-go v4.5.0
//! (`pkg/controller/certificates/issuing/internal/keystore.go`):
//!
//! - `keystore.jks`: a private-key entry (alias `spec.keystores.jks.alias`, default
//!   `certificate`) with the PKCS#8 key and the chain of `tls.crt`, plus, when the issuer
//!   returned a CA, each CA certificate as a trusted-certificate entry `ca`, `ca-1`, …
//! - `truststore.jks`: those trusted-certificate entries alone (only when `ca.crt` is set).
//!
//! The format (keystore-go `encoder.go`, `keyprotector.go`, `common.go`; Sun's
//! `JavaKeyStore` and `KeyProtector`), big-endian: magic `0xFEEDFEED`, version 2, the entry
//! count; each entry a tag (1 private key, 2 trusted certificate), the alias (u16 length
//! and UTF-8, lower-cased as keystore-go does), the creation time (u64 milliseconds since
//! the epoch), then for a key the protected key (u32 length, EncryptedPrivateKeyInfo DER
//! with OID 1.3.6.1.4.1.42.2.17.1.1) and the chain (u32 count, each certificate as its type
//! `X509`, u32 length and DER), for a trusted certificate one such certificate; last,
//! SHA-1(password bytes ‖ "Mighty Aphrodite" ‖ everything before). The password bytes are
//! each byte of the password after a zero byte (keystore-go's `passwordBytes`: UTF-16BE for
//! an ASCII password, as Java reads it).
//!
//! Entries are written in alias order; their creation time is the controller's clock
//! (cert-manager: `time.Now()`). The key protector's salt is random, so a store already in
//! the Secret that opens with the password and holds the same entries is kept byte for
//! byte: the Secret does not change when nothing it depends on did.

use std::collections::{BTreeMap, BTreeSet};

use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use jiff::Timestamp;

use crate::pki::key::{KeyError, PrivateKey};

/// The alias of the key entry when `spec.keystores.jks.alias` is unset.
pub const DEFAULT_ALIAS: &str = "certificate";
/// The certificate type cert-manager writes (Java's `CertificateFactory` knows it as an
/// alias of `X.509`).
pub const CERTIFICATE_TYPE: &str = "X509";

const MAGIC: u32 = 0xFEED_FEED;
const VERSION: u32 = 2;
const TAG_PRIVATE_KEY: u32 = 1;
const TAG_TRUSTED_CERTIFICATE: u32 = 2;
const WHITENER: &[u8] = b"Mighty Aphrodite";
const SALT_LEN: usize = 20;
const SHA1_LEN: usize = 20;
/// DER of OBJECT IDENTIFIER 1.3.6.1.4.1.42.2.17.1.1 (Sun's JKS key protector).
const KEY_PROTECTOR_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01,
];

/// Why a JKS store could not be written or read. No variant carries key material or the
/// password.
#[derive(Debug, thiserror::Error)]
pub enum JksError {
    #[error("the private key cannot be read: {0}")]
    Key(#[from] KeyError),
    #[error("a certificate cannot be read for the JKS keystore: {0}")]
    Certificate(String),
    #[error("encoding the JKS keystore failed: {0}")]
    Encode(&'static str),
    #[error("the JKS keystore is malformed: {0}")]
    Malformed(&'static str),
    #[error("the JKS keystore's integrity check failed (wrong password or corrupted store)")]
    Integrity,
    #[error("the JKS private key cannot be recovered (wrong password or corrupted entry)")]
    KeyIntegrity,
}

/// A certificate in a JKS entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JksCertificate {
    /// The certificate type (`X509` from cert-manager, `X.509` from Java).
    pub cert_type: String,
    pub der: Vec<u8>,
}

/// A JKS entry. `Debug` leaves out the protected key.
#[derive(Clone, PartialEq, Eq)]
pub enum JksEntry {
    PrivateKey {
        created_ms: u64,
        /// EncryptedPrivateKeyInfo DER; [`recover_key`] opens it.
        protected_key: Vec<u8>,
        chain: Vec<JksCertificate>,
    },
    TrustedCertificate {
        created_ms: u64,
        certificate: JksCertificate,
    },
}

impl std::fmt::Debug for JksEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JksEntry::PrivateKey {
                created_ms, chain, ..
            } => f
                .debug_struct("PrivateKey")
                .field("created_ms", created_ms)
                .field("chain", &chain.len())
                .finish_non_exhaustive(),
            JksEntry::TrustedCertificate {
                created_ms,
                certificate,
            } => f
                .debug_struct("TrustedCertificate")
                .field("created_ms", created_ms)
                .field("certificate", certificate)
                .finish(),
        }
    }
}

/// A decoded JKS store: its entries in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JksStore {
    pub entries: Vec<(String, JksEntry)>,
}

fn password_bytes(password: &[u8]) -> Vec<u8> {
    password.iter().flat_map(|b| [0, *b]).collect()
}

fn sha1(parts: &[&[u8]]) -> [u8; SHA1_LEN] {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; SHA1_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The key stream of Sun's key protector: SHA-1(password ‖ previous), starting from the salt.
fn key_stream(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut stream = Vec::with_capacity(len + SHA1_LEN);
    let mut digest = sha1(&[password, salt]);
    stream.extend_from_slice(&digest);
    while stream.len() < len {
        digest = sha1(&[password, &digest]);
        stream.extend_from_slice(&digest);
    }
    stream.truncate(len);
    stream
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// One DER element: its tag, its content, and what follows it.
fn der_read(input: &[u8]) -> Result<(u8, &[u8], &[u8]), JksError> {
    let bad = JksError::Malformed("bad DER in the protected key");
    let (&tag, rest) = input
        .split_first()
        .ok_or(JksError::Malformed("empty DER"))?;
    let (&first, mut rest) = rest.split_first().ok_or(JksError::Malformed("short DER"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad);
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return Err(bad);
    }
    let (content, after) = rest.split_at(len);
    Ok((tag, content, after))
}

/// Protects a PKCS#8 key as Sun's JKS `KeyProtector` does, with `salt`; returns the
/// EncryptedPrivateKeyInfo DER.
pub fn protect_key(pkcs8: &[u8], password: &[u8], salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let pw = password_bytes(password);
    let stream = key_stream(&pw, salt, pkcs8.len());
    let mut body = Vec::with_capacity(SALT_LEN + pkcs8.len() + SHA1_LEN);
    body.extend_from_slice(salt);
    body.extend(pkcs8.iter().zip(&stream).map(|(p, k)| p ^ k));
    body.extend_from_slice(&sha1(&[&pw, pkcs8]));
    let mut algorithm = KEY_PROTECTOR_OID.to_vec();
    algorithm.extend_from_slice(&[0x05, 0x00]);
    let mut info = der_tlv(0x30, &algorithm);
    info.extend(der_tlv(0x04, &body));
    der_tlv(0x30, &info)
}

/// The PKCS#8 key of a protected key entry, checked against its digest.
pub fn recover_key(protected: &[u8], password: &[u8]) -> Result<Vec<u8>, JksError> {
    let (tag, info, rest) = der_read(protected)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(JksError::Malformed("the protected key is not one SEQUENCE"));
    }
    let (tag, algorithm, rest) = der_read(info)?;
    if tag != 0x30 || !algorithm.starts_with(KEY_PROTECTOR_OID) {
        return Err(JksError::Malformed(
            "the key is not protected with the JKS key protector",
        ));
    }
    let (tag, body, rest) = der_read(rest)?;
    if tag != 0x04 || !rest.is_empty() || body.len() < SALT_LEN + SHA1_LEN {
        return Err(JksError::Malformed("bad protected key"));
    }
    let (salt, rest) = body.split_at(SALT_LEN);
    let (encrypted, check) = rest.split_at(rest.len() - SHA1_LEN);
    let pw = password_bytes(password);
    let stream = key_stream(&pw, salt, encrypted.len());
    let key: Vec<u8> = encrypted.iter().zip(&stream).map(|(e, k)| e ^ k).collect();
    if sha1(&[&pw, &key]).as_slice() != check {
        return Err(JksError::KeyIntegrity);
    }
    Ok(key)
}

fn put_string(out: &mut Vec<u8>, s: &str) -> Result<(), JksError> {
    let len = u16::try_from(s.len()).map_err(|_| JksError::Encode("a string is too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_certificate(out: &mut Vec<u8>, c: &JksCertificate) -> Result<(), JksError> {
    put_string(out, &c.cert_type)?;
    let len =
        u32::try_from(c.der.len()).map_err(|_| JksError::Encode("a certificate is too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&c.der);
    Ok(())
}

/// Encodes `store` (version 2) with its integrity digest for `password`.
pub fn encode(store: &JksStore, password: &[u8]) -> Result<Vec<u8>, JksError> {
    let count =
        u32::try_from(store.entries.len()).map_err(|_| JksError::Encode("too many entries"))?;
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    for (alias, entry) in &store.entries {
        match entry {
            JksEntry::PrivateKey {
                created_ms,
                protected_key,
                chain,
            } => {
                out.extend_from_slice(&TAG_PRIVATE_KEY.to_be_bytes());
                put_string(&mut out, alias)?;
                out.extend_from_slice(&created_ms.to_be_bytes());
                let len = u32::try_from(protected_key.len())
                    .map_err(|_| JksError::Encode("the key is too long"))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(protected_key);
                let n = u32::try_from(chain.len())
                    .map_err(|_| JksError::Encode("the chain is too long"))?;
                out.extend_from_slice(&n.to_be_bytes());
                for c in chain {
                    put_certificate(&mut out, c)?;
                }
            }
            JksEntry::TrustedCertificate {
                created_ms,
                certificate,
            } => {
                out.extend_from_slice(&TAG_TRUSTED_CERTIFICATE.to_be_bytes());
                put_string(&mut out, alias)?;
                out.extend_from_slice(&created_ms.to_be_bytes());
                put_certificate(&mut out, certificate)?;
            }
        }
    }
    let digest = sha1(&[&password_bytes(password), WHITENER, &out]);
    out.extend_from_slice(&digest);
    Ok(out)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], JksError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or(JksError::Malformed("truncated"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], JksError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, JksError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, JksError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, JksError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String, JksError> {
        let n = self.u16()?;
        String::from_utf8(self.bytes(usize::from(n))?.to_vec())
            .map_err(|_| JksError::Malformed("a string is not UTF-8"))
    }
    fn sized(&mut self) -> Result<Vec<u8>, JksError> {
        let n = self.u32()?;
        let n = usize::try_from(n).map_err(|_| JksError::Malformed("too long"))?;
        Ok(self.bytes(n)?.to_vec())
    }
    fn certificate(&mut self) -> Result<JksCertificate, JksError> {
        Ok(JksCertificate {
            cert_type: self.string()?,
            der: self.sized()?,
        })
    }
}

/// Decodes a version-2 JKS store and checks its integrity digest with `password`.
pub fn decode(data: &[u8], password: &[u8]) -> Result<JksStore, JksError> {
    let mut r = Reader { data, pos: 0 };
    if r.u32()? != MAGIC {
        return Err(JksError::Malformed("not a JKS store (bad magic)"));
    }
    if r.u32()? != VERSION {
        return Err(JksError::Malformed("unsupported JKS version"));
    }
    let count = r.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let tag = r.u32()?;
        let alias = r.string()?;
        let created_ms = r.u64()?;
        let entry = match tag {
            TAG_PRIVATE_KEY => {
                let protected_key = r.sized()?;
                let n = r.u32()?;
                let mut chain = Vec::new();
                for _ in 0..n {
                    chain.push(r.certificate()?);
                }
                JksEntry::PrivateKey {
                    created_ms,
                    protected_key,
                    chain,
                }
            }
            TAG_TRUSTED_CERTIFICATE => JksEntry::TrustedCertificate {
                created_ms,
                certificate: r.certificate()?,
            },
            _ => return Err(JksError::Malformed("unknown entry tag")),
        };
        entries.push((alias, entry));
    }
    let computed = sha1(&[&password_bytes(password), WHITENER, &data[..r.pos]]);
    let stored = r.bytes(SHA1_LEN)?;
    if r.pos != data.len() {
        return Err(JksError::Malformed("data after the integrity digest"));
    }
    if computed.as_slice() != stored {
        return Err(JksError::Integrity);
    }
    Ok(JksStore { entries })
}

/// An entry as it should be, before protection: what decides whether a stored entry is
/// still right.
enum Wanted {
    Key { pkcs8: Vec<u8>, chain: Vec<Vec<u8>> },
    Trusted(Vec<u8>),
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, JksError> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let p = p.map_err(|e| JksError::Certificate(e.to_string()))?;
        if p.label == "CERTIFICATE" {
            x509_parser::parse_x509_certificate(&p.contents)
                .map_err(|e| JksError::Certificate(e.to_string()))?;
            out.push(p.contents);
        }
    }
    if out.is_empty() {
        return Err(JksError::Certificate(
            "no valid certificates found".to_string(),
        ));
    }
    Ok(out)
}

/// The CA entries `ca`, `ca-1`, … (cert-manager's `addCAsToJKSStore`), into `wanted`.
fn add_cas(wanted: &mut BTreeMap<String, Wanted>, ca_pem: &[u8]) -> Result<(), JksError> {
    for (i, der) in pem_certificates(ca_pem)?.into_iter().enumerate() {
        let alias = if i == 0 {
            "ca".to_string()
        } else {
            format!("ca-{i}")
        };
        wanted.insert(alias, Wanted::Trusted(der));
    }
    Ok(())
}

/// Whether `existing` opens with `password` and holds exactly the `wanted` entries.
fn holds(existing: &[u8], password: &[u8], wanted: &BTreeMap<String, Wanted>) -> bool {
    let Ok(store) = decode(existing, password) else {
        return false;
    };
    let aliases: BTreeSet<&str> = store.entries.iter().map(|(a, _)| a.as_str()).collect();
    if aliases.len() != store.entries.len() || store.entries.len() != wanted.len() {
        return false;
    }
    let same_cert =
        |c: &JksCertificate, der: &Vec<u8>| c.cert_type == CERTIFICATE_TYPE && &c.der == der;
    store
        .entries
        .iter()
        .all(|(alias, entry)| match (wanted.get(alias), entry) {
            (
                Some(Wanted::Key { pkcs8, chain }),
                JksEntry::PrivateKey {
                    protected_key,
                    chain: stored,
                    ..
                },
            ) => {
                stored.len() == chain.len()
                    && stored.iter().zip(chain).all(|(c, d)| same_cert(c, d))
                    && recover_key(protected_key, password).is_ok_and(|k| &k == pkcs8)
            }
            (Some(Wanted::Trusted(der)), JksEntry::TrustedCertificate { certificate, .. }) => {
                same_cert(certificate, der)
            }
            _ => false,
        })
}

/// The store for `wanted`: `existing` when it already holds it, otherwise a new one.
fn store_for(
    wanted: &BTreeMap<String, Wanted>,
    password: &[u8],
    now: Timestamp,
    existing: Option<&[u8]>,
) -> Result<Vec<u8>, JksError> {
    if let Some(existing) = existing
        && holds(existing, password, wanted)
    {
        return Ok(existing.to_vec());
    }
    let created_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
    let cert = |der: &Vec<u8>| JksCertificate {
        cert_type: CERTIFICATE_TYPE.to_string(),
        der: der.clone(),
    };
    let rng = SystemRandom::new();
    let mut entries = Vec::with_capacity(wanted.len());
    for (alias, w) in wanted {
        let entry = match w {
            Wanted::Key { pkcs8, chain } => {
                let mut salt = [0u8; SALT_LEN];
                rng.fill(&mut salt)
                    .map_err(|_| JksError::Encode("no random salt"))?;
                JksEntry::PrivateKey {
                    created_ms,
                    protected_key: protect_key(pkcs8, password, &salt),
                    chain: chain.iter().map(cert).collect(),
                }
            }
            Wanted::Trusted(der) => JksEntry::TrustedCertificate {
                created_ms,
                certificate: cert(der),
            },
        };
        entries.push((alias.clone(), entry));
    }
    encode(&JksStore { entries }, password)
}

/// `keystore.jks`: the key with the chain of `chain_pem` under `alias` (lower-cased), and
/// the CA certificates of `ca_pem` as `ca`, `ca-1`, … A CA alias equal to `alias` replaces
/// the key entry, as in cert-manager. `existing` is kept when it already holds all this.
pub fn jks_keystore(
    key_pem: &[u8],
    chain_pem: &[u8],
    ca_pem: Option<&[u8]>,
    alias: &str,
    password: &[u8],
    now: Timestamp,
    existing: Option<&[u8]>,
) -> Result<Vec<u8>, JksError> {
    let pkcs8 = PrivateKey::from_pem(key_pem)?.to_der_pkcs8();
    let chain = pem_certificates(chain_pem)?;
    let mut wanted = BTreeMap::new();
    wanted.insert(alias.to_lowercase(), Wanted::Key { pkcs8, chain });
    if let Some(ca) = ca_pem.filter(|c| !c.is_empty()) {
        add_cas(&mut wanted, ca)?;
    }
    store_for(&wanted, password, now, existing)
}

/// `truststore.jks`: the CA certificates of `ca_pem` as `ca`, `ca-1`, … `existing` is kept
/// when it already holds them.
pub fn jks_truststore(
    ca_pem: &[u8],
    password: &[u8],
    now: Timestamp,
    existing: Option<&[u8]>,
) -> Result<Vec<u8>, JksError> {
    let mut wanted = BTreeMap::new();
    add_cas(&mut wanted, ca_pem)?;
    store_for(&wanted, password, now, existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::testing::{cert, issued_snapshot};
    use crate::pki::key::public_key_matches_cert;

    const KEYTOOL_JKS: &[u8] = include_bytes!("../../tests/fixtures/jks/keytool-ec.jks");
    const KEYTOOL_CERT: &[u8] = include_bytes!("../../tests/fixtures/jks/keytool-ec-server.pem");

    struct Material {
        key: Vec<u8>,
        chain: Vec<u8>,
        ca: Vec<u8>,
    }

    fn material() -> Material {
        let s = issued_snapshot(cert("web", &["web.example"]));
        let data = &s.secret.as_ref().unwrap().data;
        Material {
            key: data["tls.key"].clone(),
            chain: data["tls.crt"].clone(),
            ca: data["ca.crt"].clone(),
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    fn aliases(store: &JksStore) -> Vec<&str> {
        store.entries.iter().map(|(a, _)| a.as_str()).collect()
    }

    #[test]
    fn a_keystore_decodes_to_the_key_chain_and_ca_it_was_written_from() {
        let m = material();
        let now = at(1_767_225_600_123);
        let jks = jks_keystore(
            &m.key,
            &m.chain,
            Some(&m.ca),
            DEFAULT_ALIAS,
            b"changeit",
            now,
            None,
        )
        .unwrap();
        // Header: magic, version 2, two entries (the key, the CA).
        assert_eq!(&jks[..4], &[0xfe, 0xed, 0xfe, 0xed]);
        assert_eq!(&jks[4..8], &[0, 0, 0, 2]);
        assert_eq!(&jks[8..12], &[0, 0, 0, 2]);
        let store = decode(&jks, b"changeit").unwrap();
        assert_eq!(aliases(&store), ["ca", "certificate"]);
        let JksEntry::TrustedCertificate {
            created_ms,
            certificate,
        } = &store.entries[0].1
        else {
            panic!("ca is a trusted certificate: {store:?}");
        };
        assert_eq!(*created_ms, 1_767_225_600_123);
        assert_eq!(certificate.cert_type, "X509");
        assert_eq!(certificate.der, pem_certificates(&m.ca).unwrap()[0]);
        let JksEntry::PrivateKey {
            created_ms,
            protected_key,
            chain,
        } = &store.entries[1].1
        else {
            panic!("certificate is a key entry: {store:?}");
        };
        assert_eq!(*created_ms, 1_767_225_600_123);
        let want_chain = pem_certificates(&m.chain).unwrap();
        assert_eq!(chain.len(), want_chain.len());
        for (c, der) in chain.iter().zip(&want_chain) {
            assert_eq!(c.cert_type, "X509");
            assert_eq!(&c.der, der);
        }
        let pkcs8 = PrivateKey::from_pem(&m.key).unwrap().to_der_pkcs8();
        assert_eq!(recover_key(protected_key, b"changeit").unwrap(), pkcs8);
        // The protected key is not the key in the clear.
        assert!(!protected_key.windows(pkcs8.len()).any(|w| w == pkcs8));
        assert!(matches!(
            recover_key(protected_key, b"wrong"),
            Err(JksError::KeyIntegrity)
        ));
        assert!(matches!(decode(&jks, b"wrong"), Err(JksError::Integrity)));
    }

    #[test]
    fn the_truststore_holds_each_ca_as_a_trusted_entry() {
        let m = material();
        let other = material();
        let mut bundle = m.ca.clone();
        bundle.extend_from_slice(&other.ca);
        let jks = jks_truststore(&bundle, b"pw", at(0), None).unwrap();
        let store = decode(&jks, b"pw").unwrap();
        assert_eq!(aliases(&store), ["ca", "ca-1"]);
        let ders: Vec<&Vec<u8>> = store
            .entries
            .iter()
            .map(|(_, e)| match e {
                JksEntry::TrustedCertificate { certificate, .. } => &certificate.der,
                JksEntry::PrivateKey { .. } => panic!("no key in a truststore"),
            })
            .collect();
        assert_eq!(*ders[0], pem_certificates(&m.ca).unwrap()[0]);
        assert_eq!(*ders[1], pem_certificates(&other.ca).unwrap()[0]);
        assert!(jks_truststore(b"not pem", b"pw", at(0), None).is_err());
    }

    #[test]
    fn the_alias_is_lower_cased_and_a_ca_alias_replaces_the_key_as_in_cert_manager() {
        let m = material();
        let jks = jks_keystore(&m.key, &m.chain, None, "MyApp", b"pw", at(0), None).unwrap();
        assert_eq!(aliases(&decode(&jks, b"pw").unwrap()), ["myapp"]);
        // keystore-go keeps entries in a map: the CA entry `ca` overwrites a key aliased `ca`.
        let jks = jks_keystore(&m.key, &m.chain, Some(&m.ca), "CA", b"pw", at(0), None).unwrap();
        let store = decode(&jks, b"pw").unwrap();
        assert_eq!(aliases(&store), ["ca"]);
        assert!(matches!(
            store.entries[0].1,
            JksEntry::TrustedCertificate { .. }
        ));
    }

    #[test]
    fn a_store_already_holding_the_entries_is_kept_and_any_change_rewrites_it() {
        let m = material();
        let first = jks_keystore(
            &m.key,
            &m.chain,
            Some(&m.ca),
            "certificate",
            b"pw",
            at(1),
            None,
        )
        .unwrap();
        // Same inputs, later: the stored bytes are kept (the salt is random).
        let again = jks_keystore(
            &m.key,
            &m.chain,
            Some(&m.ca),
            "certificate",
            b"pw",
            at(2),
            Some(&first),
        )
        .unwrap();
        assert_eq!(again, first);
        let fresh = jks_keystore(
            &m.key,
            &m.chain,
            Some(&m.ca),
            "certificate",
            b"pw",
            at(1),
            None,
        )
        .unwrap();
        assert_ne!(fresh, first, "a new store gets a new salt");
        let trust = jks_truststore(&m.ca, b"pw", at(1), None).unwrap();
        assert_eq!(
            jks_truststore(&m.ca, b"pw", at(2), Some(&trust)).unwrap(),
            trust
        );

        // A new password, key, alias, chain or CA set, or a damaged store: rewritten.
        let other = material();
        let rewritten = |key: &[u8], chain: &[u8], ca: Option<&[u8]>, alias: &str, pw: &[u8]| {
            let out = jks_keystore(key, chain, ca, alias, pw, at(3), Some(&first)).unwrap();
            assert_ne!(out, first);
            decode(&out, pw).unwrap()
        };
        rewritten(&m.key, &m.chain, Some(&m.ca), "certificate", b"new");
        rewritten(&other.key, &m.chain, Some(&m.ca), "certificate", b"pw");
        rewritten(&m.key, &other.chain, Some(&m.ca), "certificate", b"pw");
        rewritten(&m.key, &m.chain, Some(&other.ca), "certificate", b"pw");
        rewritten(&m.key, &m.chain, None, "certificate", b"pw");
        rewritten(&m.key, &m.chain, Some(&m.ca), "renamed", b"pw");
        let mut damaged = first.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        let out = jks_keystore(
            &m.key,
            &m.chain,
            Some(&m.ca),
            "certificate",
            b"pw",
            at(3),
            Some(&damaged),
        )
        .unwrap();
        assert_ne!(out, damaged);
        decode(&out, b"pw").unwrap();
        assert_ne!(
            jks_truststore(&other.ca, b"pw", at(2), Some(&trust)).unwrap(),
            trust
        );
    }

    #[test]
    fn a_store_written_by_keytool_decodes_and_its_key_matches_its_certificate() {
        let store = decode(KEYTOOL_JKS, b"changeit").unwrap();
        assert_eq!(aliases(&store), ["ca", "server"]);
        let cert_der = pem_certificates(KEYTOOL_CERT).unwrap().remove(0);
        let JksEntry::PrivateKey {
            protected_key,
            chain,
            ..
        } = &store.entries[1].1
        else {
            panic!("server is a key entry: {store:?}");
        };
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].cert_type, "X.509");
        assert_eq!(chain[0].der, cert_der);
        let pkcs8 = recover_key(protected_key, b"changeit").unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pkcs8)
        );
        let key = PrivateKey::from_pem(pem.as_bytes()).unwrap();
        assert!(public_key_matches_cert(KEYTOOL_CERT, &key).unwrap());
        let JksEntry::TrustedCertificate { certificate, .. } = &store.entries[0].1 else {
            panic!("ca is a trusted certificate: {store:?}");
        };
        assert_eq!(certificate.der, cert_der);
        assert!(matches!(
            decode(KEYTOOL_JKS, b"changeme"),
            Err(JksError::Integrity)
        ));
        assert!(recover_key(protected_key, b"changeme").is_err());

        // Re-encoding what keytool wrote gives keytool's bytes back: same layout and digest.
        assert_eq!(encode(&store, b"changeit").unwrap(), KEYTOOL_JKS);
    }

    #[test]
    fn the_key_protector_matches_its_definition() {
        // Sun's KeyProtector, spelled out: keystream blocks SHA-1(pw ‖ salt), SHA-1(pw ‖ block).
        let salt = [7u8; SALT_LEN];
        let key: Vec<u8> = (0..45u8).collect();
        let pw = [0, b'p', 0, b'w'];
        let b1 = sha1(&[&pw, &salt]);
        let b2 = sha1(&[&pw, &b1]);
        let b3 = sha1(&[&pw, &b2]);
        let stream: Vec<u8> = [b1, b2, b3].concat();
        let mut body = salt.to_vec();
        body.extend(key.iter().zip(&stream).map(|(k, s)| k ^ s));
        body.extend_from_slice(&sha1(&[&pw, &key]));
        let mut want = vec![0x30, 0x67, 0x30, 0x0e];
        want.extend_from_slice(KEY_PROTECTOR_OID);
        want.extend_from_slice(&[0x05, 0x00, 0x04, 0x55]);
        want.extend_from_slice(&body);
        assert_eq!(protect_key(&key, b"pw", &salt), want);
        assert_eq!(recover_key(&want, b"pw").unwrap(), key);
        // Long keys (RSA) need long-form DER lengths.
        let long: Vec<u8> = (0..1200).map(|i| (i % 251) as u8).collect();
        let protected = protect_key(&long, b"pw", &salt);
        assert_eq!(&protected[..2], &[0x30, 0x82]);
        assert_eq!(recover_key(&protected, b"pw").unwrap(), long);
    }

    #[test]
    fn malformed_stores_are_errors_not_panics() {
        let m = material();
        let jks = jks_keystore(&m.key, &m.chain, Some(&m.ca), "c", b"pw", at(0), None).unwrap();
        for len in 0..jks.len() {
            assert!(decode(&jks[..len], b"pw").is_err(), "truncated at {len}");
        }
        let mut extra = jks.clone();
        extra.push(0);
        assert!(decode(&extra, b"pw").is_err());
        let mut bad_magic = jks.clone();
        bad_magic[0] = 0;
        assert!(matches!(
            decode(&bad_magic, b"pw"),
            Err(JksError::Malformed(_))
        ));
        let mut flipped = jks.clone();
        flipped[40] ^= 0x80;
        assert!(decode(&flipped, b"pw").is_err());
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x02, 0x04, 0x00],
        ] {
            assert!(recover_key(bad, b"pw").is_err());
        }
    }

    #[test]
    fn errors_and_debug_output_carry_no_key_or_password() {
        let m = material();
        let jks = jks_keystore(&m.key, &m.chain, None, "c", b"hunter2", at(0), None).unwrap();
        let store = decode(&jks, b"hunter2").unwrap();
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("protected_key"));
        let err = decode(&jks, b"hunter3").unwrap_err().to_string();
        assert!(!err.contains("hunter"), "{err}");
    }
}
