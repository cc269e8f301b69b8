//! cert-manager v1.21's controller feature gates (`--feature-gates`): which certgate
//! implements, which it ignores and why, and how repeated flags merge. Must not parse
//! other flags.

use super::*;

/// A feature gate of cert-manager v1.21's controller and what certgate does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureGate {
    pub name: &'static str,
    /// cert-manager's default.
    pub default: bool,
    /// Alpha, Beta or GA (in cert-manager).
    pub stage: &'static str,
    /// What certgate does, whatever the gate says.
    pub certgate: &'static str,
}

/// The gates cert-manager v1.21's controller knows (`internal/controller/feature`),
/// with Kubernetes' `AllAlpha` and `AllBeta`.
pub const FEATURE_GATES: &[FeatureGate] = &[
    FeatureGate {
        name: "AllAlpha",
        default: false,
        stage: "Alpha",
        certgate: "certgate has no alpha features to turn on",
    },
    FeatureGate {
        name: "AllBeta",
        default: false,
        stage: "Beta",
        certgate: "certgate's behaviour does not depend on gates",
    },
    FeatureGate {
        name: "ExperimentalCertificateSigningRequestControllers",
        default: false,
        stage: "Alpha",
        certgate: "certgate does not sign Kubernetes CertificateSigningRequests",
    },
    FeatureGate {
        name: "ExperimentalGatewayAPISupport",
        default: true,
        stage: "Beta",
        certgate: "certgate's Gateway shim follows --enable-gateway-api alone",
    },
    FeatureGate {
        name: "AdditionalCertificateOutputFormats",
        default: true,
        stage: "GA",
        certgate: "certgate always writes spec.additionalOutputFormats",
    },
    FeatureGate {
        name: "ServerSideApply",
        default: false,
        stage: "Alpha",
        certgate: "certgate's writes are its own (patches and updates), whatever the gate",
    },
    FeatureGate {
        name: "LiteralCertificateSubject",
        default: true,
        stage: "Beta",
        certgate: "certgate always honours spec.literalSubject",
    },
    FeatureGate {
        name: "StableCertificateRequestName",
        default: true,
        stage: "Beta",
        certgate: "certgate always names CertificateRequests <certificate>-<revision>",
    },
    FeatureGate {
        name: "UseCertificateRequestBasicConstraints",
        default: false,
        stage: "Alpha",
        certgate: "certgate puts BasicConstraints in a CSR for isCA Certificates only (the gate off)",
    },
    FeatureGate {
        name: "SecretsFilteredCaching",
        default: true,
        stage: "Beta",
        certgate: "certgate's Secret caching is its own",
    },
    FeatureGate {
        name: "DisallowInsecureCSRUsageDefinition",
        default: true,
        stage: "GA",
        certgate: "certgate always takes a request's usages from spec.usages (the gate on)",
    },
    FeatureGate {
        name: "NameConstraints",
        default: true,
        stage: "Beta",
        certgate: "certgate always honours spec.nameConstraints",
    },
    FeatureGate {
        name: "OtherNames",
        default: true,
        stage: "Beta",
        certgate: "certgate always honours spec.otherNames",
    },
    FeatureGate {
        name: "UseDomainQualifiedFinalizer",
        default: true,
        stage: "GA",
        certgate: "certgate always writes acme.cert-manager.io/finalizer (and removes the old one)",
    },
    FeatureGate {
        name: "ValidateCAA",
        default: false,
        stage: "Alpha",
        certgate: "removed in cert-manager 1.18 (a no-op there too)",
    },
    FeatureGate {
        name: "DefaultPrivateKeyRotationPolicyAlways",
        default: true,
        stage: "GA",
        certgate: "certgate's default rotationPolicy is always Always",
    },
    FeatureGate {
        name: "ACMEHTTP01IngressPathTypeExact",
        default: true,
        stage: "Beta",
        certgate: "certgate's challenge Ingresses always use pathType ImplementationSpecific",
    },
    FeatureGate {
        name: "ListenerSets",
        default: false,
        stage: "Alpha",
        certgate: "certgate's ListenerSet shim follows --enable-gateway-api-listenerset alone",
    },
    FeatureGate {
        name: "ACMEUseARI",
        default: false,
        stage: "Alpha",
        certgate: "certgate always follows ACME Renewal Information when the CA offers it",
    },
];

/// The gates of one `--feature-gates` value, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates(pub Vec<(String, bool)>);

/// Parses a `--feature-gates` value as cert-manager does (`cliflag.MapStringBool`,
/// then `SetFromMap`): comma-separated `Gate=bool` pairs, blanks trimmed, empty
/// entries skipped; a pair without `=`, a value Go does not read as a boolean, or a
/// gate cert-manager does not know is an error in cert-manager's words.
pub fn parse_feature_gates(value: &str) -> Result<FeatureGates, String> {
    let mut out = Vec::new();
    for entry in value.split(',').filter(|e| !e.is_empty()) {
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| "malformed pair, expect string=bool".to_string())?;
        let (k, v) = (k.trim(), v.trim());
        let b = go_bool(v).map_err(|e| format!("invalid value of {k}: {v}, err: {e}"))?;
        if !FEATURE_GATES.iter().any(|g| g.name == k) {
            return Err(format!("unrecognized feature gate: {k}"));
        }
        out.push((k.to_string(), b));
    }
    Ok(FeatureGates(out))
}

/// The gates of every `--feature-gates` given, the last value of a gate winning.
pub fn merge_feature_gates(all: &[FeatureGates]) -> BTreeMap<String, bool> {
    all.iter()
        .flat_map(|g| g.0.iter().cloned())
        .collect::<BTreeMap<_, _>>()
}

/// One INFO line per gate given, saying what certgate does.
pub fn log_feature_gates(gates: &BTreeMap<String, bool>) {
    for (name, value) in gates {
        let what = FEATURE_GATES
            .iter()
            .find(|g| g.name == name)
            .map_or("unknown to certgate", |g| g.certgate);
        tracing::info!(
            "feature gate {name}={value} is accepted for cert-manager compatibility and ignored: {what}"
        );
    }
}
