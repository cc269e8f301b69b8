//! A cert-manager DNS-01 webhook solver reached the way certgate reaches one: a
//! ChallengePayload POSTed to `/apis/<groupName>/v1alpha1/<solverName>` on the
//! Kubernetes API server, which proxies it (the aggregation layer) to the extension
//! API server an APIService names. The solver is the emulator of
//! `certgate_emulators::webhook_solver`; the records it writes are checked over DNS.
//!
//! Runs on the sandbox, or on the cluster of `CERTGATE_TEST_KUBECONFIG`: the Service
//! is an ExternalName `localhost` (an EndpointSlice cannot hold 127.0.0.1), which a
//! real kube-apiserver's aggregator dials as `localhost:<APIService port>`, verifying
//! the certificate for `<service>.<namespace>.svc` against the APIService's
//! `caBundle` — as long as it runs without `--enable-aggregator-routing=true`
//! (endpoint routing refuses ExternalName Services: the APIService stays unavailable
//! with "unsupported service type"). On a real cluster the test waits for the
//! APIService's `Available` condition first (the aggregator answers 503 until then).
//! The APIService carries the test's scope label, so `TestEnv` deletes it at the end,
//! also when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use certgate_emulators::webhook_solver::{
    PAYLOAD_API_VERSION, SolverOptions, WebhookSolverEmulator,
};
use certgate_sandbox::TestEnv;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const API_KEY: &str = "webhook-emulator-api-key";
const SOLVER: &str = "certgate-emulated";
const SERVICE: &str = "dns-webhook";
const FQDN: &str = "_acme-challenge.example.com.";

/// A test's env, its solver behind an APIService, and the group it serves.
struct Setup {
    solver: WebhookSolverEmulator,
    group: String,
    env: TestEnv,
}

/// Starts the solver for a group unique to the test, and registers it: a Service
/// `ExternalName: localhost` and the APIService `v1alpha1.<group>` trusting
/// `ca_pem` (the solver's CA unless given).
async fn setup(ca_pem: Option<&str>) -> Setup {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace.clone();
    let group = format!("acme.{ns}.certgate.test");
    let solver = WebhookSolverEmulator::start(SolverOptions {
        group_name: group.clone(),
        solver_name: SOLVER.into(),
        zones: vec!["example.com".into()],
        api_key: API_KEY.into(),
        serving_name: format!("{SERVICE}.{ns}.svc"),
    })
    .await
    .unwrap();
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": SERVICE, "namespace": ns},
        "spec": {"type": "ExternalName", "externalName": "localhost",
                 "ports": [{"name": "https", "port": solver.port(), "protocol": "TCP"}]},
    }))
    .unwrap();
    Api::<Service>::namespaced(env.client.clone(), &ns)
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let ca = ca_pem.unwrap_or(solver.ca_pem());
    let api_service: APIService = serde_json::from_value(env.scoped(json!({
        "metadata": {"name": solver.api_service_name()},
        "spec": {
            "group": group,
            "version": "v1alpha1",
            "service": {"namespace": ns, "name": SERVICE, "port": solver.port()},
            "caBundle": base64::engine::general_purpose::STANDARD.encode(ca),
            "groupPriorityMinimum": 1000,
            "versionPriority": 15,
        },
    })))
    .unwrap();
    Api::<APIService>::all(env.client.clone())
        .create(&PostParams::default(), &api_service)
        .await
        .unwrap();
    Setup { solver, group, env }
}

impl Setup {
    /// On a real cluster, waits (up to 30 s) for the aggregator to find the solver
    /// available; the sandbox proxies at once.
    async fn wait_available(&self) {
        if !self.env.is_real_cluster() {
            return;
        }
        let api = Api::<APIService>::all(self.env.client.clone());
        let mut last = None;
        for _ in 0..60 {
            let conditions = api
                .get(&self.solver.api_service_name())
                .await
                .unwrap()
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
            {
                return;
            }
            last = Some(conditions);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "the APIService never became Available (an API server with \
             --enable-aggregator-routing=true cannot route to an ExternalName Service): \
             {last:?}"
        );
    }

