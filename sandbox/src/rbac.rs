//! Kubernetes RBAC authorization over `rbac.authorization.k8s.io/v1` objects held as
//! JSON, the way kube-apiserver does it.
//!
//! - [`request_attributes`] ports the apiserver's `RequestInfoFactory.NewRequestInfo`
//!   (verb, API group, resource, subresource, namespace, name from method + URL).
//! - [`authorize`] ports the RBAC authorizer (`rbac.go` `RuleAllows`, the rule
//!   resolver's `VisitRulesFor`, `appliesTo`), preceded by the `system:masters`
//!   privileged-group authorizer. It reports which binding/role/rule allowed a request,
//!   so tests can check least privilege; [`allowing_rules`] lists every rule that
//!   would.
//! - [`forbidden_message`] is the `message` of kube's 403 Status
//!   (`responsewriters.Forbidden` + `apierrors.NewForbidden`).
//!
//! Not modelled: ClusterRole `aggregationRule` is ignored (only a ClusterRole's own
//! `rules` count; aggregated roles must list their rules explicitly), as are
//! impersonation, the Node authorizer and webhook authorizers.
//!
//! Pure: no I/O.

use serde_json::Value;

use crate::selectors::{FieldSelector, LabelSelector, go_quote};

/// What the authorizer sees of a request (`authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestAttributes {
    pub user: String,
    pub groups: Vec<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `proxy`; for non-resource requests the lowercased method.
    pub verb: String,
    /// Empty for the core group.
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The URL path (percent-decoded), used for non-resource requests.
    pub path: String,
    pub resource_request: bool,
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() {
            let hex = |x: u8| (x as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        if c == b'+' && plus_is_space {
            out.push(b' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of each query parameter, decoded (`url.ParseQuery` + `[0]`).
fn query_first<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The groups kube's authenticators add: `system:authenticated` for everyone but
/// `system:anonymous` (who gets `system:unauthenticated`), and for a service account
/// user `system:serviceaccount:<ns>:<name>` also `system:serviceaccounts` and
/// `system:serviceaccounts:<ns>`. Groups already present are not repeated.
pub fn effective_groups(user: &str, groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = groups.to_vec();
    let mut add = |g: String| {
        if !out.contains(&g) {
            out.push(g);
        }
    };
    if let Some(rest) = user.strip_prefix("system:serviceaccount:")
        && let Some((ns, name)) = rest.split_once(':')
        && !ns.is_empty()
        && !name.is_empty()
        && !name.contains(':')
    {
        add("system:serviceaccounts".to_string());
        add(format!("system:serviceaccounts:{ns}"));
    }
    if user == "system:anonymous" {
        add("system:unauthenticated".to_string());
    } else {
        add("system:authenticated".to_string());
    }
    out
}

/// `path.IsValidPathSegmentName`.
fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// Derives the authorization attributes of a request as kube-apiserver's
/// `RequestInfoFactory` does.
///
/// - Resource requests are `/api/{v}/...` and `/apis/{g}/{v}/...` with at least a
///   resource; everything else (`/api`, `/apis`, `/apis/g/v`, `/version`,
///   `/healthz`, `/openapi/...`) is a non-resource request whose verb is the lowercased
///   method.
/// - Verbs: GET/HEAD → `get`, or `list` on a collection, `watch` on a collection
///   with `watch` set to anything but `0`/`false`; POST → `create`; PUT → `update`;
///   PATCH → `patch`; DELETE → `delete`, or `deletecollection` on a collection;
///   `/watch/...` and `/proxy/...` legacy prefixes give `watch` / `proxy`.
/// - `/api/v1/namespaces/x` is resource `namespaces`, name `x`, and (as in kube)
///   namespace `x`; `/api/v1/namespaces/x/status|finalize` are its subresources;
///   `/api/v1/namespaces/x/secrets/y` is `secrets` `y` in namespace `x`.
/// - A list/watch with `fieldSelector=metadata.name=y` gets name `y` (so
///   `resourceNames` rules can allow single-object list/watch), unless the query does
///   not decode (then, as in kube, no name and only `watch` is honoured).
///
/// `groups` are extended with the implicit groups of [`effective_groups`].
pub fn request_attributes(
    method: &str,
    path: &str,
    query: &str,
    user: &str,
    groups: &[String],
) -> RequestAttributes {
    let path = percent_decode(path.split('?').next().unwrap_or(""), false);
    let mut attrs = RequestAttributes {
        user: user.to_string(),
        groups: effective_groups(user, groups),
        verb: method.to_ascii_lowercase(),
        path: path.clone(),
        ..RequestAttributes::default()
    };

    let trimmed = path.trim_matches('/');
    let parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    if parts.len() < 3 {
        return attrs;
    }
    let mut cur: &[&str] = match parts[0] {
        "api" => &parts[1..],
        "apis" => {
            if parts.len() < 4 {
                return attrs;
            }
            attrs.api_group = parts[1].to_string();
            &parts[2..]
        }
        _ => return attrs,
    };
    attrs.resource_request = true;
    // cur[0] is the version
    cur = &cur[1..];

    if matches!(cur.first(), Some(&"watch") | Some(&"proxy")) {
        attrs.verb = cur[0].to_string();
        if cur.len() < 2 {
            // kube fails the request ("unable to determine kind and namespace from url")
            return attrs;
        }
        cur = &cur[1..];
    } else {
        attrs.verb = match method.to_ascii_uppercase().as_str() {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }

    let mut namespace = String::new();
    if cur.first() == Some(&"namespaces") && cur.len() > 1 {
        namespace = cur[1].to_string();
        if cur.len() > 2 && !matches!(cur[2], "status" | "finalize") {
            cur = &cur[2..];
        }
    }

    let no_subresources = attrs.verb == "proxy";
    let mut name = String::new();
    if cur.len() >= 3 && !no_subresources {
        attrs.subresource = cur[2].to_string();
    }
    if cur.len() >= 2 {
        name = cur[1].to_string();
    }
    if let Some(r) = cur.first() {
        attrs.resource = r.to_string();
    }

    if name.is_empty() && attrs.verb == "get" {
        let params = parse_query(query);
        let decoded = decode_list_options(&params);
        let (watch, field_name) = match decoded {
            Some((watch, fs)) => (watch, fs),
            None => (
                query_first(&params, "watch").is_some_and(parse_go_bool_param),
                None,
            ),
        };
        attrs.verb = if watch { "watch" } else { "list" }.to_string();
        if let Some(n) = field_name
            && is_valid_path_segment_name(&n)
        {
            name = n;
        }
    }
    if name.is_empty() && attrs.verb == "delete" {
        attrs.verb = "deletecollection".to_string();
    }

    attrs.namespace = (!namespace.is_empty()).then_some(namespace);
    attrs.name = (!name.is_empty()).then_some(name);
    attrs
}

/// apimachinery's `Convert_Slice_string_To_bool`: anything but `0`/`false` is true.
fn parse_go_bool_param(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// A rough `DecodeParameters` into `ListOptions`: `None` when it would fail (bad label
/// or field selector, non-integer `limit`/`timeoutSeconds`); otherwise the watch flag
/// and the `metadata.name` the field selector requires, if any.
fn decode_list_options(params: &[(String, String)]) -> Option<(bool, Option<String>)> {
    if let Some(ls) = query_first(params, "labelSelector") {
        LabelSelector::parse(ls).ok()?;
    }
    for int_param in ["limit", "timeoutSeconds"] {
        if let Some(v) = query_first(params, int_param)
            && !v.is_empty()
        {
            v.parse::<i64>().ok()?;
        }
    }
    let field_name = match query_first(params, "fieldSelector") {
        Some(fs) => FieldSelector::parse(fs)
            .ok()?
            .requires_exact_match("metadata.name")
            .map(str::to_string),
        None => None,
    };
    let watch = query_first(params, "watch").is_some_and(parse_go_bool_param);
    Some((watch, field_name))
}

/// The RBAC objects the authorizer consults (`rbac.authorization.k8s.io/v1` JSON).
#[derive(Debug, Clone, Default)]
pub struct RbacSnapshot {
    pub roles: Vec<Value>,
    pub cluster_roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BindingKind {
    RoleBinding,
    ClusterRoleBinding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKind {
    Role,
    ClusterRole,
}

/// One rule of one role, reached through one binding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantingRule {
    pub binding_kind: BindingKind,
    /// The RoleBinding's namespace; `None` for a ClusterRoleBinding.
    pub binding_namespace: Option<String>,
    pub binding_name: String,
    pub role_kind: RoleKind,
    pub role_name: String,
    /// The Role's namespace (the binding's); `None` for a ClusterRole.
    pub role_namespace: Option<String>,
    /// Index into the role's `rules`.
    pub rule_index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedBy {
    /// The user is in `system:masters` (kube's privileged group authorizer).
    SystemMasters,
    Rule(GrantingRule),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(AllowedBy),
    /// `reason` is what kube appends to the 403 message after `": "`: empty, or
    /// `RBAC: ...` listing bindings whose role could not be found.
    Denied {
        reason: String,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// The rule that allowed the request, if one did.
    pub fn granting_rule(&self) -> Option<&GrantingRule> {
        match self {
            Decision::Allowed(AllowedBy::Rule(r)) => Some(r),
            _ => None,
        }
    }
}

fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn has(list: &[String], s: &str) -> bool {
    list.iter().any(|x| x == s)
}

/// `rbacv1helpers.VerbMatches` etc., combined as in `RuleAllows`.
pub fn rule_allows(attrs: &RequestAttributes, rule: &Value) -> bool {
    let verbs = str_list(rule, "verbs");
    let verb_ok = has(&verbs, "*") || has(&verbs, &attrs.verb);
    if !verb_ok {
        return false;
    }
    if attrs.resource_request {
        let combined = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let groups = str_list(rule, "apiGroups");
        let group_ok = has(&groups, "*") || has(&groups, &attrs.api_group);
        let resource_ok = str_list(rule, "resources").iter().any(|r| {
            r == "*"
                || *r == combined
                || (!attrs.subresource.is_empty()
                    && r.len() == attrs.subresource.len() + 2
                    && r.starts_with("*/")
                    && r.ends_with(&attrs.subresource))
        });
        let names = str_list(rule, "resourceNames");
        let name = attrs.name.as_deref().unwrap_or("");
        let name_ok = names.is_empty() || has(&names, name);
        group_ok && resource_ok && name_ok
    } else {
        str_list(rule, "nonResourceURLs").iter().any(|u| {
            u == "*"
                || *u == attrs.path
                || (u.ends_with('*') && attrs.path.starts_with(u.trim_end_matches('*')))
        })
    }
}

/// `appliesTo`: whether any subject matches the user.
fn applies_to(attrs: &RequestAttributes, subjects: &[Value], namespace: &str) -> bool {
    subjects.iter().any(|s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match kind {
            "User" => attrs.user == name,
            "Group" => has(&attrs.groups, name),
            "ServiceAccount" => {
                let sa_ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace);
                !sa_ns.is_empty() && attrs.user == format!("system:serviceaccount:{sa_ns}:{name}")
            }
            _ => false,
        }
    })
}

fn subjects(binding: &Value) -> Vec<Value> {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// What `VisitRulesFor` hands its visitor: a rule (with where it came from), or the
/// error of a binding whose role could not be resolved.
type Visited<'a> = Result<(GrantingRule, &'a Value), String>;

impl RbacSnapshot {
    /// `GetRoleReferenceRules`, with kube's not-found messages.
    fn role_rules(
        &self,
        role_ref: &Value,
        binding_namespace: &str,
    ) -> Result<(RoleKind, String, Vec<Value>), String> {
        let kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
        let (role_kind, pool, resource) = match kind {
            "Role" => (RoleKind::Role, &self.roles, "role"),
            "ClusterRole" => (RoleKind::ClusterRole, &self.cluster_roles, "clusterrole"),
            _ => {
                return Err(format!(
                    "unsupported role reference kind: {}",
                    go_quote(kind)
                ));
            }
        };
        let found = pool.iter().find(|r| {
            meta_str(r, "name") == name
                && (role_kind == RoleKind::ClusterRole
                    || meta_str(r, "namespace") == binding_namespace)
        });
        match found {
            Some(role) => Ok((
                role_kind,
                name.to_string(),
                role.get("rules")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            )),
            None => Err(format!(
                "{resource}.rbac.authorization.k8s.io {} not found",
                go_quote(name)
            )),
        }
    }

    /// `VisitRulesFor`: every (binding, role, rule) that applies to the user for the
    /// request's namespace, in kube's order (ClusterRoleBindings, then RoleBindings of
    /// the request's namespace). Stops when `visit` returns false.
    fn visit(&self, attrs: &RequestAttributes, visit: &mut dyn FnMut(Visited<'_>) -> bool) {
        for crb in &self.cluster_role_bindings {
            if !applies_to(attrs, &subjects(crb), "") {
                continue;
            }
            let role_ref = crb.get("roleRef").cloned().unwrap_or(Value::Null);
            match self.role_rules(&role_ref, "") {
                Err(e) => {
                    if !visit(Err(e)) {
                        return;
                    }
                }
                Ok((role_kind, role_name, rules)) => {
                    for (i, rule) in rules.iter().enumerate() {
                        let g = GrantingRule {
                            binding_kind: BindingKind::ClusterRoleBinding,
                            binding_namespace: None,
                            binding_name: meta_str(crb, "name").to_string(),
                            role_kind,
                            role_name: role_name.clone(),
                            role_namespace: None,
                            rule_index: i,
                        };
                        if !visit(Ok((g, rule))) {
                            return;
                        }
                    }
                }
            }
        }
        let Some(ns) = attrs.namespace.as_deref().filter(|n| !n.is_empty()) else {
            return;
        };
        for rb in &self.role_bindings {
            if meta_str(rb, "namespace") != ns || !applies_to(attrs, &subjects(rb), ns) {
                continue;
            }
            let role_ref = rb.get("roleRef").cloned().unwrap_or(Value::Null);
            match self.role_rules(&role_ref, ns) {
                Err(e) => {
                    if !visit(Err(e)) {
                        return;
                    }
                }
                Ok((role_kind, role_name, rules)) => {
                    for (i, rule) in rules.iter().enumerate() {
                        let g = GrantingRule {
                            binding_kind: BindingKind::RoleBinding,
                            binding_namespace: Some(ns.to_string()),
                            binding_name: meta_str(rb, "name").to_string(),
                            role_kind,
                            role_name: role_name.clone(),
                            role_namespace: (role_kind == RoleKind::Role).then(|| ns.to_string()),
                            rule_index: i,
                        };
                        if !visit(Ok((g, rule))) {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Authorizes a request: `system:masters` first, then RBAC. The first rule found (in
/// kube's visiting order) is reported.
pub fn authorize(snapshot: &RbacSnapshot, attrs: &RequestAttributes) -> Decision {
    if has(&attrs.groups, "system:masters") {
        return Decision::Allowed(AllowedBy::SystemMasters);
    }
    let mut allowed: Option<GrantingRule> = None;
    let mut errors: Vec<String> = Vec::new();
    snapshot.visit(attrs, &mut |item| match item {
        Err(e) => {
            errors.push(e);
            true
        }
        Ok((g, rule)) => {
            if rule_allows(attrs, rule) {
                allowed = Some(g);
                false
            } else {
                true
            }
        }
    });
    if let Some(g) = allowed {
        return Decision::Allowed(AllowedBy::Rule(g));
    }
    let mut uniq: Vec<String> = Vec::new();
    for e in errors {
        if !uniq.contains(&e) {
            uniq.push(e);
        }
    }
    let reason = match uniq.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", uniq[0]),
        _ => format!("RBAC: [{}]", uniq.join(", ")),
    };
    Decision::Denied { reason }
}

/// Every rule that would allow the request (not just the first), for least-privilege
/// accounting. Empty for `system:masters`-only access.
pub fn allowing_rules(snapshot: &RbacSnapshot, attrs: &RequestAttributes) -> Vec<GrantingRule> {
    let mut out = Vec::new();
    snapshot.visit(attrs, &mut |item| {
        if let Ok((g, rule)) = item
            && rule_allows(attrs, rule)
        {
            out.push(g);
        }
        true
    });
    out
}

/// `responsewriters.forbiddenMessage` (the part after `is forbidden: `), HTML-sanitized
/// as kube does.
fn forbidden_detail(attrs: &RequestAttributes) -> String {
    let user = go_quote(&attrs.user);
    let msg = if !attrs.resource_request {
        format!(
            "User {user} cannot {} path {}",
            attrs.verb,
            go_quote(&attrs.path)
        )
    } else {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        match attrs.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(ns) => format!(
                "User {user} cannot {} resource {} in API group {} in the namespace {}",
                attrs.verb,
                go_quote(&resource),
                go_quote(&attrs.api_group),
                go_quote(ns)
            ),
            None => format!(
                "User {user} cannot {} resource {} in API group {} at the cluster scope",
                attrs.verb,
                go_quote(&resource),
                go_quote(&attrs.api_group)
            ),
        }
    };
    msg.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `message` of kube's 403 Forbidden Status for a denied request, e.g.
/// `secrets "x" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource
/// "secrets" in API group "" in the namespace "ns"`,
/// `clusterissuers.cert-manager.io is forbidden: User "u" cannot list resource
/// "clusterissuers" in API group "cert-manager.io" at the cluster scope`, or for a
/// non-resource request `forbidden: User "u" cannot get path "/metrics"`.
pub fn forbidden_message(attrs: &RequestAttributes) -> String {
    forbidden_message_with_reason(attrs, "")
}

/// [`forbidden_message`] with the authorizer's reason appended (`: RBAC: ...`), as
/// kube does when the reason is not empty (see [`Decision::Denied`]).
pub fn forbidden_message_with_reason(attrs: &RequestAttributes, reason: &str) -> String {
    let mut err = forbidden_detail(attrs);
    if !reason.is_empty() {
        err.push_str(": ");
        err.push_str(reason);
    }
    // apierrors.NewForbidden(GroupResource{group, resource}, name, err)
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    let name = attrs.name.as_deref().unwrap_or("");
    if attrs.api_group.is_empty() && attrs.resource.is_empty() {
        format!("forbidden: {err}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {err}")
    } else {
        format!("{qualified} {} is forbidden: {err}", go_quote(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(method: &str, path: &str, query: &str, user: &str) -> RequestAttributes {
        request_attributes(method, path, query, user, &[])
    }

    fn short(
        a: &RequestAttributes,
    ) -> (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        bool,
    ) {
        (
            a.verb.clone(),
            a.api_group.clone(),
            a.resource.clone(),
            a.subresource.clone(),
            a.namespace.clone(),
            a.name.clone(),
            a.resource_request,
        )
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    fn o(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    // ---- request attributes ----

    #[test]
    fn request_attributes_table() {
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            (
                &'static str,
                &'static str,
                &'static str,
                &'static str,
                Option<&'static str>,
                Option<&'static str>,
                bool,
            ),
        );
        let rows: Vec<Row> = vec![
            (
                "GET",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                ("get", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "HEAD",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                ("get", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "",
                ("list", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=true",
                ("watch", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=1&resourceVersion=5",
                ("watch", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=false",
                ("list", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=0",
                ("list", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/secrets",
                "",
                ("list", "", "secrets", "", None, None, true),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/ns/secrets",
                "",
                ("watch", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/ns/secrets/x",
                "",
                ("watch", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "GET",
                "/api/v1/watch/secrets",
                "",
                ("watch", "", "secrets", "", None, None, true),
            ),
            (
                "POST",
                "/api/v1/namespaces/ns/secrets",
                "",
                ("create", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "PUT",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                ("update", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "PATCH",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                ("patch", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                ("delete", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/ns/secrets",
                "",
                (
                    "deletecollection",
                    "",
                    "secrets",
                    "",
                    Some("ns"),
                    None,
                    true,
                ),
            ),
            (
                "GET",
                "/api/v1/namespaces/x",
                "",
                ("get", "", "namespaces", "", Some("x"), Some("x"), true),
            ),
            (
                "GET",
                "/api/v1/namespaces",
                "",
                ("list", "", "namespaces", "", None, None, true),
            ),
            (
                "PUT",
                "/api/v1/namespaces/x/status",
                "",
                (
                    "update",
                    "",
                    "namespaces",
                    "status",
                    Some("x"),
                    Some("x"),
                    true,
                ),
            ),
            (
                "PUT",
                "/api/v1/namespaces/x/finalize",
                "",
                (
                    "update",
                    "",
                    "namespaces",
                    "finalize",
                    Some("x"),
                    Some("x"),
                    true,
                ),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/x",
                "",
                ("delete", "", "namespaces", "", Some("x"), Some("x"), true),
            ),
            (
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                (
                    "update",
                    "cert-manager.io",
                    "certificates",
                    "status",
                    Some("ns"),
                    Some("c"),
                    true,
                ),
            ),
            (
                "PATCH",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                (
                    "patch",
                    "cert-manager.io",
                    "certificates",
                    "status",
                    Some("ns"),
                    Some("c"),
                    true,
                ),
            ),
            (
                "GET",
                "/apis/cert-manager.io/v1/clusterissuers",
                "",
                (
                    "list",
                    "cert-manager.io",
                    "clusterissuers",
                    "",
                    None,
                    None,
                    true,
                ),
            ),
            (
                "GET",
                "/apis/cert-manager.io/v1/clusterissuers/ci",
                "",
                (
                    "get",
                    "cert-manager.io",
                    "clusterissuers",
                    "",
                    None,
                    Some("ci"),
                    true,
                ),
            ),
            (
                "GET",
                "/apis/cert-manager.io/v1/certificates",
                "watch=true",
                (
                    "watch",
                    "cert-manager.io",
                    "certificates",
                    "",
                    None,
                    None,
                    true,
                ),
            ),
            (
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
                "",
                (
                    "get",
                    "coordination.k8s.io",
                    "leases",
                    "",
                    Some("ns"),
                    Some("l"),
                    true,
                ),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods/p/log",
                "",
                ("get", "", "pods", "log", Some("ns"), Some("p"), true),
            ),
            (
                "GET",
                "/api/v1/proxy/namespaces/ns/pods/p/a/b",
                "",
                ("proxy", "", "pods", "", Some("ns"), Some("p"), true),
            ),
            // list/watch of one object by field selector: name is set
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dx",
                ("list", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dx&watch=true",
                ("watch", "", "secrets", "", Some("ns"), Some("x"), true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name!%3Dx",
                ("list", "", "secrets", "", Some("ns"), None, true),
            ),
            // the query does not decode: no name, watch still honoured
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dx&labelSelector=a+in+b&watch=true",
                ("watch", "", "secrets", "", Some("ns"), None, true),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dx&limit=abc",
                ("list", "", "secrets", "", Some("ns"), None, true),
            ),
            // non-resource
            ("GET", "/api", "", ("get", "", "", "", None, None, false)),
            ("GET", "/api/v1", "", ("get", "", "", "", None, None, false)),
            ("GET", "/apis", "", ("get", "", "", "", None, None, false)),
            (
                "GET",
                "/apis/cert-manager.io",
                "",
                ("get", "", "", "", None, None, false),
            ),
            (
                "GET",
                "/apis/cert-manager.io/v1",
                "",
                ("get", "", "", "", None, None, false),
            ),
            (
                "GET",
                "/version",
                "",
                ("get", "", "", "", None, None, false),
            ),
            (
                "GET",
                "/healthz",
                "",
                ("get", "", "", "", None, None, false),
            ),
            (
                "GET",
                "/openapi/v3/apis/cert-manager.io/v1",
                "",
                ("get", "", "", "", None, None, false),
            ),
            (
                "POST",
                "/metrics",
                "",
                ("post", "", "", "", None, None, false),
            ),
        ];
        for (method, path, query, want) in rows {
            let a = attrs(method, path, query, "u");
            let want = (
                s(want.0),
                s(want.1),
                s(want.2),
                s(want.3),
                want.4.map(s),
                want.5.map(s),
                want.6,
            );
            assert_eq!(short(&a), want, "{method} {path}?{query}");
            assert_eq!(a.path, path.split('?').next().unwrap_or(""));
        }
    }

    #[test]
    fn implicit_groups() {
        let a = request_attributes("GET", "/api", "", "system:serviceaccount:ns:sa", &[s("g")]);
        assert_eq!(
            a.groups,
            vec![
                s("g"),
                s("system:serviceaccounts"),
                s("system:serviceaccounts:ns"),
                s("system:authenticated")
            ]
        );
        let b = request_attributes("GET", "/api", "", "alice", &[s("system:authenticated")]);
        assert_eq!(b.groups, vec![s("system:authenticated")]);
        let c = request_attributes("GET", "/api", "", "system:anonymous", &[]);
        assert_eq!(c.groups, vec![s("system:unauthenticated")]);
    }

    // ---- authorization ----

    fn role(ns: &str, name: &str, rules: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"namespace": ns, "name": name}, "rules": rules})
    }

    fn cluster_role(name: &str, rules: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name}, "rules": rules})
    }

    fn rb(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"namespace": ns, "name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
               "subjects": subjects})
    }

    fn crb(name: &str, role: &str, subjects: Value) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": subjects})
    }

    fn user(name: &str) -> Value {
        json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}])
    }

    const SA: &str = "system:serviceaccount:ns:sa";

    /// One role with one rule, bound in namespace `ns` to user `u`.
    fn single_rule(rule: Value) -> RbacSnapshot {
        RbacSnapshot {
            roles: vec![role("ns", "r", json!([rule]))],
            role_bindings: vec![rb("ns", "b", "Role", "r", user("u"))],
            ..RbacSnapshot::default()
        }
    }

    /// One ClusterRole with one rule bound cluster-wide to user `u`.
    fn single_cluster_rule(rule: Value) -> RbacSnapshot {
        RbacSnapshot {
            cluster_roles: vec![cluster_role("cr", json!([rule]))],
            cluster_role_bindings: vec![crb("cb", "cr", user("u"))],
            ..RbacSnapshot::default()
        }
    }

    fn allowed(snap: &RbacSnapshot, method: &str, path: &str, query: &str, who: &str) -> bool {
        authorize(snap, &attrs(method, path, query, who)).is_allowed()
    }

    #[test]
    fn rule_feature_table() {
        // (rule, method, path, query, expected)
        let rows: Vec<(Value, &str, &str, &str, bool)> = vec![
            // verbs
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=true",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=true",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}),
                "DELETE",
                "/api/v1/namespaces/ns/secrets",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]}),
                "DELETE",
                "/api/v1/namespaces/ns/secrets",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["deletecollection"]}),
                "DELETE",
                "/api/v1/namespaces/ns/secrets",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}),
                "POST",
                "/api/v1/namespaces/ns/secrets",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["update"]}),
                "PATCH",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]}),
                "PATCH",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "verbs": []}),
                "GET",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                false,
            ),
            // apiGroups
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["get"]}),
                "GET",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["certificates"], "verbs": ["get"]}),
                "GET",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["*"], "resources": ["certificates"], "verbs": ["get"]}),
                "GET",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c",
                "",
                true,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["secrets"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                false,
            ),
            // resources and subresources
            (
                json!({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/configmaps/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/pods/p/log",
                "",
                true,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["certificates/status"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                true,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["certificates/status"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["*/status"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                true,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["*/status"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["*/status"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/finalizers",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["*/tatus"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                false,
            ),
            (
                json!({"apiGroups": ["cert-manager.io"], "resources": ["certificates/*"], "verbs": ["update"]}),
                "PUT",
                "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                "",
                false,
            ),
            // resourceNames
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["get", "update", "patch", "delete", "list", "watch", "create", "deletecollection"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets/y",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "PUT",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "PATCH",
                "/api/v1/namespaces/ns/secrets/y",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "DELETE",
                "/api/v1/namespaces/ns/secrets/x",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["p"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/pods/p/log",
                "",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["p"], "verbs": ["get"]}),
                "GET",
                "/api/v1/namespaces/ns/pods/q/log",
                "",
                false,
            ),
            // resourceNames cannot grant unnamed requests (list, watch, create, deletecollection)...
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "watch=true",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "POST",
                "/api/v1/namespaces/ns/secrets",
                "",
                false,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["*"]}),
                "DELETE",
                "/api/v1/namespaces/ns/secrets",
                "",
                false,
            ),
            // ...except a list/watch narrowed to that name by field selector
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["list", "watch"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dx&watch=1",
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["list", "watch"]}),
                "GET",
                "/api/v1/namespaces/ns/secrets",
                "fieldSelector=metadata.name%3Dy",
                false,
            ),
        ];
        for (i, (rule, method, path, query, want)) in rows.into_iter().enumerate() {
            let snap = single_rule(rule.clone());
            assert_eq!(
                allowed(&snap, method, path, query, "u"),
                want,
                "row {i}: {rule} {method} {path}?{query}"
            );
            assert!(
                !allowed(&snap, method, path, query, "other"),
                "row {i}: other user"
            );
            // The same rule through a ClusterRoleBinding works in any namespace.
            let cl = single_cluster_rule(rule.clone());
            let other_ns = path.replace("/namespaces/ns/", "/namespaces/elsewhere/");
            assert_eq!(
                allowed(&cl, method, &other_ns, query, "u"),
                want,
                "row {i} (cluster): {rule} {method} {other_ns}"
            );
        }
    }

    #[test]
    fn non_resource_urls() {
        let snap = single_cluster_rule(
            json!({"nonResourceURLs": ["/healthz", "/openapi/*"], "verbs": ["get"]}),
        );
        assert!(allowed(&snap, "GET", "/healthz", "", "u"));
        assert!(!allowed(&snap, "GET", "/healthz/ready", "", "u"));
        assert!(allowed(&snap, "GET", "/openapi/v3", "", "u"));
        assert!(allowed(&snap, "GET", "/openapi/", "", "u"));
        assert!(!allowed(&snap, "GET", "/openapi", "", "u"));
        assert!(!allowed(&snap, "POST", "/healthz", "", "u"));
        assert!(!allowed(&snap, "GET", "/version", "", "u"));
        let star = single_cluster_rule(json!({"nonResourceURLs": ["*"], "verbs": ["get"]}));
        assert!(allowed(&star, "GET", "/version", "", "u"));
        assert!(
            !allowed(&star, "GET", "/api/v1/namespaces/ns/secrets", "", "u"),
            "nonResourceURLs never grant resources"
        );
        // a resource rule never grants a non-resource path
        let res =
            single_cluster_rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        assert!(!allowed(&res, "GET", "/healthz", "", "u"));
        assert!(allowed(
            &res,
            "GET",
            "/api/v1/namespaces/ns/secrets",
            "",
            "u"
        ));
        // non-resource rules in a namespaced Role are never consulted (no namespace)
        let ns_role = single_rule(json!({"nonResourceURLs": ["*"], "verbs": ["*"]}));
        assert!(!allowed(&ns_role, "GET", "/version", "", "u"));
    }

    #[test]
    fn subjects_table() {
        let rule = json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]);
        let path = "/api/v1/namespaces/ns/configmaps/c";
        // (subjects, user, groups, expected)
        let rows: Vec<(Value, &str, Vec<String>, bool)> = vec![
            (user("alice"), "alice", vec![], true),
            (user("alice"), "bob", vec![], false),
            (
                json!([{"kind": "Group", "name": "devs"}]),
                "bob",
                vec![s("devs")],
                true,
            ),
            (
                json!([{"kind": "Group", "name": "devs"}]),
                "bob",
                vec![s("ops")],
                false,
            ),
            (
                json!([{"kind": "Group", "name": "system:authenticated"}]),
                "bob",
                vec![],
                true,
            ),
            (
                json!([{"kind": "Group", "name": "system:authenticated"}]),
                "system:anonymous",
                vec![],
                false,
            ),
            (
                json!([{"kind": "Group", "name": "system:unauthenticated"}]),
                "system:anonymous",
                vec![],
                true,
            ),
            (
                json!([{"kind": "Group", "name": "system:serviceaccounts"}]),
                SA,
                vec![],
                true,
            ),
            (
                json!([{"kind": "Group", "name": "system:serviceaccounts"}]),
                "bob",
                vec![],
                false,
            ),
            (
                json!([{"kind": "Group", "name": "system:serviceaccounts:ns"}]),
                SA,
                vec![],
                true,
            ),
            (
                json!([{"kind": "Group", "name": "system:serviceaccounts:other"}]),
                SA,
                vec![],
                false,
            ),
            (
                json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]),
                SA,
                vec![],
                true,
            ),
            (
                json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "other"}]),
                SA,
                vec![],
                false,
            ),
            (
                json!([{"kind": "ServiceAccount", "name": "other", "namespace": "ns"}]),
                SA,
                vec![],
                false,
            ),
            // a RoleBinding's SA subject without namespace defaults to the binding's
            (
                json!([{"kind": "ServiceAccount", "name": "sa"}]),
                SA,
                vec![],
                true,
            ),
            (json!([{"kind": "User", "name": SA}]), SA, vec![], true),
            (
                json!([{"kind": "Unknown", "name": "alice"}]),
                "alice",
                vec![],
                false,
            ),
            (
                json!([{"kind": "User", "name": "x"}, {"kind": "User", "name": "alice"}]),
                "alice",
                vec![],
                true,
            ),
            (json!([]), "alice", vec![], false),
        ];
        for (i, (subjects, who, groups, want)) in rows.into_iter().enumerate() {
            let snap = RbacSnapshot {
                roles: vec![role("ns", "r", rule.clone())],
                role_bindings: vec![rb("ns", "b", "Role", "r", subjects.clone())],
                ..RbacSnapshot::default()
            };
            let a = request_attributes("GET", path, "", who, &groups);
            assert_eq!(
                authorize(&snap, &a).is_allowed(),
                want,
                "row {i}: {subjects} {who} {a:?}"
            );
        }
        // A ClusterRoleBinding's SA subject needs its namespace.
        let snap = RbacSnapshot {
            cluster_roles: vec![cluster_role("cr", rule.clone())],
            cluster_role_bindings: vec![crb(
                "cb",
                "cr",
                json!([{"kind": "ServiceAccount", "name": "sa"}]),
            )],
            ..RbacSnapshot::default()
        };
        assert!(!allowed(&snap, "GET", path, "", SA));
        let snap = RbacSnapshot {
            cluster_role_bindings: vec![crb(
                "cb",
                "cr",
                json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]),
            )],
            ..snap
        };
        assert!(allowed(&snap, "GET", path, "", SA));
    }

    #[test]
    fn binding_scope() {
        let rules = json!([{"apiGroups": [""], "resources": ["secrets", "namespaces"], "verbs": ["get", "list"]}]);
        let snap = RbacSnapshot {
            cluster_roles: vec![cluster_role("reader", rules.clone())],
            roles: vec![role("other", "r", rules.clone())],
            role_bindings: vec![
                rb("ns", "read-in-ns", "ClusterRole", "reader", user("u")),
                // a RoleBinding pointing at a Role of the same name in another namespace
                rb("ns", "wrong-ns-role", "Role", "r", user("v")),
            ],
            ..RbacSnapshot::default()
        };
        // RoleBinding -> ClusterRole grants in the binding's namespace only
        assert!(allowed(
            &snap,
            "GET",
            "/api/v1/namespaces/ns/secrets/x",
            "",
            "u"
        ));
        assert!(allowed(
            &snap,
            "GET",
            "/api/v1/namespaces/ns/secrets",
            "",
            "u"
        ));
        assert!(!allowed(
            &snap,
            "GET",
            "/api/v1/namespaces/other/secrets/x",
            "",
            "u"
        ));
        assert!(
            !allowed(&snap, "GET", "/api/v1/secrets", "", "u"),
            "all-namespaces list is cluster scope"
        );
        // the namespace object itself is "in" its namespace, as in kube
        assert!(allowed(&snap, "GET", "/api/v1/namespaces/ns", "", "u"));
        assert!(!allowed(&snap, "GET", "/api/v1/namespaces/other", "", "u"));
        assert!(!allowed(&snap, "GET", "/api/v1/namespaces", "", "u"));
        // Role lookups are in the binding's namespace
        let d = authorize(
            &snap,
            &attrs("GET", "/api/v1/namespaces/ns/secrets/x", "", "v"),
        );
        assert_eq!(
            d,
            Decision::Denied {
                reason: s("RBAC: role.rbac.authorization.k8s.io \"r\" not found")
            }
        );
        // bindings in another namespace never apply
        let snap2 = RbacSnapshot {
            cluster_roles: vec![cluster_role("reader", rules)],
            role_bindings: vec![rb("other", "b", "ClusterRole", "reader", user("u"))],
            ..RbacSnapshot::default()
        };
        assert!(!allowed(
            &snap2,
            "GET",
            "/api/v1/namespaces/ns/secrets/x",
            "",
            "u"
        ));
    }

    #[test]
    fn system_masters_and_decisions() {
        let empty = RbacSnapshot::default();
        let a = request_attributes(
            "DELETE",
            "/api/v1/namespaces/ns/secrets",
            "",
            "admin",
            &[s("system:masters")],
        );
        assert_eq!(
            authorize(&empty, &a),
            Decision::Allowed(AllowedBy::SystemMasters)
        );
        let a = request_attributes("GET", "/metrics", "", "admin", &[s("system:masters")]);
        assert!(authorize(&empty, &a).is_allowed());
        assert_eq!(
            authorize(
                &empty,
                &attrs("GET", "/api/v1/namespaces/ns/secrets", "", "u")
            ),
            Decision::Denied {
                reason: String::new()
            }
        );

        let snap = RbacSnapshot {
            cluster_roles: vec![cluster_role(
                "cr",
                json!([
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
                    {"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["list", "watch"]},
                    {"apiGroups": ["cert-manager.io"], "resources": ["*"], "verbs": ["list"]}
                ]),
            )],
            roles: vec![role(
                "ns",
                "r",
                json!([{"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["list"]}]),
            )],
            cluster_role_bindings: vec![
                crb("missing", "nope", user(SA)),
                crb("cb", "cr", user(SA)),
            ],
            role_bindings: vec![rb(
                "ns",
                "b",
                "Role",
                "r",
                json!([{"kind": "ServiceAccount", "name": "sa"}]),
            )],
        };
        let a = attrs(
            "GET",
            "/apis/cert-manager.io/v1/namespaces/ns/certificates",
            "",
            SA,
        );
        let d = authorize(&snap, &a);
        assert_eq!(
            d.granting_rule(),
            Some(&GrantingRule {
                binding_kind: BindingKind::ClusterRoleBinding,
                binding_namespace: None,
                binding_name: s("cb"),
                role_kind: RoleKind::ClusterRole,
                role_name: s("cr"),
                role_namespace: None,
                rule_index: 1,
            })
        );
        let all = allowing_rules(&snap, &a);
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[1].rule_index, 2);
        assert_eq!(
            all[2],
            GrantingRule {
                binding_kind: BindingKind::RoleBinding,
                binding_namespace: o("ns"),
                binding_name: s("b"),
                role_kind: RoleKind::Role,
                role_name: s("r"),
                role_namespace: o("ns"),
                rule_index: 0,
            }
        );
        // denied with a dangling binding: kube's reason
        let a = attrs("DELETE", "/api/v1/namespaces/ns/secrets/x", "", SA);
        let d = authorize(&snap, &a);
        let Decision::Denied { reason } = &d else {
            panic!("{d:?}")
        };
        assert_eq!(
            reason,
            "RBAC: clusterrole.rbac.authorization.k8s.io \"nope\" not found"
        );
        assert_eq!(
            forbidden_message_with_reason(&a, reason),
            "secrets \"x\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"ns\": RBAC: clusterrole.rbac.authorization.k8s.io \"nope\" not found"
        );
        // two errors are aggregated
        let snap3 = RbacSnapshot {
            cluster_role_bindings: vec![
                crb("m1", "nope", user("u")),
                crb("m2", "nada", user("u")),
                crb("m3", "nope", user("u")),
            ],
            ..RbacSnapshot::default()
        };
        assert_eq!(
            authorize(&snap3, &attrs("GET", "/version", "", "u")),
            Decision::Denied {
                reason: s(
                    "RBAC: [clusterrole.rbac.authorization.k8s.io \"nope\" not found, clusterrole.rbac.authorization.k8s.io \"nada\" not found]"
                )
            }
        );
    }

    #[test]
    fn forbidden_messages() {
        let cases = [
            (
                attrs("GET", "/api/v1/namespaces/ns/secrets/x", "", SA),
                "secrets \"x\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource \"secrets\" in API group \"\" in the namespace \"ns\"",
            ),
            (
                attrs("GET", "/apis/cert-manager.io/v1/clusterissuers", "", "u"),
                "clusterissuers.cert-manager.io is forbidden: User \"u\" cannot list resource \"clusterissuers\" in API group \"cert-manager.io\" at the cluster scope",
            ),
            (
                attrs("GET", "/apis/cert-manager.io/v1/clusterissuers/ci", "", "u"),
                "clusterissuers.cert-manager.io \"ci\" is forbidden: User \"u\" cannot get resource \"clusterissuers\" in API group \"cert-manager.io\" at the cluster scope",
            ),
            (
                attrs(
                    "PUT",
                    "/apis/cert-manager.io/v1/namespaces/ns/certificates/c/status",
                    "",
                    "u",
                ),
                "certificates.cert-manager.io \"c\" is forbidden: User \"u\" cannot update resource \"certificates/status\" in API group \"cert-manager.io\" in the namespace \"ns\"",
            ),
            (
                attrs(
                    "GET",
                    "/apis/cert-manager.io/v1/certificates",
                    "watch=true",
                    "u",
                ),
                "certificates.cert-manager.io is forbidden: User \"u\" cannot watch resource \"certificates\" in API group \"cert-manager.io\" at the cluster scope",
            ),
            (
                attrs("POST", "/api/v1/namespaces/ns/secrets", "", "u"),
                "secrets is forbidden: User \"u\" cannot create resource \"secrets\" in API group \"\" in the namespace \"ns\"",
            ),
            (
                attrs("GET", "/api/v1/namespaces/x", "", "u"),
                "namespaces \"x\" is forbidden: User \"u\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"x\"",
            ),
            (
                attrs("GET", "/api/v1/namespaces", "", "u"),
                "namespaces is forbidden: User \"u\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope",
            ),
            (
                attrs("GET", "/metrics", "", "u"),
                "forbidden: User \"u\" cannot get path \"/metrics\"",
            ),
            (
                attrs(
                    "GET",
                    "/api/v1/namespaces/ns/secrets",
                    "fieldSelector=metadata.name%3Dx",
                    "u",
                ),
                "secrets \"x\" is forbidden: User \"u\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ns\"",
            ),
            (
                attrs("GET", "/x<y>&", "", "u"),
                "forbidden: User \"u\" cannot get path \"/x&lt;y&gt;&amp;\"",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(forbidden_message(&a), want, "{a:?}");
        }
    }
}
