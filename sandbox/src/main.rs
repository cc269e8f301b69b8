//! `certgate-sandbox`: runs the in-memory Kubernetes API server until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: certgate-sandbox [--kubeconfig PATH] [--crds DIR] [--port N] [--http-port N] [--rbac]"
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut kubeconfig: Option<PathBuf> = None;
    let mut crds: Option<PathBuf> = None;
    let mut opts = certgate_sandbox::SandboxOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kubeconfig" => kubeconfig = args.next().map(PathBuf::from),
            "--crds" => crds = args.next().map(PathBuf::from),
            "--port" => opts.https_addr = format!("127.0.0.1:{}", args.next().unwrap_or_default()),
            "--http-port" => {
                opts.http_addr = format!("127.0.0.1:{}", args.next().unwrap_or_default())
            }
            "--rbac" => opts.rbac = true,
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other}\n{}", usage());
                return ExitCode::FAILURE;
            }
        }
    }
    let sandbox = match certgate_sandbox::Sandbox::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = crds {
        match certgate_sandbox::load_crd_dir(&dir) {
            Ok(list) => {
                if let Err(e) = sandbox.install_crds(&list) {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let path =
        kubeconfig.unwrap_or_else(|| std::env::temp_dir().join("certgate-sandbox.kubeconfig"));
    if let Err(e) = sandbox.write_kubeconfig(&path) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "certgate-sandbox serving {} (plain HTTP {})",
        sandbox.https_url, sandbox.http_url
    );
    println!("kubeconfig: {}", path.display());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
