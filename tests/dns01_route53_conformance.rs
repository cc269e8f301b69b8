//! The DNS-01 provider conformance suite (`conformance/`) against certgate's Route53
//! provider on moto.
//!
//! moto takes any credentials (and its IAM enforcement breaks SigV4 on Route53 GET
//! requests), so no wrong key can be refused here: the bad-credentials case goes
//! through the solver's Secret-reading path with a Secret that lacks the secret
//! access key, and checks the error names that Secret and key and carries no
//! credential.
//!
//! moto serves no DNS. The suite reads TXT values at the zone's nameservers, so here
//! each present and clean-up is followed by copying the zone's TXT sets from moto's
//! API into the conformance DNS server ([`Mirrored`]): what the suite sees over DNS is
//! exactly what Route53 (moto) holds once the change is INSYNC. On AWS, INSYNC means
//! the change reached every Route53 nameserver, which is what this stands for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use certgate::api::acme_dns01::{AcmeChallengeSolverDns01, AcmeIssuerDns01ProviderRoute53};
use certgate::api::meta::SecretKeySelector;
use certgate::dns01::route53::{AwsCredentials, Route53Options, Route53Provider};
use certgate::dns01::{ApiEndpoints, Dns01Config, Provider, ProviderError};
use certgate_conformance::emulators::dns::{DnsServer, RecordValue, StoredRecord, ZoneData};
use certgate_conformance::suite::{BadCredentials, Suite};
use certgate_sandbox::TestEnv;
use common::moto::Moto;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;

/// The Route53 provider, with moto's zone copied to a DNS server after every call.
struct Mirrored<'a> {
    inner: Route53Provider,
    moto: &'a Moto,
    zone_id: String,
    zone: String,
    data: ZoneData,
}

impl Mirrored<'_> {
    async fn sync(&self) {
        let records = self
            .moto
            .all_txt(&self.zone_id)
            .await
            .into_iter()
            .flat_map(|(name, ttl, values)| {
                values.into_iter().map(move |v| StoredRecord {
                    name: name.clone(),
                    ttl,
                    value: RecordValue::Txt(v),
                })
            })
            .collect();
        self.data.set_records(&self.zone, records);
    }
}

impl Provider for Mirrored<'_> {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let r = self.inner.present(zone, fqdn, value).await;
            self.sync().await;
            r
        })
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let r = self.inner.cleanup(zone, fqdn, value).await;
            self.sync().await;
            r
        })
    }
}

fn options(moto: &Moto, id: &str, secret: &str, source: &str) -> Route53Options {
    Route53Options {
        region: Some("us-east-1".into()),
        credentials: AwsCredentials::Static {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            source: source.into(),
        },
        endpoint_url: Some(moto.endpoint()),
        poll_interval: Duration::from_millis(50),
        ..Route53Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_on_moto_passes_the_suite() {
    if common::missing(&[common::MOTO]) {
        return;
    }
    let moto = Moto::start();
    let zone_id = moto.create_zone("example.com", false).await;
    let data = ZoneData::default();
    data.add_zone("example.com");
    let dns_server = DnsServer::start(data.clone()).await.unwrap();
    let provider = Mirrored {
        inner: Route53Provider::new(options(&moto, "AKIDSUITE", "suite-secret", "test"))
            .await
            .unwrap(),
        moto: &moto,
        zone_id,
        zone: "example.com.".into(),
        data: data.clone(),
    };

    // The bad-credentials provider: built as the controller builds it, from a Secret.
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace.clone();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "route53", "namespace": ns},
        "stringData": {"access-key-id": "AKIDSUITE", "secret": "wJalrXUtnFEMIsuite"}
    }))
    .unwrap();
    kube::Api::<Secret>::namespaced(env.client.clone(), &ns)
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    let solver = AcmeChallengeSolverDns01 {
        route53: Some(AcmeIssuerDns01ProviderRoute53 {
            region: Some("us-east-1".into()),
            access_key_id_secret_ref: Some(SecretKeySelector {
                name: "route53".into(),
                key: Some("access-key-id".into()),
            }),
            secret_access_key_secret_ref: Some(SecretKeySelector {
                name: "route53".into(),
                key: Some("secret-access-key".into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let endpoints = ApiEndpoints {
        route53: Some(moto.endpoint()),
        ..ApiEndpoints::default()
    };
    let (client, bad_ns) = (env.client.clone(), ns.clone());
    let bad = BadCredentials {
        factory: Box::new(move || {
            let (client, ns, solver, endpoints) = (
                client.clone(),
                bad_ns.clone(),
                solver.clone(),
                endpoints.clone(),
            );
            Box::pin(async move {
                certgate::dns01::factory::provider_for(&client, &solver, &ns, &endpoints).await
            })
        }),
        must_name: vec![
            format!("Secret {ns}/route53"),
            "\"secret-access-key\"".into(),
        ],
        secrets: vec!["wJalrXUtnFEMIsuite".into()],
    };
    let server = dns_server.addr();
    let dns = Dns01Config {
        recursive_nameservers: vec![server.into()],
        authoritative_port: server.port(),
        poll_period: Duration::from_millis(100),
        timeout: Duration::from_secs(15),
        query_timeout: Duration::from_secs(3),
        ..Dns01Config::default()
    };
    let report = Suite::new("route53", &provider, "example.com", dns)
        .bad_credentials(bad)
        .run()
        .await;
    assert!(report.passed(), "\n{}", report.table());
    assert_eq!(report.results.len(), 8, "\n{}", report.table());
    println!("{}", report.table());
    assert!(data.txt_values("_acme-challenge.example.com").is_empty());
}
