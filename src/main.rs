//! The `certgate` command.

use certgate::cli::compat_flags::{self, FeatureGates, IgnoredFlags};
use clap::{FromArgMatches as _, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[path = "main/args.rs"]
mod args;
use args::*;

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

/// The command line, with `certgate controller --config FILE` read in: the file's
/// flags go before the command line's, and a flag given on the command line drops
/// the file's (cert-manager's precedence).
fn parse_cli(argv: Vec<OsString>) -> Result<(Cli, Vec<String>), String> {
    use clap::CommandFactory as _;
    let exit = |e: clap::Error| -> ! { e.exit() };
    let matches = Cli::command()
        .try_get_matches_from(&argv)
        .unwrap_or_else(|e| exit(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| exit(e));
    let Command::Controller { client, .. } = &cli.command else {
        return Ok((cli, Vec::new()));
    };
    let Some(path) = &client.config else {
        return Ok((cli, Vec::new()));
    };
    let from_file = certgate::cli::controller_config::load(path).map_err(|e| e.to_string())?;
    let Some(sub) = matches.subcommand_matches("controller") else {
        return Ok((cli, from_file.ignored));
    };
    let command = Cli::command();
    let controller = command
        .find_subcommand("controller")
        .ok_or("no controller subcommand")?;
    let given_on_command_line = |flag: &str| -> bool {
        let arg = controller
            .get_arguments()
            .chain(command.get_arguments())
            .find(|a| {
                a.get_long() == Some(flag)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&flag))
            });
        arg.is_some_and(|a| {
            let id = a.get_id().as_str();
            [sub, &matches].iter().any(|m| {
                m.try_contains_id(id).unwrap_or(false)
                    && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            })
        })
    };
    let file_args: Vec<OsString> = from_file
        .args
        .iter()
        .filter(|a| !given_on_command_line(certgate::cli::controller_config::flag_name(a)))
        .map(OsString::from)
        .collect();
    let at = argv
        .iter()
        .position(|a| a == "controller")
        .map_or(argv.len(), |i| i + 1);
    let mut merged = argv[..at].to_vec();
    merged.extend(file_args);
    merged.extend_from_slice(&argv[at..]);
    let cli = Cli::try_parse_from(&merged).map_err(|e| {
        format!(
            "failed to load config file {}, error {}",
            path.display(),
            e.render()
        )
    })?;
    Ok((cli, from_file.ignored))
}

/// jemalloc, or glibc's malloc with `CERTGATE_ALLOCATOR=system` (runtime::allocator).
#[global_allocator]
static ALLOCATOR: certgate::runtime::allocator::Allocator = certgate::runtime::allocator::Allocator;

