//! `certgate approve`, `deny` and `create certificaterequest` (cmctl's commands) on the
//! sandbox, or the real API server of `CERTGATE_TEST_KUBECONFIG`, through the real
//! kube::Client and the `certgate` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate::api::meta::ConditionStatus;
use certgate::api::{Certificate, CertificateRequest};
use certgate::cli::approve::{self, Decision, DecisionError};
use certgate::cli::create::{self, CreateError};
use certgate::controller::RunningControllers;
use certgate::pki::key::{PrivateKey, public_key_matches_cert};
use certgate_sandbox::TestEnv;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn temp_dir(what: &str, env: &TestEnv) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certgate-{what}-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A CertificateRequest that nothing signs (no controllers run), with `status` if given.
async fn request(
    api: &Api<CertificateRequest>,
    name: &str,
    status: Option<serde_json::Value>,
) -> CertificateRequest {
    let cr: CertificateRequest = serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
        "metadata": {"name": name},
        "spec": {"request": "dGVzdA==", "issuerRef": {"name": "nobody"}}}))
    .unwrap();
    let created = api.create(&PostParams::default(), &cr).await.unwrap();
    match status {
        None => created,
        Some(st) => api
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": st })),
            )
            .await
            .unwrap(),
    }
}

/// (type, status, reason, message) of each condition.
async fn conditions(
    api: &Api<CertificateRequest>,
    name: &str,
) -> Vec<(String, ConditionStatus, String, String)> {
    let cr = api.get(name).await.unwrap();
    cr.status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            assert!(c.last_transition_time.is_some(), "{c:?}");
            (
                c.type_,
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default(),
            )
        })
        .collect()
}

fn cond(
    t: &str,
    s: ConditionStatus,
    r: &str,
    m: &str,
) -> (String, ConditionStatus, String, String) {
    (t.into(), s, r.into(), m.into())
}

#[test]
fn ctl_name_and_validation_in_cmctl_words() {
    use std::ffi::OsStr;
    assert_eq!(approve::ctl_name(None), "certgate");
    assert_eq!(
        approve::ctl_name(Some(OsStr::new("/usr/local/bin/certgate"))),
        "certgate"
    );
    assert_eq!(
        approve::ctl_name(Some(OsStr::new("/home/me/.local/bin/kubectl-certgate"))),
        "kubectl certgate"
    );
    assert_eq!(
        Decision::Approve.default_message("certgate"),
        "manually approved by \"certgate\""
    );
    assert_eq!(
        Decision::Deny.default_message("kubectl certgate"),
        "manually denied by \"kubectl certgate\""
    );
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let err = |d, a: &[&str], r, m| {
        approve::validate(d, &args(a), r, m)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(Decision::Approve, &[], "r", "m"),
        "the name of the CertificateRequest to approve has to be provided as an argument"
    );
    assert_eq!(
        err(Decision::Deny, &[], "r", "m"),
        "the name of the CertificateRequest to deny has to be provided as an argument"
    );
    assert_eq!(
        err(Decision::Approve, &["a", "b"], "r", "m"),
        "only one argument can be passed: the name of the CertificateRequest"
    );
    assert_eq!(
        err(Decision::Approve, &["a"], "", "m"),
        "a reason must be given as to who approved this CertificateRequest"
    );
    assert_eq!(
        err(Decision::Deny, &["a"], "r", ""),
        "a message must be given as to why this CertificateRequest is denied"
    );
    assert_eq!(
        approve::validate(Decision::Deny, &args(&["a"]), "r", "m").unwrap(),
        "a"
    );

    // create certificaterequest: cmctl's TestValidate.
    let opts = |file: &str, key: Option<&str>, crt: Option<&str>, fetch| create::Options {
        from_certificate_file: Some(file.into()),
        output_key_file: key.map(PathBuf::from),
        output_certificate_file: crt.map(PathBuf::from),
        fetch_certificate: fetch,
        ..Default::default()
    };
    let bad = |o: create::Options, a: &[&str]| o.validate(&args(a)).unwrap_err().to_string();
    assert_eq!(
        bad(opts("example.yaml", None, None, false), &[]),
        "the name of the CertificateRequest to be created has to be provided as argument"
    );
    assert_eq!(
        bad(opts("example.yaml", None, None, false), &["hello", "World"]),
        "only one argument can be passed in: the name of the CertificateRequest"
    );
    assert_eq!(
        bad(opts("", None, None, false), &["hello"]),
        "the path to a YAML manifest of a Certificate resource cannot be empty, please specify by using --from-certificate-file flag"
    );
    assert_eq!(
        bad(create::Options::default(), &["hello"]),
        "the path to a YAML manifest of a Certificate resource cannot be empty, please specify by using --from-certificate-file flag"
    );
    assert_eq!(
        bad(
            opts("example.yaml", Some("same"), Some("same"), true),
            &["hello"]
        ),
        "the file to store private key cannot be the same as the file to store certificate"
    );
    assert_eq!(
        bad(
            opts("example.yaml", None, Some("cert.crt"), false),
            &["hello"]
        ),
        "cannot specify file to store certificate if not waiting for and fetching certificate, please set --fetch-certificate flag"
    );
    assert_eq!(
        opts("example.yaml", None, None, false)
            .validate(&args(&["hello"]))
            .unwrap(),
        "hello"
    );
}

