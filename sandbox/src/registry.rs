//! The resource types the sandbox serves: the built-in ones and those of every
//! CustomResourceDefinition stored, with a schema validator per custom resource.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::resources::ResourceInfo;
use crate::validation::{RuleCompileError, SchemaValidator};

/// A served resource type and its validator.
pub struct Served {
    pub info: ResourceInfo,
    pub validator: Option<SchemaValidator>,
}

impl Served {
    /// The storage key shared by every version of the resource.
    pub fn key(&self) -> String {
        format!("{}/{}", self.info.group, self.info.plural)
    }
}

/// Every served resource type, by (group, version, plural).
#[derive(Default)]
pub struct Registry {
    by_path: RwLock<HashMap<(String, String, String), Arc<Served>>>,
}

impl Registry {
    /// A registry with the built-in resource types.
    pub fn with_builtins(builtins: Vec<ResourceInfo>) -> Self {
        let r = Registry::default();
        for info in builtins {
            r.insert(Served {
                info,
                validator: None,
            });
        }
        r
    }

    fn insert(&self, served: Served) {
        let key = (
            served.info.group.clone(),
            served.info.version.clone(),
            served.info.plural.clone(),
        );
        if let Ok(mut m) = self.by_path.write() {
            m.insert(key, Arc::new(served));
        }
    }

    /// The resource served at `/apis/{group}/{version}/{plural}` (group empty for core).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Served>> {
        self.by_path
            .read()
            .ok()?
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource of a kind in a group (any version), for owner references.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<Served>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.by_path
            .read()
            .ok()?
            .values()
            .find(|s| s.info.group == group && s.info.version == version && s.info.kind == kind)
            .cloned()
    }

    /// The served version of a resource by its storage key (`group/plural`).
    pub fn by_storage_key(&self, key: &str) -> Option<Arc<Served>> {
        let (group, plural) = key.split_once('/')?;
        self.by_path
            .read()
            .ok()?
            .iter()
            .find(|((g, _, p), _)| g == group && p == plural)
            .map(|(_, s)| s.clone())
    }

    /// Every served resource type.
    pub fn all(&self) -> Vec<ResourceInfo> {
        let mut v: Vec<ResourceInfo> = self
            .by_path
            .read()
            .map(|m| m.values().map(|s| s.info.clone()).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| (&a.group, &a.version, &a.plural).cmp(&(&b.group, &b.version, &b.plural)));
        v
    }

    /// Serves the versions of a CRD (replacing what it served before).
    pub fn add_crd(&self, crd: &Value) -> Result<(), RuleCompileError> {
        let infos = crate::discovery::resource_info_from_crd(crd);
        let mut served = Vec::new();
        for info in infos {
            let validator = match &info.schema {
                Some(schema) => Some(SchemaValidator::new(schema.clone())?),
                None => None,
            };
            served.push(Served { info, validator });
        }
        self.remove_crd(crd);
        for s in served {
            self.insert(s);
        }
        Ok(())
    }

    /// Stops serving a CRD's resource.
    pub fn remove_crd(&self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Ok(mut m) = self.by_path.write() {
            m.retain(|(g, _, p), s| !(g == &group && p == &plural && s.info.custom));
        }
    }
}