    /// POSTs a ChallengePayload to the solver through the API server: the HTTP status
    /// and the body.
    fn payload(&self, action: &str, key: &str, api_key: &str) -> Value {
        json!({
            "apiVersion": PAYLOAD_API_VERSION,
            "kind": "ChallengePayload",
            "request": {
                "uid": format!("{action}-{key}"),
                "action": action,
                "type": "dns-01",
                "dnsName": "example.com",
                "key": key,
                "resourceNamespace": self.env.namespace,
                "resolvedFQDN": FQDN,
                "resolvedZone": "example.com.",
                "allowAmbientCredentials": false,
                "config": {"apiKey": api_key},
            },
        })
    }

    /// As `post`, expecting the solver's answer (201 with a ChallengePayload): its
    /// `response`.
    async fn solve(&self, action: &str, key: &str, api_key: &str) -> Value {
        let payload = self.payload(action, key, api_key);
        let (status, body) = post_raw(&self.env.client, &self.solver.solver_path(), &payload).await;
        assert_eq!(status, 201, "{action} {key}: {body}");
        let payload: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(payload["kind"], "ChallengePayload", "{body}");
        assert_eq!(payload["request"]["key"], key, "{body}");
        payload["response"].clone()
    }
}

/// A client for `env`'s cluster that does not retry: kube's default client retries a
/// 503 up to 15 times with exponential backoff (minutes in all), and an unreachable
/// extension API server is a 503.
async fn client_without_retries(env: &TestEnv) -> kube::Client {
    let path = std::env::temp_dir().join(format!("{}-kubeconfig.yaml", env.namespace));
    env.write_kubeconfig(&path).unwrap();
    let yaml = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&yaml).unwrap(),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

