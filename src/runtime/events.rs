//! Events as cert-manager writes them: core/v1 Events from component `cert-manager`
//! style reporters, repeated events folded into one with a count.

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::Mutex;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An event's (object uid, reason, message), hashed with this process's random keys
/// (the fold table holds 8 bytes per event instead of its three strings; two events
/// of 4,096 share a hash once in about 10^12 tables), and (event name, count) of its
/// Event.
type SeenEvents = HashMap<u64, (String, i32)>;

/// How many recent events are remembered to fold repeats into one Event.
const MAX_REMEMBERED_EVENTS: usize = 4096;

/// Writes Events about objects.
pub struct Recorder {
    client: kube::Client,
    component: String,
    /// (object uid, reason, message) → (event name, count): repeats update one Event.
    seen: Mutex<SeenEvents>,
    /// The keys the fold table's hashes are made with.
    keys: std::hash::RandomState,
}

impl Recorder {
    pub fn new(client: kube::Client, component: &str) -> Self {
        Recorder {
            client,
            component: component.to_string(),
            seen: Mutex::new(HashMap::new()),
            keys: std::hash::RandomState::new(),
        }
    }

    /// Records an event about `obj`. Failures are logged, never returned: events are best effort.
    pub async fn publish<K>(&self, obj: &K, type_: EventType, reason: &str, message: &str)
    where
        K: Resource<DynamicType = ()>,
    {
        let namespace = obj.namespace().unwrap_or_else(|| "default".to_string());
        // Every event is a change of state worth a log line (routine reconciles log at
        // debug): the object, the reason and the message, as `kubectl describe` shows.
        let kind = K::kind(&());
        let name = obj.name_any();
        match type_ {
            EventType::Warning => {
                tracing::warn!(kind = %kind, namespace = %namespace, name = %name, reason, "{message}")
            }
            EventType::Normal => {
                tracing::info!(kind = %kind, namespace = %namespace, name = %name, reason, "{message}")
            }
        }
        let uid = obj.uid().unwrap_or_default();
        let key = self.keys.hash_one((uid.as_str(), reason, message));
        let now = Time(jiff::Timestamp::now());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let previous = self.seen.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some((name, count)) = previous {
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": now});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                if let Ok(mut m) = self.seen.lock() {
                    m.insert(key, (name, count + 1));
                }
                return;
            }
        }
        let name = format!(
            "{}.{:x}",
            obj.name_any(),
            jiff::Timestamp::now().as_nanosecond() as u64
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some(K::api_version(&()).to_string()),
                kind: Some(K::kind(&()).to_string()),
                name: Some(obj.name_any()),
                namespace: obj.namespace(),
                uid: Some(uid),
                resource_version: obj.resource_version(),
                ..Default::default()
            },
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.as_str().to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            event_time: None::<MicroTime>,
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if let Ok(mut m) = self.seen.lock() {
                    // Folding repeats matters for recent events only; keep memory bounded.
                    if m.len() >= MAX_REMEMBERED_EVENTS {
                        m.clear();
                    }
                    m.insert(key, (name, 1));
                }
            }
            Err(e) => tracing::debug!(error = %e, reason, "could not record event"),
        }
    }
}
