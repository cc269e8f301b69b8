//! The test harness every integration test uses: a `kube::Client` for a fresh
//! sandbox, or — with `CERTGATE_TEST_KUBECONFIG=<path>` — for that real cluster,
//! and a namespace of the test's own that is removed afterwards.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::Value;

use crate::sandbox::{Sandbox, SandboxError, SandboxOptions, client_from_kubeconfig};

/// The environment variable naming a kubeconfig of a real cluster to test against.
pub const KUBECONFIG_ENV: &str = "CERTGATE_TEST_KUBECONFIG";

/// A test's cluster and namespace.
pub struct TestEnv {
    pub client: kube::Client,
    /// A namespace created for this test.
    pub namespace: String,
    /// The sandbox, when not testing against a real cluster.
    pub sandbox: Option<Sandbox>,
}

impl TestEnv {
    /// A sandbox (or the cluster of `CERTGATE_TEST_KUBECONFIG`) with a fresh namespace.
    pub async fn start() -> Result<TestEnv, SandboxError> {
        Self::start_with(SandboxOptions::default()).await
    }

    /// As `start`, with sandbox options (ignored for a real cluster).
    pub async fn start_with(opts: SandboxOptions) -> Result<TestEnv, SandboxError> {
        let (client, sandbox) = match std::env::var(KUBECONFIG_ENV) {
            Ok(path) if !path.is_empty() => {
                let yaml =
                    std::fs::read_to_string(&path).map_err(|source| SandboxError::Write {
                        path: path.clone(),
                        source,
                    })?;
                (client_from_kubeconfig(&yaml).await?, None)
            }
            _ => {
                let sandbox = Sandbox::start(opts).await?;
                (sandbox.client().await?, Some(sandbox))
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
        })
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

    /// Deletes the test's namespace.
    pub async fn cleanup(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}
