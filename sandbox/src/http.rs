//! The HTTP face of the sandbox: paths, verbs, query parameters, content types,
//! authentication and authorization, watch streams and Table output, mapped onto
//! `ApiServer`.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::api_error::ApiError;
use crate::apiserver::{ApiServer, DeleteOptions, FieldValidation, PatchType, WriteOptions};
use crate::objects;
use crate::registry::Served;
use crate::resources::ResourceInfo;
use crate::store::{Change, EventType, StoreError};

/// Who a bearer token belongs to.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// Shared state of the HTTP layer.
pub struct App {
    pub server: Arc<ApiServer>,
    pub tokens: RwLock<HashMap<String, Identity>>,
    /// Authorize requests with RBAC (tokens of `system:masters` always pass).
    pub rbac: bool,
    /// `host:port` reported by `/api`.
    pub address: RwLock<String>,
    /// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Requests authorized, for least-privilege checks: (user, rule that allowed it).
    pub rbac_log: RwLock<Vec<(String, String)>>,
    /// ServiceAccount tokens issued by TokenRequests (audiences, expiry).
    pub issued_tokens: RwLock<HashMap<String, crate::tokens::IssuedToken>>,
    /// Faults injected into the faulty user's requests.
    pub faults: crate::faults::Faults,
}

/// A parsed resource path.
#[derive(Debug, Clone, Default)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn query_map(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/api/v1/...` and `/apis/{g}/{v}/...` into their parts.
fn parse_resource_path(path: &str) -> Option<ResourcePath> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let mut p = ResourcePath {
        group,
        version,
        ..Default::default()
    };
    match rest {
        [] => return None,
        ["namespaces", ns, plural, tail @ ..]
            if !(p.group.is_empty()
                && (*plural == "status" || *plural == "finalize")
                && tail.is_empty()) =>
        {
            p.namespace = Some(ns.to_string());
            p.plural = plural.to_string();
            match tail {
                [] => {}
                [name] => p.name = Some(name.to_string()),
                [name, sub] => {
                    p.name = Some(name.to_string());
                    p.subresource = Some(sub.to_string());
                }
                _ => return None,
            }
        }
        [plural, tail @ ..] => {
            p.plural = plural.to_string();
            match tail {
                [] => {}
                [name] => p.name = Some(name.to_string()),
                [name, sub] => {
                    p.name = Some(name.to_string());
                    p.subresource = Some(sub.to_string());
                }
                _ => return None,
            }
        }
    }
    Some(p)
}