/// POSTs `body` to `path` with `client`: the status and the body.
async fn post_raw(client: &kube::Client, path: &str, body: &Value) -> (u16, String) {
    let request = http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .unwrap();
    let response = client.send(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The TXT values of `name` as the DNS server at `server` answers them, sorted.
async fn dns_txt(server: SocketAddr, name: &str) -> Vec<String> {
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let mut values: Vec<String> = Message::from_vec(&buf[..n])
        .unwrap()
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn present_and_clean_up_through_the_aggregator() {
    let s = setup(None).await;
    s.wait_available().await;
    let dns = s.solver.dns_addr();

    // Discovery of the group-version is the solver's own.
    let discovery = s
        .env
        .client
        .request_text(
            http::Request::get(format!("/apis/{}/v1alpha1", s.group))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    assert_eq!(discovery["resources"][0]["name"], SOLVER, "{discovery}");
    assert_eq!(discovery["resources"][0]["kind"], "ChallengePayload");

    let response = s.solve("Present", "one", API_KEY).await;
    assert_eq!(response, json!({"uid": "Present-one", "success": true}));
    assert_eq!(dns_txt(dns, FQDN).await, vec!["one"]);
    let response = s.solve("Present", "two", API_KEY).await;
    assert_eq!(response["success"], true);
    assert_eq!(dns_txt(dns, FQDN).await, vec!["one", "two"]);
    // The solver got the payload as sent, and who sent it from the front proxy.
    let last = s.solver.last_request().unwrap();
    assert_eq!(last["request"]["config"], json!({"apiKey": API_KEY}));
    assert_eq!(last["request"]["resolvedFQDN"], FQDN);
    let caller = s.solver.last_caller().expect("X-Remote-User");
    assert!(!caller.user.is_empty(), "{caller:?}");
    assert!(
        caller.groups.iter().any(|g| g == "system:authenticated"),
        "{caller:?}"
    );

    let response = s.solve("CleanUp", "one", API_KEY).await;
    assert_eq!(response, json!({"uid": "CleanUp-one", "success": true}));
    assert_eq!(dns_txt(dns, FQDN).await, vec!["two"]);

    // Refused credentials are the solver's answer, passed through as it gave it.
    let response = s.solve("Present", "three", "not-the-key").await;
    assert_eq!(response["success"], false, "{response}");
    let status = &response["status"];
    assert_eq!(status["code"], 403, "{response}");
    assert_eq!(status["reason"], "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("refused the credentials in config.apiKey"),
        "{response}"
    );
    assert_eq!(dns_txt(dns, FQDN).await, vec!["two"]);

    // A fault of the DNS API.
    s.solver
        .fail_next(1, 503, "the DNS API is unavailable, try again");
    let response = s.solve("CleanUp", "two", API_KEY).await;
    assert_eq!(response["status"]["code"], 503, "{response}");
    assert_eq!(dns_txt(dns, FQDN).await, vec!["two"]);
    let response = s.solve("CleanUp", "two", API_KEY).await;
    assert_eq!(response["success"], true, "{response}");
    assert!(dns_txt(dns, FQDN).await.is_empty());

    let counts = s.solver.requests();
    assert_eq!((counts.present, counts.clean_up, counts.invalid), (3, 3, 0));

    // Once the solver is gone the API server answers 503 itself, in plain text (a
    // real aggregator may already have marked the APIService unavailable).
    let payload = s.payload("CleanUp", "two", API_KEY);
    let Setup { solver, env, .. } = s;
    let path = solver.solver_path();
    drop(solver);
    let client = client_without_retries(&env).await;
    let (status, body) = post_raw(&client, &path, &payload).await;
    assert_eq!(status, 503, "{body}");
    // The aggregator's error names how the backend was found gone: no listener on a
    // new connection, or a pooled keep-alive connection it wrote to after the
    // solver closed it.
    let gone = [
        ": connect: connection refused\n",
        ": write: broken pipe\n",
        ": read: connection reset by peer\n",
        ": EOF\n",
    ];
    let refused = body.starts_with("error trying to reach service: ")
        && gone.iter().any(|g| body.ends_with(g));
    let unavailable = env.is_real_cluster() && body == "service unavailable\n";
    assert!(refused || unavailable, "{body:?}");
    env.cleanup().await;
}

#[tokio::test]
async fn a_backend_with_an_untrusted_certificate_is_not_reached() {
    // The APIService trusts another solver's CA.
    let other = WebhookSolverEmulator::start(SolverOptions {
        group_name: "acme.other.certgate.test".into(),
        solver_name: SOLVER.into(),
        zones: vec!["example.com".into()],
        api_key: API_KEY.into(),
        serving_name: "other.svc".into(),
    })
    .await
    .unwrap();
    let s = setup(Some(other.ca_pem())).await;
    let client = client_without_retries(&s.env).await;
    let payload = s.payload("Present", "one", API_KEY);
    let (status, body) = post_raw(&client, &s.solver.solver_path(), &payload).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(s.solver.requests().total(), 0, "nothing reached the solver");
    assert!(s.solver.txt(FQDN).is_empty());
    // The sandbox tries and fails the handshake; a real aggregator never found the
    // APIService available (its discovery check failed the same way) and refuses.
    match s.env.is_real_cluster() {
        true => assert_eq!(body, "service unavailable\n"),
        false => assert!(
            body.starts_with("error trying to reach service: tls: "),
            "{body:?}"
        ),
    }
    s.env.cleanup().await;
}

/// How the suite and the controllers read the solver's nameserver.
fn local_dns(server: SocketAddr) -> certgate::dns01::Dns01Config {
    certgate::dns01::Dns01Config {
        recursive_nameservers: vec![server.into()],
        authoritative_port: server.port(),
        poll_period: Duration::from_millis(200),
        timeout: Duration::from_secs(15),
        query_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

fn webhook_solver(
    group: &str,
    api_key: &str,
) -> certgate::api::acme_dns01::AcmeChallengeSolverDns01 {
    serde_json::from_value(json!({"webhook": {
        "groupName": group, "solverName": SOLVER, "config": {"apiKey": api_key}}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certgates_webhook_provider_passes_the_conformance_suite() {
    use certgate_conformance::suite::{BadCredentials, Suite};
    let s = setup(None).await;
    s.wait_available().await;
    let ns = s.env.namespace.clone();
    let provider = certgate::dns01::factory::provider_for(
        &s.env.client,
        &webhook_solver(&s.group, API_KEY),
        &ns,
        &Default::default(),
    )
    .await
    .unwrap();
    let (client, group) = (s.env.client.clone(), s.group.clone());
    let bad = BadCredentials {
        factory: Box::new(move || {
            let (client, group, ns) = (client.clone(), group.clone(), ns.clone());
            Box::pin(async move {
                certgate::dns01::factory::provider_for(
                    &client,
                    &webhook_solver(&group, "not-the-key"),
                    &ns,
                    &Default::default(),
                )
                .await
            })
        }),
        must_name: vec![format!("{SOLVER}.{}", s.group), "config.apiKey".into()],
        secrets: vec![API_KEY.into()],
    };
    let report = Suite::new(
        "webhook",
        &*provider,
        "example.com",
        local_dns(s.solver.dns_addr()),
    )
    .bad_credentials(bad)
    .run()
    .await;
    assert!(report.passed(), "\n{}", report.table());
    assert_eq!(report.results.len(), 8, "\n{}", report.table());
    let counts = s.solver.requests();
    assert!(counts.present > 0 && counts.clean_up > 0, "{counts:?}");
    assert!(s.solver.txt(FQDN).is_empty(), "nothing left behind");
    s.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pebble_issues_a_wildcard_and_apex_through_a_webhook_solver() {
    use certgate::api::Certificate;
    if common::missing(&[common::PEBBLE]) {
        return;
    }
    let s = setup(None).await;
    s.wait_available().await;
    let dns = s.solver.dns_addr();
    let pebble = common::pebble::Pebble::start(common::pebble::PebbleOptions {
        dns_server: dns.to_string(),
        http_port: common::pebble::free_port(),
        eab_keys: vec![],
        tls_port: 0,
    });
    s.env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let acme = certgate::controller::AcmeSettings {
        dns01: local_dns(dns),
        ..Default::default()
    };
    let config = certgate::controller::ControllerConfig {
        acme,
        ..common::scoped_config(&s.env)
    };
    let _controllers =
        certgate::controller::RunningControllers::start(s.env.client.clone(), config);
    // Typed creates, not `manifests::apply`: its discovery walks every API group, and
    // a real aggregator's discovery of the emulator's group is not what kube's
    // discovery client expects (the emulator serves only what solving needs).
    let ns = s.env.namespace.clone();
    let issuers = Api::<certgate::api::Issuer>::namespaced(s.env.client.clone(), &ns);
    let certs = Api::<Certificate>::namespaced(s.env.client.clone(), &ns);
    let issuer: certgate::api::Issuer =
        serde_json::from_value(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
        "metadata": {"name": "webhook"},
        "spec": {"acme": {
            "server": pebble.directory_url,
            "caBundle": pebble.ca_bundle(),
            "privateKeySecretRef": {"name": "webhook-account"},
            "solvers": [{"dns01": {"webhook": {
                "groupName": s.group, "solverName": SOLVER,
                "config": {"apiKey": API_KEY}}}}]}}}))
        .unwrap();
    issuers
        .create(&PostParams::default(), &issuer)
        .await
        .unwrap();
    let certificate: Certificate = serde_json::from_value(
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "wild"},
        "spec": {"secretName": "wild-tls", "dnsNames": ["example.com", "*.example.com"],
            "issuerRef": {"name": "webhook", "kind": "Issuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 256}}}),
    )
    .unwrap();
    certs
        .create(&PostParams::default(), &certificate)
        .await
        .unwrap();
    let mut ready = false;
    for _ in 0..1200 {
        if certs
            .get_opt("wild")
            .await
            .unwrap()
            .is_some_and(|c| common::is_ready(&c))
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "never Ready; solver saw {:?}; pebble:\n{}",
        s.solver.requests(),
        pebble.log()
    );
    let last = s.solver.last_request().unwrap();
    assert_eq!(
        last["request"]["resourceNamespace"],
        s.env.namespace.as_str()
    );
    assert_eq!(last["request"]["resolvedZone"], "example.com.");
    assert!(
        ["example.com", "*.example.com"]
            .contains(&last["request"]["dnsName"].as_str().unwrap_or_default()),
        "{last}"
    );
    assert!(
        !last["request"]["uid"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    // Both values were presented and, once the order was valid, cleaned up.
    for _ in 0..300 {
        if s.solver.txt(FQDN).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(s.solver.txt(FQDN).is_empty(), "no TXT record left");
    let counts = s.solver.requests();
    assert!(counts.present >= 2 && counts.clean_up >= 2, "{counts:?}");
    s.env.cleanup().await;
}