/// cmctl's TestRun cases: what the manifest file may hold.
#[test]
fn create_certificaterequest_reads_exactly_one_certificate() {
    let dir = std::env::temp_dir().join(format!("certgate-cr-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("testfile.yaml");
    let certificate = "apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: testcert-1
  namespace: testns-1
spec:
  isCA: true
  secretName: ca-key-pair
  commonName: my-csi-app
  issuerRef:
    name: selfsigned-issuer
    kind: Issuer
    group: cert-manager.io
";
    let issuer = "apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: ca-issuer
  namespace: testns-1
spec:
  ca:
    secretName: ca-key-pair
";
    let read = |text: &str, ns: Option<&str>| {
        std::fs::write(&file, text).unwrap();
        create::read_certificate(&file, ns)
    };
    let shown = file.display().to_string();
    assert_eq!(
        read(&format!("---\n{certificate}"), Some("testns-2"))
            .unwrap_err()
            .to_string(),
        "the namespace from the provided object \"testns-1\" does not match the namespace \"testns-2\". You must pass '--namespace=testns-1' to perform this operation."
    );
    assert_eq!(
        read(issuer, Some("testns-1")).unwrap_err().to_string(),
        "decoded object is not a v1 Certificate"
    );
    assert_eq!(
        read("", Some("testns-1")).unwrap_err().to_string(),
        format!("no objects found in manifest file \"{shown}\". Expected one Certificate object")
    );
    assert_eq!(
        read(
            &format!("---\n{issuer}---\n{certificate}"),
            Some("testns-1")
        )
        .unwrap_err()
        .to_string(),
        format!(
            "multiple objects found in manifest file \"{shown}\". Expected only one Certificate object"
        )
    );
    // The same namespace, or none given: read.
    let crt = read(certificate, Some("testns-1")).unwrap();
    assert_eq!(crt.spec.issuer_ref.name, "selfsigned-issuer");
    assert_eq!(crt.spec.is_ca, Some(true));
    let crt = read(certificate, None).unwrap();
    assert_eq!(crt.metadata.namespace.as_deref(), Some("testns-1"));
    // A List of one, JSON, and a template without a secretName are fine.
    let as_json = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x"},
         "spec": {"dnsNames": ["a.example"], "issuerRef": {"name": "ca"}}}]});
    let crt = read(&as_json.to_string(), None).unwrap();
    assert_eq!(crt.spec.dns_names, Some(vec!["a.example".to_string()]));
    let missing = dir.join("nope.yaml");
    assert_eq!(
        create::read_certificate(&missing, None)
            .unwrap_err()
            .to_string(),
        format!("the path \"{}\" does not exist", missing.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// approve and deny set their condition (default and custom reason and message), keep
/// the other conditions, and refuse a request already approved or denied.
#[tokio::test(flavor = "multi_thread")]
async fn approve_and_deny_set_the_conditions() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let c = env.client.clone();
    let api: Api<CertificateRequest> = Api::namespaced(c.clone(), &ns);
    for name in ["a", "b", "c"] {
        request(&api, name, None).await;
    }
    let pending = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Pending",
        "message": "Waiting on certificate issuance", "lastTransitionTime": "2030-01-01T00:00:00Z"}]});
    request(&api, "d", Some(pending)).await;
    use ConditionStatus::True;
    let default_approve = Decision::Approve.default_message("certgate");
    let default_deny = Decision::Deny.default_message("certgate");

    let line = approve::decide(
        &c,
        &ns,
        "a",
        Decision::Approve,
        approve::DEFAULT_REASON,
        &default_approve,
    )
    .await
    .unwrap();
    assert_eq!(line, format!("Approved CertificateRequest '{ns}/a'"));
    assert_eq!(
        conditions(&api, "a").await,
        [cond(
            "Approved",
            True,
            "KubectlCertManager",
            "manually approved by \"certgate\""
        )]
    );
    for d in [Decision::Approve, Decision::Deny] {
        let again = approve::decide(&c, &ns, "a", d, "R", "M")
            .await
            .unwrap_err();
        assert!(matches!(again, DecisionError::AlreadyApproved), "{again:?}");
        assert_eq!(again.to_string(), "CertificateRequest is already approved");
    }

    let line = approve::decide(
        &c,
        &ns,
        "b",
        Decision::Deny,
        "ManualDenial",
        "Denied by PKI department",
    )
    .await
    .unwrap();
    assert_eq!(line, format!("Denied CertificateRequest '{ns}/b'"));
    assert_eq!(
        conditions(&api, "b").await,
        [cond(
            "Denied",
            True,
            "ManualDenial",
            "Denied by PKI department"
        )]
    );
    for d in [Decision::Approve, Decision::Deny] {
        let again = approve::decide(&c, &ns, "b", d, "R", "M")
            .await
            .unwrap_err();
        assert_eq!(again.to_string(), "CertificateRequest is already denied");
    }

    approve::decide(
        &c,
        &ns,
        "c",
        Decision::Deny,
        approve::DEFAULT_REASON,
        &default_deny,
    )
    .await
    .unwrap();
    assert_eq!(
        conditions(&api, "c").await,
        [cond(
            "Denied",
            True,
            "KubectlCertManager",
            "manually denied by \"certgate\""
        )]
    );

    approve::decide(
        &c,
        &ns,
        "d",
        Decision::Approve,
        "ManualApproval",
        "Approved by PKI department",
    )
    .await
    .unwrap();
    assert_eq!(
        conditions(&api, "d").await,
        [
            cond(
                "Ready",
                ConditionStatus::False,
                "Pending",
                "Waiting on certificate issuance"
            ),
            cond(
                "Approved",
                True,
                "ManualApproval",
                "Approved by PKI department"
            ),
        ]
    );

    let missing = approve::decide(&c, &ns, "nope", Decision::Approve, "R", "M")
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "certificaterequests.cert-manager.io \"nope\" not found"
    );
    let empty = approve::decide(&c, &ns, "d", Decision::Approve, "", "M")
        .await
        .unwrap_err();
    assert_eq!(
        empty.to_string(),
        "a reason must be given as to who approved this CertificateRequest"
    );
    env.cleanup().await;
}

