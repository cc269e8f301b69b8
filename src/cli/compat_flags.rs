//! cert-manager v1.21's controller flags, and what `certgate controller` does with each.
//!
//! [`CONTROLLER_FLAGS`] lists every flag cert-manager's controller defines
//! (`cmd/controller/app/options/options.go`, its logging flags and klog's deprecated
//! ones), so that a Deployment written for cert-manager starts certgate unchanged. A
//! flag certgate implements is one of `certgate controller`'s own (the same name or an
//! alias); a flag that does not apply is accepted here, its value checked as
//! cert-manager checks it, and logged once at startup with the reason it is ignored.
//! A flag in neither is refused, as cert-manager refuses it.
//!
//! Values are read as Go's `pflag` reads them: `--flag=value` or `--flag value`,
//! booleans as `strconv.ParseBool` (`--flag`, `--flag=false`, `=0`, `=F`, …; never
//! `--flag false`), durations in Go syntax (`1m30s`), integers with Go's prefixes
//! (`0x10`), lists comma-separated and repeatable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command, parser::ValueSource};

/// How a flag's value is written (cert-manager's `pflag` type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` or `--flag=<bool>`.
    Bool,
    String,
    /// Comma-separated, repeatable (`StringSlice`).
    StringSlice,
    /// A signed integer (`Int`, `Int32`).
    Int,
    /// An unsigned integer (`Uint64`).
    Uint,
    /// A float (`Float32`).
    Float,
    /// A Go duration (`1m30s`).
    Duration,
    /// `key=value` pairs, comma-separated (`MapStringString`).
    MapStringString,
    /// `Gate=bool` pairs, comma-separated (`MapStringBool`).
    MapStringBool,
    /// klog's `pattern=N` list.
    VModule,
}

impl Kind {
    /// Whether the flag takes a value (a boolean's is optional, after `=`).
    pub fn takes_value(self) -> bool {
        self != Self::Bool
    }

    fn syntax(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::String => "string",
            Self::StringSlice => "strings",
            Self::Int => "int",
            Self::Uint => "uint",
            Self::Float => "float",
            Self::Duration => "duration",
            Self::MapStringString => "key=value,...",
            Self::MapStringBool => "Gate=bool,...",
            Self::VModule => "pattern=N,...",
        }
    }
}

/// What certgate does with a cert-manager flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// `certgate controller` implements it (under this name or as an alias of one of
    /// its own flags): how.
    Implemented(&'static str),
    /// Accepted, its value checked, and ignored: why.
    Ignored(&'static str),
}

/// One flag of cert-manager's controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The long name (`-v` is also `--v`).
    pub name: &'static str,
    pub kind: Kind,
    pub handling: Handling,
    /// Hidden in cert-manager's `--help` (klog's deprecated flags, the internal ones).
    pub hidden: bool,
}

const fn implemented(name: &'static str, kind: Kind, how: &'static str) -> Flag {
    Flag {
        name,
        kind,
        handling: Handling::Implemented(how),
        hidden: false,
    }
}

const fn ignored(name: &'static str, kind: Kind, why: &'static str) -> Flag {
    Flag {
        name,
        kind,
        handling: Handling::Ignored(why),
        hidden: false,
    }
}

const fn hidden(flag: Flag) -> Flag {
    Flag {
        hidden: true,
        ..flag
    }
}

const NO_SOLVER_PODS: &str = "certgate starts no solver pods: one acmesolver Deployment (the chart's \
     `acmesolver` values) or the controller itself (--acme-http01-solver-listen) answers every HTTP-01 challenge";
const PLAIN_METRICS: &str =
    "certgate serves /metrics over plain HTTP (put TLS in front of it, e.g. a mesh sidecar)";
const NO_PPROF: &str = "certgate has no Go profiler (pprof) endpoint";
const NO_PEM_LIMITS: &str = "certgate reads PEM without cert-manager's per-object size limits (chains stop at 1000 certificates)";
const FIXED_BACKOFF: &str =
    "certgate's back-off after a failed issuance is fixed: 5m doubling up to 32h";
const NO_THROTTLE: &str = "certgate's Kubernetes client (kube-rs) does not rate-limit its requests";
const KLOG: &str = "certgate always logs to stderr; klog's deprecated output flags have no effect";

