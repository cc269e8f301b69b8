//! The DNS-01 provider conformance suite (`conformance/`) against every provider it
//! can reach here: RFC 2136 on BIND 9, and Cloudflare, Cloud DNS, DigitalOcean,
//! acme-dns, Azure DNS and Akamai Edge DNS on the in-repo emulators (providers built
//! directly, and through the solver's Secret-reading path as `certgate-conformance`
//! builds them).
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
        recursive_nameservers: vec![server.into()],
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

const DO_SOURCE: &str = "Secret cert-manager/digitalocean key \"access-token\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_on_the_emulator_passes_the_suite() {
    use certgate::dns01::digitalocean::DigitalOceanProvider;
    use certgate_conformance::emulators::digitalocean::{self as dig, DigitalOceanEmulator};
    let emu = DigitalOceanEmulator::start(&["example.com", "other.test"])
        .await
        .unwrap();
    // One record per page: every listing the provider makes pages.
    emu.cap_per_page(1);
    let provider = DigitalOceanProvider::new(dig::TOKEN, DO_SOURCE, &emu.api_url()).unwrap();
    let url = emu.api_url();
    let unknown = "dop_v1_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let bad = BadCredentials {
        factory: Box::new(move || {
            let url = url.clone();
            Box::pin(async move {
                DigitalOceanProvider::new(unknown, DO_SOURCE, &url)
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![DO_SOURCE.into(), "HTTP 401".into()],
        secrets: vec![unknown.into(), dig::TOKEN.into()],
    };
    run(
        "digitalocean",
        &provider,
        "example.com",
        emu.dns_addr(),
        Some(bad),
    )
    .await;
    assert!(emu.txt_data("_acme-challenge.example.com").is_empty());
    assert!(emu.writes() > 0);
    assert!(
        emu.request_log()
            .iter()
            .all(|r| r.bearer && r.uri.starts_with("/v2/domains/")),
        "every request authenticated, under /v2/domains/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_through_the_solver_and_secrets_passes_the_suite() {
    use certgate_conformance::config::{self, Config};
    use certgate_conformance::emulators::digitalocean::{self as dig, DigitalOceanEmulator};
    let emu = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("certgate-do-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{}\n", dig::TOKEN)).unwrap();
    let yaml = format!(
        "zone: example.com\n\
         dns01:\n  digitalocean:\n    tokenSecretRef: {{name: digitalocean, key: access-token}}\n\
         secrets:\n  digitalocean:\n    access-token: {{file: {}}}\n\
         apiEndpoints:\n  digitalocean: {}\n",
        token_file.display(),
        emu.api_url()
    );
    let cfg = Config::from_yaml(&yaml).unwrap();
    assert_eq!(cfg.provider_name(), "digitalocean");
    let built = config::build(&cfg).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .record_model(built.record_model.clone())
    .bad_credentials(built.bad_credentials.unwrap())
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
    let bad = report
        .results
        .iter()
        .find(|r| r.name == "bad-credentials")
        .unwrap();
    assert!(
        bad.message
            .contains("Secret conformance-bad-credentials/digitalocean key \"access-token\"")
            && bad.message.contains("HTTP 401"),
        "{}",
        bad.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmedns_through_the_solver_and_secrets_passes_the_suite() {
    use certgate_conformance::RecordModel;
    use certgate_conformance::config::{self, Config};
    use certgate_conformance::emulators::acmedns::{AcmeDnsEmulator, accounts_json};
    let emu = AcmeDnsEmulator::start().await.unwrap();
    let account = emu.register(&["127.0.0.0/8"]);
    let other = emu.register(&[]);
    // The user's CNAMEs: example.com to its account; misdelegated.test to another.
    emu.delegate("example.com", &account);
    emu.delegate("misdelegated.test", &other);
    let dir = std::env::temp_dir().join(format!("certgate-acmedns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("acmedns.json");
    std::fs::write(
        &file,
        accounts_json(&[("example.com", &account), ("misdelegated.test", &account)]),
    )
    .unwrap();
    let yaml = |zone: &str| {
        format!(
            "zone: {zone}\n\
             dns01:\n  acmeDNS:\n    host: {}\n    accountSecretRef: {{name: acme-dns, key: acmedns.json}}\n\
             secrets:\n  acme-dns:\n    acmedns.json: {{file: {}}}\n",
            emu.api_url(),
            file.display()
        )
    };
    let cfg = Config::from_yaml(&yaml("example.com")).unwrap();
    let built = config::build(&cfg).await.unwrap();
    assert_eq!(
        built.record_model,
        RecordModel::Delegated {
            domain: "example.com".into(),
            target: account.fulldomain.clone(),
            keeps: 2
        }
    );
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .record_model(built.record_model.clone())
    .bad_credentials(built.bad_credentials.unwrap())
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
    assert_eq!(report.results.len(), 8, "\n{}", report.table());
    let bad = report
        .results
        .iter()
        .find(|r| r.name == "bad-credentials")
        .unwrap();
    assert!(
        bad.message
            .contains("Secret conformance-bad-credentials/acme-dns key \"acmedns.json\"")
            && bad.message.contains("HTTP 401: forbidden")
            && !bad.message.contains(&account.password),
        "{}",
        bad.message
    );
    // Nothing is deleted: the account keeps the last two values.
    assert_eq!(emu.txt_values(&account.subdomain).len(), 2);

    // A CNAME to another account's name: the present case says what to create.
    let cfg = Config::from_yaml(&yaml("misdelegated.test")).unwrap();
    let built = config::build(&cfg).await.unwrap();
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .record_model(built.record_model.clone())
    .only(&["present"])
    .run()
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!report.passed());
    let msg = &report.results[0].message;
    assert!(
        msg.contains(&format!(
            "create the record `_acme-challenge.misdelegated.test. CNAME {}.`",
            account.fulldomain
        )),
        "{msg}"
    );
}

const AZ_SOURCE: &str = "Secret cert-manager/azuredns key \"client-secret\"";

fn azure_options(
    emu: &certgate_conformance::emulators::azure::AzureEmulator,
    secret: &str,
) -> certgate::dns01::azure::AzureOptions {
    use certgate::dns01::azure::{AzureCloud, AzureCredential, AzureOptions, ZoneKind};
    use certgate_conformance::emulators::azure as az;
    AzureOptions {
        subscription_id: az::SUBSCRIPTION.into(),
        resource_group: az::RESOURCE_GROUP.into(),
        hosted_zone_name: None,
        zone_kind: ZoneKind::Public,
        cloud: AzureCloud::Public,
        credential: AzureCredential::ClientSecret {
            tenant_id: az::TENANT.into(),
            client_id: az::CLIENT_ID.into(),
            secret: secret.into(),
            source: AZ_SOURCE.into(),
        },
        arm_url: Some(emu.api_url()),
        login_url: Some(emu.login_url()),
        imds_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_on_the_emulator_passes_the_suite() {
    use certgate::dns01::azure::AzureProvider;
    use certgate_conformance::emulators::azure::{self as az, AzureEmulator};
    let emu = std::sync::Arc::new(
        AzureEmulator::start(&["example.com", "other.test"])
            .await
            .unwrap(),
    );
    let provider = AzureProvider::new(azure_options(&emu, az::CLIENT_SECRET)).unwrap();
    let wrong = "Wr0ng~client.secret_0123456789abcdefGHIJ";
    let for_bad = emu.clone();
    let bad = BadCredentials {
        factory: Box::new(move || {
            let options = azure_options(&for_bad, wrong);
            Box::pin(async move {
                AzureProvider::new(options)
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![AZ_SOURCE.into(), "HTTP 401".into(), "AADSTS7000215".into()],
        secrets: vec![wrong.into(), az::CLIENT_SECRET.into()],
    };
    run(
        "azuredns",
        &provider,
        "example.com",
        emu.dns_addr(),
        Some(bad),
    )
    .await;
    assert!(emu.writes() > 0);
    let log = emu.request_log();
    assert!(
        log.iter().all(|r| r.bearer
            && r.uri.contains("/providers/Microsoft.Network/dnsZones/")
            && r.uri.ends_with("?api-version=2018-05-01")),
        "every request authenticated, on a record set, with the API version: {log:#?}"
    );
    // Every write was conditional.
    assert!(
        log.iter()
            .filter(|r| r.method != "GET")
            .all(|r| r.if_match.is_some() || r.if_none_match.as_deref() == Some("*")),
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_through_the_solver_and_secrets_passes_the_suite() {
    use certgate_conformance::config::{self, Config};
    use certgate_conformance::emulators::azure::{self as az, AzureEmulator};
    let emu = AzureEmulator::start(&["example.com"]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("certgate-azure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("client-secret");
    std::fs::write(&secret_file, format!("{}\n", az::CLIENT_SECRET)).unwrap();
    let yaml = format!(
        "zone: example.com\n\
         dns01:\n  azureDNS:\n    subscriptionID: {}\n    resourceGroupName: {}\n    clientID: {}\n    tenantID: {}\n    \
         clientSecretSecretRef: {{name: azuredns, key: client-secret}}\n\
         secrets:\n  azuredns:\n    client-secret: {{file: {}}}\n\
         apiEndpoints:\n  azure: {}\n  azureLogin: {}\n",
        az::SUBSCRIPTION,
        az::RESOURCE_GROUP,
        az::CLIENT_ID,
        az::TENANT,
        secret_file.display(),
        emu.api_url(),
        emu.login_url()
    );
    let cfg = Config::from_yaml(&yaml).unwrap();
    assert_eq!(cfg.provider_name(), "azuredns");
    let built = config::build(&cfg).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .record_model(built.record_model.clone())
    .bad_credentials(built.bad_credentials.unwrap())
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
    let bad = report
        .results
        .iter()
        .find(|r| r.name == "bad-credentials")
        .unwrap();
    assert!(
        bad.message
            .contains("Secret conformance-bad-credentials/azuredns key \"client-secret\"")
            && bad.message.contains("HTTP 401"),
        "{}",
        bad.message
    );
}

const AK_SOURCE: &str =
    "client token, client secret and access token from Secret cert-manager/akamai";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akamai_on_the_emulator_passes_the_suite() {
    use certgate::dns01::akamai::{AkamaiProvider, EdgeGridCredentials};
    use certgate_conformance::emulators::akamai::{self as ak, AkamaiEmulator};
    let emu = AkamaiEmulator::start(&["example.com", "other.test"])
        .await
        .unwrap();
    let creds = |secret: &str| EdgeGridCredentials {
        client_token: ak::CLIENT_TOKEN.into(),
        client_secret: secret.into(),
        access_token: ak::ACCESS_TOKEN.into(),
        source: AK_SOURCE.into(),
    };
    let provider = AkamaiProvider::new(creds(ak::CLIENT_SECRET), &emu.api_url()).unwrap();
    let wrong = "Wr0ngClientSecret/abcdefghijklmnopqrstuv+=";
    let bad_creds = creds(wrong);
    let url = emu.api_url();
    let bad = BadCredentials {
        factory: Box::new(move || {
            let (c, url) = (bad_creds.clone(), url.clone());
            Box::pin(async move {
                AkamaiProvider::new(c, &url)
                    .map(|p| Box::new(p) as Box<dyn Provider>)
                    .map_err(|e| e.to_string())
            })
        }),
        must_name: vec![AK_SOURCE.into(), "HTTP 401".into()],
        secrets: vec![
            wrong.into(),
            ak::CLIENT_SECRET.into(),
            ak::CLIENT_TOKEN.into(),
            ak::ACCESS_TOKEN.into(),
        ],
    };
    run(
        "akamai",
        &provider,
        "example.com",
        emu.dns_addr(),
        Some(bad),
    )
    .await;
    assert!(emu.writes() > 0);
    let log = emu.request_log();
    assert!(
        log.iter()
            .filter(|r| r.refused.is_none())
            .all(|r| r.signed && r.uri.starts_with("/config-dns/v2/zones/")),
        "{log:#?}"
    );
    assert_eq!(
        log.iter().filter(|r| r.refused.is_some()).count() as u64,
        emu.refused()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn akamai_through_the_solver_and_secrets_passes_the_suite() {
    use certgate_conformance::config::{self, Config};
    use certgate_conformance::emulators::akamai::{self as ak, AkamaiEmulator};
    let emu = AkamaiEmulator::start(&["example.com"]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("certgate-akamai-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (key, value) in [
        ("client-token", ak::CLIENT_TOKEN),
        ("client-secret", ak::CLIENT_SECRET),
        ("access-token", ak::ACCESS_TOKEN),
    ] {
        let f = dir.join(key);
        std::fs::write(&f, format!("{value}\n")).unwrap();
        files.push(f);
    }
    let yaml = format!(
        "zone: example.com\n\
         dns01:\n  akamai:\n    serviceConsumerDomain: akab-emulated.luna.akamaiapis.net\n    \
         clientTokenSecretRef: {{name: akamai, key: client-token}}\n    \
         clientSecretSecretRef: {{name: akamai, key: client-secret}}\n    \
         accessTokenSecretRef: {{name: akamai, key: access-token}}\n\
         secrets:\n  akamai:\n    client-token: {{file: {}}}\n    client-secret: {{file: {}}}\n    access-token: {{file: {}}}\n\
         apiEndpoints:\n  akamai: {}\n",
        files[0].display(),
        files[1].display(),
        files[2].display(),
        emu.api_url()
    );
    let cfg = Config::from_yaml(&yaml).unwrap();
    assert_eq!(cfg.provider_name(), "akamai");
    let built = config::build(&cfg).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = Suite::new(
        cfg.provider_name(),
        built.provider.as_ref(),
        &cfg.zone,
        dns(emu.dns_addr()),
    )
    .record_model(built.record_model.clone())
    .bad_credentials(built.bad_credentials.unwrap())
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
    let bad = report
        .results
        .iter()
        .find(|r| r.name == "bad-credentials")
        .unwrap();
    assert!(
        bad.message.contains(
            "client token from Secret conformance-bad-credentials/akamai key \"client-token\""
        ) && bad.message.contains("HTTP 401"),
        "{}",
        bad.message
    );
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

    // DigitalOcean v2.
    use certgate_conformance::emulators::digitalocean::{self as dig, DigitalOceanEmulator};
    let d = DigitalOceanEmulator::start(&["example.com"]).await.unwrap();
    let records = format!("{}/v2/domains/example.com/records", d.api_url());
    let resp = http.get(&records).send().await.unwrap();
    assert!(resp.headers().contains_key("ratelimit-reset"));
    let (s, e) = send(http.get(&records)).await;
    assert_eq!((s, &e["id"]), (401, &json!("unauthorized")), "{e}");
    let record =
        json!({"type": "TXT", "name": "_acme-challenge.example.com.", "data": "v1", "ttl": 60});
    let (s, r) = send(http.post(&records).bearer_auth(dig::TOKEN).json(&record)).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        r["domain_record"]["name"], "_acme-challenge",
        "stored relative"
    );
    let id = r["domain_record"]["id"].as_u64().unwrap();
    let (s, r) = send(
        http.post(&records)
            .bearer_auth(dig::TOKEN)
            .json(&json!({"type": "TXT", "name": "_acme-challenge", "data": "v2", "ttl": 60})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let (s, e) = send(
        http.post(&records)
            .bearer_auth(dig::TOKEN)
            .json(&json!({"type": "TXT", "name": "x", "data": "v", "ttl": 10})),
    )
    .await;
    assert_eq!((s, &e["id"]), (422, &json!("unprocessable_entity")), "{e}");
    let (s, page) = send(
        http.get(format!(
            "{records}?type=TXT&name=_acme-challenge.example.com&per_page=1&page=1"
        ))
        .bearer_auth(dig::TOKEN),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["meta"]["total"], 2);
    assert_eq!(page["domain_records"].as_array().unwrap().len(), 1);
    assert!(
        page["links"]["pages"]["next"]
            .as_str()
            .unwrap()
            .contains("page=2")
    );
    let (_, all) = send(http.get(&records).bearer_auth(dig::TOKEN)).await;
    assert_eq!(all["meta"]["total"], 6, "SOA, 3 NS and the two TXT: {all}");
    let resp = http
        .delete(format!("{records}/{id}"))
        .bearer_auth(dig::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (s, e) = send(
        http.delete(format!("{records}/{id}"))
            .bearer_auth(dig::TOKEN),
    )
    .await;
    assert_eq!((s, &e["id"]), (404, &json!("not_found")), "{e}");
    let (s, e) = send(
        http.get(format!("{}/v2/domains/example.net/records", d.api_url()))
            .bearer_auth(dig::TOKEN),
    )
    .await;
    assert_eq!((s, &e["id"]), (404, &json!("not_found")), "{e}");
    assert_eq!(
        d.zone_data().txt_values("_acme-challenge.example.com"),
        vec!["v2".to_string()]
    );

    // acme-dns.
    use certgate_conformance::emulators::acmedns::AcmeDnsEmulator;
    let a = AcmeDnsEmulator::start().await.unwrap();
    let (s, account) = send(http.post(format!("{}/register", a.api_url()))).await;
    assert_eq!(s, 201, "{account}");
    for field in ["username", "password", "fulldomain", "subdomain"] {
        assert!(account[field].is_string(), "{account}");
    }
    let (user, key, sub) = (
        account["username"].as_str().unwrap(),
        account["password"].as_str().unwrap(),
        account["subdomain"].as_str().unwrap(),
    );
    let update = |txt: &str, key: &str| {
        http.post(format!("{}/update", a.api_url()))
            .header("X-Api-User", user)
            .header("X-Api-Key", key)
            .json(&json!({"subdomain": sub, "txt": txt}))
    };
    let values: Vec<String> = (1..=3)
        .map(|n| certgate::dns01::txt_value(&n.to_string()))
        .collect();
    for v in &values {
        let (s, r) = send(update(v, key)).await;
        assert_eq!((s, &r["txt"]), (200, &json!(v)), "{r}");
    }
    let (s, e) = send(update(&values[0], &"x".repeat(40))).await;
    assert_eq!((s, &e["error"]), (401, &json!("forbidden")), "{e}");
    let (s, e) = send(update("short", key)).await;
    assert_eq!((s, &e["error"]), (400, &json!("bad_txt")), "{e}");
    // The last two values, served at the account's fulldomain.
    let mut served = a
        .zone_data()
        .txt_values(account["fulldomain"].as_str().unwrap());
    served.sort();
    let mut want = values[1..].to_vec();
    want.sort();
    assert_eq!(served, want);

    // Azure Resource Manager and Entra ID.
    use certgate_conformance::emulators::azure::{self as az, AzureEmulator};
    let z = AzureEmulator::start(&["example.com"]).await.unwrap();
    let (s, e) = send(
        http.post(format!("{}{}/oauth2/v2.0/token", z.login_url(), az::TENANT))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", az::CLIENT_ID),
                ("client_secret", "wrong"),
                ("scope", "https://management.azure.com/.default"),
            ]),
    )
    .await;
    assert_eq!((s, &e["error"]), (401, &json!("invalid_client")), "{e}");
    assert_eq!(e["error_codes"][0], 7000215);
    let (s, t) = send(
        http.post(format!("{}{}/oauth2/v2.0/token", z.login_url(), az::TENANT))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", az::CLIENT_ID),
                ("client_secret", az::CLIENT_SECRET),
                ("scope", "https://management.azure.com/.default"),
            ]),
    )
    .await;
    assert_eq!((s, &t["token_type"]), (200, &json!("Bearer")), "{t}");
    let token = t["access_token"].as_str().unwrap().to_string();
    let set = format!(
        "{}subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/dnsZones/example.com/TXT/_acme-challenge",
        z.api_url(),
        az::SUBSCRIPTION,
        az::RESOURCE_GROUP
    );
    let versioned = format!("{set}?api-version=2018-05-01");
    let (s, e) = send(http.get(&versioned)).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (401, &json!("AuthenticationFailed")),
        "{e}"
    );
    let (s, e) = send(http.get(&set).bearer_auth(&token)).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (400, &json!("MissingApiVersionParameter")),
        "{e}"
    );
    let (s, e) = send(http.get(&versioned).bearer_auth(&token)).await;
    assert_eq!((s, &e["error"]["code"]), (404, &json!("NotFound")), "{e}");
    let body = json!({"properties": {"TTL": 60, "TXTRecords": [{"value": ["v1"]}]}});
    let (s, r) = send(
        http.put(&versioned)
            .bearer_auth(&token)
            .header("If-None-Match", "*")
            .json(&body),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let etag = r["etag"].as_str().unwrap().to_string();
    assert_eq!(r["properties"]["fqdn"], "_acme-challenge.example.com.");
    let (s, e) = send(
        http.put(&versioned)
            .bearer_auth(&token)
            .header("If-None-Match", "*")
            .json(&body),
    )
    .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (412, &json!("PreconditionFailed")),
        "{e}"
    );
    let (s, e) = send(
        http.patch(&versioned)
            .bearer_auth(&token)
            .header("If-Match", "\"stale\"")
            .json(&json!({"properties": {"TTL": 120}})),
    )
    .await;
    assert_eq!(s, 412, "{e}");
    let (s, r) = send(
        http.patch(&versioned)
            .bearer_auth(&token)
            .header("If-Match", &etag)
            .json(&json!({"properties": {"TTL": 120}})),
    )
    .await;
    assert_eq!((s, &r["properties"]["TTL"]), (200, &json!(120)), "{r}");
    assert_eq!(r["properties"]["TXTRecords"][0]["value"][0], "v1");
    assert_ne!(r["etag"].as_str().unwrap(), etag, "every write a new ETag");
    let (s, e) = send(
        http.get(versioned.replace("example.com", "example.net"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (404, &json!("ParentResourceNotFound")),
        "{e}"
    );
    assert_eq!(
        z.zone_data().txt_values("_acme-challenge.example.com"),
        vec!["v1".to_string()]
    );
    let resp = http
        .delete(&versioned)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http
        .delete(&versioned)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204, "nothing left to delete");
    let (s, e) = send(http.get(format!(
        "{}metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
        z.imds_url()
    )))
    .await;
    assert_eq!((s, &e["error"]), (400, &json!("invalid_request")), "{e}");
    let (s, t) = send(
        http.get(format!(
            "{}metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
            z.imds_url()
        ))
        .header("Metadata", "true"),
    )
    .await;
    assert_eq!((s, t["expires_in"].is_string()), (200, true), "{t}");

    // Akamai config-dns v2 behind EdgeGrid.
    use certgate::dns01::akamai::{EdgeGridCredentials, authorization, timestamp};
    use certgate_conformance::emulators::akamai::{self as ak, AkamaiEmulator};
    let k = AkamaiEmulator::start(&["example.com"]).await.unwrap();
    let url = reqwest::Url::parse(&format!(
        "{}config-dns/v2/zones/example.com/names/_acme-challenge.example.com/types/TXT",
        k.api_url()
    ))
    .unwrap();
    let creds = EdgeGridCredentials {
        client_token: ak::CLIENT_TOKEN.into(),
        client_secret: ak::CLIENT_SECRET.into(),
        access_token: ak::ACCESS_TOKEN.into(),
        source: "test".into(),
    };
    let signed = |method: &str, body: &[u8], nonce: &str| {
        authorization(
            &creds,
            method,
            &url,
            body,
            &timestamp(jiff::Timestamp::now()),
            nonce,
        )
    };
    let (s, e) = send(http.get(url.clone())).await;
    assert_eq!((s, &e["title"]), (400, &json!("Bad request")), "{e}");
    let (s, e) = send(
        http.get(url.clone())
            .header("Authorization", signed("GET", b"", "n-1")),
    )
    .await;
    assert_eq!((s, &e["status"]), (404, &json!(404)), "{e}");
    let (s, e) = send(
        http.get(url.clone())
            .header("Authorization", signed("GET", b"", "n-1")),
    )
    .await;
    assert_eq!(
        (s, &e["detail"]),
        (400, &json!("Invalid nonce")),
        "replayed: {e}"
    );
    let body =
        json!({"name": "_acme-challenge.example.com", "type": "TXT", "ttl": 300, "rdata": ["v1"]})
            .to_string();
    // The body is part of a POST's signature.
    let (s, e) = send(
        http.post(url.clone())
            .header("Authorization", signed("POST", b"{}", "n-2"))
            .header("Content-Type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!(
        (s, &e["detail"]),
        (401, &json!("The signature does not match")),
        "{e}"
    );
    let (s, r) = send(
        http.post(url.clone())
            .header("Authorization", signed("POST", body.as_bytes(), "n-3"))
            .header("Content-Type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!(
        (s, &r["rdata"][0]),
        (201, &json!("\"v1\"")),
        "quoted when held: {r}"
    );
    let (s, e) = send(
        http.post(url.clone())
            .header("Authorization", signed("POST", body.as_bytes(), "n-4"))
            .header("Content-Type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!((s, &e["title"]), (409, &json!("Conflict")), "{e}");
    assert_eq!(
        k.zone_data().txt_values("_acme-challenge.example.com"),
        vec!["v1".to_string()]
    );
    let resp = http
        .delete(url.clone())
        .header("Authorization", signed("DELETE", b"", "n-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
}
