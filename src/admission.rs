//! What cert-manager's webhook does beyond validation, as admission policies the API
//! server itself runs (no webhook to deploy, nothing to break):
//!
//! - **Requester identity**: a MutatingAdmissionPolicy writes `spec.username`, `uid`,
//!   `groups` and `extra` of a new CertificateRequest from the authenticated user; a
//!   ValidatingAdmissionPolicy refuses a client that sets an identity other than its
//!   own, with cert-manager's words ("username identity must be that of the
//!   requester"). The spec is immutable (a CRD rule), so the identity cannot change.
//! - **Approval**: only a user allowed `approve` on `signers.cert-manager.io` for the
//!   request's issuer (`issuers.cert-manager.io/<namespace>.<name>`,
//!   `clusterissuers.cert-manager.io/<name>`, or `<resource>.<group>/*`) may add the
//!   Approved or Denied condition; once set they cannot change, only one of them may
//!   exist, and only as True — cert-manager's rules and messages.
//!
//! `certgate admission-policies` prints them (with bindings); the pure builders here
//! take the names and the binding's scope so that tests can bind them to one namespace.

use serde_json::{Value, json};

/// The policies' name prefix.
pub const PREFIX: &str = "certgate";

/// Which CertificateRequests the bindings cover.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Bind to this namespace only (by its `kubernetes.io/metadata.name` label); all
    /// namespaces when `None`.
    pub namespace: Option<String>,
    /// Appended to every policy and binding name (unique names per test).
    pub suffix: String,
}

fn match_resources(scope: &Scope) -> Value {
    match &scope.namespace {
        Some(ns) => {
            json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}})
        }
        None => json!({}),
    }
}

fn certificate_requests(operations: &[&str], subresources: bool) -> Value {
    let mut resources = vec!["certificaterequests"];
    if subresources {
        resources.push("certificaterequests/status");
    }
    json!({"resourceRules": [{
        "apiGroups": ["cert-manager.io"],
        "apiVersions": ["v1"],
        "operations": operations,
        "resources": resources,
    }]})
}

fn binding(kind: &str, policy: &str, scope: &Scope, validating: bool) -> Value {
    let mut spec = json!({"policyName": policy, "matchResources": match_resources(scope)});
    if validating {
        spec["validationActions"] = json!(["Deny"]);
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": policy},
        "spec": spec,
    })
}

/// The CEL name of the signer a CertificateRequest's issuer is, as cert-manager
/// forms it: `<resource>.<group>/[<namespace>.]<name>`. The resource is the lowercase
/// plural of the kind (`Issuer` → `issuers`); cert-manager asks discovery for it,
/// which for every issuer kind in use gives the same.
const SIGNER_NAME: &str = "(has(object.spec.issuerRef.kind) && object.spec.issuerRef.kind != '' ? object.spec.issuerRef.kind.lowerAscii() : 'issuer') + 's.' + (has(object.spec.issuerRef.group) && object.spec.issuerRef.group != '' ? object.spec.issuerRef.group : 'cert-manager.io')";