/// Every flag of cert-manager v1.21's controller, in cert-manager's order.
pub const CONTROLLER_FLAGS: &[Flag] = &[
    implemented(
        "config",
        Kind::String,
        "a ControllerConfiguration file (controller.config.cert-manager.io/v1alpha1), \
         read as cert-manager reads it; flags on the command line win over it",
    ),
    implemented(
        "master",
        Kind::String,
        "the API server's URL, in place of the kubeconfig's or the in-cluster one",
    ),
    implemented(
        "kubeconfig",
        Kind::String,
        "the kubeconfig file (else $KUBECONFIG, ~/.kube/config or the in-cluster config)",
    ),
    ignored("kube-api-qps", Kind::Float, NO_THROTTLE),
    ignored("kube-api-burst", Kind::Int, NO_THROTTLE),
    implemented(
        "cluster-resource-namespace",
        Kind::String,
        "as cert-manager",
    ),
    implemented(
        "namespace",
        Kind::String,
        "as cert-manager: only this namespace is watched",
    ),
    implemented("leader-elect", Kind::Bool, "as cert-manager"),
    implemented(
        "leader-election-namespace",
        Kind::String,
        "as cert-manager (certgate's Lease is named certgate-controller)",
    ),
    implemented(
        "leader-election-lease-duration",
        Kind::Duration,
        "as cert-manager (certgate's default: 15s)",
    ),
    implemented(
        "leader-election-renew-deadline",
        Kind::Duration,
        "as cert-manager (certgate's default: 10s)",
    ),
    implemented(
        "leader-election-retry-period",
        Kind::Duration,
        "as cert-manager (certgate's default: 2s)",
    ),
    implemented(
        "controllers",
        Kind::StringSlice,
        "`-certificaterequests-approver` turns the built-in approver off; the other \
         controllers always run",
    ),
    ignored("acme-http01-solver-image", Kind::String, NO_SOLVER_PODS),
    ignored(
        "acme-http01-solver-resource-request-cpu",
        Kind::String,
        NO_SOLVER_PODS,
    ),
    ignored(
        "acme-http01-solver-resource-request-memory",
        Kind::String,
        NO_SOLVER_PODS,
    ),
    ignored(
        "acme-http01-solver-resource-limits-cpu",
        Kind::String,
        NO_SOLVER_PODS,
    ),
    ignored(
        "acme-http01-solver-resource-limits-memory",
        Kind::String,
        NO_SOLVER_PODS,
    ),
    ignored(
        "acme-http01-solver-run-as-non-root",
        Kind::Bool,
        NO_SOLVER_PODS,
    ),
    implemented(
        "acme-http01-solver-nameservers",
        Kind::StringSlice,
        "the nameservers (host:port) of the HTTP-01 and TLS-ALPN-01 self-checks",
    ),
    ignored(
        "acme-http01-solver-extra-labels",
        Kind::MapStringString,
        "certgate starts no solver pods, and the challenge Services, Ingresses and HTTPRoutes \
         it creates carry its own labels only",
    ),
    ignored(
        "acme-http01-solver-runtime-class-name",
        Kind::String,
        NO_SOLVER_PODS,
    ),
    implemented(
        "cluster-issuer-ambient-credentials",
        Kind::Bool,
        "as cert-manager (DNS-01 providers and Vault's AWS auth)",
    ),
    implemented(
        "issuer-ambient-credentials",
        Kind::Bool,
        "as cert-manager (DNS-01 providers and Vault's AWS auth)",
    ),
    implemented(
        "auto-certificate-annotations",
        Kind::StringSlice,
        "as cert-manager",
    ),
    implemented(
        "extra-certificate-annotations",
        Kind::StringSlice,
        "as cert-manager",
    ),
    implemented("default-issuer-name", Kind::String, "as cert-manager"),
    implemented("default-issuer-kind", Kind::String, "as cert-manager"),
    implemented("default-issuer-group", Kind::String, "as cert-manager"),
    implemented(
        "dns01-recursive-nameservers",
        Kind::StringSlice,
        "host:port and https://…/dns-query (DNS over HTTPS, RFC 8484), as cert-manager",
    ),
    implemented(
        "dns01-recursive-nameservers-only",
        Kind::Bool,
        "as cert-manager",
    ),
    implemented(
        "dns01-check-retry-period",
        Kind::Duration,
        "as cert-manager (certgate's default: 2s; cert-manager's: 10s)",
    ),
    implemented(
        "enable-certificate-owner-ref",
        Kind::Bool,
        "as cert-manager",
    ),
    implemented(
        "enable-gateway-api",
        Kind::Bool,
        "as cert-manager, but on by default (the Gateway shim waits for the Gateway API CRDs)",
    ),
    implemented(
        "enable-gateway-api-listenerset",
        Kind::Bool,
        "as cert-manager, but on by default and without the ListenerSets feature gate",
    ),
    implemented(
        "gateway-api-extra-protocols",
        Kind::StringSlice,
        "as cert-manager: listener protocols besides HTTPS and TLS that carry a certificate",
    ),
    implemented(
        "copied-annotation-prefixes",
        Kind::StringSlice,
        "as cert-manager",
    ),
    implemented(
        "feature-gates",
        Kind::MapStringBool,
        "checked as cert-manager checks them (a malformed pair or an unknown gate is an \
         error); each gate given is logged once with what certgate does",
    ),
    implemented(
        "concurrent-workers",
        Kind::Int,
        "alias of --max-concurrent-reconciles (certgate's default: 16; cert-manager's: 5)",
    ),
    implemented("max-concurrent-challenges", Kind::Int, "as cert-manager"),
    implemented(
        "metrics-listen-address",
        Kind::String,
        "as cert-manager (`:9402` listens on every IPv4 address)",
    ),
    ignored("enable-profiling", Kind::Bool, NO_PPROF),
    ignored("profiler-address", Kind::String, NO_PPROF),
    ignored("metrics-tls-cert-file", Kind::String, PLAIN_METRICS),
    ignored("metrics-tls-private-key-file", Kind::String, PLAIN_METRICS),
    ignored(
        "metrics-dynamic-serving-leaf-duration",
        Kind::Duration,
        PLAIN_METRICS,
    ),
    ignored(
        "metrics-dynamic-serving-ca-secret-namespace",
        Kind::String,
        PLAIN_METRICS,
    ),
    ignored(
        "metrics-dynamic-serving-ca-secret-name",
        Kind::String,
        PLAIN_METRICS,
    ),
    ignored(
        "metrics-dynamic-serving-dns-names",
        Kind::StringSlice,
        PLAIN_METRICS,
    ),
    ignored(
        "metrics-tls-cipher-suites",
        Kind::StringSlice,
        PLAIN_METRICS,
    ),
    ignored("metrics-tls-min-version", Kind::String, PLAIN_METRICS),
    hidden(implemented(
        "internal-healthz-listen-address",
        Kind::String,
        "alias of --health-listen-address (/healthz and /readyz)",
    )),
    hidden(ignored(
        "internal-healthz-leader-election-timeout",
        Kind::Duration,
        "certgate's /healthz does not watch the Lease: a leader that cannot renew it in \
         time stops by itself",
    )),
    ignored("max-certificate-size", Kind::Int, NO_PEM_LIMITS),
    ignored("max-private-key-size", Kind::Int, NO_PEM_LIMITS),
    ignored("max-certificate-chain-length", Kind::Int, NO_PEM_LIMITS),
    ignored("max-certificate-bundle-size", Kind::Int, NO_PEM_LIMITS),
    ignored(
        "certificate-request-minimum-backoff-duration",
        Kind::Duration,
        FIXED_BACKOFF,
    ),
    ignored(
        "certificate-request-maximum-backoff-duration",
        Kind::Duration,
        FIXED_BACKOFF,
    ),
    // klog's flags, deprecated and hidden in cert-manager (names with underscores).
    hidden(ignored("add_dir_header", Kind::Bool, KLOG)),
    hidden(ignored("alsologtostderr", Kind::Bool, KLOG)),
    hidden(ignored("log_backtrace_at", Kind::String, KLOG)),
    hidden(ignored("log_dir", Kind::String, KLOG)),
    hidden(ignored("log_file", Kind::String, KLOG)),
    hidden(ignored("log_file_max_size", Kind::Uint, KLOG)),
    hidden(ignored("logtostderr", Kind::Bool, KLOG)),
    hidden(ignored("one_output", Kind::Bool, KLOG)),
    hidden(ignored("skip_headers", Kind::Bool, KLOG)),
    hidden(ignored("skip_log_headers", Kind::Bool, KLOG)),
    hidden(ignored("stderrthreshold", Kind::String, KLOG)),
    // component-base's logging flags.
    ignored(
        "log-flush-frequency",
        Kind::Duration,
        "certgate writes each log line at once",
    ),
    implemented(
        "logging-format",
        Kind::String,
        "alias of --log-format: text or json",
    ),
    implemented(
        "v",
        Kind::Int,
        "klog verbosity (-v=N, --v=N): up to 3 info, 4 and 5 debug, 6 and up trace (RUST_LOG wins)",
    ),
    ignored(
        "vmodule",
        Kind::VModule,
        "per-file verbosity has no equivalent (RUST_LOG sets levels per module)",
    ),
];

