//! `cert-manager.io/v1` Certificate: the desired state of an X.509 certificate
//! kept up to date in a Secret.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;

use super::meta::{Condition, IssuerReference, SecretKeySelector};

/// The specification of a Certificate.
#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "Certificate",
    plural = "certificates",
    singular = "certificate",
    namespaced,
    status = "CertificateStatus",
    shortname = "cert",
    shortname = "certs",
    category = "cert-manager",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".spec.secretName"}"#,
    printcolumn = r#"{"name":"Issuer","type":"string","jsonPath":".spec.issuerRef.name","priority":1}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type == \"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC."}"#
)]
#[serde(rename_all = "camelCase")]
// Rarely set groups of fields (`subject`, `keystores`, `nameConstraints`,
// `renewal`) are boxed: unset, each costs a pointer instead of its whole size in
// every cached Certificate (benches/footprint.rs).
pub struct CertificateSpec {
    /// Requested set of X509 certificate subject attributes.
    pub subject: Option<Box<X509Subject>>,
    /// An LDAP-formatted string (RFC 4514) used verbatim as the certificate subject.
    /// Mutually exclusive with `commonName` and `subject`.
    pub literal_subject: Option<String>,
    /// Requested common name (CN) of the certificate.
    pub common_name: Option<String>,
    /// Requested lifetime of the certificate, e.g. `2160h`. Default 90 days.
    pub duration: Option<String>,
    /// How long before expiry the certificate is renewed, e.g. `360h`.
    pub renew_before: Option<String>,
    /// Like `renewBefore`, as a percentage of the certificate's duration.
    pub renew_before_percentage: Option<i32>,
    /// Requested DNS subject alternative names.
    #[serde(rename = "dnsNames")]
    pub dns_names: Option<Vec<String>>,
    /// Requested IP address subject alternative names.
    pub ip_addresses: Option<Vec<String>>,
    /// Requested URI subject alternative names.
    pub uris: Option<Vec<String>>,
    /// Requested `otherName` subject alternative names.
    pub other_names: Option<Vec<OtherName>>,
    /// Requested email subject alternative names.
    pub email_addresses: Option<Vec<String>>,
    /// Name of the Secret, in the Certificate's namespace, that holds the key pair.
    pub secret_name: String,
    /// Labels and annotations copied to the Secret.
    pub secret_template: Option<CertificateSecretTemplate>,
    /// Additional keystores written to the Secret.
    pub keystores: Option<Box<CertificateKeystores>>,
    /// The issuer that signs the certificate.
    pub issuer_ref: IssuerReference,
    /// Whether the certificate is a CA certificate.
    #[serde(rename = "isCA")]
    pub is_ca: Option<bool>,
    /// Requested key usages and extended key usages.
    pub usages: Option<Vec<KeyUsage>>,
    /// Options for the private key.
    pub private_key: Option<CertificatePrivateKey>,
    /// Signature algorithm the issuer should use.
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// Whether key usages are encoded in the certificate request.
    pub encode_usages_in_request: Option<bool>,
    /// How many CertificateRequests of this Certificate are kept.
    pub revision_history_limit: Option<i32>,
    /// Extra output formats of the private key and certificate written to the Secret.
    pub additional_output_formats: Option<Vec<CertificateAdditionalOutputFormat>>,
    /// X.509 name constraints, for CA certificates.
    pub name_constraints: Option<Box<NameConstraints>>,
    /// When renewal may happen: the policy and optional maintenance windows.
    pub renewal: Option<Box<CertificateRenewal>>,
}

/// Renewal policy of a Certificate (cert-manager v1.21).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CertificateRenewal {
    /// `RenewBefore` (renew per renewBefore/renewBeforePercentage) or `Disabled`.
    pub policy: Option<RenewalPolicy>,
    /// Windows in which renewal may start.
    pub windows: Option<Vec<CertificateRenewalWindow>>,
}

/// Renewal policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RenewalPolicy {
    RenewBefore,
    Disabled,
}

/// A window in which renewal may start.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRenewalWindow {
    /// Five-field cron expression of the window's start.
    pub cron: String,
    /// IANA time zone of the cron expression; UTC when absent.
    pub timezone: Option<String>,
    /// How long the window stays open, e.g. `2h`.
    pub window_duration: String,
}

/// X.509 subject attributes.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct X509Subject {
    pub organizations: Option<Vec<String>>,
    pub countries: Option<Vec<String>>,
    pub organizational_units: Option<Vec<String>>,
    pub localities: Option<Vec<String>>,
    pub provinces: Option<Vec<String>>,
    pub street_addresses: Option<Vec<String>>,
    pub postal_codes: Option<Vec<String>>,
    pub serial_number: Option<String>,
}

/// An `otherName` subject alternative name.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtherName {
    /// The object identifier of the name, in dotted form, e.g. `1.3.6.1.4.1.311.20.2.3`.
    pub oid: Option<String>,
    /// The value, encoded as an ASN.1 UTF8String.
    #[serde(rename = "utf8Value")]
    pub utf8_value: Option<String>,
}

