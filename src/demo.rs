//! `certgate demo`: the whole job on an embedded local stack. Starts the sandbox API
//! server in-process, runs the controllers against it, applies `examples/`, waits
//! until every Certificate is Ready and shows what was issued.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Certificate;
use crate::api::meta::ConditionStatus;
use crate::controller::{ControllerConfig, RunningControllers};

/// The examples, in the order they are applied.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/00-namespaces.yaml",
        include_str!("../examples/00-namespaces.yaml"),
    ),
    (
        "examples/01-selfsigned-clusterissuer.yaml",
        include_str!("../examples/01-selfsigned-clusterissuer.yaml"),
    ),
    (
        "examples/02-ca-certificate.yaml",
        include_str!("../examples/02-ca-certificate.yaml"),
    ),
    (
        "examples/03-ca-clusterissuer.yaml",
        include_str!("../examples/03-ca-clusterissuer.yaml"),
    ),
    (
        "examples/04-certificates.yaml",
        include_str!("../examples/04-certificates.yaml"),
    ),
];

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("starting the sandbox: {0}")]
    Sandbox(#[from] certgate_sandbox::SandboxError),
    #[error("generating the CRDs: {0}")]
    Crd(#[from] crate::api::crd::CrdError),
    #[error(transparent)]
    Manifest(#[from] crate::manifests::ManifestError),
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub timeout: Duration,
    pub keep_running: bool,
    pub kubeconfig: Option<std::path::PathBuf>,
}

fn ready_of(c: &Certificate) -> Option<(ConditionStatus, String)> {
    let cond = c
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((cond.status, cond.message.clone().unwrap_or_default()))
}

fn status_word(s: Option<ConditionStatus>) -> &'static str {
    match s {
        Some(ConditionStatus::True) => "True",
        Some(ConditionStatus::False) => "False",
        Some(ConditionStatus::Unknown) => "Unknown",
        None => "",
    }
}

/// Runs the demo; true when every Certificate became Ready.
pub async fn run(opts: DemoOptions, out: &mut (dyn Write + Send)) -> Result<bool, DemoError> {
    let started = Instant::now();
    let sandbox =
        certgate_sandbox::Sandbox::start(certgate_sandbox::SandboxOptions::default()).await?;
    let crds: Vec<serde_json::Value> = crate::api::crd::all()?
        .into_iter()
        .map(|c| c.json)
        .collect();
    sandbox.install_crds(&crds)?;
    let client = sandbox.client().await?;
    let _ = writeln!(
        out,
        "sandbox API server at {} with the cert-manager CRDs",
        sandbox.https_url
    );
    let config = ControllerConfig {
        cluster_resource_namespace: "cert-manager".into(),
        ..Default::default()
    };
    let controllers = RunningControllers::start(client.clone(), config);
    for (file, text) in EXAMPLES {
        let docs = crate::manifests::parse_documents(file, text)?;
        let applied = crate::manifests::apply(&client, file, &docs, "certgate-demo").await?;
        let _ = writeln!(out, "applied {file}: {}", applied.join(", "));
    }
    let certs: Api<Certificate> = Api::all(client.clone());
    let deadline = Instant::now() + opts.timeout;
    let mut last_line = String::new();
    let all_ready = loop {
        let list = certs.list(&ListParams::default()).await?.items;
        let ready = list
            .iter()
            .filter(|c| ready_of(c).is_some_and(|(s, _)| s == ConditionStatus::True))
            .count();
        let line = format!("waiting for Certificates: {ready}/{} Ready", list.len());
        if line != last_line {
            let _ = writeln!(out, "{line}");
            last_line = line;
        }
        if !list.is_empty() && ready == list.len() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let list = certs.list(&ListParams::default()).await?.items;
    let _ = writeln!(
        out,
        "\n{:<14} {:<14} {:<6} {:<16} STATUS",
        "NAMESPACE", "NAME", "READY", "SECRET"
    );
    for c in &list {
        let (status, message) = ready_of(c)
            .map(|(s, m)| (Some(s), m))
            .unwrap_or((None, String::new()));
        let _ = writeln!(
            out,
            "{:<14} {:<14} {:<6} {:<16} {}",
            c.metadata.namespace.as_deref().unwrap_or_default(),
            c.metadata.name.as_deref().unwrap_or_default(),
            status_word(status),
            c.spec.secret_name,
            message
        );
    }
    let _ = writeln!(out);
    for c in &list {
        let ns = c.metadata.namespace.clone().unwrap_or_default();
        let secret = Api::<Secret>::namespaced(client.clone(), &ns)
            .get_opt(&c.spec.secret_name)
            .await?;
        let Some(pem) = secret
            .and_then(|s| s.data)
            .and_then(|d| d.get("tls.crt").cloned())
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "{ns}/{}: {}",
            c.spec.secret_name,
            describe_certificate(&pem.0)
        );
    }
    let _ = writeln!(
        out,
        "\n{} of {} Certificates Ready in {:.1}s",
        list.iter()
            .filter(|c| ready_of(c).is_some_and(|(s, _)| s == ConditionStatus::True))
            .count(),
        list.len(),
        started.elapsed().as_secs_f64()
    );
    if opts.keep_running {
        let path = opts
            .kubeconfig
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("certgate-demo.kubeconfig"));
        sandbox.write_kubeconfig(&path)?;
        let _ = writeln!(
            out,
            "kubeconfig: {} (try: KUBECONFIG={} kubectl get certificate -A); Ctrl-C to stop",
            path.display(),
            path.display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    controllers.stop().await;
    drop(Arc::new(sandbox));
    Ok(all_ready)
}

/// Subject, SANs and notAfter of the first certificate in a PEM bundle.
pub fn describe_certificate(pem: &[u8]) -> String {
    let Ok((_, parsed)) = x509_parser::pem::parse_x509_pem(pem) else {
        return "not a PEM certificate".into();
    };
    let Ok(cert) = parsed.parse_x509() else {
        return "not a certificate".into();
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            sans.push(match n {
                x509_parser::extensions::GeneralName::DNSName(d) => format!("DNS:{d}"),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        format!("IP:{}", std::net::Ipv6Addr::from(a))
                    }
                    _ => "IP:?".into(),
                },
                x509_parser::extensions::GeneralName::URI(u) => format!("URI:{u}"),
                x509_parser::extensions::GeneralName::RFC822Name(e) => format!("email:{e}"),
                other => format!("{other:?}"),
            });
        }
    }
    format!(
        "subject \"{}\", SANs [{}], notAfter {}",
        cert.subject(),
        sans.join(", "),
        cert.validity().not_after.to_datetime()
    )
}