/// The flag of `name`.
pub fn flag(name: &str) -> Option<&'static Flag> {
    CONTROLLER_FLAGS.iter().find(|f| f.name == name)
}

/// The table as Markdown: flag, value, what certgate does.
pub fn markdown_table() -> String {
    let mut out = String::from("| flag | value | certgate |\n|---|---|---|\n");
    for f in CONTROLLER_FLAGS {
        let (what, text) = match f.handling {
            Handling::Implemented(how) => ("implemented", how),
            Handling::Ignored(why) => ("ignored", why),
        };
        let dash = if f.name == "v" { "-" } else { "--" };
        out.push_str(&format!(
            "| `{dash}{}` | {} | {what}: {} |\n",
            f.name,
            f.kind.syntax(),
            text.replace('|', "\\|")
        ));
    }
    out
}

// ---------------------------------------------------------------------------------
// Go's value syntax.

/// Go's `strconv.ParseBool`.
pub fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x` hex, `0o`
/// or `0` octal, or `0b` binary, with `_` between digits.
pub fn go_int_i64(s: &str) -> Result<i64, String> {
    let invalid = || format!("strconv.ParseInt: parsing {s:?}: invalid syntax");
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = digits.trim_start_matches('_');
    if digits.is_empty()
        || digits.ends_with('_')
        || digits.contains("__")
        || (radix == 10 && body.starts_with('_'))
    {
        return Err(invalid());
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = i128::from_str_radix(&clean, radix).map_err(|_| invalid())?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// A Go integer that fits `T` (a `pflag` int flag bound to a narrower type).
pub fn go_int<T: TryFrom<i64>>(s: &str) -> Result<T, String> {
    let v = go_int_i64(s)?;
    T::try_from(v).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseFloat`.
