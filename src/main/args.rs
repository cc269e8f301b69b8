//! The command line of `certgate`: its subcommands, their flags and arguments
//! (clap derive), with cert-manager's controller flags accepted where a
//! cert-manager Deployment passes them. Definitions only; must not run anything.

use super::*;

/// certgate: a Kubernetes certificate controller that serves the cert-manager API.
#[derive(Parser, Debug)]
#[command(name = "certgate", version, about, long_about = None, args_override_self = true)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
    /// Log verbosity as klog counts it (cert-manager's `-v=2`): up to 3 state changes,
    /// 4-5 routine reconciles too (debug), 6 and up everything (trace).
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        default_value_t = 0,
        value_name = "N",
        value_parser = certgate::gocompat::go_int::<u8>
    )]
    pub(super) verbosity: u8,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum LogFormat {
    Text,
    Json,
}

/// The ACME flags of `certgate controller`.
#[derive(clap::Args, Debug)]
pub(super) struct AcmeArgs {
    /// Challenges worked on at once; more wait their turn.
    #[arg(long, default_value_t = 60, value_parser = certgate::gocompat::go_int::<usize>)]
    pub(super) max_concurrent_challenges: usize,
    /// Nameservers for DNS-01 lookups and checks, comma-separated: `host:port` (plain
    /// DNS) or `https://<server>/dns-query` (DNS over HTTPS, RFC 8484), e.g.
    /// `8.8.8.8:53,https://1.1.1.1/dns-query`. The pod's resolvers when empty.
    #[arg(long, value_delimiter = ',', value_name = "NAMESERVERS")]
    pub(super) dns01_recursive_nameservers: Vec<certgate::dns01::Nameserver>,
    /// Check DNS-01 propagation only against --dns01-recursive-nameservers (with only
    /// DNS-over-HTTPS nameservers, every DNS-01 query goes over HTTPS).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) dns01_recursive_nameservers_only: bool,
    /// How often a DNS-01 record is checked again (a Go duration, e.g. 2s, 1m).
    #[arg(long, default_value = "2s", value_parser = certgate::gocompat::go_duration)]
    pub(super) dns01_check_retry_period: Duration,
    /// Nameservers (host:port, comma-separated) of the HTTP-01 and TLS-ALPN-01
    /// self-checks; the plain --dns01-recursive-nameservers when empty.
    #[arg(long, value_delimiter = ',', value_parser = compat_flags::go_host_port)]
    pub(super) acme_http01_solver_nameservers: Vec<SocketAddr>,
    /// Serve HTTP-01 answers from this process on this address (as well as, or
    /// instead of, the acmesolver Deployment).
    #[arg(long)]
    pub(super) acme_http01_solver_listen: Option<SocketAddr>,
    /// The acmesolver Service (namespace/name) whose endpoints challenge Services point at.
    #[arg(long, default_value = "")]
    pub(super) acme_http01_solver_service: String,
    /// The port of the acmesolver.
    #[arg(long, default_value_t = 8089)]
    pub(super) acme_http01_solver_port: u16,
    /// Let namespaced Issuers' DNS-01 solvers (and Vault AWS auth) use the controller's own cloud credentials.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) issuer_ambient_credentials: bool,
    /// Let ClusterIssuers' DNS-01 solvers (and Vault AWS auth) use the controller's own cloud credentials.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) cluster_issuer_ambient_credentials: bool,
    /// The port the HTTP-01 self-check connects to.
    #[arg(long, default_value_t = 80)]
    pub(super) acme_http01_self_check_port: u16,
    /// Answer TLS-ALPN-01 handshakes from this process on this address (as well
    /// as, or instead of, the acmesolver Deployment).
    #[arg(long)]
    pub(super) acme_tls_alpn01_solver_listen: Option<SocketAddr>,
    /// The Service (namespace/name) answering TLS-ALPN-01, whose endpoints the
    /// challenge Services point at.
    #[arg(long, default_value = "")]
    pub(super) acme_tls_alpn01_solver_service: String,
    /// The TLS-ALPN-01 port of that Service's endpoints.
    #[arg(long, default_value_t = 8443)]
    pub(super) acme_tls_alpn01_solver_port: u16,
    /// The port the TLS-ALPN-01 self-check connects to.
    #[arg(long, default_value_t = 443)]
    pub(super) acme_tls_alpn01_self_check_port: u16,
}

