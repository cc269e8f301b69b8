//! `certgate demo` (the README's first command) issues every example and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_issues_every_example() {
    let mut out: Vec<u8> = Vec::new();
    let opts = certgate::demo::DemoOptions {
        timeout: std::time::Duration::from_secs(60),
        keep_running: false,
        kubeconfig: None,
    };
    let ok = certgate::demo::run(opts, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(ok, "{text}");
    assert!(text.contains("4 of 4 Certificates Ready"), "{text}");
    for name in ["demo-root-ca", "web-rsa", "api-ecdsa", "mesh-ed25519"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_default();
        assert!(line.contains(" True "), "{name}: {line}\n{text}");
    }
    assert!(
        text.contains("DNS:api.demo.example, IP:10.0.0.10, IP:fd00::10"),
        "{text}"
    );
    assert!(
        text.contains("URI:spiffe://demo.example/ns/demo/sa/mesh"),
        "{text}"
    );
}