fn json_response(
    status: StatusCode,
    body: &impl serde::Serialize,
    warnings: &[String],
) -> Response {
    let mut resp = Response::new(Body::from(serde_json::to_string(body).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn error_response(e: &ApiError) -> Response {
    match e {
        ApiError::PageNotFound => {
            let mut resp = Response::new(Body::from("404 page not found\n"));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        ApiError::Status { code: 429, body } => {
            let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, body, &[]);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
        ApiError::Status { code, body } => json_response(
            StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            &[],
        ),
    }
}

fn text_response(text: &str) -> Response {
    let mut resp = Response::new(Body::from(text.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The entry point of every request.
pub async fn handle(app: Arc<App>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
    };
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or_default();
    let query = query_map(raw_query);
    match route(
        &app,
        &parts.method,
        &path,
        &query,
        raw_query,
        &parts.headers,
        bytes,
    )
    .await
    {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Identity {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        });
    };
    let token = auth.strip_prefix("Bearer ").unwrap_or_default().trim();
    let tokens = app
        .tokens
        .read()
        .map_err(|_| ApiError::internal("token table poisoned"))?;
    tokens
        .get(token)
        .cloned()
        .ok_or_else(ApiError::unauthorized)
}

fn authorize(
    app: &App,
    who: &Identity,
    method: &Method,
    path: &str,
    query: &str,
) -> Result<(), ApiError> {
    if !app.rbac || who.groups.iter().any(|g| g == "system:masters") {
        return Ok(());
    }
    let attrs =
        crate::rbac::request_attributes(method.as_str(), path, query, &who.user, &who.groups);
    let snapshot = rbac_snapshot(&app.server);
    let decision = crate::rbac::authorize(&snapshot, &attrs);
    match decision.is_allowed() {
        true => {
            if let (Some(rule), Ok(mut log)) = (decision.granting_rule(), app.rbac_log.write()) {
                log.push((who.user.clone(), format!("{rule:?}")));
            }
            Ok(())
        }
        false => {
            let mut details = json!({});
            if let Some(n) = &attrs.name {
                details["name"] = json!(n);
            }
            if !attrs.api_group.is_empty() {
                details["group"] = json!(attrs.api_group);
            }
            details["kind"] = json!(attrs.resource);
            Err(ApiError::forbidden(
                crate::rbac::forbidden_message(&attrs),
                details,
            ))
        }
    }
}

fn rbac_snapshot(server: &ApiServer) -> crate::rbac::RbacSnapshot {
    let list = |plural: &str| -> Vec<Value> {
        server
            .store
            .list(&format!("rbac.authorization.k8s.io/{plural}"), None)
            .0
            .iter()
            .map(|o| (**o).clone())
            .collect()
    };
    crate::rbac::RbacSnapshot {
        roles: list("roles"),
        cluster_roles: list("clusterroles"),
        role_bindings: list("rolebindings"),
        cluster_role_bindings: list("clusterrolebindings"),
    }
}

async fn route(
    app: &Arc<App>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    sent_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = authenticate(app, headers)?;
    let raw_query: String = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    authorize(app, &who, method, path, &raw_query)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let resources = || app.server.registry.all();
    match path.trim_end_matches('/') {
        "/healthz" | "/readyz" | "/livez" => return Ok(text_response("ok")),
        "/version" => {
            return Ok(json_response(
                StatusCode::OK,
                &crate::discovery::version(),
                &[],
            ));
        }
        "/api" => {
            if crate::discovery::wants_aggregated(&accept) {
                return Ok(aggregated(crate::discovery::aggregated_core(&resources())));
            }
            let addr = app.address.read().map(|a| a.clone()).unwrap_or_default();
            return Ok(json_response(
                StatusCode::OK,
                &crate::discovery::core_versions(&addr),
                &[],
            ));
        }
        "/apis" => {
            if crate::discovery::wants_aggregated(&accept) {
                return Ok(aggregated(
                    crate::discovery::aggregated_groups(&resources()),
                ));
            }
            return Ok(json_response(
                StatusCode::OK,
                &crate::discovery::group_list(&resources()),
                &[],
            ));
        }
        "/api/v1" => {
            return Ok(json_response(
                StatusCode::OK,
                &crate::discovery::core_resource_list(&resources()),
                &[],
            ));
        }
        _ => {}
    }
    if let Some(doc) = path.strip_prefix("/openapi/") {
        return openapi(app, doc);
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (
            &Method::POST,
            [
                "api",
                "v1",
                "namespaces",
                ns,
                "serviceaccounts",
                name,
                "token",
            ],
        ) => {
            let body: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("decoding the TokenRequest: {e}")))?;
            let out = crate::tokens::token_request(app, ns, name, &body)?;
            return Ok(json_response(StatusCode::CREATED, &out, &[]));
        }
        (&Method::POST, ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => {
            let body: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("decoding the TokenReview: {e}")))?;
            let out = crate::tokens::token_review(app, &body)?;
            return Ok(json_response(StatusCode::CREATED, &out, &[]));
        }
        _ => {}
    }
    // Groups served by an extension API server (an APIService with a Service).
    if let Some(proxied) =
        crate::aggregation::proxy(app, &who, method, path, sent_query, headers, body.clone()).await
    {
        return Ok(proxied);
    }
    match segs.as_slice() {
        ["apis", g] => {
            return crate::discovery::group(&resources(), g)
                .map(|v| json_response(StatusCode::OK, &v, &[]))
                .ok_or(ApiError::PageNotFound);
        }
        ["apis", g, v] => {
            return crate::discovery::resource_list(&resources(), g, v)
                .map(|v| json_response(StatusCode::OK, &v, &[]))
                .ok_or(ApiError::PageNotFound);
        }
        _ => {}
    }
    let rp = parse_resource_path(path).ok_or(ApiError::PageNotFound)?;
    let served = app
        .server
        .registry
        .get(&rp.group, &rp.version, &rp.plural)
        .ok_or(ApiError::PageNotFound)?;
    if rp.namespace.is_some() && !served.info.namespaced {
        return Err(ApiError::PageNotFound);
    }
    if let Some(sub) = &rp.subresource {
        let ok = (sub == "status" && served.info.status_subresource)
            || (sub == "finalize"
                && served.info.kind == "Namespace"
                && served.info.group.is_empty());
        if !ok {
            return Err(ApiError::PageNotFound);
        }
    }
    let ns = rp.namespace.clone().unwrap_or_default();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let opts = write_options(query, user_agent)?;
    let subresource = rp.subresource.as_deref().filter(|s| *s == "status");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");

    let watching = *method == Method::GET && is_true(query.get("watch"));
    if !watching {
        let write = *method == Method::PUT || *method == Method::PATCH;
        match app.faults.for_request(&who.user, write) {
            Some(crate::faults::RequestFault::Conflict) => {
                return Err(ApiError::conflict(
                    &served.info,
                    rp.name.as_deref().unwrap_or_default(),
                ));
            }
            Some(crate::faults::RequestFault::Throttle) => {
                return Err(ApiError::too_many_requests());
            }
            None => {}
        }
    }
    let resumed = query
        .get("resourceVersion")
        .is_some_and(|rv| !rv.is_empty() && rv != "0");
    let watch = |q: &HashMap<String, String>| {
        let faults = app.faults.for_watch(&who.user, resumed);
        watch(app, &served, rp.namespace.as_deref(), q, &accept, faults)
    };
    match (method.clone(), rp.name.clone()) {
        (Method::GET, None) => {
            if is_true(query.get("watch")) {
                return watch(query);
            }
            list(app, &served, rp.namespace.as_deref(), query, &accept)
        }
        (Method::GET, Some(name)) => {
            if is_true(query.get("watch")) {
                let mut q = query.clone();
                q.insert("fieldSelector".into(), format!("metadata.name={name}"));
                return watch(&q);
            }
            let obj = app.server.get(&served, &ns, &name)?;
            respond_object(&served.info, &obj, &accept, query, StatusCode::OK, &[])
        }
        (Method::POST, None) => {
            let body = parse_body(&body, &served.info)?;
            let result = app
                .server
                .create(&served, rp.namespace.as_deref(), body, &opts)?;
            respond_object(
                &served.info,
                &result.object,
                &accept,
                query,
                StatusCode::CREATED,
                &result.warnings,
            )
        }
        (Method::PUT, Some(name)) => {
            let body = parse_body(&body, &served.info)?;
            let result = app
                .server
                .replace(&served, &ns, &name, body, subresource, &opts)?;
            respond_object(
                &served.info,
                &result.object,
                &accept,
                query,
                StatusCode::OK,
                &result.warnings,
            )
        }
        (Method::PATCH, Some(name)) => {
            let media = content_type.split(';').next().unwrap_or_default().trim();
            let patch_type = match media {
                "application/merge-patch+json" => PatchType::Merge,
                "application/json-patch+json" => PatchType::Json,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
                other => {
                    return Err(ApiError::unsupported_media_type(
                        other,
                        &[
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/apply-patch+yaml",
                            "application/strategic-merge-patch+json",
                        ],
                    ));
                }
            };
            let patch: Value = if patch_type == PatchType::Apply {
                if query.get("fieldManager").is_none_or(|m| m.is_empty()) {
                    return Err(ApiError::invalid_plain(
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    )
                    .with_field_cause("fieldManager", "FieldValueRequired", "Required value: is required for apply patch"));
                }
                let text = String::from_utf8_lossy(&body);
                serde_saphyr::from_str(&text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
            };
            if patch_type == PatchType::Apply {
                check_apply_body(&served, &patch, &name)?;
            }
            let result =
                app.server
                    .patch(&served, &ns, &name, patch_type, &patch, subresource, &opts)?;
            respond_object(
                &served.info,
                &result.object,
                &accept,
                query,
                // Server-side apply that creates answers 201.
                if result.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &result.warnings,
            )
        }
        (Method::DELETE, Some(name)) => {
            let mut dopts = delete_options(query, &body)?;
            dopts.dry_run = opts.dry_run;
            let out = app.server.delete(&served, &ns, &name, &dopts)?;
            Ok(json_response(StatusCode::OK, &out, &[]))
        }
        (Method::DELETE, None) => {
            let dopts = delete_options(query, &body)?;
            let (items, _) = select(app, &served, rp.namespace.as_deref(), query)?;
            let mut deleted = Vec::new();
            for item in items {
                let out = app.server.delete(
                    &served,
                    objects::namespace(&item),
                    objects::name(&item),
                    &dopts,
                )?;
                if out.get("kind") != Some(&json!("Status")) {
                    deleted.push(out);
                } else {
                    deleted.push((*item).clone());
                }
            }
            let list = json!({
                "apiVersion": served.info.api_version(),
                "kind": served.info.list_kind,
                "metadata": {"resourceVersion": app.server.store.current_rv().to_string()},
                "items": deleted,
            });
            Ok(json_response(StatusCode::OK, &list, &[]))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource".to_string(),
        )),
    }
}

trait WithCause {
    fn with_field_cause(self, field: &str, reason: &str, message: &str) -> Self;
}

impl WithCause for ApiError {
    fn with_field_cause(self, field: &str, reason: &str, message: &str) -> Self {
        match self {
            ApiError::Status { code, mut body } => {
                body["details"] = json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": reason, "message": message, "field": field}]});
                ApiError::Status { code, body }
            }
            other => other,
        }
    }
}

/// `/openapi/v3` (the index), `/openapi/v3/{api/v1|apis/g/v}` and `/openapi/v2`.
fn openapi(app: &App, doc: &str) -> Result<Response, ApiError> {
    let resources = app.server.registry.all();
    let doc = doc.trim_end_matches('/');
    let body = match doc {
        "v2" => crate::openapi::v2(&resources),
        "v3" => {
            let mut resp = text_response(&crate::openapi::v3_index(&resources).to_string());
            *resp.status_mut() = StatusCode::OK;
            return Ok(resp);
        }
        other => {
            let gv = other.strip_prefix("v3/").ok_or(ApiError::PageNotFound)?;
            let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
                ["api", v] => (String::new(), v.to_string()),
                ["apis", g, v] => (g.to_string(), v.to_string()),
                _ => return Err(ApiError::PageNotFound),
            };
            crate::openapi::v3_group_version(&resources, &group, &version)
                .ok_or(ApiError::PageNotFound)?
        }
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

fn aggregated(doc: Value) -> Response {
    let mut resp = json_response(StatusCode::OK, &doc, &[]);
    if let Ok(v) = HeaderValue::from_str(crate::discovery::AGGREGATED_CONTENT_TYPE) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("true" | "1"))
}

fn write_options(
    query: &HashMap<String, String>,
    user_agent: &str,
) -> Result<WriteOptions, ApiError> {
    let manager = match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None if !user_agent.is_empty() => user_agent
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_string(),
        None => "unknown".to_string(),
    };
    let field_validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    Ok(WriteOptions {
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
        manager,
        field_validation,
        force: is_true(query.get("force")),
        managed_fields_computed: false,
    })
}

fn delete_options(
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        dry_run: query.get("dryRun").is_some_and(|d| d == "All"),
        propagation: query.get("propagationPolicy").cloned(),
        ..Default::default()
    };
    if !body.is_empty() {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("decoding DeleteOptions: {e}")))?;
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            o.propagation = Some(p.to_string());
        }
        if let Some(p) = v.pointer("/preconditions/uid").and_then(Value::as_str) {
            o.precondition_uid = Some(p.to_string());
        }
        if let Some(p) = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            o.precondition_rv = Some(p.to_string());
        }
        if v.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|d| d == "All"))
        {
            o.dry_run = true;
        }
        if v.get("orphanDependents") == Some(&Value::Bool(true)) {
            o.propagation = Some("Orphan".into());
        }
    }
    Ok(o)
}