pub fn go_float(s: &str) -> Result<f64, String> {
    s.replace('_', "")
        .parse::<f64>()
        .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
}

/// A Go duration (`time.ParseDuration`) that is not negative.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    crate::gocompat::parse_go_duration(s).map_err(|e| e.to_string())
}

/// A Go listen address: `host:port`, `:port` meaning every IPv4 address.
pub fn go_listen_address(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in address {s:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in address {s:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("invalid listen address {s:?}: expected host:port or :port"))
}

/// A plain DNS server, `host:port` (cert-manager's `--acme-http01-solver-nameservers`):
/// a host name is resolved once, at startup.
pub fn go_host_port(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<crate::dns01::Nameserver>() {
        Ok(crate::dns01::Nameserver::Addr(a)) => Ok(a),
        Ok(crate::dns01::Nameserver::Host { host, port }) => {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| format!("resolving {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("resolving {host}: no address"))
        }
        _ => Err(format!(
            "invalid value {s:?}: must be in the format <ip address>:<port>"
        )),
    }
}

/// `cliflag.MapStringString`: `key=value` pairs, comma-separated.
pub fn map_string_string(s: &str) -> Result<String, String> {
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        if !pair.contains('=') {
            return Err("malformed pair, expect string=string".into());
        }
    }
    Ok(s.to_string())
}

/// klog's `--vmodule`: `pattern=N` pairs, comma-separated.
pub fn vmodule(s: &str) -> Result<String, String> {
    let syntax = || "syntax error: expect comma-separated list of filename=N".to_string();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let (pattern, level) = pair.split_once('=').ok_or_else(syntax)?;
        if pattern.is_empty() || level.parse::<i32>().is_err() {
            return Err(syntax());
        }
    }
    Ok(s.to_string())
}

// ---------------------------------------------------------------------------------
// Feature gates.

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

