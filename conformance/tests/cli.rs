//! `certgate-conformance` as a user runs it: flags or a YAML file, credentials from
//! environment variables or files, a table on stdout and the exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use certgate_conformance::emulators::cloudflare::{self as cf, CloudflareEmulator};

fn command(emu: &CloudflareEmulator) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certgate-conformance"));
    let dns = emu.dns_addr();
    c.args(["--nameserver", &dns.to_string()])
        .args(["--authoritative-port", &dns.port().to_string()])
        .args(["--timeout", "10s"])
        .env("CF_TEST_TOKEN", cf::TOKEN);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_the_suite_from_flags_and_from_a_file() {
    let emu = CloudflareEmulator::start(&["example.com"]).await.unwrap();
    let dns01 = "{cloudflare: {apiTokenSecretRef: {name: cloudflare, key: api-token}}}";
    let config = format!(
        "zone: example.com\ndns01: {dns01}\napiEndpoints: {{cloudflare: \"{}\"}}\n\
         secrets:\n  cloudflare:\n    api-token: {{env: CF_TEST_TOKEN}}\npollPeriod: 100ms\n",
        emu.api_url()
    );
    let dir = std::env::temp_dir().join(format!("certgate-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("conformance.yaml");
    std::fs::write(&file, &config).unwrap();

    let out = tokio::task::spawn_blocking({
        let mut c = command(&emu);
        c.arg("--config").arg(&file);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("DNS-01 provider conformance: cloudflare (zone example.com.)"),
        "{stdout}"
    );
    assert!(stdout.contains("8 of 8 checks passed"), "{stdout}");
    assert!(!stdout.contains(cf::TOKEN), "{stdout}");

    // Flags override the file: only two cases, against a zone Cloudflare lacks.
    let out = tokio::task::spawn_blocking({
        let mut c = command(&emu);
        c.arg("--config").arg(&file).args([
            "--zone",
            "missing.test",
            "--case",
            "present",
            "--case",
            "unknown-zone",
        ]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("present") && stdout.contains("FAIL"),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 2 checks passed (FAILED)"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_configurations_exit_2() {
    let bin = env!("CARGO_BIN_EXE_certgate-conformance");
    let out = Command::new(bin).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no zone"));
    let out = Command::new(bin)
        .args([
            "--zone",
            "example.com",
            "--secret",
            "cf/token=env:CERTGATE_TEST_UNSET_VARIABLE",
        ])
        .args([
            "--dns01",
            "{cloudflare: {apiTokenSecretRef: {name: cf, key: token}}}",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CERTGATE_TEST_UNSET_VARIABLE is not set"),
        "{stderr}"
    );
}