/// Runs the `certgate` binary (or `argv0`, a link to it) with `KUBECONFIG`; returns
/// (exit status, stdout, stderr).
async fn run(
    program: &Path,
    kubeconfig: &Path,
    cwd: &Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .current_dir(cwd)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commands: cmctl's lines on stdout, errors on stderr with exit status 1, and the
/// default message naming the command as it was run (`kubectl certgate` as a plugin).
#[tokio::test(flavor = "multi_thread")]
async fn approve_and_deny_commands() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let api: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);
    let dir = temp_dir("approve", &env);
    let kubeconfig = dir.join("kubeconfig");
    env.write_kubeconfig(&kubeconfig).unwrap();
    let certgate = PathBuf::from(env!("CARGO_BIN_EXE_certgate"));
    let plugin = dir.join("kubectl-certgate");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(&certgate, &plugin).unwrap();
    for name in ["x", "y", "z"] {
        request(&api, name, None).await;
    }

    let (code, out, err) = run(&certgate, &kubeconfig, &dir, &["approve", "x", "-n", &ns]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("Approved CertificateRequest '{ns}/x'\n"));
    assert_eq!(
        conditions(&api, "x").await,
        [cond(
            "Approved",
            ConditionStatus::True,
            "KubectlCertManager",
            "manually approved by \"certgate\""
        )]
    );
    let (code, out, err) = run(&certgate, &kubeconfig, &dir, &["deny", "x", "-n", &ns]).await;
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(err, "error: CertificateRequest is already approved\n");

    let (code, out, err) = run(
        &certgate,
        &kubeconfig,
        &dir,
        &[
            "deny",
            "y",
            "--namespace",
            &ns,
            "--reason",
            "ManualDenial",
            "--message",
            "Denied by PKI department",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("Denied CertificateRequest '{ns}/y'\n"));
    assert_eq!(
        conditions(&api, "y").await,
        [cond(
            "Denied",
            ConditionStatus::True,
            "ManualDenial",
            "Denied by PKI department"
        )]
    );

    let (code, out, err) = run(&plugin, &kubeconfig, &dir, &["deny", "z", "-n", &ns]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("Denied CertificateRequest '{ns}/z'\n"));
    assert_eq!(
        conditions(&api, "z").await,
        [cond(
            "Denied",
            ConditionStatus::True,
            "KubectlCertManager",
            "manually denied by \"kubectl certgate\""
        )]
    );

    let (code, _, err) = run(&certgate, &kubeconfig, &dir, &["approve", "-n", &ns]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "error: the name of the CertificateRequest to approve has to be provided as an argument\n"
    );
    let (code, _, err) = run(
        &certgate,
        &kubeconfig,
        &dir,
        &["approve", "nope", "-n", &ns],
    )
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "error: certificaterequests.cert-manager.io \"nope\" not found\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}

async fn wait_ready(certs: &Api<Certificate>, name: &str) {
    for _ in 0..400 {
        let ready = certs
            .get(name)
            .await
            .ok()
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
            });
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Certificate {name} never became Ready");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `create certificaterequest` against a CA issuer with the controllers running: the key
/// is made as the template says and written (0600), the request carries the template's
/// issuerRef, duration, usages, isCA, labels and annotations, and the certificate
/// fetched holds the key's public key.
#[tokio::test(flavor = "multi_thread")]
async fn create_certificaterequest_issues_from_a_certificate_template() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let controllers = RunningControllers::start(env.client.clone(), common::scoped_config(&env));
    let docs = vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss", "namespace": ns}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "root", "namespace": ns},
               "spec": {"secretName": "root-kp", "commonName": "test root", "isCA": true,
                        "privateKey": {"algorithm": "ECDSA"}, "issuerRef": {"name": "ss"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": ns}, "spec": {"ca": {"secretName": "root-kp"}}}),
    ];
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    wait_ready(&certs, "root").await;
    let requests: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);

    let dir = temp_dir("create-cr", &env);
    let kubeconfig = dir.join("kubeconfig");
    env.write_kubeconfig(&kubeconfig).unwrap();
    let template = dir.join("my-certificate.yaml");
    std::fs::write(
        &template,
        format!(
            "apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: template
  namespace: {ns}
  labels:
    team: pki
  annotations:
    example.com/owner: alice
spec:
  secretName: unused-tls
  commonName: app.example
  dnsNames: [app.example, www.app.example]
  duration: 2160h
  usages: [digital signature, server auth]
  privateKey:
    algorithm: ECDSA
    size: 384
  issuerRef:
    name: ca
    kind: Issuer
"
        ),
    )
    .unwrap();

    // Through the binary: the file names default to NAME.key and NAME.crt (in the
    // working directory), the namespace is the manifest's.
    let certgate = PathBuf::from(env!("CARGO_BIN_EXE_certgate"));
    let (code, out, err) = run(
        &certgate,
        &kubeconfig,
        &dir,
        &[
            "create",
            "certificaterequest",
            "my-cr",
            "--from-certificate-file",
            template.to_str().unwrap(),
            "--fetch-certificate",
            "--timeout",
            "2m",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "Private key written to file my-cr.key\n\
             CertificateRequest my-cr has been created in namespace {ns}\n\
             CertificateRequest my-cr in namespace {ns} has not been signed yet. Wait until it is signed...\n\
             CertificateRequest my-cr in namespace {ns} has been signed\n\
             Certificate written to file my-cr.crt\n"
        )
    );
    let key_pem = std::fs::read(dir.join("my-cr.key")).unwrap();
    assert!(
        String::from_utf8_lossy(&key_pem).starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "PKCS1 (the default encoding) writes SEC1 for ECDSA"
    );
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("my-cr.key")), 0o600);
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    assert_eq!(
        key.algorithm(),
        certgate::pki::key::KeyAlgorithm::Ecdsa(384)
    );
    let cert_pem = std::fs::read(dir.join("my-cr.crt")).unwrap();
    assert!(public_key_matches_cert(&cert_pem, &key).unwrap());
    let cr = requests.get("my-cr").await.unwrap();
    assert_eq!(cr.spec.issuer_ref.name, "ca");
    assert_eq!(cr.spec.issuer_ref.kind.as_deref(), Some("Issuer"));
    assert_eq!(cr.spec.duration.as_deref(), Some("2160h"));
    assert_eq!(
        serde_json::to_value(&cr.spec.usages).unwrap(),
        json!(["digital signature", "server auth"])
    );
    assert_eq!(cr.spec.is_ca, None);
    assert_eq!(
        cr.metadata.labels.as_ref().and_then(|l| l.get("team")),
        Some(&"pki".to_string())
    );
    assert_eq!(
        cr.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("example.com/owner")),
        Some(&"alice".to_string())
    );
    let (_, cert) = x509_parser::pem::parse_x509_pem(&cert_pem).unwrap();
    let cert = cert.parse_x509().unwrap();
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(sans, ["DNSName(app.example)", "DNSName(www.app.example)"]);

    // Through the library: an Ed25519 key in PKCS8, files named, namespace from -n
    // (the template names none).
    let template2 = dir.join("ed.yaml");
    std::fs::write(
        &template2,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "ed"},
            "spec": {"secretName": "ed-tls", "commonName": "ed.example", "isCA": true,
                "privateKey": {"algorithm": "Ed25519", "encoding": "PKCS8"},
                "issuerRef": {"name": "ca"}}})
        .to_string(),
    )
    .unwrap();
    let opts = create::Options {
        from_certificate_file: Some(template2),
        output_key_file: Some(dir.join("ed-out.key")),
        output_certificate_file: Some(dir.join("ed-out.pem")),
        fetch_certificate: true,
        timeout: Duration::from_secs(120),
        namespace: Some(ns.clone()),
    };
    let mut progress = Vec::new();
    let created = create::certificate_request(&env.client, "ed-cr", &opts, &mut progress)
        .await
        .unwrap();
    assert_eq!(
        created,
        create::Created {
            namespace: ns.clone(),
            name: "ed-cr".into(),
            key_file: dir.join("ed-out.key"),
            certificate_file: Some(dir.join("ed-out.pem")),
        }
    );
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.starts_with(&format!(
            "Private key written to file {}\n",
            dir.join("ed-out.key").display()
        )),
        "{progress}"
    );
    assert!(!progress.contains("PRIVATE KEY-----"), "no key material");
    let key_pem = std::fs::read(dir.join("ed-out.key")).unwrap();
    assert!(String::from_utf8_lossy(&key_pem).starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("ed-out.key")), 0o600);
        assert_eq!(mode(&dir.join("ed-out.pem")), 0o600);
    }
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    let cert_pem = std::fs::read(dir.join("ed-out.pem")).unwrap();
    assert!(public_key_matches_cert(&cert_pem, &key).unwrap());
    assert_eq!(requests.get("ed-cr").await.unwrap().spec.is_ca, Some(true));

    // The name is taken: cmctl's words, and the server's.
    let again = create::certificate_request(&env.client, "ed-cr", &opts, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        again
            .to_string()
            .starts_with("error creating CertificateRequest: certificaterequests.cert-manager.io \"ed-cr\" already exists"),
        "{again}"
    );
    controllers.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}

