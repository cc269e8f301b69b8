//! The `certgate` command.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

/// certgate: a Kubernetes certificate controller that serves the cert-manager API.
#[derive(Parser, Debug)]
#[command(name = "certgate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log verbosity as klog counts it (cert-manager's `-v=2`): up to 3 state changes,
    /// 4-5 routine reconciles too (debug), 6 and up everything (trace).
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        default_value_t = 0,
        value_name = "N"
    )]
    verbosity: u8,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The ACME flags of `certgate controller`.
#[derive(clap::Args, Debug)]
struct AcmeArgs {
    /// Challenges worked on at once; more wait their turn.
    #[arg(long, default_value_t = 60)]
    max_concurrent_challenges: usize,
    /// Nameservers (host:port) for DNS-01 lookups and checks, comma-separated.
    #[arg(long, value_delimiter = ',')]
    dns01_recursive_nameservers: Vec<SocketAddr>,
    /// Check DNS-01 propagation only against --dns01-recursive-nameservers.
    #[arg(long, default_value_t = false)]
    dns01_recursive_nameservers_only: bool,
    /// How often a DNS-01 record is checked again, e.g. 2s.
    #[arg(long, default_value = "2s")]
    dns01_check_retry_period: String,
    /// Serve HTTP-01 answers from this process on this address (as well as, or
    /// instead of, the acmesolver Deployment).
    #[arg(long)]
    acme_http01_solver_listen: Option<SocketAddr>,
    /// The acmesolver Service (namespace/name) whose endpoints challenge Services point at.
    #[arg(long, default_value = "")]
    acme_http01_solver_service: String,
    /// The port of the acmesolver.
    #[arg(long, default_value_t = 8089)]
    acme_http01_solver_port: u16,
    /// Let namespaced Issuers' DNS-01 solvers (and Vault AWS auth) use the controller's own cloud credentials.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    issuer_ambient_credentials: bool,
    /// Let ClusterIssuers' DNS-01 solvers (and Vault AWS auth) use the controller's own cloud credentials.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cluster_issuer_ambient_credentials: bool,
    /// The port the HTTP-01 self-check connects to.
    #[arg(long, default_value_t = 80)]
    acme_http01_self_check_port: u16,
    /// Answer TLS-ALPN-01 handshakes from this process on this address (as well
    /// as, or instead of, the acmesolver Deployment).
    #[arg(long)]
    acme_tls_alpn01_solver_listen: Option<SocketAddr>,
    /// The Service (namespace/name) answering TLS-ALPN-01, whose endpoints the
    /// challenge Services point at.
    #[arg(long, default_value = "")]
    acme_tls_alpn01_solver_service: String,
    /// The TLS-ALPN-01 port of that Service's endpoints.
    #[arg(long, default_value_t = 8443)]
    acme_tls_alpn01_solver_port: u16,
    /// The port the TLS-ALPN-01 self-check connects to.
    #[arg(long, default_value_t = 443)]
    acme_tls_alpn01_self_check_port: u16,
}

/// The shims' annotation flags of `certgate controller` (cert-manager's).
#[derive(clap::Args, Debug)]
struct ShimAnnotationArgs {
    /// Ingress annotations that, set to true, ask for a Certificate from the
    /// default issuer.
    #[arg(long, value_delimiter = ',', default_value = "kubernetes.io/tls-acme")]
    auto_certificate_annotations: Vec<String>,
    /// Annotations copied from an Ingress, Gateway or ListenerSet to the
    /// Certificates made from it.
    #[arg(long, value_delimiter = ',')]
    extra_certificate_annotations: Vec<String>,
}

