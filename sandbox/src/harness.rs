//! The test harness every integration test uses: a `kube::Client` for a fresh
//! sandbox, or — with `CERTGATE_TEST_KUBECONFIG=<path>` — for that real cluster,
//! and a namespace of the test's own that is removed afterwards.
//!
//! On a real cluster many tests share one API server, so each test keeps to its own
//! scope: its controllers watch only its namespace, serve only the ClusterIssuers that
//! carry its [`SCOPE_LABEL`], and everything it made is removed when it ends — also
//! when it fails: dropping a `TestEnv` that was not cleaned up removes the finalizers
//! certgate puts on Challenges, the test's ClusterIssuers and APIServices, and its
//! namespace.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::Value;

use crate::sandbox::{Sandbox, SandboxError, SandboxOptions, client_from_kubeconfig};

/// The environment variable naming a kubeconfig of a real cluster to test against.
pub const KUBECONFIG_ENV: &str = "CERTGATE_TEST_KUBECONFIG";

/// The label that ties a cluster-scoped object (a ClusterIssuer) to the test that
/// made it; its value is the test's namespace.
pub const SCOPE_LABEL: &str = "certgate.io/test-scope";

/// A test's cluster and namespace.
pub struct TestEnv {
    pub client: kube::Client,
    /// A namespace created for this test.
    pub namespace: String,
    /// The sandbox, when not testing against a real cluster.
    pub sandbox: Option<Sandbox>,
    /// The real cluster's kubeconfig, when testing against one.
    kubeconfig: Option<String>,
    /// Set once `cleanup` ran; otherwise dropping the env cleans up.
    cleaned: bool,
}

impl TestEnv {
    /// A sandbox (or the cluster of `CERTGATE_TEST_KUBECONFIG`) with a fresh namespace.
    pub async fn start() -> Result<TestEnv, SandboxError> {
        Self::start_with(SandboxOptions::default()).await
    }

