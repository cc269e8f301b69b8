//! `certgate-conformance`: runs certgate's DNS-01 provider conformance suite against
//! a real DNS provider, with your credentials and zone, before production. Prints a
//! table; exits 0 when every check passed, 1 when one failed, 2 when the configuration
//! cannot be used. See conformance/README.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use certgate_conformance::Suite;
use certgate_conformance::config::{self, Config, SecretSource};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "certgate-conformance",
    about = "Checks that a DNS-01 provider configuration works: records appear at the zone's nameservers, \
             are removed, coexist, and errors say what is wrong without leaking credentials."
)]
struct Args {
    /// A YAML file: zone, dns01 (the solver block of an Issuer), secrets (name → key →
    /// {env: VAR} or {file: PATH}), nameservers, authoritativePort, timeout…
    #[arg(long)]
    config: Option<PathBuf>,
    /// The zone to write in (overrides the file's); for acmeDNS, the domain whose
    /// account is checked.
    #[arg(long)]
    zone: Option<String>,
    /// The solver's dns01 block as YAML or JSON, e.g.
    /// '{cloudflare: {apiTokenSecretRef: {name: cf, key: api-token}}}'.
    #[arg(long)]
    dns01: Option<String>,
    /// NAME/KEY=env:VAR or NAME/KEY=file:PATH: where key KEY of Secret NAME comes from.
    #[arg(long = "secret", value_name = "NAME/KEY=SOURCE")]
    secrets: Vec<String>,
    /// A recursive nameserver used to find the zone's nameservers (default: the
    /// system's); repeatable.
    #[arg(long = "nameserver")]
    nameservers: Vec<SocketAddr>,
    /// The port of the zone's nameservers.
    #[arg(long)]
    authoritative_port: Option<u16>,
    /// How long to wait for a change to show at every nameserver (Go duration).
    #[arg(long)]
    timeout: Option<String>,
    /// Run only these cases (repeatable): present, cleanup, idempotent, two-values,
    /// wildcard-apex, cleanup-absent, unknown-zone, bad-credentials.
    #[arg(long = "case")]
    cases: Vec<String>,
}

fn config(args: &Args) -> Result<Config, String> {
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Config::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(z) = &args.zone {
        c.zone = z.clone();
    }
    if let Some(d) = &args.dns01 {
        c.dns01 = serde_saphyr::from_str(d).map_err(|e| format!("--dns01: {e}"))?;
    }
    for s in &args.secrets {
        let (target, source) = s.split_once('=').ok_or_else(|| {
            format!("--secret {s:?}: expected NAME/KEY=env:VAR or NAME/KEY=file:PATH")
        })?;
        let (name, key) = target
            .split_once('/')
            .ok_or_else(|| format!("--secret {s:?}: expected NAME/KEY before '='"))?;
        let source = SecretSource::parse(source).map_err(|e| e.to_string())?;
        c.secrets
            .entry(name.to_string())
            .or_default()
            .insert(key.to_string(), source);
    }
    if !args.nameservers.is_empty() {
        c.nameservers = args.nameservers.clone();
    }
    if args.authoritative_port.is_some() {
        c.authoritative_port = args.authoritative_port;
    }
    if args.timeout.is_some() {
        c.timeout = args.timeout.clone();
    }
    if c.zone.trim().is_empty() {
        return Err("no zone: give --zone or zone: in the configuration file".into());
    }
    Ok(c)
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certgate-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let dns = match cfg.dns() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("certgate-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let built = match config::build(&cfg).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("certgate-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let mut suite = Suite::new(cfg.provider_name(), built.provider.as_ref(), &cfg.zone, dns)
        .record_model(built.record_model.clone());
    if let Some(bad) = built.bad_credentials {
        suite = suite.bad_credentials(bad);
    }
    if let Some(z) = &cfg.unknown_zone {
        suite = suite.unknown_zone(z);
    }
    if !args.cases.is_empty() {
        let cases: Vec<&str> = args.cases.iter().map(String::as_str).collect();
        suite = suite.only(&cases);
    }
    let report = suite.run().await;
    print!("{}", report.table());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
