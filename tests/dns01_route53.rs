//! The Route53 provider against moto (a local Route53 and STS from PyPI): TXT values
//! of others kept, batching of concurrent edits into one change, zone discovery
//! (most specific, public before private), AssumeRole and web identity, credentials
//! from Secrets with errors that name the Secret and key but never the secret.
//!
//! Needs `moto_server` (`python3 -m pip install 'moto[server]'`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use certgate::api::acme_dns01::{AcmeChallengeSolverDns01, AcmeIssuerDns01ProviderRoute53};
use certgate::api::meta::SecretKeySelector;
use certgate::dns01::route53::{
    AwsCredentials, Route53Options, Route53Provider, WebIdentityTokenSource,
};
use certgate::dns01::{ApiEndpoints, Provider};
use certgate_sandbox::TestEnv;
use common::moto::Moto;
use futures::future::BoxFuture;

fn options(moto: &Moto) -> Route53Options {
    Route53Options {
        region: Some("us-east-1".into()),
        credentials: AwsCredentials::Static {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "test-secret".into(),
            source: "test".into(),
        },
        endpoint_url: Some(moto.endpoint()),
        batch_window: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        ..Route53Options::default()
    }
}

async fn provider(moto: &Moto) -> Route53Provider {
    Route53Provider::new(options(moto))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn present_and_cleanup_keep_other_values() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let id = moto.create_zone("example.com", false).await;
    let name = "_acme-challenge.example.com.";
    moto.upsert_txt(&id, name, &["someone-else"]).await;
    let p = provider(&moto).await;

    p.present("example.com.", name, "wild").await.unwrap();
    p.present("example.com.", name, "apex").await.unwrap();
    p.present("example.com.", name, "apex").await.unwrap(); // idempotent
    assert_eq!(
        moto.txt(&id, name).await,
        vec!["apex", "someone-else", "wild"]
    );

    p.cleanup("example.com.", name, "wild").await.unwrap();
    assert_eq!(moto.txt(&id, name).await, vec!["apex", "someone-else"]);
    p.cleanup("example.com.", name, "absent").await.unwrap();
    p.cleanup("example.com.", name, "apex").await.unwrap();
    assert_eq!(moto.txt(&id, name).await, vec!["someone-else"]);

    // Ours alone: the last clean-up deletes the set.
    let solo = "_acme-challenge.solo.example.com.";
    p.present("example.com.", solo, "only").await.unwrap();
    assert_eq!(moto.txt(&id, solo).await, vec!["only"]);
    p.cleanup("example.com.", solo, "only").await.unwrap();
    assert!(moto.txt(&id, solo).await.is_empty());
    p.cleanup("example.com.", solo, "only").await.unwrap(); // absent set: fine
}