    /// As `start`, with sandbox options (ignored for a real cluster).
    pub async fn start_with(opts: SandboxOptions) -> Result<TestEnv, SandboxError> {
        let (client, sandbox, kubeconfig) = match std::env::var(KUBECONFIG_ENV) {
            Ok(path) if !path.is_empty() => {
                let yaml =
                    std::fs::read_to_string(&path).map_err(|source| SandboxError::Write {
                        path: path.clone(),
                        source,
                    })?;
                (client_from_kubeconfig(&yaml).await?, None, Some(yaml))
            }
            _ => {
                let sandbox = Sandbox::start(opts).await?;
                (sandbox.client().await?, Some(sandbox), None)
            }
        };
        let namespace = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))
                .map_err(|e| SandboxError::Client(e.to_string()))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| SandboxError::Client(format!("creating namespace {namespace}: {e}")))?;
        Ok(TestEnv {
            client,
            namespace,
            sandbox,
            kubeconfig,
            cleaned: false,
        })
    }

    /// Whether this env is a real cluster (`CERTGATE_TEST_KUBECONFIG`), not a sandbox.
    pub fn is_real_cluster(&self) -> bool {
        self.sandbox.is_none()
    }

    /// The label selector of this test's cluster-scoped objects
    /// (`certgate.io/test-scope=<namespace>`), for `cluster_issuer_selector`.
    pub fn scope_selector(&self) -> String {
        format!("{SCOPE_LABEL}={}", self.namespace)
    }

    /// Adds this test's [`SCOPE_LABEL`] to a manifest of a cluster-scoped object.
    pub fn scoped(&self, mut doc: Value) -> Value {
        if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(SCOPE_LABEL.into(), Value::String(self.namespace.clone()));
            }
        }
        doc
    }

    /// Writes a kubeconfig for this env's cluster (for the `certgate` binary and kubectl).
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), SandboxError> {
        match (&self.sandbox, &self.kubeconfig) {
            (Some(sandbox), _) => sandbox.write_kubeconfig(path),
            (None, Some(yaml)) => {
                std::fs::write(path, yaml).map_err(|source| SandboxError::Write {
                    path: path.display().to_string(),
                    source,
                })
            }
            (None, None) => Err(SandboxError::Client("no cluster".into())),
        }
    }

    /// Applies CRDs (JSON values of `apiextensions.k8s.io/v1` CustomResourceDefinitions)
    /// through the API, skipping ones that already exist, and waits until served.
    pub async fn apply_crds(&self, crds: &[Value]) -> Result<(), SandboxError> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        for crd in crds {
            let typed: CustomResourceDefinition = serde_json::from_value(crd.clone())
                .map_err(|e| SandboxError::Crd(e.to_string()))?;
            let name = typed.metadata.name.clone().unwrap_or_default();
            let pp = kube::api::PatchParams::apply("certgate-tests").force();
            api.patch(&name, &pp, &kube::api::Patch::Apply(&typed))
                .await
                .map_err(|e| SandboxError::Crd(format!("{name}: {e}")))?;
            for _ in 0..100 {
                let established = api
                    .get(&name)
                    .await
                    .ok()
                    .and_then(|c| c.status)
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if established {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Removes what the test made: its ClusterIssuers and APIServices (labelled with
    /// [`Self::scoped`]), the finalizers certgate put in its namespace (the
    /// controllers may be gone) and the namespace.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        remove_scope(&self.client, &self.namespace).await;
    }
}

impl Drop for TestEnv {
    /// A test that panicked before `cleanup` still leaves nothing behind on a real
    /// cluster (a sandbox goes away with the test).
    fn drop(&mut self) {
        let Some(yaml) = self.kubeconfig.take().filter(|_| !self.cleaned) else {
            return;
        };
        let namespace = self.namespace.clone();
        with_fresh_client(yaml, async move |client| {
            remove_scope(&client, &namespace).await;
        });
    }
}

/// Runs `work` with a client for the cluster of `kubeconfig` (YAML) on a fresh runtime
/// on a thread of its own, and waits for it: clean-up from a `Drop`, where the test's
/// runtime may be unwinding around us. Nothing runs when no client can be made.
pub fn with_fresh_client<F>(kubeconfig: String, work: F)
where
    F: AsyncFnOnce(kube::Client) + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(client) = client_from_kubeconfig(&kubeconfig).await {
                work(client).await;
            }
        });
    })
    .join();
}

/// Deletes the ClusterIssuers and APIServices labelled for `namespace`, strips the
/// finalizers of the cert-manager objects in it and deletes it. Errors are ignored:
/// what is not there (a CRD that was never installed) needs no removing.
async fn remove_scope(client: &kube::Client, namespace: &str) {
    use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let resource = |group: &str, kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
    };
    let selector = ListParams::default().labels(&format!("{SCOPE_LABEL}={namespace}"));
    let issuers: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("cert-manager.io", "ClusterIssuer", "clusterissuers"),
    );
    let _ = issuers
        .delete_collection(&DeleteParams::default(), &selector)
        .await;
    // An APIService left pointing at a stopped extension API server would break
    // discovery for everyone else on the cluster.
    let api_services: Api<APIService> = Api::all(client.clone());
    let _ = api_services
        .delete_collection(&DeleteParams::default(), &selector)
        .await;
    for (group, kind, plural) in [
        ("acme.cert-manager.io", "Challenge", "challenges"),
        ("acme.cert-manager.io", "Order", "orders"),
        ("cert-manager.io", "Certificate", "certificates"),
        (
            "cert-manager.io",
            "CertificateRequest",
            "certificaterequests",
        ),
    ] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &resource(group, kind, plural));
        let Ok(list) = api.list(&ListParams::default()).await else {
            continue;
        };
        for obj in list.items {
            if obj
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| !f.is_empty())
            {
                let name = obj.metadata.name.unwrap_or_default();
                let _ = api
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        }
    }
    let _ = Api::<Namespace>::all(client.clone())
        .delete(namespace, &DeleteParams::default())
        .await;
}
