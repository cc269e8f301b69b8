//! The API semantics, independent of HTTP: create, get, list, update, patch and
//! delete with the behaviour kube-apiserver documents (and `../shared/apiserver-recordings`
//! shows): generateName, uid, generation, resourceVersion preconditions, the status
//! subresource, finalizers, deletion propagation, schema validation of custom resources.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::api_error::ApiError;
use crate::objects::{self, is_deleting, meta_mut};
use crate::registry::{Registry, Served};
use crate::store::{Store, StoreError, rv_of};
use crate::validation::FieldError;

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    /// `fieldManager`, else the User-Agent up to its first `/`, else `unknown`.
    pub manager: String,
    pub field_validation: FieldValidation,
    /// Server-side apply: take fields from other managers.
    pub force: bool,
    /// The body's managedFields were computed by server-side apply: keep them.
    pub managed_fields_computed: bool,
}

/// What a write produced.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub object: Value,
    pub created: bool,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    /// `Background`, `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// A patch's format, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

/// The namespaces that exist from the start.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The API server's state and semantics.
pub struct ApiServer {
    pub store: Store,
    pub registry: Registry,
    /// Wakes the garbage collector.
    pub gc_wakeup: tokio::sync::Notify,
}

impl ApiServer {
    /// A server with the built-in resources and the initial namespaces.
    pub fn new() -> Self {
        let server = ApiServer {
            store: Store::default(),
            registry: Registry::with_builtins(crate::discovery::builtin_resources()),
            gc_wakeup: tokio::sync::Notify::new(),
        };
        for ns in INITIAL_NAMESPACES {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            if let Some(served) = server.registry.get("", "v1", "namespaces") {
                let _ = server.create(
                    &served,
                    None,
                    obj,
                    &WriteOptions {
                        manager: "sandbox".into(),
                        ..Default::default()
                    },
                );
            }
        }
        server
    }

    fn require_namespace(&self, ns: &str) -> Result<(), ApiError> {
        match self.store.get("/namespaces", "", ns) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if is_deleting(&n) => Err(ApiError::forbidden(
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
                json!({"name": ns, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
            )),
            Some(_) => Ok(()),
        }
    }

    /// GET of one object.
    pub fn get(&self, served: &Served, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&served.key(), ns, name)
            .ok_or_else(|| ApiError::not_found(&served.info, name))
    }

    /// POST: creates an object.
    pub fn create(
        &self,
        served: &Served,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let info = &served.info;
        check_type_meta(served, &body)?;
        if let Some(m) = body.as_object_mut() {
            m.entry("apiVersion")
                .or_insert_with(|| json!(info.api_version()));
            m.entry("kind").or_insert_with(|| json!(info.kind));
        }
        let ns = if info.namespaced {
            ns.unwrap_or_default().to_string()
        } else {
            String::new()
        };
        if info.namespaced {
            match body.pointer("/metadata/namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
        }
        let mut warnings = self.prune(served, &mut body, opts)?;
        crate::builtin_validation::decode_check(info, &body)?;
        let meta = meta_mut(&mut body)
            .ok_or_else(|| ApiError::bad_request("the object provided is not an object"))?;
        // Fields the server owns.
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if !opts.managed_fields_computed {
            meta.remove("managedFields");
        }
        if info.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty()
            && let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
        {
            name = format!("{prefix}{}", objects::random_suffix());
            meta.insert("name".into(), json!(name));
        }
        let mut errs = name_errors(info, &name);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
        if info.custom || has_generation(info) {
            meta.insert("generation".into(), json!(1));
        }
        if info.status_subresource
            && info.custom
            && let Some(m) = body.as_object_mut()
        {
            m.remove("status");
        }
        initialize_builtin(info, &mut body);
        errs.extend(self.validate(served, &body, None));
        if !errs.is_empty() {
            return Err(ApiError::invalid(
                info,
                &name,
                &with_cel_skip_marker(info, errs),
            ));
        }
        if info.namespaced {
            self.require_namespace(&ns).map_err(|e| match e {
                // Refused in a namespace being deleted: named as the object refused.
                ApiError::Status { code: 403, .. } => ApiError::forbidden(
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        info.qualified_plural()
                    ),
                    json!({"name": name, "kind": info.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
                ),
                other => other,
            })?;
        }
        if info.kind == "CustomResourceDefinition" {
            self.prepare_crd(&mut body, None)?;
        }
        if !opts.managed_fields_computed {
            crate::managed_fields_glue::record_update(served, None, &mut body, &opts.manager, None);
        }
        default_namespace_spec(info, &mut body);
        warnings.extend(builtin_warnings(info, &body));
        if opts.dry_run {
            if self.store.get(&served.key(), &ns, &name).is_some() {
                return Err(ApiError::already_exists(info, &name));
            }
            return Ok(WriteResult {
                object: body,
                created: true,
                warnings,
            });
        }
        let stored = self
            .store
            .create(&served.key(), &ns, &name, body)
            .map_err(|e| match e {
                StoreError::AlreadyExists => ApiError::already_exists(info, &name),
                other => ApiError::internal(other.to_string()),
            })?;
        if info.kind == "CustomResourceDefinition" {
            self.registry
                .add_crd(&stored)
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        if !objects::owner_uids(&stored).is_empty() {
            self.gc_wakeup.notify_one();
        }
        Ok(WriteResult {
            object: (*stored).clone(),
            created: true,
            warnings,
        })
    }

    /// Prunes unknown fields of a custom resource per `fieldValidation`.
    fn prune(
        &self,
        served: &Served,
        body: &mut Value,
        opts: &WriteOptions,
    ) -> Result<Vec<String>, ApiError> {
        let Some(validator) = &served.validator else {
            return Ok(Vec::new());
        };
        let removed = validator.prune_and_default(body);
        let removed: Vec<String> = removed.into_iter().collect();
        match opts.field_validation {
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(removed
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect()),
            FieldValidation::Strict if removed.is_empty() => Ok(Vec::new()),
            FieldValidation::Strict => {
                let fields: Vec<String> = removed
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    served.info.kind,
                    served.info.version,
                    served.info.kind,
                    fields.join(", ")
                )))
            }
        }
    }

