//! `certgate approve` and `certgate deny`: as `cmctl approve` and `cmctl deny`, they
//! add the `Approved` (or `Denied`) condition, status True, to a CertificateRequest
//! through its status subresource, so that a person can decide where
//! approver-policy or certgate's built-in approver (turned off) would.
//!
//! The reason defaults to cert-manager's `KubectlCertManager` (what approver-policy
//! users see for a manual decision) and the message to `manually approved by "<name>"`
//! with the name the command was run as, as cmctl does (`certgate`, or
//! `kubectl certgate` as a kubectl plugin).

use std::ffi::OsStr;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::CertificateRequest;
use crate::api::meta::{ConditionStatus, RequestCondition};
use crate::certificates::snapshot::request_condition;

/// cmctl's default reason for both conditions.
pub const DEFAULT_REASON: &str = "KubectlCertManager";

/// The name certgate goes by when nothing says otherwise.
pub const DEFAULT_CTL_NAME: &str = "certgate";

/// Which condition to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `Approved`: the request may be signed.
    Approve,
    /// `Denied`: the request is never signed.
    Deny,
}

impl Decision {
    /// The condition type: `Approved` or `Denied`.
    pub fn condition_type(self) -> &'static str {
        match self {
            Decision::Approve => "Approved",
            Decision::Deny => "Denied",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Deny => "denied",
        }
    }

    /// cmctl's default message: `manually approved by "certgate"`.
    pub fn default_message(self, ctl_name: &str) -> String {
        format!("manually {} by {ctl_name:?}", self.past())
    }

    /// cmctl's line on success: `Approved CertificateRequest 'ns/name'`.
    pub fn done_line(self, namespace: &str, name: &str) -> String {
        format!(
            "{} CertificateRequest '{namespace}/{name}'",
            self.condition_type()
        )
    }
}

/// The name the command was run as, cmctl's way: the program's file name, or
/// `kubectl <plugin>` when run as the kubectl plugin `kubectl-certgate`.
pub fn ctl_name(argv0: Option<&OsStr>) -> String {
    let base = argv0
        .and_then(|a| Path::new(a).file_name())
        .and_then(OsStr::to_str)
        .filter(|b| !b.is_empty());
    match base {
        None => DEFAULT_CTL_NAME.to_string(),
        Some(b) => match b
            .strip_prefix("kubectl-")
            .or_else(|| b.strip_prefix("kubectl_"))
        {
            Some(plugin) => format!("kubectl {plugin}"),
            None => b.to_string(),
        },
    }
}

/// Why approving or denying failed (cmctl's words where it has them).
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("the name of the CertificateRequest to {0} has to be provided as an argument")]
    NoName(&'static str),
    #[error("only one argument can be passed: the name of the CertificateRequest")]
    TooManyArguments,
    #[error("a reason must be given as to who {0} this CertificateRequest")]
    NoReason(&'static str),
    #[error("a message must be given as to why this CertificateRequest is {0}")]
    NoMessage(&'static str),
    #[error("CertificateRequest is already approved")]
    AlreadyApproved,
    #[error("CertificateRequest is already denied")]
    AlreadyDenied,
    /// The API server's answer, in its words (`certificaterequests.cert-manager.io "x" not found`).
    #[error("{}", api_message(.0))]
    Kube(#[source] kube::Error),
}

/// The message of an API error as kubectl and cmctl show it: the server's Status
/// message when there is one.
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

/// cmctl's checks of the arguments and flags; returns the one name.
pub fn validate<'a>(
    decision: Decision,
    args: &'a [String],
    reason: &str,
    message: &str,
) -> Result<&'a str, DecisionError> {
    let name = match args {
        [] => return Err(DecisionError::NoName(decision.verb())),
        [name] => name.as_str(),
        _ => return Err(DecisionError::TooManyArguments),
    };
    check_fields(decision, reason, message)?;
    Ok(name)
}

fn check_fields(decision: Decision, reason: &str, message: &str) -> Result<(), DecisionError> {
    if reason.is_empty() {
        return Err(DecisionError::NoReason(decision.past()));
    }
    if message.is_empty() {
        return Err(DecisionError::NoMessage(decision.past()));
    }
    Ok(())
}

fn is_true(req: &CertificateRequest, type_: &str) -> bool {
    request_condition(req, type_).is_some_and(|c| c.status == ConditionStatus::True)
}

/// The conditions of `req` with `type_` set as cert-manager's
/// `SetCertificateRequestCondition` sets it (the transition time kept when the
/// status does not change).
fn with_condition(
    req: &CertificateRequest,
    type_: &str,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Vec<RequestCondition> {
    let mut list = req
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut set = RequestCondition {
        type_: type_.to_string(),
        status: ConditionStatus::True,
        last_transition_time: Some(Time(now)),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
    };
    match list.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status == set.status {
                set.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = set;
        }
        None => list.push(set),
    }
    list
}

/// Approves or denies the CertificateRequest `namespace/name`: refuses one already
/// approved or denied, else sets the condition through the status subresource (a
/// merge patch guarded by the resourceVersion read, as cmctl's UpdateStatus is).
/// Returns cmctl's line to print.
pub async fn decide(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    decision: Decision,
    reason: &str,
    message: &str,
) -> Result<String, DecisionError> {
    check_fields(decision, reason, message)?;
    let api: Api<CertificateRequest> = Api::namespaced(client.clone(), namespace);
    let req = api.get(name).await.map_err(DecisionError::Kube)?;
    if is_true(&req, "Approved") {
        return Err(DecisionError::AlreadyApproved);
    }
    if is_true(&req, "Denied") {
        return Err(DecisionError::AlreadyDenied);
    }
    let conditions = with_condition(
        &req,
        decision.condition_type(),
        reason,
        message,
        jiff::Timestamp::now(),
    );
    let patch = json!({
        "metadata": {"resourceVersion": req.resource_version()},
        "status": {"conditions": conditions},
    });
    let updated = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(DecisionError::Kube)?;
    Ok(decision.done_line(
        &updated.namespace().unwrap_or_else(|| namespace.to_string()),
        &updated.name_any(),
    ))
}