#[tokio::test]
async fn concurrent_presents_to_one_zone_are_one_change() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let id = moto.create_zone("example.com", false).await;
    let p = provider(&moto).await;
    let before = p.api_calls();

    let names: Vec<String> = (0..10)
        .map(|i| format!("_acme-challenge.app{i}.example.com."))
        .collect();
    let mut tasks = Vec::new();
    for name in &names {
        for value in ["wild", "apex"] {
            let p = p.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                p.present("example.com.", &name, value).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = p.api_calls();
    assert_eq!(
        after.change_resource_record_sets - before.change_resource_record_sets,
        1,
        "{after:?}"
    );
    // One zone lookup for all 20 (the others wait for it), one page of the zone
    // instead of a read per name.
    assert_eq!(
        after.list_hosted_zones_by_name - before.list_hosted_zones_by_name,
        1,
        "{after:?}"
    );
    assert_eq!(
        after.list_resource_record_sets - before.list_resource_record_sets,
        1,
        "{after:?}"
    );
    for name in &names {
        assert_eq!(moto.txt(&id, name).await, vec!["apex", "wild"]);
    }

    let mut tasks = Vec::new();
    for name in &names {
        for value in ["wild", "apex"] {
            let p = p.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                p.cleanup("example.com.", &name, value).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let done = p.api_calls();
    assert_eq!(
        done.change_resource_record_sets - after.change_resource_record_sets,
        1,
        "{done:?}"
    );
    for name in &names {
        assert!(moto.txt(&id, name).await.is_empty());
    }
}

#[tokio::test]
async fn zone_discovery_most_specific_public_first() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let parent = moto.create_zone("example.com", false).await;
    let sub = moto.create_zone("sub.example.com", false).await;
    let private_only = moto.create_zone("internal.example.com", true).await;
    let private_twin = moto.create_zone("both.example.com", true).await;
    let public_twin = moto.create_zone("both.example.com", false).await;
    let p = provider(&moto).await;

    // The zone the DNS says is authoritative comes first.
    let fqdn = "_acme-challenge.a.sub.example.com.";
    assert_eq!(p.zone_id("sub.example.com.", fqdn).await.unwrap(), sub);
    // Without such a hosted zone, the most specific enclosing one.
    assert_eq!(p.zone_id("elsewhere.test.", fqdn).await.unwrap(), sub);
    assert_eq!(
        p.zone_id("example.com.", "_acme-challenge.example.com.")
            .await
            .unwrap(),
        parent
    );
    // A public zone before a private one of the same name; a private one when alone.
    assert_eq!(
        p.zone_id("both.example.com.", "_acme-challenge.both.example.com.")
            .await
            .unwrap(),
        public_twin
    );
    assert_ne!(public_twin, private_twin);
    assert_eq!(
        p.zone_id(
            "internal.example.com.",
            "_acme-challenge.internal.example.com."
        )
        .await
        .unwrap(),
        private_only
    );

    // Present lands in the discovered zone.
    p.present("sub.example.com.", fqdn, "v").await.unwrap();
    assert_eq!(moto.txt(&sub, fqdn).await, vec!["v"]);

    // No zone at all: the error names the domain and what to set.
    let err = p
        .present("nothing.test.", "_acme-challenge.www.nothing.test.", "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("_acme-challenge.www.nothing.test."), "{err}");
    assert!(err.contains("hostedZoneID"), "{err}");

    // An explicit hostedZoneID wins; a wrong one is named in the error.
    let fixed = Route53Provider::new(Route53Options {
        hosted_zone_id: Some(format!("/hostedzone/{parent}")),
        ..options(&moto)
    })
    .await
    .unwrap();
    fixed
        .present("ignored.", "_acme-challenge.x.example.com.", "v")
        .await
        .unwrap();
    assert_eq!(
        moto.txt(&parent, "_acme-challenge.x.example.com.").await,
        vec!["v"]
    );
    let wrong = Route53Provider::new(Route53Options {
        hosted_zone_id: Some("ZNOSUCHZONE".into()),
        ..options(&moto)
    })
    .await
    .unwrap();
    let err = wrong
        .present("example.com.", "_acme-challenge.example.com.", "v")
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("ZNOSUCHZONE"), "{err}");
}

#[tokio::test]
async fn assume_role_and_web_identity_through_sts() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let id = moto.create_zone("example.com", false).await;
    let role = "arn:aws:iam::123456789012:role/certgate-dns".to_string();

    let assumed = Route53Provider::new(Route53Options {
        role: Some(role.clone()),
        ..options(&moto)
    })
    .await
    .unwrap();
    assumed
        .present("example.com.", "_acme-challenge.example.com.", "assumed")
        .await
        .unwrap();

    struct FakeTokens;
    impl WebIdentityTokenSource for FakeTokens {
        fn token(&self) -> BoxFuture<'_, Result<String, String>> {
            Box::pin(async { Ok("eyJ.fake.token".to_string()) })
        }
        fn describe(&self) -> String {
            "ServiceAccount ns/dns".into()
        }
    }
    let web = Route53Provider::new(Route53Options {
        credentials: AwsCredentials::WebIdentity(Arc::new(FakeTokens)),
        role: Some(role.clone()),
        ..options(&moto)
    })
    .await
    .unwrap();
    web.present("example.com.", "_acme-challenge.example.com.", "web")
        .await
        .unwrap();
    assert_eq!(
        moto.txt(&id, "_acme-challenge.example.com.").await,
        vec!["assumed", "web"]
    );

    // Web identity without a role: refused up front, saying what to set.
    let err = Route53Provider::new(Route53Options {
        credentials: AwsCredentials::WebIdentity(Arc::new(FakeTokens)),
        ..options(&moto)
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("role") && err.contains("ServiceAccount ns/dns"),
        "{err}"
    );

    // A token that cannot be had: the error says whose, and the call can be retried.
    struct NoTokens;
    impl WebIdentityTokenSource for NoTokens {
        fn token(&self) -> BoxFuture<'_, Result<String, String>> {
            Box::pin(async { Err("serviceaccounts \"dns\" not found".to_string()) })
        }
        fn describe(&self) -> String {
            "ServiceAccount ns/dns".into()
        }
    }
    let none = Route53Provider::new(Route53Options {
        credentials: AwsCredentials::WebIdentity(Arc::new(NoTokens)),
        role: Some(role),
        ..options(&moto)
    })
    .await
    .unwrap();
    let err = none
        .present("example.com.", "_acme-challenge.example.com.", "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ServiceAccount ns/dns"), "{err}");
}

