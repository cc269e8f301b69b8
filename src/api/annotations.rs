//! The annotations, labels and Secret keys cert-manager defines, with the same values.

// --- Annotations a user sets on an Ingress or Gateway (read by the shims). ---
/// Names the namespaced Issuer to use.
pub const ISSUER: &str = "cert-manager.io/issuer";
/// Names the ClusterIssuer to use.
pub const CLUSTER_ISSUER: &str = "cert-manager.io/cluster-issuer";
/// The kind of an external issuer named by `cert-manager.io/issuer`.
pub const ISSUER_KIND: &str = "cert-manager.io/issuer-kind";
/// The group of an external issuer named by `cert-manager.io/issuer`.
pub const ISSUER_GROUP: &str = "cert-manager.io/issuer-group";
pub const COMMON_NAME: &str = "cert-manager.io/common-name";
pub const ALT_NAMES: &str = "cert-manager.io/alt-names";
pub const IP_SANS: &str = "cert-manager.io/ip-sans";
pub const URI_SANS: &str = "cert-manager.io/uri-sans";
pub const EMAIL_SANS: &str = "cert-manager.io/email-sans";
pub const DURATION: &str = "cert-manager.io/duration";
pub const RENEW_BEFORE: &str = "cert-manager.io/renew-before";
pub const RENEW_BEFORE_PERCENTAGE: &str = "cert-manager.io/renew-before-percentage";
pub const USAGES: &str = "cert-manager.io/usages";
pub const REVISION_HISTORY_LIMIT: &str = "cert-manager.io/revision-history-limit";
pub const PRIVATE_KEY_ALGORITHM: &str = "cert-manager.io/private-key-algorithm";
pub const PRIVATE_KEY_ENCODING: &str = "cert-manager.io/private-key-encoding";
pub const PRIVATE_KEY_SIZE: &str = "cert-manager.io/private-key-size";
pub const PRIVATE_KEY_ROTATION_POLICY: &str = "cert-manager.io/private-key-rotation-policy";
pub const SUBJECT_ORGANIZATIONS: &str = "cert-manager.io/subject-organizations";
pub const SUBJECT_ORGANIZATIONAL_UNITS: &str = "cert-manager.io/subject-organizationalunits";
pub const SUBJECT_COUNTRIES: &str = "cert-manager.io/subject-countries";
pub const SUBJECT_PROVINCES: &str = "cert-manager.io/subject-provinces";
pub const SUBJECT_LOCALITIES: &str = "cert-manager.io/subject-localities";
pub const SUBJECT_STREET_ADDRESSES: &str = "cert-manager.io/subject-streetaddresses";
pub const SUBJECT_POSTAL_CODES: &str = "cert-manager.io/subject-postalcodes";
pub const SUBJECT_SERIAL_NUMBER: &str = "cert-manager.io/subject-serialnumber";
/// JSON of a `secretTemplate` for the generated Certificate.
pub const SECRET_TEMPLATE: &str = "cert-manager.io/secret-template";
/// `"true"` asks for the default issuer (`--default-issuer-name/kind/group`).
pub const TLS_ACME: &str = "kubernetes.io/tls-acme";
/// The legacy Ingress class annotation.
pub const INGRESS_CLASS: &str = "kubernetes.io/ingress.class";

// --- Annotations certgate writes on Secrets and CertificateRequests. ---
pub const ISSUER_NAME: &str = "cert-manager.io/issuer-name";
pub const CERTIFICATE_NAME: &str = "cert-manager.io/certificate-name";
pub const CERTIFICATE_REVISION: &str = "cert-manager.io/certificate-revision";
pub const PRIVATE_KEY_SECRET_NAME: &str = "cert-manager.io/private-key-secret-name";
pub const ISSUE_TEMPORARY_CERTIFICATE: &str = "cert-manager.io/issue-temporary-certificate";

// --- CA injection (cainjector). ---
pub const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";
pub const INJECT_CA_FROM_SECRET: &str = "cert-manager.io/inject-ca-from-secret";
pub const INJECT_APISERVER_CA: &str = "cert-manager.io/inject-apiserver-ca";
pub const ALLOW_DIRECT_INJECTION: &str = "cert-manager.io/allow-direct-injection";