fn parse_body(body: &Bytes, info: &ResourceInfo) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({})",
            info.kind,
            text.chars().take(30).collect::<String>()
        ))
    })
}

fn check_apply_body(served: &Served, patch: &Value, name: &str) -> Result<(), ApiError> {
    if patch
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}, Kind={}",
            served.info.api_version(),
            ""
        )));
    }
    let body_name = patch
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(name);
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

fn respond_object(
    info: &ResourceInfo,
    obj: &Value,
    accept: &str,
    query: &HashMap<String, String>,
    status: StatusCode,
    warnings: &[String],
) -> Result<Response, ApiError> {
    if let Some(version) = crate::table::parse_table_accept(accept) {
        let mut table = crate::table::table_for_object(
            info,
            obj,
            include_object(query),
            jiff::Timestamp::now(),
            true,
        );
        crate::table::set_table_version(&mut table, version);
        return Ok(json_response(status, &table, warnings));
    }
    if crate::table::wants_metadata_only(accept) {
        return Ok(json_response(status, &partial_metadata(obj), warnings));
    }
    Ok(json_response(status, obj, warnings))
}

fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn include_object(query: &HashMap<String, String>) -> crate::table::IncludeObject {
    match query.get("includeObject").map(String::as_str) {
        Some("None") => crate::table::IncludeObject::None,
        Some("Object") => crate::table::IncludeObject::Object,
        _ => crate::table::IncludeObject::Metadata,
    }
}