fn main() -> ExitCode {
    certgate::runtime::allocator::limit_arenas();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (cli, config_notes) = match parse_cli(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    match runtime.block_on(run(cli, config_notes)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config_notes: Vec<String>) -> Result<ExitCode, Box<dyn std::error::Error>> {
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
            let client = certgate::runtime::client::infer().await?;
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
            let client = certgate::runtime::client::infer().await?;
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
                let client = certgate::runtime::client::infer().await?;
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
            let client = certgate::runtime::client::infer().await?;
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
            let client = certgate::runtime::client::infer().await?;
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
            let client = certgate::runtime::client::infer().await?;
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
            let client = certgate::runtime::client::infer().await?;
            certgate::acmesolver::run_standalone(client, listen, tls_alpn01_listen).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Controller {
            client,
            cluster_resource_namespace,
            namespace,
            leader,
            metrics_listen_address,
            health_listen_address,
            max_concurrent_reconciles,
            log_format,
            cluster_issuer_selector,
            copied_annotation_prefixes,
            enable_certificate_owner_ref,
            default_issuer_name,
            default_issuer_kind,
            default_issuer_group,
            shim_annotations,
            gateway,
            enable_ca_injector,
            controllers,
            feature_gates,
            acme,
            ignored,
        } => {
            init_logging(log_format, cli.verbosity, false);
            let _trimmer = certgate::runtime::allocator::spawn_trimmer();
            ignored.log();
            for note in &config_notes {
                tracing::info!("{note}");
            }
            compat_flags::log_feature_gates(&compat_flags::merge_feature_gates(&feature_gates));
            let LeaderArgs {
                leader_elect,
                leader_election_namespace,
                leader_election_lease_duration,
                leader_election_renew_deadline,
                leader_election_retry_period,
                shards,
            } = *leader;
            if leader_elect {
                for (field, d) in [
                    ("leaseDuration", leader_election_lease_duration),
                    ("renewDeadline", leader_election_renew_deadline),
                    ("retryPeriod", leader_election_retry_period),
                ] {
                    if d.is_zero() {
                        return Err(format!(
                            "error validating flags: leaderElectionConfig.{field}: Invalid value: \"0s\": must be greater than 0"
                        )
                        .into());
                    }
                }
            }
            let client =
                kube_client(client.master.as_deref(), client.kubeconfig.as_deref()).await?;
            let mut config = certgate::controller::ControllerConfig {
                cluster_resource_namespace,
                namespace: (!namespace.is_empty()).then_some(namespace),
                cluster_issuer_selector: (!cluster_issuer_selector.is_empty())
                    .then_some(cluster_issuer_selector),
                copied_annotation_prefixes,
                max_concurrent_reconciles,
                enable_certificate_owner_ref,
                default_issuer: certgate::intent::Defaults {
                    issuer_name: (!default_issuer_name.is_empty()).then_some(default_issuer_name),
                    issuer_kind: default_issuer_kind,
                    issuer_group: default_issuer_group,
                    auto_certificate_annotations: shim_annotations.auto_certificate_annotations,
                    extra_certificate_annotations: shim_annotations.extra_certificate_annotations,
                },
                acme: acme.settings(),
                ca_injector: enable_ca_injector,
                gateway_api: certgate::gateway::GatewayApiConfig {
                    enabled: gateway.enable_gateway_api,
                    listener_sets: gateway.enable_gateway_api_listenerset,
                    extra_protocols: gateway.gateway_api_extra_protocols,
                },
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
            let mut election = certgate::runtime::leader::LeaderElectionConfig::new(
                &leader_election_namespace,
                &identity,
            );
            election.lease_duration = leader_election_lease_duration;
            election.renew_deadline = leader_election_renew_deadline;
            election.retry_period = leader_election_retry_period;
            // Sharded, every replica works at once on its share and only the
            // cluster-scoped controllers wait for the leader Lease.
            let sharded = shards > 1;
            if sharded {
                config.sharding = Some(certgate::runtime::shards::ShardSettings::new(
                    &leader_election_namespace,
                    &identity,
                    shards,
                ));
                // Several replicas by definition: cluster-scoped work is elected
                // even with --leader-elect=false.
                if !leader_elect {
                    tracing::warn!(
                        "--shards runs the cluster-scoped controllers on the leader Lease's holder only; --leader-elect=false is ignored for them"
                    );
                }
                config.cluster_leader = Some(election.clone());
            }
            let leader_elect = leader_elect && !sharded;
            if leader_elect {
                tracing::info!(lease = %format!("{}/{}", election.namespace, election.name), "waiting to become leader");
                certgate::runtime::leader::acquire(&client, &election).await;
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
                    certgate::runtime::leader::keep_renewing(&client, &election).await;
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
                certgate::runtime::leader::release(&client, &election).await;
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
    let client = certgate::runtime::client::infer().await?;
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let line =
        certgate::cli::approve::decide(&client, &namespace, name, decision, &reason, &message)
            .await?;
    println!("{line}");
    Ok(())
}

/// The controller's API client, as cert-manager builds it from --master and
/// --kubeconfig: the kubeconfig file (its server replaced by --master when both are
/// given), or --master alone (no credentials, e.g. `kubectl proxy`), or, with
/// neither, the usual discovery ($KUBECONFIG, ~/.kube/config, in-cluster).
async fn kube_client(
    master: Option<&str>,
    kubeconfig: Option<&std::path::Path>,
) -> Result<kube::Client, Box<dyn std::error::Error>> {
    let master = master.filter(|m| !m.is_empty());
    let mut config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await?
        }
        None => match master {
            Some(url) => kube::Config::new(url.parse()?),
            None => return Ok(certgate::runtime::client::infer().await?),
        },
    };
    if let Some(url) = master {
        config.cluster_url = url.parse()?;
    }
    Ok(certgate::runtime::client::from_config(config)?)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use certgate::cli::compat_flags::{CONTROLLER_FLAGS, Handling, Kind};

    /// A valid value of a cert-manager flag, for the parse checks.
    fn sample(name: &str, kind: Kind) -> &'static str {
        match (name, kind) {
            ("logging-format", _) => "json",
            ("metrics-listen-address" | "internal-healthz-listen-address", _) => ":9402",
            ("master", _) => "https://127.0.0.1:6443",
            ("dns01-recursive-nameservers", _) => "8.8.8.8:53,https://1.1.1.1/dns-query",
            ("acme-http01-solver-nameservers", _) => "10.0.0.10:53,10.0.0.11:53",
            ("feature-gates", _) => "ACMEUseARI=true,ListenerSets=false",
            (_, Kind::Bool) => "false",
            (_, Kind::StringSlice) => "a,b",
            (_, Kind::Int) => "5",
            (_, Kind::Uint) => "10",
            (_, Kind::Float) => "20.5",
            (_, Kind::Duration) => "1m30s",
            (_, Kind::MapStringString) => "team=a,tier=b",
            (_, Kind::MapStringBool) => "ACMEUseARI=true",
            (_, Kind::VModule) => "acme*=4",
            (_, Kind::String) => "x",
        }
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut all = vec!["certgate", "controller"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
    }

    #[test]
    fn every_cert_manager_controller_flag_is_accepted_in_both_forms() {
        for flag in CONTROLLER_FLAGS {
            let value = sample(flag.name, flag.kind);
            let dash = if flag.name == "v" { "-" } else { "--" };
            let eq = format!("{dash}{}={value}", flag.name);
            let forms: Vec<Vec<String>> = if flag.kind == Kind::Bool {
                vec![
                    vec![format!("--{}", flag.name)],
                    vec![eq],
                    vec![format!("--{}=T", flag.name)],
                ]
            } else {
                vec![
                    vec![eq],
                    vec![format!("{dash}{}", flag.name), value.to_string()],
                ]
            };
            for args in forms {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let cli = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                let Command::Controller { ignored, .. } = cli.command else {
                    panic!("not the controller")
                };
                let reported = ignored.given.iter().any(|(f, _)| f.name == flag.name);
                assert_eq!(
                    reported,
                    matches!(flag.handling, Handling::Ignored(_)),
                    "{args:?}: reported as ignored"
                );
            }
        }
    }

    #[test]
    fn go_value_syntax_is_checked_and_unknown_flags_refused() {
        for bad in [
            &["--no-such-flag"][..],
            &["--leader-elect", "false"],
            &["--leader-elect=maybe"],
            &["--enable-profiling=yes"],
            &["--dns01-check-retry-period=10"],
            &["--leader-election-lease-duration=soon"],
            &["--dns01-recursive-nameservers=8.8.8.8"],
            &["--dns01-recursive-nameservers=https:///dns-query"],
            &["--feature-gates=ACMEUseARI"],
            &["--feature-gates=NoSuchGate=true"],
            &["--kube-api-burst=lots"],
            &["--concurrent-workers=many"],
            &["--logging-format=xml"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} is accepted");
        }
        let e = parse(&["--feature-gates=ACMEUseARI"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("malformed pair, expect string=bool"), "{e}");
        let e = parse(&["--feature-gates=NoSuchGate=true"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unrecognized feature gate: NoSuchGate"), "{e}");
    }

    #[test]
    fn implemented_flags_set_what_they_say() {
        let cli = parse(&[
            "--leader-elect=false",
            "--enable-certificate-owner-ref",
            "--issuer-ambient-credentials=1",
            "--cluster-issuer-ambient-credentials=F",
            "--concurrent-workers=0x20",
            "--internal-healthz-listen-address=:9500",
            "--metrics-listen-address",
            "127.0.0.1:9402",
            "--logging-format=json",
            "--leader-election-lease-duration=1m",
            "--leader-election-renew-deadline=40s",
            "--leader-election-retry-period=15s",
            "--dns01-check-retry-period=10s",
            "--dns01-recursive-nameservers=8.8.8.8:53,https://1.1.1.1/dns-query",
            "--dns01-recursive-nameservers=resolver.local:5353",
            "--dns01-recursive-nameservers-only",
            "--controllers=*,-certificaterequests-approver",
            "--feature-gates=ACMEUseARI=true",
            "--feature-gates",
            "ACMEUseARI=false,OtherNames=true",
            "--v=3",
            "--v=5",
            "--kube-api-qps=50",
            "--enable-gateway-api-listenerset=false",
            "--gateway-api-extra-protocols=DTLS,QUIC",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.verbosity, 5, "the last -v wins, as in pflag");
        let Command::Controller {
            leader,
            enable_certificate_owner_ref,
            max_concurrent_reconciles,
            health_listen_address,
            metrics_listen_address,
            log_format,
            controllers,
            feature_gates,
            acme,
            gateway,
            ignored,
            ..
        } = cli.command
        else {
            panic!("not the controller")
        };
        assert!(!leader.leader_elect);
        assert!(gateway.enable_gateway_api);
        assert!(!gateway.enable_gateway_api_listenerset);
        assert_eq!(gateway.gateway_api_extra_protocols, ["DTLS", "QUIC"]);
        assert!(enable_certificate_owner_ref);
        assert!(acme.issuer_ambient_credentials);
        assert!(!acme.cluster_issuer_ambient_credentials);
        assert_eq!(max_concurrent_reconciles, 32);
        assert_eq!(health_listen_address, "0.0.0.0:9500".parse().unwrap());
        assert_eq!(metrics_listen_address, "127.0.0.1:9402".parse().unwrap());
        assert_eq!(log_format, LogFormat::Json);
        assert_eq!(
            leader.leader_election_lease_duration,
            Duration::from_secs(60)
        );
        assert_eq!(
            leader.leader_election_renew_deadline,
            Duration::from_secs(40)
        );
        assert_eq!(leader.leader_election_retry_period, Duration::from_secs(15));
        assert_eq!(acme.dns01_check_retry_period, Duration::from_secs(10));
        assert!(acme.dns01_recursive_nameservers_only);
        assert_eq!(
            acme.dns01_recursive_nameservers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "8.8.8.8:53",
                "https://1.1.1.1/dns-query",
                "resolver.local:5353"
            ]
        );
        assert_eq!(
            acme.self_check_nameservers(),
            vec!["8.8.8.8:53".parse::<SocketAddr>().unwrap()],
            "the self-checks ask the plain nameservers"
        );
        assert!(!certgate::controller::approver_enabled(&controllers));
        let gates = compat_flags::merge_feature_gates(&feature_gates);
        assert_eq!(gates.get("ACMEUseARI"), Some(&false));
        assert_eq!(gates.get("OtherNames"), Some(&true));
        assert_eq!(ignored.given.len(), 1);
        assert_eq!(ignored.given[0].0.name, "kube-api-qps");
    }

    #[test]
    fn a_config_file_is_read_and_the_command_line_wins() {
        let dir = std::env::temp_dir().join(format!("certgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(
            &file,
            "apiVersion: controller.config.cert-manager.io/v1alpha1\n\
             kind: ControllerConfiguration\n\
             logging: {verbosity: 2, format: json, options: {json: {infoBufferSize: \"0\"}}}\n\
             leaderElectionConfig: {namespace: leases, leaseDuration: 60s}\n\
             acmeDNS01Config: {checkRetryPeriod: 10s, recursiveNameservers: [\"https://1.1.1.1/dns-query\"]}\n\
             featureGates: {ListenerSets: true}\n\
             kubernetesAPIQPS: 100\n\
             enableGatewayAPI: true\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let argv = [
            "certgate",
            "controller",
            "--config",
            path,
            "--v=4",
            "--dns01-check-retry-period",
            "5s",
            "--dns01-recursive-nameservers=9.9.9.9:53",
        ];
        let (cli, notes) =
            parse_cli(argv.iter().map(OsString::from).collect()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.verbosity, 4);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let Command::Controller {
            leader,
            log_format,
            feature_gates,
            acme,
            gateway,
            ignored,
            ..
        } = cli.command
        else {
            panic!("not the controller")
        };
        assert_eq!(leader.leader_election_namespace, "leases");
        assert_eq!(
            leader.leader_election_lease_duration,
            Duration::from_secs(60)
        );
        assert_eq!(log_format, LogFormat::Json);
        assert_eq!(acme.dns01_check_retry_period, Duration::from_secs(5));
        assert_eq!(
            acme.dns01_recursive_nameservers,
            vec!["9.9.9.9:53".parse().unwrap()],
            "a list on the command line replaces the file's"
        );
        assert_eq!(
            compat_flags::merge_feature_gates(&feature_gates).get("ListenerSets"),
            Some(&true)
        );
        let names: Vec<&str> = ignored.given.iter().map(|(f, _)| f.name).collect();
        assert_eq!(names, ["kube-api-qps"]);
        assert!(gateway.enable_gateway_api, "enableGatewayAPI: true");

        std::fs::write(
            &file,
            "apiVersion: controller.config.cert-manager.io/v1alpha1\nkind: ControllerConfiguration\nfeatureGates: {Bogus: true}\n",
        )
        .unwrap();
        let e = parse_cli(
            ["certgate", "controller", "--config", path]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("failed to load config file"), "{e}");
        assert!(e.contains("unrecognized feature gate: Bogus"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
