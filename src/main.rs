//! The `certgate` command.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// certgate: a Kubernetes certificate controller that serves the cert-manager API.
#[derive(Parser, Debug)]
#[command(name = "certgate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions certgate serves (pipe into `kubectl apply -f -`).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        output_dir: Option<std::path::PathBuf>,
    },
    /// Print certgate's version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
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
        Command::Version => {
            println!("certgate {}", env!("CARGO_PKG_VERSION"));
        }
    }
    Ok(())
}
