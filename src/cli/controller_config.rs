//! cert-manager's controller configuration file (`--config`): a
//! `ControllerConfiguration` of `controller.config.cert-manager.io/v1alpha1`, as
//! cert-manager's chart mounts it from its `config` value.
//!
//! The file is decoded as cert-manager decodes it (strictly: an unknown field is an
//! error; durations as Go strings or integer nanoseconds), then turned into the
//! flags it stands for, which `certgate controller` reads before its command line:
//! a flag given on the command line wins over the file, as in cert-manager. Fields
//! with no flag (`logging.options`) are reported as ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The apiVersion of the file.
pub const API_VERSION: &str = "controller.config.cert-manager.io/v1alpha1";
/// The kind of the file.
pub const KIND: &str = "ControllerConfiguration";

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("failed to load config file {path}, error {reason}")]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

/// What a configuration file says, as flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigArgs {
    /// `--flag=value` for every field set, in the file's structure order.
    pub args: Vec<String>,
    /// Fields accepted and ignored (they have no flag), with the reason.
    pub ignored: Vec<String>,
}

/// A duration: a Go duration string, or an integer of nanoseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum GoDuration {
    Text(String),
    Nanos(i64),
}

impl GoDuration {
    fn flag(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Nanos(n) => format!("{n}ns"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ControllerConfiguration {
    api_version: Option<String>,
    kind: Option<String>,
    kube_config: Option<String>,
    api_server_host: Option<String>,
    #[serde(rename = "kubernetesAPIQPS")]
    kubernetes_api_qps: Option<f64>,
    #[serde(rename = "kubernetesAPIBurst")]
    kubernetes_api_burst: Option<i64>,
    namespace: Option<String>,
    cluster_resource_namespace: Option<String>,
    leader_election_config: Option<LeaderElectionConfig>,
    controllers: Option<Vec<String>>,
    issuer_ambient_credentials: Option<bool>,
    cluster_issuer_ambient_credentials: Option<bool>,
    enable_certificate_owner_ref: Option<bool>,
    #[serde(rename = "enableGatewayAPI")]
    enable_gateway_api: Option<bool>,
    #[serde(rename = "enableGatewayAPIListenerSet")]
    enable_gateway_api_listener_set: Option<bool>,
    copied_annotation_prefixes: Option<Vec<String>>,
    number_of_concurrent_workers: Option<i64>,
    max_concurrent_challenges: Option<i64>,
    metrics_listen_address: Option<String>,
    #[serde(rename = "metricsTLSConfig")]
    metrics_tls_config: Option<TlsConfig>,
    healthz_listen_address: Option<String>,
    enable_pprof: Option<bool>,
    pprof_address: Option<String>,
    logging: Option<LoggingConfiguration>,
    feature_gates: Option<BTreeMap<String, bool>>,
    ingress_shim_config: Option<IngressShimConfig>,
    #[serde(rename = "acmeHTTP01Config")]
    acme_http01_config: Option<AcmeHttp01Config>,
    #[serde(rename = "acmeDNS01Config")]
    acme_dns01_config: Option<AcmeDns01Config>,
    pem_size_limits_config: Option<PemSizeLimitsConfig>,
    #[serde(rename = "gatewayAPI")]
    gateway_api: Option<GatewayApiConfig>,
    certificate_request_minimum_backoff_duration: Option<GoDuration>,
    certificate_request_maximum_backoff_duration: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LeaderElectionConfig {
    enabled: Option<bool>,
    namespace: Option<String>,
    lease_duration: Option<GoDuration>,
    renew_deadline: Option<GoDuration>,
    retry_period: Option<GoDuration>,
    healthz_timeout: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TlsConfig {
    cipher_suites: Option<Vec<String>>,
    #[serde(rename = "minTLSVersion")]
    min_tls_version: Option<String>,
    filesystem: Option<FilesystemServingConfig>,
    dynamic: Option<DynamicServingConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilesystemServingConfig {
    cert_file: Option<String>,
    key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DynamicServingConfig {
    secret_namespace: Option<String>,
    secret_name: Option<String>,
    dns_names: Option<Vec<String>>,
    leaf_duration: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LoggingConfiguration {
    format: Option<String>,
    flush_frequency: Option<GoDuration>,
    verbosity: Option<u32>,
    vmodule: Option<Vec<VModuleItem>>,
    options: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VModuleItem {
    file_pattern: String,
    verbosity: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IngressShimConfig {
    default_issuer_name: Option<String>,
    default_issuer_kind: Option<String>,
    default_issuer_group: Option<String>,
    default_auto_certificate_annotations: Option<Vec<String>>,
    extra_certificate_annotations: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AcmeHttp01Config {
    solver_image: Option<String>,
    #[serde(rename = "solverResourceRequestCPU")]
    solver_resource_request_cpu: Option<String>,
    solver_resource_request_memory: Option<String>,
    #[serde(rename = "solverResourceLimitsCPU")]
    solver_resource_limits_cpu: Option<String>,
    solver_resource_limits_memory: Option<String>,
    solver_run_as_non_root: Option<bool>,
    solver_runtime_class_name: Option<String>,
    solver_nameservers: Option<Vec<String>>,
    solver_extra_labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AcmeDns01Config {
    recursive_nameservers: Option<Vec<String>>,
    recursive_nameservers_only: Option<bool>,
    check_retry_period: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PemSizeLimitsConfig {
    max_certificate_size: Option<i64>,
    max_private_key_size: Option<i64>,
    max_chain_length: Option<i64>,
    max_bundle_size: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatewayApiConfig {
    enabled: Option<bool>,
    enable_listener_set: Option<bool>,
    extra_protocols: Option<Vec<String>>,
}

/// Builds `--flag=value` arguments, skipping what is unset (Go's `omitempty`).
#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn string(&mut self, flag: &str, v: &Option<String>) {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            self.0.push(format!("--{flag}={v}"));
        }
    }
    fn display<T: std::fmt::Display>(&mut self, flag: &str, v: &Option<T>) {
        if let Some(v) = v {
            self.0.push(format!("--{flag}={v}"));
        }
    }
    fn list(&mut self, flag: &str, v: &Option<Vec<String>>) {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            self.0.push(format!("--{flag}={}", v.join(",")));
        }
    }
    fn duration(&mut self, flag: &str, v: &Option<GoDuration>) {
        if let Some(v) = v {
            self.0.push(format!("--{flag}={}", v.flag()));
        }
    }
    fn map<T: std::fmt::Display>(&mut self, flag: &str, v: &Option<BTreeMap<String, T>>) {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            let pairs: Vec<String> = v.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.0.push(format!("--{flag}={}", pairs.join(",")));
        }
    }
}

/// The flags a configuration file's text stands for. `dir` is the file's directory,
/// against which a relative `kubeConfig` is resolved (as cert-manager does).
pub fn args_from_text(text: &str, dir: &Path) -> Result<ConfigArgs, String> {
    let value: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("failed to decode: {e}"))?;
    if !value.is_object() {
        return Err("failed to decode: the file is not a ControllerConfiguration object".into());
    }
    let c: ControllerConfiguration = serde_json::from_value(value)
        .map_err(|e| format!("failed to decode: strict decoding error: {e}"))?;
    match (c.api_version.as_deref(), c.kind.as_deref()) {
        (Some(API_VERSION), Some(KIND)) => {}
        (None, _) | (_, None) => {
            return Err(format!(
                "failed to decode: apiVersion {API_VERSION} and kind {KIND} are required"
            ));
        }
        (Some(v), Some(k)) => {
            return Err(format!(
                "failed to decode: no kind \"{k}\" is registered for version \"{v}\" \
                 (expected {API_VERSION}, {KIND})"
            ));
        }
    }
    let mut a = Args::default();
    let mut ignored = Vec::new();
    let kubeconfig = c.kube_config.as_ref().filter(|p| !p.is_empty()).map(|p| {
        let p = PathBuf::from(p);
        if p.is_relative() {
            dir.join(p).display().to_string()
        } else {
            p.display().to_string()
        }
    });
    a.string("kubeconfig", &kubeconfig);
    a.string("master", &c.api_server_host);
    a.display("kube-api-qps", &c.kubernetes_api_qps);
    a.display("kube-api-burst", &c.kubernetes_api_burst);
    a.string("namespace", &c.namespace);
    a.string("cluster-resource-namespace", &c.cluster_resource_namespace);
    if let Some(le) = &c.leader_election_config {
        a.display("leader-elect", &le.enabled);
        a.string("leader-election-namespace", &le.namespace);
        a.duration("leader-election-lease-duration", &le.lease_duration);
        a.duration("leader-election-renew-deadline", &le.renew_deadline);
        a.duration("leader-election-retry-period", &le.retry_period);
        a.duration(
            "internal-healthz-leader-election-timeout",
            &le.healthz_timeout,
        );
    }
    a.list("controllers", &c.controllers);
    a.display("issuer-ambient-credentials", &c.issuer_ambient_credentials);
    a.display(
        "cluster-issuer-ambient-credentials",
        &c.cluster_issuer_ambient_credentials,
    );
    a.display(
        "enable-certificate-owner-ref",
        &c.enable_certificate_owner_ref,
    );
    a.display("enable-gateway-api", &c.enable_gateway_api);
    a.display(
        "enable-gateway-api-listenerset",
        &c.enable_gateway_api_listener_set,
    );
    a.list("copied-annotation-prefixes", &c.copied_annotation_prefixes);
    a.display("concurrent-workers", &c.number_of_concurrent_workers);
    a.display("max-concurrent-challenges", &c.max_concurrent_challenges);
    a.string("metrics-listen-address", &c.metrics_listen_address);
    if let Some(tls) = &c.metrics_tls_config {
        a.list("metrics-tls-cipher-suites", &tls.cipher_suites);
        a.string("metrics-tls-min-version", &tls.min_tls_version);
        if let Some(fs) = &tls.filesystem {
            a.string("metrics-tls-cert-file", &fs.cert_file);
            a.string("metrics-tls-private-key-file", &fs.key_file);
        }
        if let Some(d) = &tls.dynamic {
            a.string(
                "metrics-dynamic-serving-ca-secret-namespace",
                &d.secret_namespace,
            );
            a.string("metrics-dynamic-serving-ca-secret-name", &d.secret_name);
            a.list("metrics-dynamic-serving-dns-names", &d.dns_names);
            a.duration("metrics-dynamic-serving-leaf-duration", &d.leaf_duration);
        }
    }
    a.string("internal-healthz-listen-address", &c.healthz_listen_address);
    a.display("enable-profiling", &c.enable_pprof);
    a.string("profiler-address", &c.pprof_address);
    if let Some(l) = &c.logging {
        a.string("logging-format", &l.format);
        a.duration("log-flush-frequency", &l.flush_frequency);
        a.display("v", &l.verbosity);
        if let Some(items) = l.vmodule.as_ref().filter(|v| !v.is_empty()) {
            let pairs: Vec<String> = items
                .iter()
                .map(|i| format!("{}={}", i.file_pattern, i.verbosity))
                .collect();
            a.0.push(format!("--vmodule={}", pairs.join(",")));
        }
        if l.options.as_ref().is_some_and(|o| !o.is_null()) {
            ignored.push(
                "config field logging.options is accepted for cert-manager compatibility and \
                 ignored: certgate's text and JSON logs have no buffering or split-stream options"
                    .to_string(),
            );
        }
    }
    a.map("feature-gates", &c.feature_gates);
    if let Some(s) = &c.ingress_shim_config {
        a.string("default-issuer-name", &s.default_issuer_name);
        a.string("default-issuer-kind", &s.default_issuer_kind);
        a.string("default-issuer-group", &s.default_issuer_group);
        a.list(
            "auto-certificate-annotations",
            &s.default_auto_certificate_annotations,
        );
        a.list(
            "extra-certificate-annotations",
            &s.extra_certificate_annotations,
        );
    }
    if let Some(h) = &c.acme_http01_config {
        a.string("acme-http01-solver-image", &h.solver_image);
        a.string(
            "acme-http01-solver-resource-request-cpu",
            &h.solver_resource_request_cpu,
        );
        a.string(
            "acme-http01-solver-resource-request-memory",
            &h.solver_resource_request_memory,
        );
        a.string(
            "acme-http01-solver-resource-limits-cpu",
            &h.solver_resource_limits_cpu,
        );
        a.string(
            "acme-http01-solver-resource-limits-memory",
            &h.solver_resource_limits_memory,
        );
        a.display(
            "acme-http01-solver-run-as-non-root",
            &h.solver_run_as_non_root,
        );
        a.string(
            "acme-http01-solver-runtime-class-name",
            &h.solver_runtime_class_name,
        );
        a.list("acme-http01-solver-nameservers", &h.solver_nameservers);
        a.map("acme-http01-solver-extra-labels", &h.solver_extra_labels);
    }
    if let Some(d) = &c.acme_dns01_config {
        a.list("dns01-recursive-nameservers", &d.recursive_nameservers);
        a.display(
            "dns01-recursive-nameservers-only",
            &d.recursive_nameservers_only,
        );
        a.duration("dns01-check-retry-period", &d.check_retry_period);
    }
    if let Some(p) = &c.pem_size_limits_config {
        a.display("max-certificate-size", &p.max_certificate_size);
        a.display("max-private-key-size", &p.max_private_key_size);
        a.display("max-certificate-chain-length", &p.max_chain_length);
        a.display("max-certificate-bundle-size", &p.max_bundle_size);
    }
    if let Some(g) = &c.gateway_api {
        a.display("enable-gateway-api", &g.enabled);
        a.display("enable-gateway-api-listenerset", &g.enable_listener_set);
        a.list("gateway-api-extra-protocols", &g.extra_protocols);
    }
    a.duration(
        "certificate-request-minimum-backoff-duration",
        &c.certificate_request_minimum_backoff_duration,
    );
    a.duration(
        "certificate-request-maximum-backoff-duration",
        &c.certificate_request_maximum_backoff_duration,
    );
    Ok(ConfigArgs { args: a.0, ignored })
}

/// Reads the configuration file at `path` and returns the flags it stands for.
pub fn load(path: &Path) -> Result<ConfigArgs, ConfigError> {
    let err = |reason: String| ConfigError {
        path: path.display().to_string(),
        reason,
    };
    let absolute = std::path::absolute(path).map_err(|e| err(e.to_string()))?;
    let text = std::fs::read_to_string(&absolute).map_err(|e| err(e.to_string()))?;
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    args_from_text(&text, dir).map_err(err)
}

/// The name of the flag of a `--flag=value` argument.
pub fn flag_name(arg: &str) -> &str {
    let name = arg.trim_start_matches('-');
    name.split_once('=').map_or(name, |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Result<ConfigArgs, String> {
        args_from_text(text, Path::new("/etc/certgate"))
    }

    #[test]
    fn every_field_becomes_its_flag() {
        let text = r#"
apiVersion: controller.config.cert-manager.io/v1alpha1
kind: ControllerConfiguration
kubeConfig: kubeconfig.yaml
kubernetesAPIQPS: 9000
kubernetesAPIBurst: 9000
namespace: ""
clusterResourceNamespace: issuers
leaderElectionConfig:
  enabled: true
  namespace: leases
  leaseDuration: 60s
  renewDeadline: 40s
  retryPeriod: 15000000000
  healthzTimeout: 20s
controllers: ["*", "-certificaterequests-approver"]
enableGatewayAPI: true
numberOfConcurrentWorkers: 200
maxConcurrentChallenges: 60
metricsListenAddress: ":9402"
logging:
  verbosity: 2
  format: json
  vmodule:
    - filePattern: "acme*"
      verbosity: 5
  options:
    json:
      infoBufferSize: "0"
featureGates:
  ACMEUseARI: true
  ListenerSets: false
ingressShimConfig:
  defaultIssuerName: letsencrypt
  defaultIssuerKind: ClusterIssuer
acmeHTTP01Config:
  solverImage: quay.io/jetstack/cert-manager-acmesolver:v1.21.1
  solverNameservers: ["10.0.0.10:53"]
  solverExtraLabels: {team: platform}
acmeDNS01Config:
  recursiveNameservers: ["8.8.8.8:53", "https://1.1.1.1/dns-query"]
  recursiveNameserversOnly: true
  checkRetryPeriod: 10s
pemSizeLimitsConfig:
  maxCertificateSize: 40000
gatewayAPI:
  enableListenerSet: true
certificateRequestMaximumBackoffDuration: 48h
"#;
        let got = args(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got.args,
            [
                "--kubeconfig=/etc/certgate/kubeconfig.yaml",
                "--kube-api-qps=9000",
                "--kube-api-burst=9000",
                "--cluster-resource-namespace=issuers",
                "--leader-elect=true",
                "--leader-election-namespace=leases",
                "--leader-election-lease-duration=60s",
                "--leader-election-renew-deadline=40s",
                "--leader-election-retry-period=15000000000ns",
                "--internal-healthz-leader-election-timeout=20s",
                "--controllers=*,-certificaterequests-approver",
                "--enable-gateway-api=true",
                "--concurrent-workers=200",
                "--max-concurrent-challenges=60",
                "--metrics-listen-address=:9402",
                "--logging-format=json",
                "--v=2",
                "--vmodule=acme*=5",
                "--feature-gates=ACMEUseARI=true,ListenerSets=false",
                "--default-issuer-name=letsencrypt",
                "--default-issuer-kind=ClusterIssuer",
                "--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.21.1",
                "--acme-http01-solver-nameservers=10.0.0.10:53",
                "--acme-http01-solver-extra-labels=team=platform",
                "--dns01-recursive-nameservers=8.8.8.8:53,https://1.1.1.1/dns-query",
                "--dns01-recursive-nameservers-only=true",
                "--dns01-check-retry-period=10s",
                "--max-certificate-size=40000",
                "--enable-gateway-api-listenerset=true",
                "--certificate-request-maximum-backoff-duration=48h",
            ]
        );
        assert_eq!(got.ignored.len(), 1, "{:?}", got.ignored);
        assert!(got.ignored[0].contains("logging.options"));
    }

    #[test]
    fn the_file_is_decoded_strictly() {
        let head = "apiVersion: controller.config.cert-manager.io/v1alpha1\nkind: ControllerConfiguration\n";
        let e = args(&format!("{head}enableGatewayApi: true\n"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("unknown field `enableGatewayApi`"), "{e}");
        let e = args(&format!(
            "{head}leaderElectionConfig: {{leaseDuration: [1]}}\n"
        ))
        .err()
        .unwrap_or_default();
        assert!(e.starts_with("failed to decode"), "{e}");
        let e = args("kind: ControllerConfiguration\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("apiVersion"), "{e}");
        let e = args(
            "apiVersion: webhook.config.cert-manager.io/v1alpha1\nkind: WebhookConfiguration\n",
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("no kind \"WebhookConfiguration\""), "{e}");
        assert_eq!(args(head).map(|a| a.args), Ok(vec![]));
    }

    #[test]
    fn flag_names() {
        assert_eq!(flag_name("--v=2"), "v");
        assert_eq!(flag_name("--feature-gates=A=true"), "feature-gates");
        assert_eq!(flag_name("--leader-elect"), "leader-elect");
    }
}