/// Waiting for the signature ends with an error naming the condition when the request
/// is denied or fails, and at the timeout (no controllers: the test decides).
#[tokio::test(flavor = "multi_thread")]
async fn create_certificaterequest_stops_when_denied_failed_or_timed_out() {
    let env = TestEnv::start().await.unwrap();
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let ns = env.namespace.clone();
    let api: Api<CertificateRequest> = Api::namespaced(env.client.clone(), &ns);
    let dir = temp_dir("create-cr-wait", &env);
    let template = dir.join("cert.yaml");
    std::fs::write(
        &template,
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "c", "namespace": ns},
            "spec": {"secretName": "c-tls", "dnsNames": ["c.example"],
                "privateKey": {"algorithm": "ECDSA"}, "issuerRef": {"name": "ca"}}})
        .to_string(),
    )
    .unwrap();
    let opts = |name: &str, timeout: u64| create::Options {
        from_certificate_file: Some(template.clone()),
        output_key_file: Some(dir.join(format!("{name}.key"))),
        fetch_certificate: true,
        timeout: Duration::from_secs(timeout),
        ..Default::default()
    };
    let spawn = |name: &'static str, o: create::Options| {
        let client = env.client.clone();
        tokio::spawn(async move {
            create::certificate_request(&client, name, &o, &mut Vec::new()).await
        })
    };
    let exists = async |name: &str| {
        for _ in 0..200 {
            if api.get_opt(name).await.unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} was never created");
    };

    let denied = spawn("denied", opts("denied", 60));
    exists("denied").await;
    approve::decide(
        &env.client,
        &ns,
        "denied",
        Decision::Deny,
        "ManualDenial",
        "Denied by PKI department",
    )
    .await
    .unwrap();
    let err: CreateError = denied.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "error when waiting for CertificateRequest to be signed: CertificateRequest {ns}/denied was denied: ManualDenial: Denied by PKI department"
        )
    );

    let failed = spawn("failed", opts("failed", 60));
    exists("failed").await;
    api.patch_status(
        "failed",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [
            {"type": "Approved", "status": "True", "reason": "cert-manager.io", "message": "approved", "lastTransitionTime": "2030-01-01T00:00:00Z"},
            {"type": "Ready", "status": "False", "reason": "Failed", "message": "Error signing certificate: boom", "lastTransitionTime": "2030-01-01T00:00:00Z"}],
            "failureTime": "2030-01-01T00:00:00Z"}})),
    )
    .await
    .unwrap();
    let err = failed.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "error when waiting for CertificateRequest to be signed: CertificateRequest {ns}/failed failed: Failed: Error signing certificate: boom"
        )
    );

    let started = std::time::Instant::now();
    let mut progress = Vec::new();
    let err = create::certificate_request(&env.client, "slow", &opts("slow", 2), &mut progress)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error when waiting for CertificateRequest to be signed: context deadline exceeded"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        String::from_utf8(progress)
            .unwrap()
            .ends_with("has not been signed yet. Wait until it is signed...\n")
    );
    assert!(dir.join("slow.key").exists(), "the key is written first");
    assert!(!dir.join("slow.crt").exists());
    assert!(api.get_opt("slow").await.unwrap().is_some());
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}