/// Labels and annotations for the Secret.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CertificateSecretTemplate {
    pub annotations: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// Keystores written to the Secret in addition to PEM.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CertificateKeystores {
    pub jks: Option<JksKeystore>,
    pub pkcs12: Option<Pkcs12Keystore>,
}

/// A JKS keystore (`keystore.jks`, `truststore.jks`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JksKeystore {
    /// Whether the keystore is written.
    pub create: bool,
    /// The Secret key holding the keystore password.
    pub password_secret_ref: Option<SecretKeySelector>,
    /// The keystore password, inline. Mutually exclusive with `passwordSecretRef`.
    pub password: Option<String>,
    /// The alias of the key entry; default `certificate`.
    pub alias: Option<String>,
}

/// A PKCS#12 keystore (`keystore.p12`, `truststore.p12`).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pkcs12Keystore {
    /// Whether the keystore is written.
    pub create: bool,
    /// The Secret key holding the keystore password.
    pub password_secret_ref: Option<SecretKeySelector>,
    /// The keystore password, inline. Mutually exclusive with `passwordSecretRef`.
    pub password: Option<String>,
    /// The encryption profile of the keystore.
    pub profile: Option<Pkcs12Profile>,
}

/// Encryption profiles of a PKCS#12 keystore.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Pkcs12Profile {
    LegacyRC2,
    LegacyDES,
    Modern2023,
    Modern2026,
}

/// Options for the certificate's private key.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePrivateKey {
    /// Whether a new key is generated at each issuance (`Always`, the default) or kept (`Never`).
    pub rotation_policy: Option<RotationPolicy>,
    /// The encoding of the key in the Secret: `PKCS1` (default) or `PKCS8`.
    pub encoding: Option<PrivateKeyEncoding>,
    /// The key algorithm: `RSA` (default), `ECDSA` or `Ed25519`.
    pub algorithm: Option<PrivateKeyAlgorithm>,
    /// The key size in bits: RSA 2048 (default) to 8192; ECDSA 256 (default), 384 or 521.
    pub size: Option<i32>,
}

/// When a private key is rotated.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RotationPolicy {
    Never,
    Always,
}

/// How a private key is encoded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PrivateKeyEncoding {
    #[serde(rename = "PKCS1")]
    Pkcs1,
    #[serde(rename = "PKCS8")]
    Pkcs8,
}

/// A condition of a Certificate, by type (as `certificate_request::request_condition`
/// for requests).
pub fn certificate_condition<'a>(cert: &'a Certificate, type_: &str) -> Option<&'a Condition> {
    cert.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The private key sizes cert-manager accepts and its defaults: the one rule the
/// CRD's CEL validation, the shims' `cert-manager.io/private-key-size` parser and
/// the key manager all apply.
pub mod key_sizes {
    use super::PrivateKeyAlgorithm;

    /// cert-manager's default RSA key size.
    pub const RSA_DEFAULT: u32 = 2048;
    /// Smallest RSA key size cert-manager accepts (`pki.MinRSAKeySize`).
    pub const RSA_MIN: u32 = 2048;
    /// Largest RSA key size cert-manager accepts (`pki.MaxRSAKeySize`).
    pub const RSA_MAX: u32 = 8192;
    /// cert-manager's default ECDSA key size.
    pub const ECDSA_DEFAULT: u32 = 256;
    /// The ECDSA curves' sizes (P-256, P-384, P-521).
    pub const ECDSA: [u32; 3] = [256, 384, 521];

    /// Whether `size` (set, not 0) is allowed for an RSA or ECDSA key; Ed25519 keys
    /// have no size, and each reader says what it does with one.
    pub fn allowed(algorithm: PrivateKeyAlgorithm, size: i64) -> Option<bool> {
        match algorithm {
            PrivateKeyAlgorithm::Rsa => {
                Some((i64::from(RSA_MIN)..=i64::from(RSA_MAX)).contains(&size))
            }
            PrivateKeyAlgorithm::Ecdsa => Some(ECDSA.iter().any(|s| i64::from(*s) == size)),
            PrivateKeyAlgorithm::Ed25519 => None,
        }
    }