/// The objects a list (or deletecollection, or watch start) selects.
fn select(
    app: &App,
    served: &Served,
    ns: Option<&str>,
    query: &HashMap<String, String>,
) -> Result<(Vec<Arc<Value>>, u64), ApiError> {
    let (labels, fields) = selectors(served, query)?;
    let (items, rv) = app.server.store.list(&served.key(), ns);
    let items = items
        .into_iter()
        .filter(|o| {
            labels
                .as_ref()
                .is_none_or(|s| s.matches(&objects::labels(o)))
        })
        .filter(|o| fields.as_ref().is_none_or(|s| s.matches(o)))
        .collect();
    Ok((items, rv))
}

type Selectors = (
    Option<crate::selectors::LabelSelector>,
    Option<crate::selectors::FieldSelector>,
);

fn selectors(served: &Served, query: &HashMap<String, String>) -> Result<Selectors, ApiError> {
    let labels = match query.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            crate::selectors::LabelSelector::parse(s)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
        None => None,
    };
    let fields = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => {
            let f = crate::selectors::FieldSelector::parse(s)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let supported =
                crate::selectors::supported_field_selectors(&served.info.group, &served.info.kind);
            f.validate_fields(&supported, served.info.custom)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Some(f)
        }
        None => None,
    };
    Ok((labels, fields))
}