// ---------------------------------------------------------------------------------
// The ignored flags on `certgate controller`.

const IGNORED_HEADING: &str = "cert-manager flags accepted and ignored";

/// The ignored flags given on a command line (`#[command(flatten)]` it into a clap
/// command to accept them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoredFlags {
    /// Each ignored flag given, with its values as given.
    pub given: Vec<(&'static Flag, Vec<String>)>,
}

impl IgnoredFlags {
    /// One INFO line per ignored flag given.
    pub fn log(&self) {
        for (flag, values) in &self.given {
            let Handling::Ignored(why) = flag.handling else {
                continue;
            };
            tracing::info!(
                value = %values.join(","),
                "flag --{} is accepted for cert-manager compatibility and ignored: {why}",
                flag.name
            );
        }
    }

    /// The lines [`Self::log`] writes.
    pub fn messages(&self) -> Vec<String> {
        self.given
            .iter()
            .filter_map(|(flag, _)| match flag.handling {
                Handling::Ignored(why) => Some(format!(
                    "flag --{} is accepted for cert-manager compatibility and ignored: {why}",
                    flag.name
                )),
                Handling::Implemented(_) => None,
            })
            .collect()
    }
}

fn ignored_flags() -> impl Iterator<Item = &'static Flag> {
    CONTROLLER_FLAGS
        .iter()
        .filter(|f| matches!(f.handling, Handling::Ignored(_)))
}

/// The clap argument accepting an ignored flag.
fn ignored_arg(flag: &'static Flag) -> Arg {
    let Handling::Ignored(why) = flag.handling else {
        unreachable!("only ignored flags are added")
    };
    let arg = Arg::new(flag.name)
        .long(flag.name)
        .help(format!("Ignored: {why}"))
        .help_heading(IGNORED_HEADING)
        .hide(flag.hidden)
        .value_name(flag.kind.syntax());
    match flag.kind {
        Kind::Bool => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .action(ArgAction::Append)
            .value_parser(|s: &str| go_bool(s).map(|b| b.to_string())),
        kind => {
            let arg = arg
                .num_args(1)
                .allow_hyphen_values(true)
                .action(ArgAction::Append);
            match kind {
                Kind::Int => arg.value_parser(|s: &str| go_int_i64(s).map(|_| s.to_string())),
                Kind::Uint => arg.value_parser(|s: &str| {
                    go_int::<u64>(s)
                        .map(|_| s.to_string())
                        .map_err(|e| e.replace("ParseInt", "ParseUint"))
                }),
                Kind::Float => arg.value_parser(|s: &str| go_float(s).map(|_| s.to_string())),
                Kind::Duration => arg.value_parser(|s: &str| {
                    crate::gocompat::parse_go_duration_nanos(s)
                        .map(|_| s.to_string())
                        .map_err(|e| e.to_string())
                }),
                Kind::MapStringString => arg.value_parser(map_string_string),
                Kind::VModule => arg.value_parser(vmodule),
                _ => arg.value_parser(|s: &str| Ok::<_, String>(s.to_string())),
            }
        }
    }
}

/// Adds every ignored cert-manager flag to `cmd`.
pub fn augment(mut cmd: Command) -> Command {
    for flag in ignored_flags() {
        cmd = cmd.arg(ignored_arg(flag));
    }
    cmd
}