/// The policies and their bindings.
pub fn policies(scope: &Scope) -> Vec<Value> {
    let name = |what: &str| format!("{PREFIX}-certificaterequest-{what}{}", scope.suffix);
    let identity = name("identity");
    let approval = name("approval");
    let unset = "!has(object.spec.username) && !has(object.spec.uid) && !has(object.spec.groups) && !has(object.spec.extra)";
    vec![
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": identity},
            "spec": {
                "matchConstraints": certificate_requests(&["CREATE"], false),
                "matchConditions": [{"name": "identity-not-set", "expression": unset}],
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                // A JSON patch: `groups` and `extra` are atomic, which an apply
                // configuration may not set. A user authenticated by client
                // certificate has no uid (and may have no groups or extra): only
                // what the requester has is written.
                "mutations": [{
                    "patchType": "JSONPatch",
                    "jsonPatch": {"expression": "[JSONPatch{op: 'add', path: '/spec/username', value: request.userInfo.username}] + (has(request.userInfo.uid) && request.userInfo.uid != '' ? [JSONPatch{op: 'add', path: '/spec/uid', value: request.userInfo.uid}] : []) + (has(request.userInfo.groups) ? [JSONPatch{op: 'add', path: '/spec/groups', value: request.userInfo.groups}] : []) + (has(request.userInfo.extra) ? [JSONPatch{op: 'add', path: '/spec/extra', value: request.userInfo.extra}] : [])"},
                }],
            },
        }),
        binding("MutatingAdmissionPolicyBinding", &identity, scope, false),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": identity},
            "spec": {
                "matchConstraints": certificate_requests(&["CREATE"], false),
                "failurePolicy": "Fail",
                "validations": [
                    {"expression": "!has(object.spec.username) || object.spec.username == request.userInfo.username",
                     "message": "username identity must be that of the requester", "reason": "Forbidden"},
                    {"expression": "!has(object.spec.uid) || (has(request.userInfo.uid) && object.spec.uid == request.userInfo.uid)",
                     "message": "uid identity must be that of the requester", "reason": "Forbidden"},
                    {"expression": "!has(object.spec.groups) || (has(request.userInfo.groups) && object.spec.groups == request.userInfo.groups)",
                     "message": "groups identity must be that of the requester", "reason": "Forbidden"},
                    {"expression": "!has(object.spec.extra) || (has(request.userInfo.extra) && object.spec.extra == request.userInfo.extra)",
                     "message": "extra identity must be that of the requester", "reason": "Forbidden"},
                ],
            },
        }),
        binding("ValidatingAdmissionPolicyBinding", &identity, scope, true),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": approval},
            "spec": {
                "matchConstraints": certificate_requests(&["CREATE", "UPDATE"], true),
                "failurePolicy": "Fail",
                "variables": [
                    {"name": "conditions", "expression": "has(object.status) && has(object.status.conditions) ? object.status.conditions : []"},
                    {"name": "oldConditions", "expression": "oldObject != null && has(oldObject.status) && has(oldObject.status.conditions) ? oldObject.status.conditions : []"},
                    {"name": "approved", "expression": "variables.conditions.filter(c, c.type == 'Approved')"},
                    {"name": "denied", "expression": "variables.conditions.filter(c, c.type == 'Denied')"},
                    {"name": "oldApproved", "expression": "variables.oldConditions.filter(c, c.type == 'Approved')"},
                    {"name": "oldDenied", "expression": "variables.oldConditions.filter(c, c.type == 'Denied')"},
                    {"name": "signerResource", "expression": SIGNER_NAME},
                    {"name": "signerName", "expression": "variables.signerResource + '/' + (has(object.spec.issuerRef.kind) && object.spec.issuerRef.kind == 'ClusterIssuer' ? '' : namespaceObject.metadata.name + '.') + object.spec.issuerRef.name"},
                    {"name": "changed", "expression": "variables.approved != variables.oldApproved || variables.denied != variables.oldDenied"},
                ],
                "validations": [
                    {"expression": "variables.oldApproved.size() == 0 || variables.approved == variables.oldApproved",
                     "message": "'Approved' condition may not be modified once set", "reason": "Forbidden"},
                    {"expression": "variables.oldDenied.size() == 0 || variables.denied == variables.oldDenied",
                     "message": "'Denied' condition may not be modified once set", "reason": "Forbidden"},
                    {"expression": "variables.approved.size() <= 1", "message": "multiple \"Approved\" conditions present", "reason": "Forbidden"},
                    {"expression": "variables.denied.size() <= 1", "message": "multiple \"Denied\" conditions present", "reason": "Forbidden"},
                    {"expression": "variables.approved.all(c, c.status == 'True')", "message": "\"Approved\" condition may only be set to True", "reason": "Invalid"},
                    {"expression": "variables.denied.all(c, c.status == 'True')", "message": "\"Denied\" condition may only be set to True", "reason": "Invalid"},
                    {"expression": "variables.approved.size() == 0 || variables.denied.size() == 0",
                     "message": "both 'Denied' and 'Approved' conditions cannot coexist", "reason": "Forbidden"},
                    {"expression": "!variables.changed || authorizer.group('cert-manager.io').resource('signers').name(variables.signerName).check('approve').allowed() || authorizer.group('cert-manager.io').resource('signers').name(variables.signerResource + '/*').check('approve').allowed()",
                     "messageExpression": "'user \"' + request.userInfo.username + '\" does not have permissions to set approved/denied conditions for issuer {' + object.spec.issuerRef.name + ' ' + (has(object.spec.issuerRef.kind) ? object.spec.issuerRef.kind : '') + ' ' + (has(object.spec.issuerRef.group) ? object.spec.issuerRef.group : '') + '}'",
                     "reason": "Forbidden"},
                ],
            },
        }),
        binding("ValidatingAdmissionPolicyBinding", &approval, scope, true),
    ]
}

/// The policies as one YAML stream (`certgate admission-policies`).
pub fn policies_yaml(scope: &Scope) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::from(
        "# certgate's admission policies: the requester identity and approval checks of\n# cert-manager's webhook, run by the API server itself. MutatingAdmissionPolicy\n# admissionregistration.k8s.io/v1 is served from Kubernetes 1.36,\n# ValidatingAdmissionPolicy v1 from 1.30.\n",
    );
    for doc in policies(scope) {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&doc)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_come_with_their_bindings_scoped_as_asked() {
        let all = policies(&Scope::default());
        let kinds: Vec<&str> = all.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "MutatingAdmissionPolicy",
                "MutatingAdmissionPolicyBinding",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
            ]
        );
        for pair in all.chunks(2) {
            assert_eq!(pair[1]["spec"]["policyName"], pair[0]["metadata"]["name"]);
        }
        assert_eq!(all[1]["spec"]["matchResources"], json!({}));
        let one = policies(&Scope {
            namespace: Some("team-a".into()),
            suffix: "-t1".into(),
        });
        assert_eq!(
            one[3]["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        assert_eq!(
            one[0]["metadata"]["name"],
            "certgate-certificaterequest-identity-t1"
        );
        assert_eq!(one[3]["spec"]["validationActions"], json!(["Deny"]));
    }
}
