//! The table of cert-manager v1.21's controller flags: each flag's name, value kind
//! and what certgate does with it (implemented by one of its own flags, or accepted
//! and ignored, with the reason). Data and lookups only; must not parse arguments.

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

    pub(super) fn syntax(self) -> &'static str {
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
pub(super) const NO_THROTTLE: &str =
    "certgate's Kubernetes client (kube-rs) does not rate-limit its requests";
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
