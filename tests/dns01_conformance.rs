//! The DNS-01 provider conformance suite (`conformance/`) against every provider it
//! can reach here: RFC 2136 on BIND 9, and Cloudflare on the in-repo emulator (the
//! provider built directly, with an API token and with a global API key, and through
//! the solver's Secret-reading path as `certgate-conformance` builds it).
//!
//! Adding a provider is one call to [`run`] with the provider, its zone and where its
//! nameservers answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use certgate::api::acme_dns01::AcmeIssuerDns01ProviderRfc2136;
use certgate::dns01::cloudflare::{CloudflareAuth, CloudflareProvider};
use certgate::dns01::rfc2136::Rfc2136Provider;
use certgate::dns01::{Dns01Config, Provider};
use certgate_conformance::emulators::cloudflare::{self as cf, Access, CloudflareEmulator};
use certgate_conformance::suite::{BadCredentials, Suite};
use common::bind::{Bind, ZoneSpec};

/// How the suite reads a local nameserver.
fn dns(server: SocketAddr) -> Dns01Config {
    Dns01Config {
        recursive_nameservers: vec![server],
        authoritative_port: server.port(),
        poll_period: Duration::from_millis(100),
        timeout: Duration::from_secs(15),
        query_timeout: Duration::from_secs(3),
        ..Dns01Config::default()
    }
}

/// Runs the whole suite and fails the test with the table when a case fails.
async fn run(
    name: &str,
    provider: &dyn Provider,
    zone: &str,
    server: SocketAddr,
    bad: Option<BadCredentials>,
) {
    let mut suite = Suite::new(name, provider, zone, dns(server));
    if let Some(bad) = bad {
        suite = suite.bad_credentials(bad);
    }
    let report = suite.run().await;
    assert!(report.passed(), "\n{}", report.table());
    assert_eq!(report.results.len(), 8, "\n{}", report.table());
}