/// What a continue token holds: the list's resourceVersion and the last object sent.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    ns: String,
    name: String,
}

fn list(
    app: &App,
    served: &Served,
    ns: Option<&str>,
    query: &HashMap<String, String>,
    accept: &str,
) -> Result<Response, ApiError> {
    use base64::Engine;
    let info = &served.info;
    if let Some(rv) = query
        .get("resourceVersion")
        .and_then(|s| s.parse::<u64>().ok())
    {
        let current = app.server.store.current_rv();
        if rv > current {
            return Err(ApiError::timeout(
                format!("Timeout: Too large resource version: {rv}, current: {current}"),
                1,
            ));
        }
    }
    let (labels, fields) = selectors(served, query)?;
    let has_selector = labels.is_some() || fields.is_some();
    let continued = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice::<ContinueToken>(&b).ok())
                .ok_or_else(|| ApiError::bad_request("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."))?,
        ),
        None => None,
    };
    let after = continued.as_ref().map(|t| (t.ns.clone(), t.name.clone()));
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let page = app
        .server
        .store
        .page(&served.key(), ns, after.as_ref(), limit, |o| {
            labels
                .as_ref()
                .is_none_or(|s| s.matches(&objects::labels(o)))
                && fields.as_ref().is_none_or(|s| s.matches(o))
        });
    let list_rv = continued.as_ref().map_or(page.rv, |t| t.rv);
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if page.more {
        let last = page.items.last();
        let token = ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv: list_rv,
            ns: last
                .map(|o| objects::namespace(o).to_string())
                .unwrap_or_default(),
            name: last
                .map(|o| objects::name(o).to_string())
                .unwrap_or_default(),
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&token).unwrap_or_default());
        meta["continue"] = json!(encoded);
        if !has_selector {
            meta["remainingItemCount"] = json!(page.following);
        }
    } else if info.custom {
        meta["continue"] = json!("");
    }
    let table_version = crate::table::parse_table_accept(accept);
    if table_version.is_none() && crate::table::wants_metadata_only(accept) {
        // Cut each object down to its metadata before anything is copied.
        let items: Vec<Value> = page.items.iter().map(|o| partial_metadata(o)).collect();
        let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items});
        return Ok(json_response(StatusCode::OK, &list, &[]));
    }
    let page = page.items;
    if let Some(version) = table_version {
        let objects_only: Vec<Value> = page.iter().map(|o| (**o).clone()).collect();
        let mut table = crate::table::table_for_list(
            info,
            &objects_only,
            meta,
            include_object(query),
            jiff::Timestamp::now(),
            true,
        );
        crate::table::set_table_version(&mut table, version);
        return Ok(json_response(StatusCode::OK, &table, &[]));
    }
    // The stored objects are written out as they are, not copied into the answer first.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: String,
        items: Vec<&'a Value>,
        kind: &'a str,
        metadata: Value,
    }
    let list = List {
        api_version: info.api_version(),
        items: page.iter().map(|o| &**o).collect(),
        kind: &info.list_kind,
        metadata: meta,
    };
    Ok(json_response(StatusCode::OK, &list, &[]))
}