#[tokio::test]
async fn credentials_from_secrets_and_errors_naming_them() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let id = moto.create_zone("example.com", false).await;
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace.clone();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "aws", "namespace": ns},
        "stringData": {},
        "data": {
            "id": "QUtJRFRFU1Q=",                      // AKIDTEST
            "secret": "c3VwZXItc2VjcmV0LXZhbHVl"        // super-secret-value
        }
    }))
    .unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), &ns)
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    let endpoints = ApiEndpoints {
        route53: Some(moto.endpoint()),
        ..ApiEndpoints::default()
    };
    let solver = |id_key: &str, secret_key: &str, secret_name: &str| AcmeChallengeSolverDns01 {
        route53: Some(AcmeIssuerDns01ProviderRoute53 {
            region: Some("us-east-1".into()),
            access_key_id_secret_ref: Some(SecretKeySelector {
                name: "aws".into(),
                key: Some(id_key.into()),
            }),
            secret_access_key_secret_ref: Some(SecretKeySelector {
                name: secret_name.into(),
                key: Some(secret_key.into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    let p = certgate::dns01::factory::provider_for(
        &env.client,
        &solver("id", "secret", "aws"),
        &ns,
        &endpoints,
    )
    .await
    .unwrap();
    p.present(
        "example.com.",
        "_acme-challenge.example.com.",
        "from-secret",
    )
    .await
    .unwrap();
    assert_eq!(
        moto.txt(&id, "_acme-challenge.example.com.").await,
        vec!["from-secret"]
    );

    let err = certgate::dns01::factory::provider_for(
        &env.client,
        &solver("id", "secret-access-key", "aws"),
        &ns,
        &endpoints,
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(
        err.contains(&format!("Secret {ns}/aws")) && err.contains("\"secret-access-key\""),
        "{err}"
    );
    assert!(err.contains("secretAccessKeySecretRef"), "{err}");
    assert!(
        !err.contains("super-secret-value") && !err.contains("AKIDTEST"),
        "{err}"
    );

    let err = certgate::dns01::factory::provider_for(
        &env.client,
        &solver("id", "secret", "missing"),
        &ns,
        &endpoints,
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(
        err.contains(&format!("Secret {ns}/missing")) && err.contains("does not exist"),
        "{err}"
    );

    // Debug output of a provider built from the Secret carries no secret either.
    let p = certgate::dns01::route53::from_solver(
        &env.client,
        solver("id", "secret", "aws").route53.as_ref().unwrap(),
        &ns,
        Some(&moto.endpoint()),
    )
    .await
    .unwrap();
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("super-secret-value"), "{dbg}");
}