    /// Schema and built-in validation; `old` is the stored object on updates.
    fn validate(&self, served: &Served, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = match &served.validator {
            Some(v) => v.validate(obj, old),
            None => Vec::new(),
        };
        errs.extend(crate::builtin_validation::validate(&served.info, obj, old));
        errs
    }

    /// PUT: replaces an object (or its status).
    pub fn replace(
        &self,
        served: &Served,
        ns: &str,
        name: &str,
        mut body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let info = &served.info;
        check_type_meta(served, &body)?;
        let body_name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let current = self.get(served, ns, name)?;
        let warnings = self.prune(served, &mut body, opts)?;
        let expected = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        // Leases, like custom resources, take no unconditional update (their error
        // names the resource: `leases.coordination.k8s.io "x" is invalid`).
        let lease = info.group == "coordination.k8s.io" && info.kind == "Lease";
        let named = if lease {
            let mut i = info.clone();
            i.kind = i.plural.clone();
            i
        } else {
            info.clone()
        };
        let expected_rv = match expected.as_deref() {
            None | Some("") if info.custom || lease => {
                return Err(ApiError::invalid(
                    &named,
                    name,
                    &[FieldError::invalid(
                        "metadata.resourceVersion",
                        Some(json!(0)),
                        "must be specified for an update",
                    )],
                ));
            }
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
            ),
        };
        if let Some(uid) = body.pointer("/metadata/uid").and_then(Value::as_str)
            && !uid.is_empty()
            && uid != objects::uid(&current)
        {
            return Err(ApiError::conflict_message(
                info,
                name,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    info.qualified_plural(),
                    objects::uid(&current)
                ),
            ));
        }
        self.commit(
            served,
            ns,
            name,
            &current,
            body,
            subresource,
            opts,
            expected_rv,
            warnings,
        )
    }

    /// PATCH: computes the new object from the stored one and the patch.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        served: &Served,
        ns: &str,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let info = &served.info;
        let current = match self.store.get(&served.key(), ns, name) {
            Some(c) => c,
            None if patch_type == PatchType::Apply && subresource.is_none() => {
                // Server-side apply creates.
                let mut body = crate::managed_fields_glue::apply(served, None, patch, opts, None)?;
                if let Some(meta) = meta_mut(&mut body) {
                    meta.insert("name".into(), json!(name));
                }
                let create_opts = WriteOptions {
                    field_validation: FieldValidation::Ignore,
                    ..opts.clone()
                };
                return self.create_applied(served, ns, body, &create_opts);
            }
            None => return Err(ApiError::not_found(info, name)),
        };
        let mut warnings = Vec::new();
        let mut next = match patch_type {
            PatchType::Merge => {
                let mut next = (*current).clone();
                crate::patch::merge_patch(&mut next, patch);
                next
            }
            PatchType::Json => crate::patch::json_patch(&current, patch)
                .map_err(crate::patch_glue::to_api_error)?,
            PatchType::Strategic => {
                if info.custom {
                    return Err(ApiError::unsupported_media_type(
                        "application/strategic-merge-patch+json",
                        &[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/apply-patch+yaml",
                        ],
                    ));
                }
                crate::patch::strategic_merge_patch(&current, patch, &info.kind)
                    .map_err(crate::patch_glue::to_api_error)?
            }
            PatchType::Apply => {
                crate::managed_fields_glue::apply(served, Some(&current), patch, opts, subresource)?
            }
        };
        let commit_opts = WriteOptions {
            managed_fields_computed: patch_type == PatchType::Apply,
            ..opts.clone()
        };
        let opts = &commit_opts;
        warnings.extend(self.prune(served, &mut next, opts)?);
        // A patch may carry a resourceVersion precondition.
        let expected_rv = match patch
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            Some(s) => s.parse::<u64>().ok(),
            None => None,
        };
        if let Some(meta) = meta_mut(&mut next) {
            meta.insert("resourceVersion".into(), json!(rv_of(&current).to_string()));
        }
        self.commit(
            served,
            ns,
            name,
            &current,
            next,
            subresource,
            opts,
            expected_rv,
            warnings,
        )
    }

    fn create_applied(
        &self,
        served: &Served,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let create_opts = WriteOptions {
            managed_fields_computed: true,
            ..opts.clone()
        };
        self.create(served, Some(ns), body, &create_opts)
    }

    /// The common path of PUT and PATCH.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        served: &Served,
        ns: &str,
        name: &str,
        current: &Value,
        mut next: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
        expected_rv: Option<u64>,
        mut warnings: Vec<String>,
    ) -> Result<WriteResult, ApiError> {
        let info = &served.info;
        if info.status_subresource {
            match subresource {
                Some("status") => {
                    // Only status changes through /status (and, for an apply, the
                    // managed fields it computed).
                    let status = next.get("status").cloned();
                    let applied_fields = next.pointer("/metadata/managedFields").cloned();
                    let mut merged = current.clone();
                    if opts.managed_fields_computed
                        && let (Some(fields), Some(meta)) = (applied_fields, meta_mut(&mut merged))
                    {
                        meta.insert("managedFields".into(), fields);
                    }
                    if let Some(m) = merged.as_object_mut() {
                        match status {
                            Some(s) => m.insert("status".into(), s),
                            None => m.remove("status"),
                        };
                    }
                    next = merged;
                }
                _ => {
                    if let Some(m) = next.as_object_mut() {
                        match current.get("status") {
                            Some(s) => m.insert("status".into(), s.clone()),
                            None => m.remove("status"),
                        };
                    }
                }
            }
        }
        // What the server owns stays as stored.
        let keep = [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "namespace",
            "name",
        ];
        let current_meta = current
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(meta) = meta_mut(&mut next) {
            for k in keep {
                if k == "managedFields" && opts.managed_fields_computed {
                    continue;
                }
                match current_meta.get(k) {
                    Some(v) => meta.insert(k.to_string(), v.clone()),
                    None => meta.remove(k),
                };
            }
        }
        if is_deleting(current) {
            let before = objects::finalizers(current);
            let added: Vec<String> = objects::finalizers(&next)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                let list = added
                    .iter()
                    .map(|f| format!("{f:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let err = FieldError::forbidden(
                    "metadata.finalizers",
                    format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
                    ),
                );
                // kube-apiserver checks the metadata twice (the generic and the
                // type's update validation): the cause comes twice, the message once.
                return Err(ApiError::invalid(info, name, &[err.clone(), err]));
            }
        }
        crate::builtin_validation::decode_check(info, &next)?;
        initialize_builtin(info, &mut next);
        default_namespace_spec(info, &mut next);
        let errs = self.validate(served, &next, Some(current));
        if !errs.is_empty() {
            return Err(ApiError::invalid(
                info,
                name,
                &with_cel_skip_marker(info, errs),
            ));
        }
        if (info.custom || has_generation(info))
            && !objects::equal_except(
                &next,
                current,
                if info.status_subresource {
                    &["metadata", "status"]
                } else {
                    &["metadata"]
                },
                &[],
            )
        {
            let g = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(meta) = meta_mut(&mut next) {
                meta.insert("generation".into(), json!(g + 1));
            }
        }
        if info.kind == "CustomResourceDefinition" {
            self.prepare_crd(&mut next, Some(current))?;
        }
        let changed = !objects::equal_except(&next, current, &[], &["resourceVersion"]);
        if changed && !opts.managed_fields_computed {
            crate::managed_fields_glue::record_update(
                served,
                Some(current),
                &mut next,
                &opts.manager,
                subresource,
            );
        }
        warnings.extend(builtin_warnings(info, &next));
        if opts.dry_run {
            return Ok(WriteResult {
                object: next,
                created: false,
                warnings,
            });
        }
        // The last finalizer of an object being deleted is gone: the object goes.
        if is_deleting(&next) && objects::finalizers(&next).is_empty() {
            let rv = rv_of(current);
            self.store
                .delete(&served.key(), ns, name, expected_rv.or(Some(rv)))
                .map_err(|e| match e {
                    StoreError::Conflict => ApiError::conflict(info, name),
                    StoreError::NotFound => ApiError::not_found(info, name),
                    other => ApiError::internal(other.to_string()),
                })?;
            self.after_delete(served, &next);
            return Ok(WriteResult {
                object: next,
                created: false,
                warnings,
            });
        }
        let stored = self
            .store
            .update(&served.key(), ns, name, next, expected_rv)
            .map_err(|e| match e {
                StoreError::Conflict => ApiError::conflict(info, name),
                StoreError::NotFound => ApiError::not_found(info, name),
                other => ApiError::internal(other.to_string()),
            })?;
        if info.kind == "CustomResourceDefinition" {
            self.registry
                .add_crd(&stored)
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        if is_deleting(&stored) {
            // Finalizers of the garbage collector and namespaces make progress in passes.
            self.store.mark_gc_needed();
        }
        if objects::owner_uids(&stored) != objects::owner_uids(current) || is_deleting(&stored) {
            self.gc_wakeup.notify_one();
        }
        Ok(WriteResult {
            object: (*stored).clone(),
            created: false,
            warnings,
        })
    }

    /// DELETE of one object. Returns the object (when finalizers keep it) or a Status.
    pub fn delete(
        &self,
        served: &Served,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let info = &served.info;
        let current = self.get(served, ns, name)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != objects::uid(&current)
        {
            return Err(ApiError::conflict_message(
                info,
                name,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    info.qualified_plural(),
                    objects::uid(&current)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv.parse::<u64>().ok() != Some(rv_of(&current))
        {
            return Err(ApiError::conflict_message(
                info,
                name,
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    info.qualified_plural(),
                    rv_of(&current)
                ),
            ));
        }
        let mut next = (*current).clone();
        let mut finalizers = objects::finalizers(&current);
        let policy = opts.propagation.as_deref().unwrap_or("Background");
        let namespace_kind = info.kind == "Namespace" && info.group.is_empty();
        if namespace_kind && INITIAL_NAMESPACES.contains(&name) && name != "kube-node-lease" {
            return Err(ApiError::forbidden(
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
                json!({"name": name, "kind": "namespaces"}),
            ));
        }
        if !is_deleting(&current) {
            match policy {
                "Foreground" if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.push("foregroundDeletion".into())
                }
                "Orphan" if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                _ => {}
            }
        }
        if namespace_kind && let Some(m) = next.as_object_mut() {
            m.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            m.insert("status".into(), json!({"phase": "Terminating"}));
        }
        let keep = !finalizers.is_empty() || namespace_kind;
        if !keep {
            if opts.dry_run {
                return Ok(success_status(info, name, objects::uid(&current)));
            }
            self.store
                .delete(&served.key(), ns, name, Some(rv_of(&current)))
                .map_err(|e| match e {
                    StoreError::Conflict => ApiError::conflict(info, name),
                    StoreError::NotFound => ApiError::not_found(info, name),
                    other => ApiError::internal(other.to_string()),
                })?;
            self.after_delete(served, &current);
            return Ok(success_status(info, name, objects::uid(&current)));
        }
        if is_deleting(&current) && objects::finalizers(&current) == finalizers {
            return Ok((*current).clone());
        }
        if let Some(meta) = meta_mut(&mut next) {
            if finalizers.is_empty() {
                meta.remove("finalizers");
            } else {
                meta.insert("finalizers".into(), json!(finalizers));
            }
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(objects::now_rfc3339()));
                if !namespace_kind {
                    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                if let Some(g) = meta.get("generation").and_then(Value::as_i64) {
                    meta.insert("generation".into(), json!(g + 1));
                }
            }
        }
        if opts.dry_run {
            return Ok(next);
        }
        let stored = self
            .store
            .update(&served.key(), ns, name, next, Some(rv_of(&current)))
            .map_err(|e| match e {
                StoreError::Conflict => ApiError::conflict(info, name),
                StoreError::NotFound => ApiError::not_found(info, name),
                other => ApiError::internal(other.to_string()),
            })?;
        // Deletion held by finalizers: foreground/orphan propagation and namespaces
        // are carried out by the garbage collector.
        self.store.mark_gc_needed();
        self.gc_wakeup.notify_one();
        Ok((*stored).clone())
    }

    /// After an object left the store: CRDs stop being served, dependents are collected.
    fn after_delete(&self, served: &Served, gone: &Value) {
        if served.info.kind == "CustomResourceDefinition" {
            let group = gone
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = gone
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.registry.remove_crd(gone);
            self.store.drop_resource(&format!("{group}/{plural}"));
        }
        self.gc_wakeup.notify_one();
    }

    /// Sets a CRD's status (names accepted, established) and refuses rules that do not
    /// compile or whose estimated cost exceeds the budget (`old`: the stored CRD on an update).
    fn prepare_crd(&self, crd: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
        let name = objects::name(crd).to_string();
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if let Some(schema) = v.pointer("/schema/openAPIV3Schema")
                && let Err(e) = crate::validation::SchemaValidator::new(schema.clone())
            {
                let info =
                    self.registry
                        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions");
                let field = format!(
                    "spec.validation.openAPIV3Schema{}.x-kubernetes-validations[0].rule",
                    if e.path.is_empty() {
                        String::new()
                    } else {
                        format!(".properties[{}]", e.path)
                    }
                );
                let err = FieldError::invalid(
                    field,
                    Some(json!(e.rule)),
                    format!("compilation failed: {}", e.detail),
                );
                return Err(match info {
                    Some(i) => ApiError::invalid(&i.info, &name, &[err]),
                    None => ApiError::bad_request(err.to_string()),
                });
            }
        }
        let cost_errors = crate::validation::cel_cost::crd_cost_errors(crd, old);
        if !cost_errors.is_empty() {
            return Err(
                match self
                    .registry
                    .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                {
                    Some(i) => ApiError::invalid(&i.info, &name, &cost_errors),
                    None => ApiError::bad_request(cost_errors[0].to_string()),
                },
            );
        }
        let names = crd
            .pointer("/spec/names")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let versions: Vec<Value> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|v| v["storage"] == true)
                    .filter_map(|v| v.get("name").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let now = objects::now_rfc3339();
        if let Some(m) = crd.as_object_mut() {
            m.insert(
                "status".into(),
                json!({
                    "acceptedNames": names,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
                    ],
                    "storedVersions": versions
                }),
            );
        }
        Ok(())
    }
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a built-in kind carries `metadata.generation`.
fn has_generation(info: &crate::resources::ResourceInfo) -> bool {
    matches!(info.kind.as_str(), "Ingress" | "CustomResourceDefinition")
}

