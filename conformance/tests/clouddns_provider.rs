//! certgate's Cloud DNS provider (google-cloud-dns-v1) against the in-repo Cloud DNS
//! emulator: other values kept, one change for concurrent edits to one zone,
//! conflicts re-read, zone discovery, auth errors, and the solver path with a Secret.

use std::time::Duration;

use certgate::api::acme_dns01::{AcmeChallengeSolverDns01, AcmeIssuerDns01ProviderCloudDns};
use certgate::api::meta::SecretKeySelector;
use certgate::dns01::clouddns::{CloudDnsOptions, CloudDnsProvider, GcpCredentials};
use certgate::dns01::{ApiEndpoints, Provider};
use certgate_conformance::emulators::clouddns::{CloudDnsEmulator, PROJECT};

fn init() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

async fn emulator(zones: &[&str]) -> CloudDnsEmulator {
    init();
    CloudDnsEmulator::start(zones)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn options(e: &CloudDnsEmulator) -> CloudDnsOptions {
    CloudDnsOptions {
        project: PROJECT.into(),
        credentials: GcpCredentials::Anonymous,
        endpoint: Some(e.endpoint()),
        batch_window: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        ..CloudDnsOptions::default()
    }
}

async fn provider(e: &CloudDnsEmulator) -> CloudDnsProvider {
    CloudDnsProvider::new(options(e))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn txt(e: &CloudDnsEmulator, name: &str) -> Vec<String> {
    let mut v: Vec<String> = e
        .rrsets(name)
        .into_iter()
        .filter(|r| r.rtype == "TXT")
        .flat_map(|r| r.rrdatas)
        .map(|d| d.trim_matches('"').to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn present_and_cleanup_keep_other_values() {
    let e = emulator(&["example.com"]).await;
    let p = provider(&e).await;
    let name = "_acme-challenge.example.com.";

    p.present("example.com.", name, "wild").await.unwrap();
    p.present("example.com.", name, "apex").await.unwrap();
    p.present("example.com.", name, "apex").await.unwrap();
    assert_eq!(txt(&e, name), vec!["apex", "wild"]);
    // Served over DNS by the emulator once done.
    let served = e.zone_data().txt_values(name);
    assert_eq!(served.len(), 2, "{served:?}");

    p.cleanup("example.com.", name, "wild").await.unwrap();
    assert_eq!(txt(&e, name), vec!["apex"]);
    p.cleanup("example.com.", name, "absent").await.unwrap();
    p.cleanup("example.com.", name, "apex").await.unwrap();
    assert!(txt(&e, name).is_empty());
    assert!(e.rrsets(name).is_empty(), "the empty set is deleted");
    p.cleanup("example.com.", name, "apex").await.unwrap();
}

#[tokio::test]
async fn concurrent_edits_to_one_zone_are_one_change() {
    let e = emulator(&["example.com"]).await;
    let p = provider(&e).await;
    let names: Vec<String> = (0..10)
        .map(|i| format!("_acme-challenge.app{i}.example.com."))
        .collect();
    for (op, want) in [("present", 2), ("cleanup", 0)] {
        let before = p.api_calls();
        let mut tasks = Vec::new();
        for name in &names {
            for value in ["wild", "apex"] {
                let p = p.clone();
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    if op == "present" {
                        p.present("example.com.", &name, value).await
                    } else {
                        p.cleanup("example.com.", &name, value).await
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let after = p.api_calls();
        assert_eq!(
            after.changes_create - before.changes_create,
            1,
            "{op}: {after:?}"
        );
        for name in &names {
            assert_eq!(txt(&e, name).len(), want, "{op} {name}");
        }
    }
}

#[tokio::test]
async fn a_zone_longer_than_the_scan_budget_is_read_name_by_name() {
    let e = emulator(&["example.com"]).await;
    e.cap_per_page(1);
    let p = provider(&e).await;
    let names: Vec<String> = (0..10)
        .map(|i| format!("_acme-challenge.app{i}.example.com."))
        .collect();
    // Values already there (another tool's): kept although found only by the
    // name-by-name reads after the scan's budget ran out.
    for name in &names {
        p.present("example.com.", name, "theirs").await.unwrap();
    }
    let before = p.api_calls();
    let mut tasks = Vec::new();
    for name in &names {
        let p = p.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            p.present("example.com.", &name, "ours").await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = p.api_calls();
    assert_eq!(after.changes_create - before.changes_create, 1, "{after:?}");
    // 5 pages of one record (budget: half the names), then one read per name left.
    assert!(
        after.rrsets_list - before.rrsets_list <= 15,
        "{before:?} {after:?}"
    );
    for name in &names {
        assert_eq!(txt(&e, name), vec!["ours", "theirs"], "{name}");
    }
}

#[tokio::test]
async fn a_change_made_meanwhile_is_read_again_not_lost() {
    let e = emulator(&["example.com"]).await;
    let name = "_acme-challenge.example.com.";
    // Two providers (two controllers, or another tool) on the same name at once.
    let a = provider(&e).await;
    let b = provider(&e).await;
    let mut tasks = Vec::new();
    for (i, p) in [a.clone(), b.clone()].into_iter().enumerate() {
        for j in 0..3 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(j * 70)).await;
                p.present("example.com.", name, &format!("v{i}{j}")).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(txt(&e, name).len(), 6, "{:?}", txt(&e, name));
}

#[tokio::test]
async fn zone_discovery_and_errors() {
    let e = emulator(&["example.com", "sub.example.com"]).await;
    let p = provider(&e).await;
    let fqdn = "_acme-challenge.a.sub.example.com.";
    assert_eq!(
        p.zone_name("sub.example.com.", fqdn).await.unwrap(),
        "sub-example-com"
    );
    assert_eq!(
        p.zone_name("elsewhere.test.", fqdn).await.unwrap(),
        "sub-example-com"
    );
    assert_eq!(
        p.zone_name("example.com.", "_acme-challenge.example.com.")
            .await
            .unwrap(),
        "example-com"
    );
    p.present("sub.example.com.", fqdn, "v").await.unwrap();
    assert_eq!(txt(&e, fqdn), vec!["v"]);

    let err = p
        .present("nothing.test.", "_acme-challenge.www.nothing.test.", "v")
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    let err = err.to_string();
    assert!(
        err.contains("_acme-challenge.www.nothing.test.") && err.contains("hostedZoneName"),
        "{err}"
    );

    // An explicit managed zone that does not exist.
    let wrong = CloudDnsProvider::new(CloudDnsOptions {
        hosted_zone_name: Some("no-such-zone".into()),
        ..options(&e)
    })
    .await
    .unwrap();
    let err = wrong
        .present("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-zone"), "{err}");

    // A wrong project.
    let other = CloudDnsProvider::new(CloudDnsOptions {
        project: "someone-elses".into(),
        ..options(&e)
    })
    .await
    .unwrap();
    let err = other
        .present("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("someone-elses"), "{err}");
}

#[tokio::test]
async fn refused_credentials_are_named() {
    let e = emulator(&["example.com"]).await;
    e.require_token("the-right-token");
    let p = CloudDnsProvider::new(CloudDnsOptions {
        hosted_zone_name: Some("example-com".into()),
        ..options(&e)
    })
    .await
    .unwrap();
    let err = p
        .present("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    let err = err.to_string();
    assert!(
        err.contains("anonymous credentials") && err.contains("401"),
        "{err}"
    );
}

#[tokio::test]
async fn solver_reads_the_key_secret_and_names_it_when_missing() {
    let e = emulator(&["example.com"]).await;
    let env = certgate_sandbox::TestEnv::start().await.unwrap();
    let ns = env.namespace.clone();
    let endpoints = ApiEndpoints {
        cloud_dns: Some(e.endpoint()),
        ..ApiEndpoints::default()
    };
    let solver = |secret: Option<(&str, &str)>| AcmeChallengeSolverDns01 {
        cloud_dns: Some(AcmeIssuerDns01ProviderCloudDns {
            project: PROJECT.into(),
            hosted_zone_name: None,
            service_account_secret_ref: secret.map(|(name, key)| SecretKeySelector {
                name: name.into(),
                key: Some(key.into()),
            }),
        }),
        ..Default::default()
    };

    // Without a Secret: anonymous towards the emulator.
    let p = certgate::dns01::factory::provider_for(&env.client, &solver(None), &ns, &endpoints)
        .await
        .unwrap();
    p.present("example.com.", "_acme-challenge.example.com.", "anon")
        .await
        .unwrap();
    assert_eq!(txt(&e, "_acme-challenge.example.com."), vec!["anon"]);

    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "gcp", "namespace": ns},
        "stringData": {"other.json": "{\"type\": \"service_account\", \"private_key\": \"TOPSECRET\"}"}
    }))
    .unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), &ns)
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    let err = certgate::dns01::factory::provider_for(
        &env.client,
        &solver(Some(("gcp", "key.json"))),
        &ns,
        &endpoints,
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(
        err.contains(&format!("Secret {ns}/gcp")) && err.contains("\"key.json\""),
        "{err}"
    );
    assert!(err.contains("serviceAccountSecretRef"), "{err}");
    // A key that is not a service account key: named, not quoted.
    let err = certgate::dns01::factory::provider_for(
        &env.client,
        &solver(Some(("gcp", "other.json"))),
        &ns,
        &endpoints,
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(err.contains(&format!("Secret {ns}/gcp")), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");
}