    /// The rule as the CRD's CEL validation of `spec.privateKey` states it (kept
    /// equal to the constants by a test).
    pub const CEL: &str = "!has(self.size) || self.size == 0 || ((!has(self.algorithm) || self.algorithm == 'RSA') ? (self.size >= 2048 && self.size <= 8192) : (self.algorithm == 'ECDSA' ? (self.size == 256 || self.size == 384 || self.size == 521) : false))";

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_cel_rule_states_the_constants() {
            let ecdsa = ECDSA
                .iter()
                .map(|s| format!("self.size == {s}"))
                .collect::<Vec<_>>()
                .join(" || ");
            let want = format!(
                "!has(self.size) || self.size == 0 || ((!has(self.algorithm) || self.algorithm == 'RSA') ? (self.size >= {RSA_MIN} && self.size <= {RSA_MAX}) : (self.algorithm == 'ECDSA' ? ({ecdsa}) : false))"
            );
            assert_eq!(CEL, want);
            assert_eq!(allowed(PrivateKeyAlgorithm::Rsa, 4096), Some(true));
            assert_eq!(allowed(PrivateKeyAlgorithm::Rsa, 1024), Some(false));
            assert_eq!(allowed(PrivateKeyAlgorithm::Ecdsa, 384), Some(true));
            assert_eq!(allowed(PrivateKeyAlgorithm::Ecdsa, 2048), Some(false));
            assert_eq!(allowed(PrivateKeyAlgorithm::Ed25519, 1), None);
        }
    }
}

/// Private key algorithms.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PrivateKeyAlgorithm {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECDSA")]
    Ecdsa,
    Ed25519,
}

/// Signature algorithms an issuer may be asked to use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SignatureAlgorithm {
    SHA256WithRSA,
    SHA384WithRSA,
    SHA512WithRSA,
    ECDSAWithSHA256,
    ECDSAWithSHA384,
    ECDSAWithSHA512,
    PureEd25519,
}

/// Key usages and extended key usages, spelled as cert-manager spells them.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum KeyUsage {
    #[serde(rename = "signing")]
    Signing,
    #[serde(rename = "digital signature")]
    DigitalSignature,
    #[serde(rename = "content commitment")]
    ContentCommitment,
    #[serde(rename = "key encipherment")]
    KeyEncipherment,
    #[serde(rename = "key agreement")]
    KeyAgreement,
    #[serde(rename = "data encipherment")]
    DataEncipherment,
    #[serde(rename = "cert sign")]
    CertSign,
    #[serde(rename = "crl sign")]
    CrlSign,
    #[serde(rename = "encipher only")]
    EncipherOnly,
    #[serde(rename = "decipher only")]
    DecipherOnly,
    #[serde(rename = "any")]
    Any,
    #[serde(rename = "server auth")]
    ServerAuth,
    #[serde(rename = "client auth")]
    ClientAuth,
    #[serde(rename = "code signing")]
    CodeSigning,
    #[serde(rename = "email protection")]
    EmailProtection,
    #[serde(rename = "s/mime")]
    Smime,
    #[serde(rename = "ipsec end system")]
    IpsecEndSystem,
    #[serde(rename = "ipsec tunnel")]
    IpsecTunnel,
    #[serde(rename = "ipsec user")]
    IpsecUser,
    #[serde(rename = "timestamping")]
    Timestamping,
    #[serde(rename = "ocsp signing")]
    OcspSigning,
    #[serde(rename = "microsoft sgc")]
    MicrosoftSgc,
    #[serde(rename = "netscape sgc")]
    NetscapeSgc,
}

/// An additional output format written to the Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct CertificateAdditionalOutputFormat {
    /// `DER` (key as `key.der`) or `CombinedPEM` (key and chain as `tls-combined.pem`).
    #[serde(rename = "type")]
    pub type_: AdditionalOutputFormatType,
}

/// Additional output format types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AdditionalOutputFormatType {
    #[serde(rename = "DER")]
    Der,
    CombinedPEM,
}

/// X.509 name constraints (RFC 5280 §4.2.1.10).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NameConstraints {
    /// Whether the extension is marked critical.
    pub critical: Option<bool>,
    /// Names the certificate may sign for.
    pub permitted: Option<NameConstraintItem>,
    /// Names the certificate may not sign for.
    pub excluded: Option<NameConstraintItem>,
}

/// One list of name constraints.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameConstraintItem {
    pub dns_domains: Option<Vec<String>>,
    /// IP ranges in CIDR notation.
    pub ip_ranges: Option<Vec<String>>,
    pub email_addresses: Option<Vec<String>>,
    #[serde(rename = "uriDomains")]
    pub uri_domains: Option<Vec<String>>,
}

/// The observed state of a Certificate.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// `Ready` and `Issuing` conditions.
    pub conditions: Option<Vec<Condition>>,
    /// When the last issuance attempt failed.
    pub last_failure_time: Option<Time>,
    /// The notBefore of the certificate in the Secret.
    pub not_before: Option<Time>,
    /// The notAfter of the certificate in the Secret.
    pub not_after: Option<Time>,
    /// When the certificate will next be renewed.
    pub renewal_time: Option<Time>,
    /// The revision of the current certificate; bumped at each issuance.
    pub revision: Option<i32>,
    /// The Secret holding the private key for the issuance in progress.
    pub next_private_key_secret_name: Option<String>,
    /// Consecutive failed issuance attempts.
    pub failed_issuance_attempts: Option<i32>,
}
