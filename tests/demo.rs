//! `certgate demo` (the README's first command) runs the whole mission on the embedded
//! stack — SelfSigned and CA issuers, and through the in-process ACME CA a Gateway's
//! wildcard + apex Certificate by DNS-01 at the in-process Cloudflare, a ListenerSet's
//! and an Ingress's by HTTP-01 — prints each step, and says nothing of warnings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// Runs `certgate demo` with `args` as a user would; its output and its logs, once it
/// exited 0.
fn demo(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["demo", "--timeout", "90"])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}\n{logs}");
    (text, logs)
}

#[test]
fn the_demo_issues_every_example_through_the_whole_mission() {
    let (text, logs) = demo(&[]);
    assert!(text.contains("8 of 8 Certificates Ready"), "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_default()
            .to_string()
    };
    for name in [
        "demo-root-ca",
        "web-rsa",
        "api-ecdsa",
        "mesh-ed25519",
        "apps-tls",
        "team-a-tls",
        "shop-tls",
    ] {
        assert!(
            row(name).contains(" True "),
            "{name}: {}\n{text}",
            row(name)
        );
    }
    // What the ACME CA issued, with the names the Gateway, ListenerSet and Ingress asked for.
    assert!(
        text.contains("SANs [DNS:*.apps.demo.example, DNS:apps.demo.example]"),
        "{text}"
    );
    assert!(text.contains("SANs [DNS:team-a.demo.example]"), "{text}");
    assert!(text.contains("SANs [DNS:shop.demo.example]"), "{text}");
    // The Vault Issuer's Certificate, signed by the in-process Vault's intermediate.
    assert!(
        text.contains("demo/internal-api-tls: ")
            && text.contains("SANs [DNS:internal.demo.example]"),
        "{text}"
    );
    assert!(
        text.contains("DNS:api.demo.example, IP:10.0.0.10, IP:fd00::10"),
        "{text}"
    );
    // The steps as they happened: DNS-01 for the wildcard and its apex, HTTP-01 for
    // the others, each validated by the CA.
    let step = |needle: &[&str]| text.lines().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(
        step(&[
            "Challenge demo/",
            "(DNS-01 for apps.demo.example)",
            ": valid"
        ]),
        "{text}"
    );
    assert!(
        step(&[
            "Challenge demo/",
            "(DNS-01 for *.apps.demo.example)",
            ": valid"
        ]),
        "{text}"
    );
    assert!(
        step(&["(HTTP-01 for shop.demo.example)", ": valid"]),
        "{text}"
    );
    assert!(
        step(&["(HTTP-01 for team-a.demo.example)", ": valid"]),
        "{text}"
    );
    assert!(step(&["Order demo/", ": valid"]), "{text}");
    assert!(
        step(&[
            "Certificate demo/apps-tls",
            "Ready, Secret apps-tls written"
        ]),
        "{text}"
    );
    // Dates in RFC 3339.
    assert!(
        text.lines()
            .filter(|l| l.contains("notAfter"))
            .all(|l| l.trim_end().ends_with('Z')),
        "{text}"
    );
    // A healthy run logs no warning or error.
    assert!(
        !logs.contains("WARN") && !logs.contains("ERROR"),
        "warnings on a healthy run:\n{logs}"
    );
}

/// `certgate demo --ca pebble`: the same mission with Let's Encrypt's test CA.
#[test]
fn the_demo_issues_from_pebble_with_ca_pebble() {
    if common::missing(&[common::PEBBLE_ON_PATH]) {
        return;
    }
    let (text, _) = demo(&["--ca", "pebble"]);
    assert!(text.contains("Pebble at https://127.0.0.1:"), "{text}");
    assert!(text.contains("8 of 8 Certificates Ready"), "{text}");
    assert!(
        text.contains("SANs [DNS:*.apps.demo.example, DNS:apps.demo.example]"),
        "{text}"
    );
}