// --- Venafi (accepted for compatibility). ---
pub const VENAFI_CUSTOM_FIELDS: &str = "venafi.cert-manager.io/custom-fields";
pub const VENAFI_PICKUP_ID: &str = "venafi.cert-manager.io/pickup-id";

// --- ACME HTTP-01 annotations. ---
pub const HTTP01_INGRESS_CLASS: &str = "acme.cert-manager.io/http01-ingress-class";
pub const HTTP01_INGRESS_INGRESSCLASSNAME: &str =
    "acme.cert-manager.io/http01-ingress-ingressclassname";
pub const HTTP01_EDIT_IN_PLACE: &str = "acme.cert-manager.io/http01-edit-in-place";
pub const HTTP01_OVERRIDE_INGRESS_NAME: &str = "acme.cert-manager.io/http01-override-ingress-name";
pub const HTTP01_OVERRIDE_INGRESS_CLASS: &str =
    "acme.cert-manager.io/http01-override-ingress-class";
pub const HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME: &str =
    "acme.cert-manager.io/http01-override-ingress-ingressclassname";
pub const HTTP01_PARENTREF_NAME: &str = "acme.cert-manager.io/http01-parentrefname";
pub const HTTP01_PARENTREF_KIND: &str = "acme.cert-manager.io/http01-parentrefkind";
pub const HTTP01_PARENTREF_NAMESPACE: &str = "acme.cert-manager.io/http01-parentrefnamespace";
/// On a ListenerSet: the HTTP-01 solver route attaches to its parent Gateway.
pub const HTTP01_PARENTREF_FALLBACK: &str = "acme.cert-manager.io/http01-parentreffallback";

// --- Labels. ---
/// On Secrets certgate must watch (`"true"`).
pub const LABEL_PART_OF_CONTROLLER: &str = "controller.cert-manager.io/fao";
/// On the temporary Secret holding the next private key.
pub const LABEL_NEXT_PRIVATE_KEY: &str = "cert-manager.io/next-private-key";
/// On HTTP-01 solver pods, services and routes (`"true"`).
pub const LABEL_HTTP01_SOLVER: &str = "acme.cert-manager.io/http01-solver";
pub const LABEL_HTTP_DOMAIN: &str = "acme.cert-manager.io/http-domain";
pub const LABEL_HTTP_TOKEN: &str = "acme.cert-manager.io/http-token";

// --- Secret data keys. ---
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
pub const CA_CRT: &str = "ca.crt";
pub const KEYSTORE_P12: &str = "keystore.p12";
pub const TRUSTSTORE_P12: &str = "truststore.p12";
pub const KEYSTORE_JKS: &str = "keystore.jks";
pub const TRUSTSTORE_JKS: &str = "truststore.jks";
pub const KEYSTORE_PASSWORD: &str = "keystorePassword";
pub const KEY_DER: &str = "key.der";
pub const TLS_COMBINED_PEM: &str = "tls-combined.pem";

/// certgate: the ACME profile (draft-ietf-acme-profiles) to order a Certificate's
/// certificates with, overriding the issuer's `spec.acme.profile`. Set on a
/// Certificate (copied to its CertificateRequests), or on an Ingress/Gateway.
pub const ACME_PROFILE: &str = "acme.cert-manager.io/profile";

/// certgate (ACME renewal information, RFC 9773): on a CertificateRequest, the
/// renewal time picked in the window its CA suggests for the certificate it issued.
/// The Certificate is renewed then (or earlier, by an explicit renewBefore).
pub const ACME_ARI_RENEWAL_TIME: &str = "acme.cert-manager.io/ari-renewal-time";
/// certgate: on a CertificateRequest, the ARI identifier of the certificate it
/// replaces; the ACME order for it says so (`replaces`) when the CA supports ARI.
pub const ACME_REPLACES: &str = "acme.cert-manager.io/replaces";