fn watch_line(event: &str, object: &Value) -> Bytes {
    // Written out from the stored object, not from a copy of it.
    #[derive(serde::Serialize)]
    struct Event<'a> {
        #[serde(rename = "type")]
        event: &'a str,
        object: &'a Value,
    }
    let mut line = serde_json::to_string(&Event { event, object }).unwrap_or_default();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta})
}

fn watch(
    app: &Arc<App>,
    served: &Arc<Served>,
    ns: Option<&str>,
    query: &HashMap<String, String>,
    accept: &str,
    faults: crate::faults::WatchFaults,
) -> Result<Response, ApiError> {
    let info = served.info.clone();
    let send_initial = is_true(query.get("sendInitialEvents"));
    if send_initial && query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
    {
        return Err(ApiError::invalid_plain(
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let (labels, fields) = selectors(served, query)?;
    let metadata_only = crate::table::wants_metadata_only(accept);
    let watch_line = move |event: &str, object: &Value| -> Bytes {
        if metadata_only && event != "ERROR" && event != "BOOKMARK" {
            watch_line(event, &partial_metadata(object))
        } else {
            watch_line(event, object)
        }
    };
    let bookmarks = is_true(query.get("allowWatchBookmarks"));
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let requested_rv = query
        .get("resourceVersion")
        .filter(|r| !r.is_empty())
        .cloned();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let matches = move |o: &Value| {
        labels
            .as_ref()
            .is_none_or(|s| s.matches(&objects::labels(o)))
            && fields.as_ref().is_none_or(|s| s.matches(o))
    };
    let store_key = served.key();
    let ns_filter = ns.map(str::to_string);
    let in_scope = move |c: &Change| {
        c.resource == store_key && ns_filter.as_ref().is_none_or(|n| &c.namespace == n)
    };

    // What to replay first.
    let mut initial: Vec<Bytes> = Vec::new();
    let from_rv = match requested_rv.as_deref().map(|r| r.parse::<u64>()) {
        Some(Ok(rv)) if rv != 0 && !send_initial => rv,
        Some(Err(_)) => {
            return Err(ApiError::bad_request(format!(
                "invalid resource version: {}",
                requested_rv.unwrap_or_default()
            )));
        }
        _ => {
            let (items, rv) = app.server.store.list(&served.key(), ns);
            for o in items.iter().filter(|o| matches(o)) {
                initial.push(watch_line("ADDED", o));
            }
            if send_initial {
                initial.push(watch_line("BOOKMARK", &bookmark(&info, rv, true)));
            }
            rv
        }
    };
    let subscribed = if faults.gone {
        Err(StoreError::Gone {
            requested: from_rv,
            oldest: app.server.store.current_rv(),
        })
    } else {
        app.server.store.subscribe(&served.key(), from_rv)
    };
    let (backlog, mut receiver) = match subscribed {
        Ok(s) => s,
        Err(StoreError::Gone { requested, oldest }) => {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {requested} ({oldest})"), "reason": "Expired", "code": 410});
            initial.push(watch_line("ERROR", &status));
            let body = Body::from_stream(futures::stream::iter(
                initial.into_iter().map(Ok::<_, std::convert::Infallible>),
            ));
            return Ok(watch_response(body, accept));
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let interval = app.bookmark_interval;
    let server = app.server.clone();
    let ended = app.clone();
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let render = |c: &Change| -> Option<Bytes> {
            let now = matches(&c.object);
            let before = c.previous.as_ref().is_some_and(|p| matches(p));
            let event = match c.event {
                EventType::Added if now => "ADDED",
                EventType::Modified if now && before => "MODIFIED",
                EventType::Modified if now => "ADDED",
                EventType::Modified if before => "DELETED",
                EventType::Deleted if now || before => "DELETED",
                _ => return None,
            };
            Some(watch_line(event, &c.object))
        };
        let mut last_rv = from_rv;
        for c in backlog.iter().filter(|c| in_scope(c)) {
            last_rv = last_rv.max(c.rv);
            if let Some(line) = render(c)
                && tx.send(line).await.is_err()
            {
                return;
            }
        }
        // A faulty watch ends early; the client resumes from its last resourceVersion.
        let deadline = match (timeout, faults.lifetime) {
            (Some(t), Some(l)) => Some(t.min(l)),
            (t, l) => t.or(l),
        }
        .map(|t| tokio::time::Instant::now() + t);
        let bookmark_every = match (timeout, interval) {
            (Some(t), i) if t <= i => t
                .saturating_sub(Duration::from_secs(1))
                .max(Duration::from_millis(500)),
            (_, i) => i,
        };
        let mut next_bookmark = tokio::time::Instant::now() + bookmark_every;
        loop {
            let wake = match deadline {
                Some(d) => d.min(next_bookmark),
                None => next_bookmark,
            };
            tokio::select! {
                received = receiver.recv() => match received {
                    Ok(c) => {
                        if c.rv <= last_rv { continue; }
                        last_rv = c.rv;
                        if !in_scope(&c) { continue; }
                        if let Some(line) = render(&c)
                            && tx.send(line).await.is_err() { return; }
                    }
                    // A watch whose client reads too slowly is ended, as kube-apiserver's
                    // watch cache ends an unresponsive watcher; the client resumes from
                    // its last resourceVersion, out of the resource's history.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        if faults.lifetime.is_some() {
                            ended.faults.record_watch_ended();
                        }
                        return;
                    }
                    if bookmarks {
                        let rv = server.store.current_rv();
                        if tx.send(watch_line("BOOKMARK", &bookmark(&info, rv, false))).await.is_err() { return; }
                    }
                    next_bookmark = tokio::time::Instant::now() + bookmark_every;
                }
                _ = tx.closed() => return,
            }
        }
    });
    if !faults.delay.is_zero() {
        return Ok(watch_response(delayed(app, rx, faults.delay), accept));
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(watch_response(Body::from_stream(stream), accept))
}

/// A watch body whose every line is delivered `delay` after it was produced (order
/// kept): an informer that lags behind the writes.
fn delayed(app: &Arc<App>, mut rx: tokio::sync::mpsc::Receiver<Bytes>, delay: Duration) -> Body {
    let (due_tx, due_rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Bytes)>();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if due_tx
                .send((tokio::time::Instant::now() + delay, line))
                .is_err()
            {
                return;
            }
        }
    });
    let app = app.clone();
    let stream = futures::stream::unfold(due_rx, move |mut due_rx| {
        let app = app.clone();
        async move {
            let (due, line) = due_rx.recv().await?;
            tokio::time::sleep_until(due).await;
            app.faults.record_delayed_event();
            Some((Ok::<_, std::convert::Infallible>(line), due_rx))
        }
    });
    Body::from_stream(stream)
}