impl AcmeArgs {
    fn settings(&self) -> certgate::controller::AcmeSettings {
        let poll =
            certgate::certificates::renewal::parse_go_duration(&self.dns01_check_retry_period)
                .unwrap_or(std::time::Duration::from_secs(2));
        let dns01 = certgate::dns01::Dns01Config {
            recursive_nameservers: self.dns01_recursive_nameservers.clone(),
            recursive_nameservers_only: self.dns01_recursive_nameservers_only,
            poll_period: poll,
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
                self_check_nameservers: self.dns01_recursive_nameservers.clone(),
                solver_service,
                solver_port: self.acme_http01_solver_port,
            },
            dns01,
            http01_solver_listen: self.acme_http01_solver_listen,
            tls_alpn01: certgate::tlsalpn01::TlsAlpn01Config {
                self_check_port: self.acme_tls_alpn01_self_check_port,
                self_check_nameservers: self.dns01_recursive_nameservers.clone(),
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
enum Command {
    /// Run the controllers against the cluster of the kubeconfig (or in-cluster config).
    Controller {
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
        /// Elect a leader with a Lease before running controllers.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        leader_elect: bool,
        /// Namespace of the leader election Lease (GKE Autopilot forbids kube-system).
        #[arg(long, default_value = "kube-system")]
        leader_election_namespace: String,
        /// Address of the Prometheus metrics endpoint.
        #[arg(long, default_value = "0.0.0.0:9402")]
        metrics_listen_address: SocketAddr,
        /// Address of /healthz and /readyz.
        #[arg(long, default_value = "0.0.0.0:9403")]
        health_listen_address: SocketAddr,
        /// Reconciles run at once per controller.
        #[arg(long, default_value_t = 16)]
        max_concurrent_reconciles: u16,
        /// Requests per second to the API server (accepted for compatibility; kube-rs does not throttle).
        #[arg(long, default_value_t = 20.0)]
        kube_api_qps: f32,
        /// Burst of requests to the API server (accepted for compatibility).
        #[arg(long, default_value_t = 50)]
        kube_api_burst: u32,
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Make each Certificate the owner of its Secret (the Secret goes with it).
        #[arg(long, default_value_t = false)]
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
        /// Inject CA bundles into annotated webhook configurations, APIServices and
        /// CRDs (in place of cert-manager's cainjector).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enable_ca_injector: bool,
        /// cert-manager's controller list (`*`, names, `-name` to disable), e.g.
        /// `*,-certificaterequests-approver` to leave approval to approver-policy or a
        /// person. Only the approver can be turned off; other names are accepted.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        controllers: Vec<String>,
        #[command(flatten)]
        acme: Box<AcmeArgs>,
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
enum CheckWhat {
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
enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
enum StatusWhat {
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
enum DiagnoseWhat {
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
        /// Nameservers (host:port) for DNS lookups, comma-separated (the controller's
        /// --dns01-recursive-nameservers); the system's when empty.
        #[arg(long, value_delimiter = ',')]
        dns01_recursive_nameservers: Vec<SocketAddr>,
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
enum CreateWhat {
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
enum InspectWhat {
    /// A TLS Secret: subject, SANs, validity, key, chain, and whether it matches its Certificate.
    Secret {
        name: String,
        /// The namespace (default: the kubeconfig context's, else `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
}

/// The log filter for a klog-style verbosity (`-v=N`, as cert-manager users pass it):
/// up to 3 state changes (info), 4 and 5 routine reconciles (debug), 6 and up
/// everything (trace). `RUST_LOG`, when set, wins.
fn log_filter(verbosity: u8, quiet: bool) -> tracing_subscriber::EnvFilter {
    let level = match verbosity {
        0 if quiet => "warn",
        0..=3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    };
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
}

/// Logs to stderr: text (coloured only on a terminal) or JSON, one object per line
/// with the timestamp, level, target, the object's fields and the message.
/// `quiet`: only warnings unless `-v` asks for more (the demo tells its own story).
fn init_logging(format: LogFormat, verbosity: u8, quiet: bool) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(verbosity, quiet))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::AdmissionPolicies => {
            let yaml = certgate::admission::policies_yaml(&Default::default())?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
        }
        Command::Crds { output_dir: None } => {
            let yaml = certgate::api::crd::all_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
        }
        Command::Crds {
            output_dir: Some(dir),
        } => {
            std::fs::create_dir_all(&dir)?;
            for crd in certgate::api::crd::all()? {
                std::fs::write(dir.join(&crd.file_name), crd.to_yaml()?)?;
            }
        }
        Command::Version => println!("certgate {}", env!("CARGO_PKG_VERSION")),
        Command::Check {
            what:
                CheckWhat::Api {
                    wait,
                    namespace,
                    output,
                },
        } => {
            let client = kube::Client::try_default().await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
            let check = certgate::cli::check::api(&client, &namespace, wait).await;
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&check)?),
                OutputFormat::Yaml => print!("{}", serde_saphyr::to_string(&check)?),
                OutputFormat::Text if check.ready => println!("{}", check.message),
                OutputFormat::Text => eprintln!("{}", check.message),
            }
            return Ok(if check.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Status {
            what:
                StatusWhat::Certificate {
                    name,
                    namespace,
                    output,
                },
        } => {
            let client = kube::Client::try_default().await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
            let status = certgate::cli::status::load(&client, &namespace, &name).await?;
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                OutputFormat::Yaml => print!("{}", serde_saphyr::to_string(&status)?),
                OutputFormat::Text => print!("{}", status.render()),
            }
        }
        Command::Diagnose {
            what:
                DiagnoseWhat::Certificate {
                    name,
                    namespace,
                    output,
                    dns01_recursive_nameservers,
                    dns01_recursive_nameservers_only,
                    dns01_authoritative_port,
                    probe_timeout,
                    http01_port,
                    cluster_resource_namespace,
                },
        } => {
            let opts = certgate::cli::diagnose::Options {
                dns01: certgate::dns01::Dns01Config {
                    recursive_nameservers: dns01_recursive_nameservers,
                    recursive_nameservers_only: dns01_recursive_nameservers_only,
                    authoritative_port: dns01_authoritative_port,
                    query_timeout: probe_timeout,
                    ..Default::default()
                },
                http01_port,
                cluster_resource_namespace,
            };
            let report = async {
                let client = kube::Client::try_default().await?;
                let namespace = namespace
                    .clone()
                    .unwrap_or_else(|| client.default_namespace().to_string());
                certgate::cli::diagnose::certificate(&client, &namespace, &name, &opts)
                    .await
                    .map_err(Box::<dyn std::error::Error>::from)
            }
            .await;
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                OutputFormat::Yaml => print!("{}", serde_saphyr::to_string(&report)?),
                OutputFormat::Text => print!("{}", report.render()),
            }
            return Ok(ExitCode::from(report.exit_code));
        }
        Command::Inspect {
            what: InspectWhat::Secret { name, namespace },
        } => {
            let client = kube::Client::try_default().await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
            print!(
                "{}",
                certgate::cli::inspect::secret(&client, &namespace, &name).await?
            );
        }
        Command::Approve {
            names,
            reason,
            message,
            namespace,
        } => decide(Decision::Approve, names, reason, message, namespace).await?,
        Command::Deny {
            names,
            reason,
            message,
            namespace,
        } => decide(Decision::Deny, names, reason, message, namespace).await?,
        Command::Create {
            what:
                CreateWhat::Certificaterequest {
                    names,
                    from_certificate_file,
                    output_key_file,
                    output_certificate_file,
                    fetch_certificate,
                    timeout,
                    namespace,
                },
        } => {
            let opts = certgate::cli::create::Options {
                from_certificate_file,
                output_key_file,
                output_certificate_file,
                fetch_certificate,
                timeout,
                namespace,
            };
            let name = opts.validate(&names)?;
            let client = kube::Client::try_default().await?;
            certgate::cli::create::certificate_request(
                &client,
                name,
                &opts,
                &mut std::io::stderr(),
            )
            .await?;
        }
        Command::Renew {
            names,
            all,
            namespace,
            all_namespaces,
        } => {
            if names.is_empty() && !all {
                return Err("name the Certificates to renew, or use --all".into());
            }
            let client = kube::Client::try_default().await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
            let ns = (!all_namespaces).then_some(namespace.as_str());
            for done in certgate::cli::renew::renew(&client, ns, &names, all).await? {
                println!("Manually triggered issuance of Certificate {done}");
            }
        }
        Command::Sandbox { kubeconfig, rbac } => {
            let opts = certgate_sandbox::SandboxOptions {
                rbac,
                ..Default::default()
            };
            let sandbox = certgate_sandbox::Sandbox::start(opts).await?;
            let crds: Vec<serde_json::Value> = certgate::api::crd::all()?
                .into_iter()
                .map(|c| c.json)
                .collect();
            sandbox.install_crds(&crds)?;
            sandbox.write_kubeconfig(&kubeconfig)?;
            println!(
                "sandbox API server at {}; kubeconfig {}",
                sandbox.https_url,
                kubeconfig.display()
            );
            let _ = tokio::signal::ctrl_c().await;
        }
        Command::Demo {
            timeout,
            keep_running,
            kubeconfig,
            ca,
        } => {
            init_logging(LogFormat::Text, cli.verbosity, true);
            let opts = certgate::demo::DemoOptions {
                timeout: std::time::Duration::from_secs(timeout),
                keep_running,
                kubeconfig,
                ca,
            };
            let mut out = std::io::stdout();
            let ok = certgate::demo::run(opts, &mut out).await?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Acmesolver {
            listen,
            tls_alpn01_listen,
            log_format,
        } => {
            init_logging(log_format, cli.verbosity, false);
            let client = kube::Client::try_default().await?;
            certgate::http01::server::run_standalone(client, listen, tls_alpn01_listen).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Controller {
            cluster_resource_namespace,
            namespace,
            leader_elect,
            leader_election_namespace,
            metrics_listen_address,
            health_listen_address,
            max_concurrent_reconciles,
            kube_api_qps: _,
            kube_api_burst: _,
            log_format,
            cluster_issuer_selector,
            copied_annotation_prefixes,
            enable_certificate_owner_ref,
            default_issuer_name,
            default_issuer_kind,
            default_issuer_group,
            shim_annotations,
            enable_ca_injector,
            controllers,
            acme,
        } => {
            init_logging(log_format, cli.verbosity, false);
            let client = kube::Client::try_default().await?;
            let config = certgate::controller::ControllerConfig {
                cluster_resource_namespace,
                namespace: (!namespace.is_empty()).then_some(namespace),
                cluster_issuer_selector: (!cluster_issuer_selector.is_empty())
                    .then_some(cluster_issuer_selector),
                copied_annotation_prefixes,
                max_concurrent_reconciles,
                enable_certificate_owner_ref,
                default_issuer: certgate::certificates::intent::Defaults {
                    issuer_name: (!default_issuer_name.is_empty()).then_some(default_issuer_name),
                    issuer_kind: default_issuer_kind,
                    issuer_group: default_issuer_group,
                    auto_certificate_annotations: shim_annotations.auto_certificate_annotations,
                    extra_certificate_annotations: shim_annotations.extra_certificate_annotations,
                },
                acme: acme.settings(),
                ca_injector: enable_ca_injector,
                approve_requests: certgate::controller::approver_enabled(&controllers),
                vault: certgate::issuers::vault::VaultConfig {
                    issuer_ambient_credentials: acme.issuer_ambient_credentials,
                    cluster_issuer_ambient_credentials: acme.cluster_issuer_ambient_credentials,
                    ..Default::default()
                },
                ..Default::default()
            };
            let metrics = Arc::new(certgate::metrics::Metrics::default());
            let health = Arc::new(certgate::controller::Health::default());
            tokio::spawn(certgate::controller::serve_metrics(
                metrics_listen_address,
                metrics.clone(),
            ));
            tokio::spawn(certgate::controller::serve_health(
                health_listen_address,
                health.clone(),
            ));
            let identity = format!(
                "{}_{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "certgate".into()),
                uuid_like()
            );
            let election = certgate::controller::leader::LeaderElectionConfig::new(
                &leader_election_namespace,
                &identity,
            );
            if leader_elect {
                tracing::info!(lease = %format!("{}/{}", election.namespace, election.name), "waiting to become leader");
                certgate::controller::leader::acquire(&client, &election).await;
                tracing::info!("became leader");
            }
            health
                .ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let ctx = certgate::controller::Context::new(client.clone(), config, metrics);
            let (stop, rx) = tokio::sync::watch::channel(false);
            let controllers = tokio::spawn(certgate::controller::run_controllers(ctx, rx));
            let lost = async {
                if leader_elect {
                    certgate::controller::leader::keep_renewing(&client, &election).await;
                } else {
                    futures::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = shutdown_signal() => tracing::info!("shutting down"),
                _ = lost => tracing::warn!("stopping: leadership lost"),
            }
            let _ = stop.send(true);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), controllers).await;
            if leader_elect {
                certgate::controller::leader::release(&client, &election).await;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

use certgate::cli::approve::Decision;

/// `approve` and `deny`: cmctl's checks, then the condition; cmctl's line on stdout.
async fn decide(
    decision: Decision,
    names: Vec<String>,
    reason: String,
    message: Option<String>,
    namespace: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let message = message.unwrap_or_else(|| {
        decision.default_message(&certgate::cli::approve::ctl_name(
            std::env::args_os().next().as_deref(),
        ))
    });
    let name = certgate::cli::approve::validate(decision, &names, &reason, &message)?;
    let client = kube::Client::try_default().await?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let line =
        certgate::cli::approve::decide(&client, &namespace, name, decision, &reason, &message)
            .await?;
    println!("{line}");
    Ok(())
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::process::id() as u64 ^ (jiff::Timestamp::now().as_nanosecond() as u64)
    )
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
