//! What every controller has, whatever its feature: the API client, where it acts
//! (its namespace, the cluster resource namespace), how many reconciles run at
//! once, the event recorder, the metrics and the clock. Feature contexts
//! (`certificates::Context`, `issuers::Context`) wrap this one and add only what
//! their loops use; nothing here knows a feature.

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::events::Recorder;

/// Where and how the controllers act.
#[derive(Clone)]
pub struct Settings {
    /// Watch only this namespace (ClusterIssuers are still watched).
    pub namespace: Option<String>,
    /// Where ClusterIssuers' Secrets live.
    pub cluster_resource_namespace: String,
    pub max_concurrent_reconciles: u16,
    pub clock: Arc<dyn Clock>,
    /// The component name events are reported from.
    pub component: String,
    /// Which namespaces this replica works on (all, unless `--shards`).
    pub shards: crate::runtime::shards::Shards,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: None,
            cluster_resource_namespace: "cert-manager".to_string(),
            max_concurrent_reconciles: 16,
            clock: Arc::new(crate::runtime::clock::SystemClock),
            component: "cert-manager".to_string(),
            shards: Default::default(),
        }
    }
}

/// The context shared by every controller.
pub struct Context {
    pub client: kube::Client,
    pub config: Settings,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
}

impl Context {
    pub fn new(client: kube::Client, config: Settings, metrics: Arc<Metrics>) -> Arc<Context> {
        let recorder = Recorder::new(client.clone(), &config.component);
        Arc::new(Context {
            client,
            config,
            recorder,
            metrics,
        })
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.config.clock.now()
    }

    /// An `Api` over the namespace this process serves, or every namespace.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match &self.config.namespace {
            Some(ns) => kube::Api::namespaced(self.client.clone(), ns),
            None => kube::Api::all(self.client.clone()),
        }
    }
}