fn watch_response(body: Body, _accept: &str) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_their_parts() {
        let p =
            parse_resource_path("/apis/cert-manager.io/v1/namespaces/ns1/certificates/c1/status")
                .expect("parses");
        assert_eq!(
            (p.group.as_str(), p.version.as_str()),
            ("cert-manager.io", "v1")
        );
        assert_eq!(p.namespace.as_deref(), Some("ns1"));
        assert_eq!(p.plural, "certificates");
        assert_eq!(p.name.as_deref(), Some("c1"));
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let n = parse_resource_path("/api/v1/namespaces/ns1").expect("parses");
        assert_eq!(
            (n.plural.as_str(), n.name.as_deref(), n.namespace.as_deref()),
            ("namespaces", Some("ns1"), None)
        );
        let s = parse_resource_path("/api/v1/namespaces/ns1/status").expect("parses");
        assert_eq!(
            (
                s.plural.as_str(),
                s.name.as_deref(),
                s.subresource.as_deref()
            ),
            ("namespaces", Some("ns1"), Some("status"))
        );
        let c = parse_resource_path("/apis/cert-manager.io/v1/clusterissuers").expect("parses");
        assert_eq!(
            (c.plural.as_str(), c.name, c.namespace),
            ("clusterissuers", None, None)
        );
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = query_map("labelSelector=app%3Ddemo%2Ctier+in+(a)&watch=1");
        assert_eq!(
            q.get("labelSelector").map(String::as_str),
            Some("app=demo,tier in (a)")
        );
        assert_eq!(q.get("watch").map(String::as_str), Some("1"));
    }
}
