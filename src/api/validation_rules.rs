//! Validation that lives in the CRD schemas, so that the API server itself refuses a
//! wrong manifest with a message naming the field (certgate has no validating webhook).
//!
//! Each entry names a node of a CRD's `openAPIV3Schema` by a dotted path (`[]` steps
//! into list items) and a constraint set on it: a schema keyword or a CEL rule
//! (`x-kubernetes-validations`).
//!
//! kube-apiserver refuses a CRD whose rules' *estimated* cost exceeds its budget. A
//! rule inside list items (or map values) costs its own cost times the largest number
//! of items the list could hold: `maxItems`, or without it what fits in a 3 MB request
//! (about 1.5 million for a list of small strings). Strings a rule reads cost in
//! proportion to their `maxLength`, or to the request size without one. So every list
//! whose items carry a rule, every map a rule iterates and every string a rule reads is
//! bounded here, with limits no real manifest reaches (1,000 SANs, 100 solvers), and
//! `crds::tests` plus a real API server in CI check that the CRDs are accepted.

use serde_json::{Value, json};

/// One constraint to place on a schema node.
#[derive(Debug, Clone)]
pub(crate) enum Constraint {
    /// A schema keyword, e.g. `maxLength: 253`.
    Keyword(&'static str, Value),
    /// A CEL rule; `field_path` (relative, e.g. `.size`) names the field the error is about.
    Rule {
        rule: &'static str,
        message: &'static str,
        field_path: Option<&'static str>,
    },
}

/// A constraint and the schema path it applies to.
#[derive(Debug, Clone)]
pub(crate) struct SchemaConstraint {
    pub path: String,
    pub constraint: Constraint,
}

fn kw(path: &str, key: &'static str, value: Value) -> SchemaConstraint {
    SchemaConstraint {
        path: path.to_string(),
        constraint: Constraint::Keyword(key, value),
    }
}

fn rule(path: &str, rule: &'static str, message: &'static str) -> SchemaConstraint {
    SchemaConstraint {
        path: path.to_string(),
        constraint: Constraint::Rule {
            rule,
            message,
            field_path: None,
        },
    }
}

fn rule_at(
    path: &str,
    field: &'static str,
    rule: &'static str,
    message: &'static str,
) -> SchemaConstraint {
    SchemaConstraint {
        path: path.to_string(),
        constraint: Constraint::Rule {
            rule,
            message,
            field_path: Some(field),
        },
    }
}

/// A Kubernetes object name (RFC 1123 subdomain).
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A Go duration string as `metav1.Duration` writes it, e.g. `2160h` or `1h30m0s`.
const GO_DURATION: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
/// A dotted object identifier.
const OID: &str = r"^([0-2])((\.0)|(\.[1-9][0-9]*))*$";

/// Rules for an `issuerRef` at `path`.
fn issuer_ref(path: &str) -> Vec<SchemaConstraint> {
    vec![
        kw(&format!("{path}.name"), "minLength", json!(1)),
        kw(&format!("{path}.name"), "maxLength", json!(253)),
        kw(&format!("{path}.kind"), "maxLength", json!(63)),
        kw(&format!("{path}.group"), "maxLength", json!(253)),
        rule_at(
            path,
            ".kind",
            "!has(self.kind) || self.kind == '' || (has(self.group) && self.group != '' && self.group != 'cert-manager.io') || self.kind == 'Issuer' || self.kind == 'ClusterIssuer'",
            "kind must be Issuer or ClusterIssuer for the cert-manager.io group; set group for an external issuer",
        ),
    ]
}

/// A Secret reference whose name must be given.
fn secret_ref(path: &str) -> SchemaConstraint {
    kw(&format!("{path}.name"), "minLength", json!(1))
}

/// The most entries of one kind of SAN a Certificate may list (Let's Encrypt allows 100
/// names per certificate; private CAs rarely reach a few hundred).
const MAX_SANS: u32 = 1000;
/// The most solvers one ACME issuer may list.
const MAX_SOLVERS: u32 = 100;

/// The Certificate CRD's rules.
pub(crate) fn certificate() -> Vec<SchemaConstraint> {
    let mut c = vec![
        rule(
            "spec",
            "(has(self.commonName) && self.commonName != '') || (has(self.literalSubject) && self.literalSubject != '') || (has(self.dnsNames) && size(self.dnsNames) > 0) || (has(self.uris) && size(self.uris) > 0) || (has(self.emailAddresses) && size(self.emailAddresses) > 0) || (has(self.ipAddresses) && size(self.ipAddresses) > 0) || (has(self.otherNames) && size(self.otherNames) > 0)",
            "at least one of commonName, literalSubject, dnsNames, uris, emailAddresses, ipAddresses or otherNames must be set",
        ),
        rule_at(
            "spec",
            ".literalSubject",
            "!has(self.literalSubject) || (!has(self.commonName) && !has(self.subject))",
            "literalSubject cannot be combined with commonName or subject: write the common name and every subject attribute in literalSubject",
        ),
        rule_at(
            "spec",
            ".renewBeforePercentage",
            "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
            "renewBefore and renewBeforePercentage are mutually exclusive: set only one of them",
        ),
        rule_at(
            "spec",
            ".duration",
            "!has(self.duration) || !self.duration.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.duration) >= duration('1h')",
            "duration must be at least 1h, e.g. 2160h for 90 days",
        ),
        rule_at(
            "spec",
            ".renewBefore",
            "!has(self.renewBefore) || !self.renewBefore.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.renewBefore) >= duration('5m')",
            "renewBefore must be at least 5m",
        ),
        rule_at(
            "spec",
            ".renewBefore",
            "!has(self.renewBefore) || !self.renewBefore.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || (has(self.duration) && !self.duration.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$')) || duration(self.renewBefore) < (has(self.duration) ? duration(self.duration) : duration('2160h'))",
            "renewBefore must be shorter than duration (90 days, 2160h, when duration is not set)",
        ),
        rule_at(
            "spec",
            ".nameConstraints",
            "!has(self.nameConstraints) || (has(self.isCA) && self.isCA)",
            "nameConstraints can only be set when isCA is true",
        ),
        kw("spec.commonName", "maxLength", json!(64)),
        kw("spec.secretName", "minLength", json!(1)),
        kw("spec.secretName", "maxLength", json!(253)),
        kw("spec.secretName", "pattern", json!(DNS_SUBDOMAIN)),
        kw("spec.duration", "maxLength", json!(32)),
        kw("spec.duration", "pattern", json!(GO_DURATION)),
        kw("spec.renewBefore", "maxLength", json!(32)),
        kw("spec.renewBefore", "pattern", json!(GO_DURATION)),
        kw("spec.renewBeforePercentage", "minimum", json!(1)),
        kw("spec.renewBeforePercentage", "maximum", json!(99)),
        kw("spec.revisionHistoryLimit", "minimum", json!(1)),
        kw("spec.dnsNames[]", "maxLength", json!(253)),
        kw("spec.dnsNames[]", "minLength", json!(1)),
        kw("spec.emailAddresses[]", "maxLength", json!(254)),
        kw(
            "spec.emailAddresses[]",
            "pattern",
            json!(r"^[^@\s]+@[^@\s]+$"),
        ),
        kw("spec.uris[]", "maxLength", json!(2048)),
        kw(
            "spec.uris[]",
            "pattern",
            json!(r"^[a-zA-Z][a-zA-Z0-9+.-]*:"),
        ),
        kw("spec.ipAddresses[]", "maxLength", json!(45)),
        kw("spec.dnsNames", "maxItems", json!(MAX_SANS)),
        kw("spec.ipAddresses", "maxItems", json!(MAX_SANS)),
        kw("spec.uris", "maxItems", json!(MAX_SANS)),
        kw("spec.emailAddresses", "maxItems", json!(MAX_SANS)),
        kw("spec.otherNames", "maxItems", json!(MAX_SANS)),
        kw("spec.otherNames[].oid", "maxLength", json!(256)),
        kw("spec.otherNames[].utf8Value", "maxLength", json!(1024)),
        kw("spec.signatureAlgorithm", "maxLength", json!(32)),
        kw("spec.privateKey.algorithm", "maxLength", json!(16)),
        kw(
            "spec.secretTemplate.annotations",
            "maxProperties",
            json!(1000),
        ),
        kw("spec.renewal.windows", "maxItems", json!(100)),
        rule(
            "spec.ipAddresses[]",
            "isIP(self)",
            "must be an IPv4 or IPv6 address",
        ),
        kw("spec.otherNames[]", "required", json!(["oid", "utf8Value"])),
        kw("spec.otherNames[].oid", "pattern", json!(OID)),
        kw("spec.literalSubject", "maxLength", json!(1024)),
        rule_at(
            "spec.privateKey",
            ".size",
            crate::api::certificate::key_sizes::CEL,
            "size must be 2048 to 8192 for RSA, 256, 384 or 521 for ECDSA, and must not be set for Ed25519",
        ),
        rule_at(
            "spec.keystores.jks",
            ".password",
            "!(has(self.password) && has(self.passwordSecretRef))",
            "password and passwordSecretRef are mutually exclusive: set only one of them",
        ),
        rule(
            "spec.keystores.jks",
            "!self.create || has(self.password) || has(self.passwordSecretRef)",
            "a JKS keystore needs password or passwordSecretRef when create is true",
        ),
        rule_at(
            "spec.keystores.pkcs12",
            ".password",
            "!(has(self.password) && has(self.passwordSecretRef))",
            "password and passwordSecretRef are mutually exclusive: set only one of them",
        ),
        rule(
            "spec.keystores.pkcs12",
            "!self.create || has(self.password) || has(self.passwordSecretRef)",
            "a PKCS#12 keystore needs password or passwordSecretRef when create is true",
        ),
        kw("spec.keystores.jks.alias", "minLength", json!(1)),
        rule_at(
            "spec",
            ".signatureAlgorithm",
            "!has(self.signatureAlgorithm) || ((!has(self.privateKey) || !has(self.privateKey.algorithm) || self.privateKey.algorithm == 'RSA') ? self.signatureAlgorithm.endsWith('WithRSA') : (self.privateKey.algorithm == 'ECDSA' ? self.signatureAlgorithm.startsWith('ECDSAWith') : self.signatureAlgorithm == 'PureEd25519'))",
            "signatureAlgorithm must match the key algorithm: SHA256WithRSA, SHA384WithRSA or SHA512WithRSA for RSA; ECDSAWithSHA256, ECDSAWithSHA384 or ECDSAWithSHA512 for ECDSA; PureEd25519 for Ed25519",
        ),
        rule(
            "spec.nameConstraints",
            "has(self.permitted) || has(self.excluded)",
            "nameConstraints needs permitted or excluded",
        ),
        rule(
            "spec.secretTemplate.annotations",
            "self.all(k, !k.startsWith('cert-manager.io/') || k == 'cert-manager.io/allow-direct-injection')",
            "cert-manager.io/* annotations are set by certgate and cannot be templated (cert-manager.io/allow-direct-injection excepted)",
        ),
        kw(
            "spec.additionalOutputFormats",
            "x-kubernetes-list-type",
            json!("map"),
        ),
        kw(
            "spec.additionalOutputFormats",
            "x-kubernetes-list-map-keys",
            json!(["type"]),
        ),
        rule(
            "spec.renewal",
            "!has(self.policy) || self.policy != 'Disabled' || !has(self.windows) || size(self.windows) == 0",
            "windows cannot be set when renewal.policy is Disabled",
        ),
        kw(
            "spec.renewal.windows[].windowDuration",
            "pattern",
            json!(r"^([0-9]+(\.[0-9]+)?(s|m|h))+$"),
        ),
        kw("spec.renewal.windows[].cron", "minLength", json!(1)),
        kw("spec.renewal.windows[].cron", "maxLength", json!(128)),
        kw("status.conditions", "x-kubernetes-list-type", json!("map")),
        kw(
            "status.conditions",
            "x-kubernetes-list-map-keys",
            json!(["type"]),
        ),
    ];
    c.extend(issuer_ref("spec.issuerRef"));
    c
}

/// The CertificateRequest CRD's rules.
pub(crate) fn certificate_request() -> Vec<SchemaConstraint> {
    let mut c = vec![
        kw("spec.request", "format", json!("byte")),
        kw("spec.request", "minLength", json!(1)),
        kw("spec.duration", "maxLength", json!(32)),
        kw("spec.duration", "pattern", json!(GO_DURATION)),
        kw("status.certificate", "format", json!("byte")),
        kw("status.ca", "format", json!("byte")),
        rule(
            "spec",
            "self == oldSelf",
            "spec is immutable: create a new CertificateRequest instead",
        ),
        kw("status.conditions", "x-kubernetes-list-type", json!("map")),
        kw(
            "status.conditions",
            "x-kubernetes-list-map-keys",
            json!(["type"]),
        ),
    ];
    c.extend(issuer_ref("spec.issuerRef"));
    c
}

/// The Issuer and ClusterIssuer CRDs' rules (they share one spec).
pub(crate) fn issuer() -> Vec<SchemaConstraint> {
    let mut c = vec![
        rule(
            "spec",
            "(has(self.acme) ? 1 : 0) + (has(self.ca) ? 1 : 0) + (has(self.vault) ? 1 : 0) + (has(self.selfSigned) ? 1 : 0) + (has(self.venafi) ? 1 : 0) == 1",
            "exactly one issuer type must be set: acme, ca, selfSigned, vault or venafi",
        ),
        // ACME
        kw("spec.acme.server", "minLength", json!(1)),
        kw("spec.acme.server", "maxLength", json!(2048)),
        rule(
            "spec.acme.server",
            "self.startsWith('https://') || self.startsWith('http://')",
            "server must be the http(s) URL of an ACME directory, e.g. https://acme-v02.api.letsencrypt.org/directory",
        ),
        kw("spec.acme.email", "maxLength", json!(254)),
        kw("spec.acme.preferredChain", "maxLength", json!(64)),
        kw("spec.acme.caBundle", "format", json!("byte")),
        rule_at(
            "spec.acme",
            ".caBundle",
            "!(has(self.caBundle) && has(self.skipTLSVerify) && self.skipTLSVerify)",
            "caBundle and skipTLSVerify are mutually exclusive: trust the server with caBundle, or skip verification",
        ),
        secret_ref("spec.acme.privateKeySecretRef"),
        kw(
            "spec.acme.externalAccountBinding.keyID",
            "minLength",
            json!(1),
        ),
        secret_ref("spec.acme.externalAccountBinding.keySecretRef"),
        kw("spec.acme.profile", "maxLength", json!(64)),
        // Solvers
        kw("spec.acme.solvers", "maxItems", json!(MAX_SOLVERS)),
        kw(
            "spec.acme.solvers[].selector.dnsNames",
            "maxItems",
            json!(MAX_SANS),
        ),
        kw(
            "spec.acme.solvers[].selector.dnsZones",
            "maxItems",
            json!(MAX_SANS),
        ),
        kw(
            "spec.acme.solvers[].dns01.route53.secretAccessKeySecretRef.name",
            "maxLength",
            json!(253),
        ),
        kw(
            "spec.acme.solvers[].dns01.cloudflare.email",
            "maxLength",
            json!(254),
        ),
        kw(
            "spec.acme.solvers[].dns01.rfc2136.tsigKeyName",
            "maxLength",
            json!(253),
        ),
        kw(
            "spec.acme.solvers[].dns01.rfc2136.tsigSecretSecretRef.name",
            "maxLength",
            json!(253),
        ),
        kw(
            "spec.acme.solvers[].http01.gatewayHTTPRoute.parentRefs",
            "maxItems",
            json!(32),
        ),
        kw(
            "spec.vault.auth.kubernetes.secretRef.name",
            "maxLength",
            json!(253),
        ),
        rule(
            "spec.acme.solvers[]",
            "(has(self.http01) ? 1 : 0) + (has(self.dns01) ? 1 : 0) == 1",
            "exactly one of http01 or dns01 must be set in a solver",
        ),
        kw(
            "spec.acme.solvers[].selector.dnsNames[]",
            "maxLength",
            json!(253),
        ),
        kw(
            "spec.acme.solvers[].selector.dnsZones[]",
            "maxLength",
            json!(253),
        ),
        rule(
            "spec.acme.solvers[].http01",
            "(has(self.ingress) ? 1 : 0) + (has(self.gatewayHTTPRoute) ? 1 : 0) == 1",
            "exactly one of ingress or gatewayHTTPRoute must be set in http01",
        ),
        rule(
            "spec.acme.solvers[].http01.ingress",
            "(has(self.class) ? 1 : 0) + (has(self.ingressClassName) ? 1 : 0) + (has(self.name) ? 1 : 0) <= 1",
            "only one of class, ingressClassName or name may be set",
        ),
        rule(
            "spec.acme.solvers[].dns01",
            "(has(self.akamai) ? 1 : 0) + (has(self.cloudDNS) ? 1 : 0) + (has(self.cloudflare) ? 1 : 0) + (has(self.route53) ? 1 : 0) + (has(self.azureDNS) ? 1 : 0) + (has(self.digitalocean) ? 1 : 0) + (has(self.acmeDNS) ? 1 : 0) + (has(self.rfc2136) ? 1 : 0) + (has(self.webhook) ? 1 : 0) == 1",
            "exactly one DNS provider must be set in dns01: route53, cloudDNS, cloudflare, rfc2136, acmeDNS, azureDNS, digitalocean, akamai or webhook",
        ),
        // Route53
        rule_at(
            "spec.acme.solvers[].dns01.route53",
            ".accessKeyID",
            "!(has(self.accessKeyID) && has(self.accessKeyIDSecretRef))",
            "accessKeyID and accessKeyIDSecretRef are mutually exclusive: set only one of them",
        ),
        rule_at(
            "spec.acme.solvers[].dns01.route53",
            ".secretAccessKeySecretRef",
            "!(has(self.accessKeyID) || has(self.accessKeyIDSecretRef)) || (has(self.secretAccessKeySecretRef) && self.secretAccessKeySecretRef.name != '')",
            "secretAccessKeySecretRef is required when accessKeyID or accessKeyIDSecretRef is set",
        ),
        kw(
            "spec.acme.solvers[].dns01.route53.region",
            "maxLength",
            json!(64),
        ),
        secret_ref("spec.acme.solvers[].dns01.route53.accessKeyIDSecretRef"),
        kw(
            "spec.acme.solvers[].dns01.route53.auth.kubernetes.serviceAccountRef.name",
            "minLength",
            json!(1),
        ),
        // Cloud DNS
        kw(
            "spec.acme.solvers[].dns01.cloudDNS.project",
            "minLength",
            json!(1),
        ),
        secret_ref("spec.acme.solvers[].dns01.cloudDNS.serviceAccountSecretRef"),
        // Cloudflare
        rule(
            "spec.acme.solvers[].dns01.cloudflare",
            "has(self.apiTokenSecretRef) != has(self.apiKeySecretRef)",
            "exactly one of apiTokenSecretRef or apiKeySecretRef must be set",
        ),
        rule_at(
            "spec.acme.solvers[].dns01.cloudflare",
            ".email",
            "!has(self.apiKeySecretRef) || (has(self.email) && self.email != '')",
            "email is required with apiKeySecretRef (a global API key); an apiTokenSecretRef needs no email",
        ),
        secret_ref("spec.acme.solvers[].dns01.cloudflare.apiTokenSecretRef"),
        secret_ref("spec.acme.solvers[].dns01.cloudflare.apiKeySecretRef"),
        // RFC 2136
        kw(
            "spec.acme.solvers[].dns01.rfc2136.nameserver",
            "minLength",
            json!(1),
        ),
        // What cert-manager's webhook checks (ValidNameserver): a host or IP, with an
        // optional port; an IPv6 address with a port in brackets.
        kw(
            "spec.acme.solvers[].dns01.rfc2136.nameserver",
            "pattern",
            json!(
                r"^(\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?|[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*|[^\s\[\]:/@]+(:[0-9]{1,5})?)$"
            ),
        ),
        kw(
            "spec.acme.solvers[].dns01.rfc2136.nameserver",
            "maxLength",
            json!(261),
        ),
        rule_at(
            "spec.acme.solvers[].dns01.rfc2136",
            ".tsigSecretSecretRef",
            "!has(self.tsigKeyName) || self.tsigKeyName == '' || (has(self.tsigSecretSecretRef) && self.tsigSecretSecretRef.name != '')",
            "tsigSecretSecretRef is required when tsigKeyName is set",
        ),
        rule_at(
            "spec.acme.solvers[].dns01.rfc2136",
            ".tsigKeyName",
            "!has(self.tsigSecretSecretRef) || self.tsigSecretSecretRef.name == '' || (has(self.tsigKeyName) && self.tsigKeyName != '')",
            "tsigKeyName is required when tsigSecretSecretRef is set",
        ),
        kw(
            "spec.acme.solvers[].dns01.rfc2136.tsigAlgorithm",
            "pattern",
            json!("^[Hh][Mm][Aa][Cc]([Mm][Dd]5|[Ss][Hh][Aa](1|256|512))$"),
        ),
        // Others
        kw(
            "spec.acme.solvers[].dns01.acmeDNS.host",
            "minLength",
            json!(1),
        ),
        kw(
            "spec.acme.solvers[].dns01.webhook.groupName",
            "minLength",
            json!(1),
        ),
        kw(
            "spec.acme.solvers[].dns01.webhook.solverName",
            "minLength",
            json!(1),
        ),
        // CA
        kw("spec.ca.secretName", "minLength", json!(1)),
        kw("spec.ca.secretName", "maxLength", json!(253)),
        // Vault
        kw("spec.vault.server", "minLength", json!(1)),
        kw("spec.vault.path", "minLength", json!(1)),
        kw("spec.vault.caBundle", "format", json!("byte")),
        rule_at(
            "spec.vault",
            ".caBundle",
            "!(has(self.caBundle) && has(self.caBundleSecretRef))",
            "caBundle and caBundleSecretRef are mutually exclusive: set only one of them",
        ),
        rule_at(
            "spec.vault",
            ".clientKeySecretRef",
            "has(self.clientCertSecretRef) == has(self.clientKeySecretRef)",
            "clientCertSecretRef and clientKeySecretRef must be set together: the client certificate for mutual TLS with Vault needs its key",
        ),
        rule(
            "spec.vault.auth",
            "has(self.tokenSecretRef) || has(self.appRole) || has(self.clientCertificate) || has(self.kubernetes) || has(self.aws)",
            "a Vault auth method must be set: tokenSecretRef, appRole, clientCertificate, kubernetes or aws",
        ),
        rule(
            "spec.vault.auth.kubernetes",
            "(has(self.secretRef) && self.secretRef.name != '') != has(self.serviceAccountRef)",
            "exactly one of secretRef or serviceAccountRef must be set for Kubernetes auth",
        ),
        kw("spec.vault.auth.kubernetes.role", "minLength", json!(1)),
        kw("spec.vault.auth.aws.role", "minLength", json!(1)),
        secret_ref("spec.vault.auth.appRole.secretRef"),
        kw("spec.vault.auth.appRole.roleId", "minLength", json!(1)),
        // Venafi
        rule(
            "spec.venafi",
            "has(self.tpp) != has(self.cloud)",
            "exactly one of tpp or cloud must be set",
        ),
        kw("spec.venafi.tpp.caBundle", "format", json!("byte")),
        kw(
            "spec.acme.solvers[].waitInsteadOfSelfCheck",
            "pattern",
            json!(GO_DURATION),
        ),
        kw("status.conditions", "x-kubernetes-list-type", json!("map")),
        kw(
            "status.conditions",
            "x-kubernetes-list-map-keys",
            json!(["type"]),
        ),
    ];
    c.extend(solver_http01_gateway());
    c
}

/// Gateway API parent references of the HTTP-01 HTTPRoute solver.
fn solver_http01_gateway() -> Vec<SchemaConstraint> {
    let p = "spec.acme.solvers[].http01.gatewayHTTPRoute.parentRefs[]";
    vec![
        kw(&format!("{p}.name"), "minLength", json!(1)),
        kw(&format!("{p}.name"), "maxLength", json!(253)),
        kw(&format!("{p}.port"), "minimum", json!(1)),
        kw(&format!("{p}.port"), "maximum", json!(65535)),
        kw(&format!("{p}.namespace"), "maxLength", json!(63)),
        kw(
            &format!("{p}.namespace"),
            "pattern",
            json!("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        ),
    ]
}

/// The Order CRD's rules.
pub(crate) fn order() -> Vec<SchemaConstraint> {
    let mut c = vec![
        kw("spec.request", "format", json!("byte")),
        kw("spec.request", "minLength", json!(1)),
        kw("status.certificate", "format", json!("byte")),
        rule(
            "spec",
            "self == oldSelf",
            "spec is immutable: create a new Order instead",
        ),
    ];
    c.extend(issuer_ref("spec.issuerRef"));
    c
}

/// The Challenge CRD's rules.
pub(crate) fn challenge() -> Vec<SchemaConstraint> {
    let mut c = vec![
        kw("spec.dnsName", "minLength", json!(1)),
        kw("spec.url", "minLength", json!(1)),
        rule(
            "spec",
            "self == oldSelf",
            "spec is immutable: create a new Challenge instead",
        ),
    ];
    c.extend(issuer_ref("spec.issuerRef"));
    c
}