fn rfc2136(bind: &Bind, secret: &str) -> Result<Rfc2136Provider, String> {
    let cfg = AcmeIssuerDns01ProviderRfc2136 {
        nameserver: bind.addr().to_string(),
        tsig_secret_secret_ref: None,
        tsig_key_name: Some(bind.key_name().to_string()),
        tsig_algorithm: Some("HMACSHA256".into()),
        protocol: None,
    };
    Rfc2136Provider::new(&cfg, Some(secret.as_bytes())).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2136_on_bind_passes_the_suite() {
    if common::missing(&common::BIND_TOOLS) {
        return;
    }
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let provider = rfc2136(&bind, bind.key_secret()).unwrap();
    let real = bind.key_secret().to_string();
    let wrong = String::from_utf8(certgate_conformance::config::scramble(real.as_bytes())).unwrap();
    let (addr, key, wrong2) = (bind.addr(), bind.key_name().to_string(), wrong.clone());
    let bad = BadCredentials {
        factory: Box::new(move || {
            let cfg = AcmeIssuerDns01ProviderRfc2136 {
                nameserver: addr.to_string(),
                tsig_secret_secret_ref: None,
                tsig_key_name: Some(key.clone()),
                tsig_algorithm: Some("HMACSHA256".into()),
                protocol: None,
            };
            let wrong = wrong2.clone();
            Box::pin(async move {
                Rfc2136Provider::new(&cfg, Some(wrong.as_bytes()))
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![format!("\"{}\"", bind.key_name())],
        secrets: vec![real, wrong],
    };
    run("rfc2136", &provider, "example.com", bind.addr(), Some(bad)).await;
}

const SOURCE: &str = "Secret cert-manager/cloudflare key \"api-token\"";

fn token(t: &str) -> CloudflareAuth {
    CloudflareAuth::Token {
        token: t.into(),
        source: SOURCE.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_on_the_emulator_passes_the_suite() {
    let emu = CloudflareEmulator::start(&["example.com", "other.test"])
        .await
        .unwrap();
    // One record per page: every listing the provider makes pages.
    emu.cap_per_page(1);
    let provider = CloudflareProvider::new(token(cf::TOKEN), &emu.api_url()).unwrap();
    let url = emu.api_url();
    let unknown = "abcdefghij0123456789ABCDEFGHIJ-_abcdefgh";
    let bad = BadCredentials {
        factory: Box::new(move || {
            let url = url.clone();
            Box::pin(async move {
                CloudflareProvider::new(token(unknown), &url)
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![SOURCE.into(), "9109".into()],
        secrets: vec![unknown.into(), cf::TOKEN.into()],
    };
    run(
        "cloudflare",
        &provider,
        "example.com",
        emu.dns_addr(),
        Some(bad),
    )
    .await;
    assert!(emu.txt_contents("_acme-challenge.example.com").is_empty());
    assert!(emu.zone_data().zones().contains(&"other.test.".to_string()));

    // With a global API key and email.
    let key = CloudflareProvider::new(
        CloudflareAuth::Key {
            email: cf::EMAIL.into(),
            key: cf::API_KEY.into(),
            source: "Secret cert-manager/cloudflare key \"api-key\"".into(),
        },
        &emu.api_url(),
    )
    .unwrap();
    let report = Suite::new(
        "cloudflare (API key)",
        &key,
        "example.com",
        dns(emu.dns_addr()),
    )
    .only(&["present", "two-values", "unknown-zone"])
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_errors_say_what_to_fix() {
    let emu = CloudflareEmulator::start(&["example.com", "other.test"])
        .await
        .unwrap();
    let fqdn = "_acme-challenge.example.com.";
    // A token that may only see another zone.
    let limited = "limited-token-0123456789abcdefghijklmnop";
    emu.add_token(limited, Access::Zones(vec!["other.test".into()]));
    let p = CloudflareProvider::new(token(limited), &emu.api_url()).unwrap();
    let e = p
        .present("example.com.", fqdn, "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Cloudflare has no zone for \"_acme-challenge.example.com.\"")
            && e.contains(SOURCE)
            && e.contains("Zone:Read")
            && !e.contains(limited),
        "{e}"
    );
    // A malformed token: Cloudflare's 6003/6111.
    let p = CloudflareProvider::new(token("short"), &emu.api_url()).unwrap();
    let e = p.present("example.com.", fqdn, "v").await.unwrap_err();
    assert!(!e.is_transient());
    let e = e.to_string();
    assert!(
        e.contains("6111") && e.contains("not a global API key"),
        "{e}"
    );
    // Nothing listening: transient.
    let p = CloudflareProvider::new(token(cf::TOKEN), "http://127.0.0.1:1/client/v4/").unwrap();
    let e = p.present("example.com.", fqdn, "v").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    // Not the v4 API: Cloudflare's 7000.
    let p = CloudflareProvider::new(
        token(cf::TOKEN),
        &emu.api_url().replace("/client/v4/", "/v3/"),
    )
    .unwrap();
    let e = p
        .present("example.com.", fqdn, "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("7000") && e.contains("not Cloudflare's v4 API"),
        "{e}"
    );
    // A name outside the zone.
    let p = CloudflareProvider::new(token(cf::TOKEN), &emu.api_url()).unwrap();
    let e = p
        .present("example.com.", "_acme-challenge.example.net.", "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not inside zone"), "{e}");
    // A record somebody else created meanwhile is fine; so is deleting one twice.
    p.present("example.com.", fqdn, "twice").await.unwrap();
    p.present("example.com.", fqdn, "twice").await.unwrap();
    assert_eq!(emu.txt_contents(fqdn), vec!["twice".to_string()]);
    p.cleanup("example.com.", fqdn, "twice").await.unwrap();
    p.cleanup("example.com.", fqdn, "twice").await.unwrap();
    assert!(emu.txt_contents(fqdn).is_empty());
    // The zone the SOA walk found comes first; when Cloudflare has no zone by that
    // name, the most specific Cloudflare zone enclosing the record name is used.
    emu.add_zone("sub.example.com");
    p.present(
        "example.com.",
        "_acme-challenge.sub.example.com.",
        "apex-zone",
    )
    .await
    .unwrap();
    assert_eq!(
        emu.txt_contents_in("example.com", "_acme-challenge.sub.example.com"),
        vec!["apex-zone".to_string()]
    );
    let deep = "_acme-challenge.a.sub.example.com.";
    p.present("a.sub.example.com.", deep, "deep").await.unwrap();
    assert_eq!(
        emu.txt_contents_in("sub.example.com", deep),
        vec!["deep".to_string()]
    );
    p.cleanup("a.sub.example.com.", deep, "deep").await.unwrap();
    p.cleanup(
        "example.com.",
        "_acme-challenge.sub.example.com.",
        "apex-zone",
    )
    .await
    .unwrap();
    assert!(emu.txt_contents(deep).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_through_the_solver_and_secrets_passes_the_suite() {
    use certgate_conformance::config::{self, Config};
    let emu = CloudflareEmulator::start(&["example.com"]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("certgate-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{}\n", cf::TOKEN)).unwrap();
    let yaml = format!(
        "zone: example.com\n\
         dns01:\n  cloudflare:\n    apiTokenSecretRef: {{name: cloudflare, key: api-token}}\n\
         secrets:\n  cloudflare:\n    api-token: {{file: {}}}\n\
         apiEndpoints:\n  cloudflare: {}\n",
        token_file.display(),
        emu.api_url()
    );
    let cfg = Config::from_yaml(&yaml).unwrap();
    let built = config::build(&cfg).await.unwrap();
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .bad_credentials(built.bad_credentials.unwrap())
    .run()
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(report.passed(), "\n{}", report.table());
    let bad = report
        .results
        .iter()
        .find(|r| r.name == "bad-credentials")
        .unwrap();
    assert!(
        bad.message
            .contains("Secret conformance-bad-credentials/cloudflare key \"api-token\""),
        "{}",
        bad.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clouddns_on_the_emulator_passes_the_suite() {
    use certgate::dns01::clouddns::{CloudDnsOptions, CloudDnsProvider, GcpCredentials};
    use certgate_conformance::emulators::clouddns::{self as gcp, CloudDnsEmulator};
    let emu = CloudDnsEmulator::start(&["example.com", "other.test"])
        .await
        .unwrap();
    // Small pages: every listing the provider makes pages.
    emu.cap_per_page(1);
    let options = |credentials: GcpCredentials| CloudDnsOptions {
        project: gcp::PROJECT.into(),
        credentials,
        endpoint: Some(emu.endpoint()),
        poll_interval: Duration::from_millis(50),
        ..CloudDnsOptions::default()
    };
    let provider = CloudDnsProvider::new(options(GcpCredentials::Anonymous))
        .await
        .unwrap();
    let source = "Secret cert-manager/clouddns key \"key.json\"";
    let fake_key = r#"{"type": "service_account", "client_email": "dns@p.iam.gserviceaccount.com",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIBVQ==\n-----END PRIVATE KEY-----\n"}"#;
    let bad_options = options(GcpCredentials::ServiceAccountKey {
        json: fake_key.into(),
        source: source.into(),
    });
    let bad = BadCredentials {
        factory: Box::new(move || {
            let o = bad_options.clone();
            Box::pin(async move {
                CloudDnsProvider::new(o)
                    .await
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![source.into()],
        secrets: vec!["MIIBVQ==".into()],
    };
    run(
        "clouddns",
        &provider,
        "example.com",
        emu.dns_addr(),
        Some(bad),
    )
    .await;
    assert!(emu.rrsets("_acme-challenge.example.com").is_empty());
    assert!(emu.changes() > 0);
}

/// The emulators' REST answers, as the providers' documentation describes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_answer_as_the_documented_apis() {
    use certgate_conformance::emulators::clouddns::{self as gcp, CloudDnsEmulator};
    use reqwest012 as reqwest;
    use serde_json::{Value, json};
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();
    let send = async |r: reqwest::RequestBuilder| -> (u16, Value) {
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null),
        )
    };

    // Cloud DNS v1.
    let g = CloudDnsEmulator::start(&["example.com"]).await.unwrap();
    let base = format!(
        "{}/dns/v1/projects/{}/managedZones",
        g.endpoint(),
        gcp::PROJECT
    );
    let (s, zones) = send(http.get(format!("{base}?dnsName=example.com.&$alt=json"))).await;
    assert_eq!(s, 200, "{zones}");
    assert_eq!(zones["managedZones"][0]["name"], "example-com");
    let txt = json!({"name": "_acme-challenge.example.com.", "type": "TXT", "ttl": 60,
                     "rrdatas": ["\"v1\""]});
    let (s, change) = send(
        http.post(format!("{base}/example-com/changes"))
            .json(&json!({"additions": [txt]})),
    )
    .await;
    assert_eq!(
        (s, change["status"].as_str()),
        (200, Some("pending")),
        "{change}"
    );
    let id = change["id"].as_str().unwrap().to_string();
    let mut done = false;
    for _ in 0..50 {
        let (_, c) = send(http.get(format!("{base}/example-com/changes/{id}"))).await;
        if c["status"] == "done" {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done);
    assert_eq!(
        g.zone_data().txt_values("_acme-challenge.example.com"),
        vec!["v1".to_string()]
    );
    let (s, e) = send(
        http.post(format!("{base}/example-com/changes"))
            .json(&json!({"additions": [txt]})),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["errors"][0]["reason"], "alreadyExists");
    assert_eq!(e["error"]["status"], "ALREADY_EXISTS");
    let stale = json!({"name": "_acme-challenge.example.com.", "type": "TXT", "ttl": 60,
                       "rrdatas": ["\"other\""]});
    let (s, e) = send(
        http.post(format!("{base}/example-com/changes"))
            .json(&json!({"deletions": [stale]})),
    )
    .await;
    assert_eq!(
        (s, &e["error"]["errors"][0]["reason"]),
        (412, &json!("conditionNotMet")),
        "{e}"
    );
    let (s, sets) = send(http.get(format!(
        "{base}/example-com/rrsets?name=_acme-challenge.example.com.&type=TXT"
    )))
    .await;
    assert_eq!(s, 200);
    assert_eq!(sets["rrsets"][0]["rrdatas"][0], "\"v1\"");
    g.deny_token("revoked");
    let (s, e) = send(http.get(&base).bearer_auth("revoked")).await;
    assert_eq!(
        (s, &e["error"]["status"]),
        (401, &json!("UNAUTHENTICATED")),
        "{e}"
    );

    // Cloudflare v4.
    let c = CloudflareEmulator::start(&["example.com"]).await.unwrap();
    let api = c.api_url();
    let (s, e) = send(http.get(format!("{api}zones"))).await;
    assert_eq!((s, &e["errors"][0]["code"]), (400, &json!(9106)), "{e}");
    let (s, zones) = send(
        http.get(format!("{api}zones?name=example.com"))
            .bearer_auth(cf::TOKEN),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(zones["result_info"]["total_count"], 1);
    let zone = zones["result"][0]["id"].as_str().unwrap().to_string();
    let record =
        json!({"type": "TXT", "name": "_acme-challenge.example.com", "content": "v1", "ttl": 120});
    let records = format!("{api}zones/{zone}/dns_records");
    let (s, r) = send(http.post(&records).bearer_auth(cf::TOKEN).json(&record)).await;
    assert_eq!((s, &r["success"]), (200, &json!(true)), "{r}");
    let (s, e) = send(http.post(&records).bearer_auth(cf::TOKEN).json(&record)).await;
    assert_eq!((s, &e["errors"][0]["code"]), (400, &json!(81058)), "{e}");
    let (s, e) = send(
        http.delete(format!("{records}/0123456789abcdef0123456789abcdef"))
            .bearer_auth(cf::TOKEN),
    )
    .await;
    assert_eq!((s, &e["errors"][0]["code"]), (404, &json!(81044)), "{e}");
    let (s, e) = send(
        http.get(format!("{api}zones/not-an-id/dns_records"))
            .bearer_auth(cf::TOKEN),
    )
    .await;
    assert_eq!((s, &e["errors"][0]["code"]), (400, &json!(7003)), "{e}");
    let (s, e) = send(
        http.get(format!("{api}zones"))
            .header("X-Auth-Email", cf::EMAIL)
            .header("X-Auth-Key", "0123456789abcdef0123456789abcdef99999"),
    )
    .await;
    assert_eq!((s, &e["errors"][0]["code"]), (403, &json!(9103)), "{e}");
    assert_eq!(
        c.zone_data().txt_values("_acme-challenge.example.com"),
        vec!["v1".to_string()]
    );
}