/// Where `certgate controller` reads its configuration and finds the API server
/// (cert-manager's --config, --master and --kubeconfig).
#[derive(clap::Args, Debug)]
pub(super) struct ClientArgs {
    /// A cert-manager ControllerConfiguration file
    /// (controller.config.cert-manager.io/v1alpha1); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<std::path::PathBuf>,
    /// The API server's URL, in place of the kubeconfig's (or the in-cluster) one.
    #[arg(long, value_name = "URL")]
    pub(super) master: Option<String>,
    /// The kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "FILE")]
    pub(super) kubeconfig: Option<std::path::PathBuf>,
}

/// The leader election flags of `certgate controller` (cert-manager's).
#[derive(clap::Args, Debug)]
pub(super) struct LeaderArgs {
    /// Elect a leader with a Lease before running controllers.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) leader_elect: bool,
    /// Namespace of the leader election Lease (GKE Autopilot forbids kube-system).
    #[arg(long, default_value = "kube-system")]
    pub(super) leader_election_namespace: String,
    /// How long a Lease not renewed holds off the other candidates.
    #[arg(long, default_value = "15s", value_parser = certgate::gocompat::go_duration)]
    pub(super) leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading.
    #[arg(long, default_value = "10s", value_parser = certgate::gocompat::go_duration)]
    pub(super) leader_election_renew_deadline: Duration,
    /// How often the Lease is acquired or renewed.
    #[arg(long, default_value = "2s", value_parser = certgate::gocompat::go_duration)]
    pub(super) leader_election_retry_period: Duration,
    /// Share the namespaces among this many replicas (certgate's): each replica
    /// keeps a Lease in the leader election namespace and works on its share, taken
    /// over within 15 s when it stops renewing; cluster-scoped work stays with the
    /// leader. 0 or 1: one active leader does everything, as cert-manager.
    #[arg(long, default_value = "0", env = "CERTGATE_SHARDS")]
    pub(super) shards: u32,
}

/// The Gateway API shim's switches (cert-manager's flags; certgate's shims are on by
/// default and wait for the CRDs).
#[derive(clap::Args, Debug)]
pub(super) struct GatewayArgs {
    /// Make Certificates for annotated Gateways (cert-manager's default: off).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) enable_gateway_api: bool,
    /// Make Certificates for annotated ListenerSets too (cert-manager's default: off).
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
    pub(super) enable_gateway_api_listenerset: bool,
    /// Listener protocols besides HTTPS and TLS that carry a certificate, e.g. DTLS.
    #[arg(long, value_delimiter = ',')]
    pub(super) gateway_api_extra_protocols: Vec<String>,
}

/// The shims' annotation flags of `certgate controller` (cert-manager's).
#[derive(clap::Args, Debug)]
pub(super) struct ShimAnnotationArgs {
    /// Ingress annotations that, set to true, ask for a Certificate from the
    /// default issuer.
    #[arg(long, value_delimiter = ',', default_value = "kubernetes.io/tls-acme")]
    pub(super) auto_certificate_annotations: Vec<String>,
    /// Annotations copied from an Ingress, Gateway or ListenerSet to the
    /// Certificates made from it.
    #[arg(long, value_delimiter = ',')]
    pub(super) extra_certificate_annotations: Vec<String>,
}

impl AcmeArgs {
    /// The nameservers of the HTTP-01 and TLS-ALPN-01 self-checks:
    /// --acme-http01-solver-nameservers, else the plain DNS servers of
    /// --dns01-recursive-nameservers (the self-checks make no DNS-over-HTTPS queries).
    pub(super) fn self_check_nameservers(&self) -> Vec<SocketAddr> {
        if !self.acme_http01_solver_nameservers.is_empty() {
            return self.acme_http01_solver_nameservers.clone();
        }
        self.dns01_recursive_nameservers
            .iter()
            .filter_map(certgate::dns01::Nameserver::socket_addr)
            .collect()
    }