/// Defaults the API server gives built-in objects.
fn initialize_builtin(info: &crate::resources::ResourceInfo, obj: &mut Value) {
    if info.custom {
        return;
    }
    let Some(m) = obj.as_object_mut() else { return };
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => {
            // The NamespaceDefaultLabelName admission: a label naming the namespace.
            let name = m
                .get("metadata")
                .and_then(|meta| meta.get("name"))
                .cloned()
                .unwrap_or_default();
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
            if !m.contains_key("status") {
                m.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("conversion")
                    .or_insert_with(|| json!({"strategy": "None"}));
            }
        }
        ("", "Event") => {
            // Fields core/v1 Events always carry as kube-apiserver answers them.
            for (k, v) in [
                ("eventTime", Value::Null),
                ("firstTimestamp", Value::Null),
                ("lastTimestamp", Value::Null),
                ("reportingComponent", json!("")),
                ("reportingInstance", json!("")),
            ] {
                m.entry(k).or_insert(v);
            }
        }
        ("", "Secret") => {
            if !m.contains_key("type") {
                m.insert("type".into(), json!("Opaque"));
            }
            // stringData is merged into data, base64-encoded.
            if let Some(Value::Object(sd)) = m.remove("stringData") {
                use base64::Engine;
                let data = m.entry("data").or_insert_with(|| json!({}));
                if let Some(d) = data.as_object_mut() {
                    for (k, v) in sd {
                        let text = v.as_str().unwrap_or_default();
                        d.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(text)),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

/// A namespace's `spec.finalizers`, set as the registry sets it (after the managed
/// fields are computed: they do not record it).
fn default_namespace_spec(info: &crate::resources::ResourceInfo, obj: &mut Value) {
    if info.custom || info.kind != "Namespace" || !info.group.is_empty() {
        return;
    }
    if let Some(m) = obj.as_object_mut()
        && !m.contains_key("spec")
    {
        m.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
    }
}

/// Warnings the API server adds for built-in objects (e.g. a tls Secret without PEM).
fn builtin_warnings(info: &crate::resources::ResourceInfo, obj: &Value) -> Vec<String> {
    crate::builtin_validation::warnings(info, obj)
}

/// Checks `apiVersion` and `kind` of a body against the resource.
fn check_type_meta(served: &Served, body: &Value) -> Result<(), ApiError> {
    let info = &served.info;
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {})",
            info.kind
        )));
    }
    let text = body.to_string();
    let excerpt: String = text.chars().take(30).collect();
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    // A built-in object's type is known from the path: kind and apiVersion may be left out.
    if kind.is_empty() && !info.custom {
        return Ok(());
    }
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): Object 'Kind' is missing in '{text}' ({excerpt} ...)",
            info.kind
        )));
    }
    let api_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !api_version.is_empty() && api_version != info.api_version() {
        let (g, _) = api_version.split_once('/').unwrap_or(("", api_version));
        if g == info.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                info.api_version()
            )));
        }
    }
    if kind != info.kind {
        let name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut other = info.clone();
        other.kind = kind.to_string();
        return Err(ApiError::invalid(
            &other,
            name,
            &[FieldError::invalid(
                "kind",
                Some(json!(kind)),
                format!("must be {}", info.kind),
            )],
        ));
    }
    Ok(())
}