impl clap::FromArgMatches for IgnoredFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for flag in ignored_flags() {
            if matches.value_source(flag.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let values = matches
                .get_many::<String>(flag.name)
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            given.push((flag, values));
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for IgnoredFlags {
    fn augment_args(cmd: Command) -> Command {
        augment(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        augment(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_bool(f), Ok(false), "{f}");
        }
        assert_eq!(
            go_bool("yes"),
            Err("strconv.ParseBool: parsing \"yes\": invalid syntax".into())
        );
    }

    #[test]
    fn go_ints() {
        assert_eq!(go_int_i64("42"), Ok(42));
        assert_eq!(go_int_i64("-7"), Ok(-7));
        assert_eq!(go_int_i64("0x10"), Ok(16));
        assert_eq!(go_int_i64("010"), Ok(8));
        assert_eq!(go_int_i64("0b11"), Ok(3));
        assert_eq!(go_int_i64("1_000"), Ok(1000));
        assert_eq!(go_int_i64("0"), Ok(0));
        for bad in ["", "1.5", "ten", "_1", "1_", "0x", "1__0"] {
            assert!(go_int_i64(bad).is_err(), "{bad}");
        }
        assert!(go_int::<u16>("70000").is_err());
        assert_eq!(go_int::<usize>("60"), Ok(60));
    }

    #[test]
    fn listen_addresses_as_go_writes_them() {
        assert_eq!(
            go_listen_address(":9402"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9402)))
        );
        assert_eq!(
            go_listen_address("0.0.0.0:9403"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9403)))
        );
        assert_eq!(
            go_listen_address("localhost:6060"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 6060)))
        );
        assert!(go_listen_address("9402").is_err());
    }

    #[test]
    fn feature_gates_as_cert_manager_reads_them() {
        assert_eq!(
            parse_feature_gates("ACMEUseARI=true, ListenerSets = false,,").map(|g| g.0),
            Ok(vec![
                ("ACMEUseARI".into(), true),
                ("ListenerSets".into(), false)
            ])
        );
        assert_eq!(parse_feature_gates(""), Ok(FeatureGates::default()));
        assert_eq!(
            parse_feature_gates("ACMEUseARI"),
            Err("malformed pair, expect string=bool".into())
        );
        assert_eq!(
            parse_feature_gates("ACMEUseARI=maybe"),
            Err(
                "invalid value of ACMEUseARI: maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
                    .into()
            )
        );
        assert_eq!(
            parse_feature_gates("NoSuchGate=true"),
            Err("unrecognized feature gate: NoSuchGate".into())
        );
        let merged = merge_feature_gates(&[
            parse_feature_gates("ACMEUseARI=true,OtherNames=false").unwrap_or_default(),
            parse_feature_gates("ACMEUseARI=false").unwrap_or_default(),
        ]);
        assert_eq!(merged.get("ACMEUseARI"), Some(&false));
        assert_eq!(merged.get("OtherNames"), Some(&false));
    }

    #[test]
    fn the_table_names_each_flag_once() {
        let mut names: Vec<&str> = CONTROLLER_FLAGS.iter().map(|f| f.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a flag is listed twice");
        let table = markdown_table();
        assert!(table.contains("| `-v` | int | implemented"), "{table}");
        assert!(
            table.contains("| `--enable-profiling` | bool | ignored: certgate has no Go profiler"),
            "{table}"
        );
    }

    #[test]
    fn ignored_flags_are_accepted_checked_and_reported() {
        let cmd = augment(Command::new("controller").no_binary_name(true));
        let m = cmd
            .clone()
            .try_get_matches_from([
                "--enable-profiling",
                "--kube-api-qps=50",
                "--kube-api-burst",
                "100",
                "--metrics-tls-min-version=VersionTLS12",
                "--acme-http01-solver-extra-labels=team=a,tier=b",
                "--vmodule=controller*=4",
                "--logtostderr=false",
                "--max-certificate-size=0x9000",
                "--certificate-request-maximum-backoff-duration=48h",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let ignored =
            <IgnoredFlags as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_default();
        let names: Vec<&str> = ignored.given.iter().map(|(f, _)| f.name).collect();
        assert_eq!(
            names,
            [
                "kube-api-qps",
                "kube-api-burst",
                "acme-http01-solver-extra-labels",
                "enable-profiling",
                "metrics-tls-min-version",
                "max-certificate-size",
                "certificate-request-maximum-backoff-duration",
                "logtostderr",
                "vmodule"
            ]
        );
        assert_eq!(ignored.given[1].1, ["100"]);
        assert_eq!(
            ignored.messages()[0],
            format!(
                "flag --kube-api-qps is accepted for cert-manager compatibility and ignored: {NO_THROTTLE}"
            )
        );
        for bad in [
            "--enable-profiling=yes",
            "--enable-profiling yes",
            "--kube-api-burst=lots",
            "--internal-healthz-leader-election-timeout=15",
            "--acme-http01-solver-extra-labels=team",
            "--vmodule=controller",
            "--log-flush-frequency=soon",
            "--no-such-flag",
        ] {
            let args: Vec<&str> = bad.split(' ').collect();
            assert!(
                cmd.clone().try_get_matches_from(args).is_err(),
                "{bad} is accepted"
            );
        }
    }
}