    pub(super) fn settings(&self) -> certgate::controller::AcmeSettings {
        let dns01 = certgate::dns01::Dns01Config {
            recursive_nameservers: self.dns01_recursive_nameservers.clone(),
            recursive_nameservers_only: self.dns01_recursive_nameservers_only,
            poll_period: self.dns01_check_retry_period,
            issuer_ambient_credentials: self.issuer_ambient_credentials,
            cluster_issuer_ambient_credentials: self.cluster_issuer_ambient_credentials,
            ..Default::default()
        };
        let solver_service = self
            .acme_http01_solver_service
            .split_once('/')
            .map(|(ns, n)| (ns.to_string(), n.to_string()));
        certgate::controller::AcmeSettings {
            max_concurrent_challenges: self.max_concurrent_challenges,
            http01: certgate::http01::Http01Config {
                self_check_port: self.acme_http01_self_check_port,
                self_check_nameservers: self.self_check_nameservers(),
                solver_service,
                solver_port: self.acme_http01_solver_port,
            },
            dns01,
            http01_solver_listen: self.acme_http01_solver_listen,
            tls_alpn01: certgate::tlsalpn01::TlsAlpn01Config {
                self_check_port: self.acme_tls_alpn01_self_check_port,
                self_check_nameservers: self.self_check_nameservers(),
                solver_service: self
                    .acme_tls_alpn01_solver_service
                    .split_once('/')
                    .map(|(ns, n)| (ns.to_string(), n.to_string())),
                solver_port: self.acme_tls_alpn01_solver_port,
            },
            tls_alpn01_solver_listen: self.acme_tls_alpn01_solver_listen,
            ..Default::default()
        }
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Run the controllers against the cluster of the kubeconfig (or in-cluster config).
    ///
    /// Every flag of cert-manager's controller is accepted: those certgate implements
    /// under their names (or as aliases), the others checked and logged as ignored.
    #[command(args_override_self = true)]
    Controller {
        #[command(flatten)]
        client: Box<ClientArgs>,
        /// Namespace of the Secrets ClusterIssuers use.
        #[arg(long, default_value = "cert-manager", env = "POD_NAMESPACE")]
        cluster_resource_namespace: String,
        /// Watch only this namespace (all when empty).
        #[arg(long, default_value = "")]
        namespace: String,
        /// Serve only the ClusterIssuers matching this label selector (all when empty),
        /// so several certgates can share a cluster.
        #[arg(long, default_value = "")]
        cluster_issuer_selector: String,
        /// Certificate annotations copied to CertificateRequests and Orders: key
        /// prefixes, `*` for all, `-prefix` never (as cert-manager's flag).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "*,-kubectl.kubernetes.io/,-fluxcd.io/,-argocd.argoproj.io/"
        )]
        copied_annotation_prefixes: Vec<String>,
        #[command(flatten)]
        leader: Box<LeaderArgs>,
        /// Address of the Prometheus metrics endpoint (`host:port`, or `:port`).
        #[arg(long, default_value = "0.0.0.0:9402", value_parser = compat_flags::go_listen_address)]
        metrics_listen_address: SocketAddr,
        /// Address of /healthz and /readyz (cert-manager's
        /// --internal-healthz-listen-address).
        #[arg(long, default_value = "0.0.0.0:9403", alias = "internal-healthz-listen-address",
              value_parser = compat_flags::go_listen_address)]
        health_listen_address: SocketAddr,
        /// Reconciles run at once per controller (cert-manager's --concurrent-workers).
        #[arg(long, default_value_t = 16, alias = "concurrent-workers",
              value_parser = certgate::gocompat::go_int::<u16>)]
        max_concurrent_reconciles: u16,
        /// Log format (cert-manager's --logging-format).
        #[arg(long, value_enum, default_value_t = LogFormat::Text, alias = "logging-format")]
        log_format: LogFormat,
        /// Make each Certificate the owner of its Secret (the Secret goes with it).
        #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
        enable_certificate_owner_ref: bool,
        /// Issuer of Ingresses annotated `kubernetes.io/tls-acme: "true"`.
        #[arg(long, default_value = "")]
        default_issuer_name: String,
        #[arg(long, default_value = "Issuer")]
        default_issuer_kind: String,
        #[arg(long, default_value = "cert-manager.io")]
        default_issuer_group: String,
        #[command(flatten)]
        shim_annotations: Box<ShimAnnotationArgs>,
        #[command(flatten)]
        gateway: Box<GatewayArgs>,
        /// Inject CA bundles into annotated webhook configurations, APIServices and
        /// CRDs (in place of cert-manager's cainjector).
        #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
              default_missing_value = "true", value_parser = certgate::gocompat::go_bool, action = clap::ArgAction::Set)]
        enable_ca_injector: bool,
        /// cert-manager's controller list (`*`, names, `-name` to disable), e.g.
        /// `*,-certificaterequests-approver` to leave approval to approver-policy or a
        /// person. Only the approver can be turned off; other names are accepted.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        controllers: Vec<String>,
        /// cert-manager's feature gates (`Gate=true,Other=false`): checked as
        /// cert-manager checks them, each logged with what certgate does.
        #[arg(long, value_name = "GATE=BOOL,...", value_parser = compat_flags::parse_feature_gates)]
        feature_gates: Vec<FeatureGates>,
        #[command(flatten)]
        acme: Box<AcmeArgs>,
        #[command(flatten)]
        ignored: Box<IgnoredFlags>,
    },
    /// Run the standalone HTTP-01 (and TLS-ALPN-01) solver: answers every Challenge it can see.
    Acmesolver {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:8089")]
        listen: SocketAddr,
        /// Also answer TLS-ALPN-01 handshakes on this address.
        #[arg(long)]
        tls_alpn01_listen: Option<SocketAddr>,
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Issue the example certificates on an embedded sandbox API server and show them.
    Demo {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Keep the sandbox running and print a kubeconfig for kubectl.
        #[arg(long)]
        keep_running: bool,
        /// Where to write the kubeconfig with --keep-running.
        #[arg(long)]
        kubeconfig: Option<std::path::PathBuf>,
        /// The ACME CA: in-process (certgate-testca), or `pebble` from PATH.
        #[arg(long, value_enum, default_value_t = certgate::demo::DemoCa::InProcess)]
        ca: certgate::demo::DemoCa,
    },
    /// Run the sandbox API server (in-memory Kubernetes API) with the CRDs installed, until interrupted.
    Sandbox {
        /// Where to write the kubeconfig.
        #[arg(long)]
        kubeconfig: std::path::PathBuf,
        /// Authorize ServiceAccount requests with RBAC.
        #[arg(long)]
        rbac: bool,
    },
    /// Print the admission policies that do what cert-manager's webhook does beyond
    /// validation: requester identity and approval checks (pipe into `kubectl apply -f -`).
    AdmissionPolicies,
    /// Print the CustomResourceDefinitions certgate serves (pipe into `kubectl apply -f -`).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        output_dir: Option<std::path::PathBuf>,
    },
    /// Show a resource's status in one screen: `status certificate NAME`.
    Status {
        #[command(subcommand)]
        what: StatusWhat,
    },
    /// Ask for the re-issuance of Certificates, as `cmctl renew` does.
    Renew {
        /// Certificates to renew.
        names: Vec<String>,
        /// Renew every Certificate of the namespace (with -A: of every namespace).
        #[arg(long)]
        all: bool,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Mark a CertificateRequest as Approved, so it may be signed by a configured
    /// Issuer (as `cmctl approve`).
    Approve {
        /// The CertificateRequest.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// The reason to give as to what approved this CertificateRequest.
        #[arg(long, default_value = certgate::cli::approve::DEFAULT_REASON)]
        reason: String,
        /// The message to give as to why this CertificateRequest was approved
        /// [default: manually approved by "certgate"].
        #[arg(long)]
        message: Option<String>,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// Mark a CertificateRequest as Denied, so it may never be signed by a configured
    /// Issuer (as `cmctl deny`).
    Deny {
        /// The CertificateRequest.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// The reason to give as to what denied this CertificateRequest.
        #[arg(long, default_value = certgate::cli::approve::DEFAULT_REASON)]
        reason: String,
        /// The message to give as to why this CertificateRequest was denied
        /// [default: manually denied by "certgate"].
        #[arg(long)]
        message: Option<String>,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// Create cert-manager resources: `create certificaterequest NAME --from-certificate-file FILE`.
    Create {
        #[command(subcommand)]
        what: CreateWhat,
    },
    /// Inspect what a resource holds: `inspect secret NAME`.
    Inspect {
        #[command(subcommand)]
        what: InspectWhat,
    },
    /// Check the cluster: `check api` (the cert-manager API is served and usable).
    Check {
        #[command(subcommand)]
        what: CheckWhat,
    },
    /// Walk the troubleshooting tree for a resource: `diagnose certificate NAME`.
    Diagnose {
        #[command(subcommand)]
        what: DiagnoseWhat,
    },
    /// Print certgate's version.
    Version,
}

#[derive(Subcommand, Debug)]
pub(super) enum CheckWhat {
    /// The cert-manager CRDs are served and a dry-run create of a Certificate is accepted.
    Api {
        /// Retry every 2 s until ready or this long has passed (e.g. 90s, 2m).
        #[arg(long, value_parser = certgate::cli::check::parse_duration)]
        wait: Option<std::time::Duration>,
        /// Namespace of the dry-run Certificate.
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub(super) enum StatusWhat {
    /// A Certificate: conditions, dates, issuer, Secret, CertificateRequest, Order,
    /// Challenges and events.
    Certificate {
        name: String,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum DiagnoseWhat {
    /// Walk the troubleshooting tree of a Certificate and print each step's verdict
    /// and fix.
    ///
    /// Certificate Ready → issuerRef (typo, wrong kind) → issuer Ready (ACME account)
    /// → CertificateRequest (denied, failed) → Order (CA errors, no matching solver)
    /// → each pending Challenge: HTTP-01 (the name resolves, the port is reachable,
    /// the challenge path answers 200 with the key, no forced HTTPS redirect) or
    /// DNS-01 (solver selector, provider credentials, CNAME delegation and
    /// cnameStrategy, the TXT value at each authoritative nameserver) → CA rate limits.
    /// The probes are made from where this command runs, with the resolver settings
    /// given here (use the controller's).
    ///
    /// Exit status: 0 healthy (nothing wrong found; warnings may say an issuance is
    /// still in progress), 1 fixable (a step failed and says how to fix it), 2 failing
    /// for reasons outside what certgate can fix (e.g. a CA error without a known
    /// remedy) or the diagnosis could not be made.
    #[command(verbatim_doc_comment)]
    Certificate {
        name: String,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Nameservers for DNS lookups, comma-separated: `host:port` or
        /// `https://…/dns-query` (the controller's --dns01-recursive-nameservers); the
        /// system's when empty.
        #[arg(long, value_delimiter = ',', value_name = "NAMESERVERS")]
        dns01_recursive_nameservers: Vec<certgate::dns01::Nameserver>,
        /// Check TXT records only at --dns01-recursive-nameservers (as the controller flag).
        #[arg(long, default_value_t = false)]
        dns01_recursive_nameservers_only: bool,
        /// The port authoritative nameservers are asked on (tests).
        #[arg(long, default_value_t = 53, hide = true)]
        dns01_authoritative_port: u16,
        /// How long one DNS query of the probes waits for an answer (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = certgate::cli::check::parse_duration)]
        probe_timeout: std::time::Duration,
        /// The port HTTP-01 probes connect to.
        #[arg(long, default_value_t = 80)]
        http01_port: u16,
        /// Namespace of the Secrets ClusterIssuers use (the controller's flag).
        #[arg(long, default_value = "cert-manager", env = "POD_NAMESPACE")]
        cluster_resource_namespace: String,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum CreateWhat {
    /// Create a CertificateRequest, using a Certificate resource as a template: the
    /// private key is generated locally (as the Certificate's privateKey says) and
    /// written to a file, and the CSR submitted to the Certificate's issuer.
    #[command(visible_alias = "cr")]
    Certificaterequest {
        /// The CertificateRequest to create.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Path to a file containing a Certificate resource used as a template when
        /// generating the CertificateRequest resource.
        #[arg(long, value_name = "FILE")]
        from_certificate_file: Option<std::path::PathBuf>,
        /// Name of file that the generated private key will be written to
        /// [default: NAME.key].
        #[arg(long, value_name = "FILE")]
        output_key_file: Option<std::path::PathBuf>,
        /// Name of the file the certificate is to be stored in [default: NAME.crt].
        #[arg(long, value_name = "FILE")]
        output_certificate_file: Option<std::path::PathBuf>,
        /// Wait for the CertificateRequest to be signed and store the x509 certificate
        /// in a file.
        #[arg(
            long,
            num_args = 0..=1,
            require_equals = true,
            default_value_t = false,
            default_missing_value = "true",
            action = clap::ArgAction::Set
        )]
        fetch_certificate: bool,
        /// Time before timeout when waiting for the CertificateRequest to be signed,
        /// e.g. 10m or 1h.
        #[arg(long, default_value = "5m", value_parser = certgate::cli::check::parse_duration)]
        timeout: std::time::Duration,
        /// The namespace, when the file names none (default: the kubeconfig context's,
        /// else `default`); given, it must agree with the file's.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum InspectWhat {
    /// A TLS Secret: subject, SANs, validity, key, chain, and whether it matches its Certificate.
    Secret {
        name: String,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
}