/// Errors about `metadata.name`.
fn name_errors(info: &crate::resources::ResourceInfo, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        let mut e = FieldError::required("metadata.name");
        e.detail = "name or generateName is required".into();
        return vec![e];
    }
    let namespace_like = info.kind == "Namespace" && info.group.is_empty();
    // RBAC objects take any path segment name (`ValidateRBACName` is
    // `path.IsValidPathSegmentName`): `system:discovery`, `cert-manager:leaderelection`.
    if info.group == "rbac.authorization.k8s.io" {
        let detail = if name == "." || name == ".." {
            Some(format!("may not be '{name}'"))
        } else if name.contains('/') {
            Some("may not contain '/'".to_string())
        } else if name.contains('%') {
            Some("may not contain '%'".to_string())
        } else {
            None
        };
        return detail
            .map(|d| vec![FieldError::invalid("metadata.name", Some(json!(name)), d)])
            .unwrap_or_default();
    }
    if name.len() > 253 {
        return vec![FieldError::invalid(
            "metadata.name",
            Some(json!(name)),
            "must be no more than 253 characters",
        )];
    }
    let ok = if namespace_like {
        objects::is_dns_label(name)
    } else {
        objects::is_dns_subdomain(name) || info.kind == "CustomResourceDefinition"
    };
    if ok {
        return Vec::new();
    }
    let detail = if namespace_like {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    };
    vec![FieldError::invalid(
        "metadata.name",
        Some(json!(name)),
        detail,
    )]
}

/// Adds the "rules not checked" cause when a metadata error precedes schema checks.
fn with_cel_skip_marker(
    info: &crate::resources::ResourceInfo,
    mut errs: Vec<FieldError>,
) -> Vec<FieldError> {
    // Built-in objects have no CEL rules to skip.
    if !info.custom {
        return errs;
    }
    let has_marker = errs.iter().any(|e| e.field == "<nil>");
    let stops = errs.iter().any(FieldError::stops_cel);
    if stops && !has_marker {
        errs.push(FieldError::invalid(
            "<nil>",
            Some(Value::Null),
            crate::validation::CEL_SKIPPED,
        ));
    }
    // The marker always comes last.
    errs.sort_by_key(|e| e.field == "<nil>");
    errs
}

/// The Status of a delete that removed the object at once.
fn success_status(info: &crate::resources::ResourceInfo, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    details["kind"] = json!(info.plural);
    details["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
