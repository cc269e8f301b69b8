//! The intent builder: from an Ingress, Gateway or
//! ListenerSet (reduced to a [`Source`]) and the Certificates it already owns,
//! the Certificates to create, update and delete, and the events to record on
//! the source. Pure: no Kubernetes I/O, no clock.
//!
//! It follows cert-manager's `pkg/controller/certificate-shim` (`SyncFnFor`,
//! `buildCertificates`, `translateAnnotations`, `setIssuerSpecificConfig`,
//! `issuerForIngressLike`), with the same event reasons and, where cert-manager
//! has them, the same messages. Where certgate differs:
//!
//! * TLS blocks (Ingress `tls[]` entries or Gateway certificateRefs) that name
//!   the same Secret are merged into one Certificate whose DNS names are the
//!   union of their hosts (cert-manager rejects the Ingress, and loses the
//!   second Gateway listener's certificate, cert-manager#7840).
//! * Every annotation value is checked against the Certificate API's rules, so
//!   a bad value gives a `BadConfig` event on the source instead of a
//!   Certificate the API server rejects (cert-manager#9145).
//! * A source without any issuer annotation has its Certificates deleted
//!   (cert-manager leaves them until the source itself is deleted).
//! * Per-listener issuers (cert-manager#8609), see [`LISTENER_ISSUER_PREFIX`].
//! * Cross-namespace certificateRefs allowed by a ReferenceGrant, see
//!   [`TlsBlock::allowed_cross_namespace`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::api::Certificate;
use crate::api::annotations as ann;
use crate::api::meta::IssuerReference;
use crate::gocompat::go_parse_bool;
use crate::gocompat::go_quote;

use crate::intent::annotations::SpecTemplate;
use crate::intent::ownership::OWNER_ANNOTATION;
use crate::intent::plan::*;
use crate::intent::source::*;

/// The label cert-manager strips from the labels it copies (cert-manager#7306).
pub const APPLYSET_LABEL: &str = "applyset.kubernetes.io/part-of";

/// Per-listener issuer (a certgate extension, cert-manager#8609).
///
/// On a Gateway or ListenerSet, `cert-manager.io/listener-issuer.<listener>:
/// <name>` makes the Certificates of the listener named `<listener>` use the
/// namespaced Issuer `<name>` instead of the issuer of `cert-manager.io/issuer`
/// or `cert-manager.io/cluster-issuer`; [`LISTENER_CLUSTER_ISSUER_PREFIX`]
/// does the same with a ClusterIssuer. As for `cert-manager.io/issuer`,
/// `cert-manager.io/issuer-kind` and `cert-manager.io/issuer-group` apply to a
/// listener Issuer; a listener ClusterIssuer has kind `ClusterIssuer` and the
/// default issuer group.
///
/// * These annotations alone enable the shim on a Gateway: listeners without
///   one (and without a Gateway-wide issuer) are then left alone.
/// * Setting both for one listener, or an empty name, is a `BadConfig`.
/// * An annotation naming no TLS listener is reported with
///   `SkippedListenerAnnotation` and otherwise ignored.
/// * Listeners whose certificateRefs share a Secret must resolve to the same
///   issuer, otherwise that Secret's Certificate is skipped with `BadConfig`.
/// * They are ignored on Ingresses.
/// * An annotation name is at most 63 characters, so `<listener>` is at most
///   47 (`listener-issuer.`) or 39 (`listener-cluster-issuer.`) characters.
pub const LISTENER_ISSUER_PREFIX: &str = "cert-manager.io/listener-issuer.";
/// Per-listener ClusterIssuer; see [`LISTENER_ISSUER_PREFIX`].
pub const LISTENER_CLUSTER_ISSUER_PREFIX: &str = "cert-manager.io/listener-cluster-issuer.";

/// On a Gateway or ListenerSet, `"true"` (a Go boolean): its HTTPS and TLS
/// (Terminate) listeners without a hostname take their Certificate's names from the
/// hostnames of the routes attached to them (`src/gateway/routes.rs`), instead of
/// being skipped. Read by the Gateway adapter, which hands the builder ordinary
/// [`TlsBlock`]s.
pub const HOSTNAMES_FROM_ROUTES_ANNOTATION: &str = "certgate.io/hostnames-from-routes";

/// The Certificate annotations this builder manages: set from the intent,
/// removed when the intent no longer has them.
const MANAGED_ANNOTATIONS: [&str; 8] = [
    ann::HTTP01_OVERRIDE_INGRESS_NAME,
    ann::ISSUE_TEMPORARY_CERTIFICATE,
    ann::HTTP01_OVERRIDE_INGRESS_CLASS,
    ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME,
    ann::HTTP01_PARENTREF_KIND,
    ann::HTTP01_PARENTREF_NAME,
    ann::HTTP01_PARENTREF_NAMESPACE,
    OWNER_ANNOTATION,
];

/// cert-manager's `extractExtraAnnotations`: the listed annotations the source has,
/// onto the Certificate.
fn copy_extra_annotations(cert: &mut Certificate, source: &Source, keys: &[String]) {
    let extra: Vec<(String, String)> = keys
        .iter()
        .filter_map(|k| source.annotations.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    if !extra.is_empty() {
        cert.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(extra);
    }
}

/// Builds the plan for `source`.
///
/// * `existing`: the Certificates the source owns ([`is_owned_by`]).
/// * `others`: Certificates the source does not own; only those whose
///   namespace and name are those of an intended Certificate matter (they are
///   left alone, with a `BadConfig` event).
pub fn build(
    source: &Source,
    defaults: &Defaults,
    existing: &[Certificate],
    others: &[Certificate],
) -> Plan {
    let mut plan = Plan::default();
    let annotations = &source.annotations;
    let is_ingress = source.kind == SourceKind::Ingress;

    let source_level = annotations.contains_key(ann::ISSUER)
        || annotations.contains_key(ann::CLUSTER_ISSUER)
        || (is_ingress
            && defaults
                .auto_certificate_annotations
                .iter()
                .any(|k| annotations.get(k).is_some_and(|v| go_parse_bool(v))));
    let listener_level = !is_ingress
        && annotations.keys().any(|k| {
            k.starts_with(LISTENER_ISSUER_PREFIX) || k.starts_with(LISTENER_CLUSTER_ISSUER_PREFIX)
        });

    if !source_level && !listener_level {
        // Nothing to manage: the owned Certificates go.
        delete_stale(source, existing, &BTreeSet::new(), &mut plan);
        return plan;
    }

    // Issuers: any error means no change at all.
    let source_issuer = if source_level {
        match issuer_for_source(defaults, annotations) {
            Ok(issuer) => Some(issuer),
            Err(err) => {
                plan.events.push(SourceEvent::bad_config(&err));
                return plan;
            }
        }
    } else {
        None
    };
    let listener_issuers = if listener_level {
        match listener_issuers(defaults, annotations) {
            Ok(issuers) => issuers,
            Err(err) => {
                plan.events.push(SourceEvent::bad_config(&err));
                return plan;
            }
        }
    } else {
        BTreeMap::new()
    };

    // Annotation-derived fields: any error means no change at all.
    let template = match SpecTemplate::from_annotations(annotations) {
        Ok(t) => t,
        Err(errs) => {
            plan.events.extend(errs.iter().map(SourceEvent::bad_config));
            return plan;
        }
    };

    // Per-listener annotations naming no TLS listener.
    let listeners: BTreeSet<&str> = source
        .tls
        .iter()
        .filter_map(|b| b.listener.as_deref())
        .collect();
    for (listener, (key, _)) in &listener_issuers {
        if !listeners.contains(listener.as_str()) {
            plan.events.push(SourceEvent::warning(
                REASON_SKIPPED_LISTENER_ANNOTATION,
                format!(
                    "annotation {} names no TLS listener {} of this {}: ignored",
                    go_quote(key),
                    go_quote(listener),
                    source.kind.as_str()
                ),
            ));
        }
    }

    // Group the blocks by target Secret, first-seen order.
    let mut groups: Vec<Group> = Vec::new();
    // Secrets the source still refers to: their owned Certificates stay even
    // when this pass skips them.
    let mut referenced: BTreeSet<CertificateKey> = BTreeSet::new();
    for (index, block) in source.tls.iter().enumerate() {
        let namespace = block
            .secret_namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(&source.namespace)
            .to_string();
        let cross_namespace = namespace != source.namespace;
        if let Err(err) = validate_block(source, index, block, &namespace) {
            plan.events.push(SourceEvent::bad_config(&err));
            // Refused cross-namespace references do not keep a Certificate.
            let refused = cross_namespace && !block.allowed_cross_namespace;
            if !block.secret_name.is_empty() && !refused {
                referenced.insert(CertificateKey {
                    namespace,
                    name: block.secret_name.clone(),
                });
            }
            continue;
        }
        let issuer = block
            .listener
            .as_ref()
            .and_then(|l| listener_issuers.get(l))
            .map(|(_, issuer)| issuer.clone())
            .or_else(|| source_issuer.clone());
        let Some(issuer) = issuer else {
            // Not managed: no issuer for this listener.
            continue;
        };
        let key = CertificateKey {
            namespace,
            name: block.secret_name.clone(),
        };
        referenced.insert(key.clone());
        match groups.iter_mut().find(|g| g.key == key) {
            Some(group) => {
                group.hosts.extend(block.hosts.iter().cloned());
                group.issuers.push((block.listener.clone(), issuer));
            }
            None => groups.push(Group {
                key,
                hosts: block.hosts.clone(),
                issuers: vec![(block.listener.clone(), issuer)],
            }),
        }
    }

    let mut wanted: BTreeSet<CertificateKey> = BTreeSet::new();
    for group in groups {
        let Some(issuer) = single_issuer(&group, &mut plan) else {
            continue;
        };
        let mut intent = template.certificate(source, &group, issuer);
        copy_extra_annotations(&mut intent, source, &defaults.extra_certificate_annotations);
        let current = existing.iter().find(|c| {
            c.metadata.name.as_deref() == Some(group.key.name.as_str())
                && cert_namespace(c, source) == group.key.namespace
        });
        wanted.insert(group.key.clone());
        let shown = shown_name(source, &group.key);
        match current {
            Some(current) => {
                if let Some(updated) = updated(source, current, &intent) {
                    plan.events.push(SourceEvent::normal(
                        REASON_UPDATE_CERTIFICATE,
                        format!("Successfully updated Certificate {}", go_quote(&shown)),
                    ));
                    plan.update.push(updated);
                }
            }
            None => {
                let other = others.iter().find(|c| {
                    c.metadata.name.as_deref() == Some(group.key.name.as_str())
                        && cert_namespace(c, source) == group.key.namespace
                });
                if let Some(other) = other {
                    plan.events
                        .push(SourceEvent::bad_config(&IntentError::NotOwned {
                            name: shown,
                            reason: not_owned_reason(other),
                        }));
                    continue;
                }
                plan.events.push(SourceEvent::normal(
                    REASON_CREATE_CERTIFICATE,
                    format!("Successfully created Certificate {}", go_quote(&shown)),
                ));
                plan.create.push(intent);
            }
        }
    }

    let keep: BTreeSet<CertificateKey> = wanted.union(&referenced).cloned().collect();
    delete_stale(source, existing, &keep, &mut plan);
    plan
}

/// The blocks of one Secret.
pub(crate) struct Group {
    pub(crate) key: CertificateKey,
    pub(crate) hosts: Vec<String>,
    /// (listener, issuer) of each block.
    pub(crate) issuers: Vec<(Option<String>, IssuerReference)>,
}

/// The issuer of a group, or `None` (with a `BadConfig` event) when its blocks
/// disagree.
fn single_issuer<'a>(group: &'a Group, plan: &mut Plan) -> Option<&'a IssuerReference> {
    let (_, first) = group.issuers.first()?;
    if group.issuers.iter().all(|(_, i)| i == first) {
        return Some(first);
    }
    let issuers = group
        .issuers
        .iter()
        .map(|(listener, i)| {
            let who = match listener {
                Some(l) => format!("listener {}", go_quote(l)),
                None => "TLS block".to_string(),
            };
            format!("{who}: {} {}", i.kind_or_default(), go_quote(&i.name))
        })
        .collect();
    plan.events
        .push(SourceEvent::bad_config(&IntentError::IssuerMismatch {
            name: group.key.name.clone(),
            issuers,
        }));
    None
}

/// The name in messages: the name, or `namespace/name` in another namespace.
fn shown_name(source: &Source, key: &CertificateKey) -> String {
    if key.namespace == source.namespace {
        key.name.clone()
    } else {
        format!("{}/{}", key.namespace, key.name)
    }
}

fn cert_namespace(cert: &Certificate, source: &Source) -> String {
    cert.metadata
        .namespace
        .clone()
        .unwrap_or_else(|| source.namespace.clone())
}

/// cert-manager's log messages for a Certificate it refuses to update.
fn not_owned_reason(other: &Certificate) -> String {
    let controller = other
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        None => "certificate resource has no owner. refusing to update non-owned certificate resource for object".to_string(),
        Some(o) => format!(
            "certificate resource is not owned by this object (it is controlled by {} {}). refusing to update non-owned certificate resource for object",
            o.kind,
            go_quote(&o.name)
        ),
    }
}

fn delete_stale(
    source: &Source,
    existing: &[Certificate],
    keep: &BTreeSet<CertificateKey>,
    plan: &mut Plan,
) {
    for cert in existing {
        let Some(name) = cert.metadata.name.clone() else {
            continue;
        };
        let key = CertificateKey {
            namespace: cert_namespace(cert, source),
            name,
        };
        if keep.contains(&key) || plan.delete.contains(&key) {
            continue;
        }
        plan.events.push(SourceEvent::normal(
            REASON_DELETE_CERTIFICATE,
            format!(
                "Successfully deleted unrequired Certificate {}",
                go_quote(&shown_name(source, &key))
            ),
        ));
        plan.delete.push(key);
    }
}

/// The Certificate's ownerReference to the source.
pub(crate) fn owner_reference(source: &Source) -> OwnerReference {
    OwnerReference {
        api_version: source.api_version.clone(),
        kind: source.kind.as_str().to_string(),
        name: source.name.clone(),
        uid: source.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// `current` with the intent applied, or `None` when it already matches.
fn updated(source: &Source, current: &Certificate, intent: &Certificate) -> Option<Certificate> {
    let mut next = current.clone();
    next.spec = intent.spec.clone();
    next.metadata.labels = intent.metadata.labels.clone();

    let mut annotations = current.metadata.annotations.clone().unwrap_or_default();
    for key in MANAGED_ANNOTATIONS {
        annotations.remove(key);
    }
    annotations.extend(intent.metadata.annotations.clone().unwrap_or_default());
    next.metadata.annotations = (!annotations.is_empty()).then_some(annotations);

    let ours = owner_reference(source);
    let wants_ref = intent.metadata.owner_references.is_some();
    let mut refs: Vec<OwnerReference> = Vec::new();
    let mut placed = false;
    for o in current.metadata.owner_references.iter().flatten() {
        if o.uid == source.uid {
            if wants_ref && !placed {
                refs.push(ours.clone());
                placed = true;
            }
        } else {
            refs.push(o.clone());
        }
    }
    if wants_ref && !placed {
        refs.push(ours);
    }
    next.metadata.owner_references = (!refs.is_empty()).then_some(refs);

    let same = next.spec == current.spec
        && next.metadata.labels.clone().unwrap_or_default()
            == current.metadata.labels.clone().unwrap_or_default()
        && next.metadata.annotations.clone().unwrap_or_default()
            == current.metadata.annotations.clone().unwrap_or_default()
        && next.metadata.owner_references.clone().unwrap_or_default()
            == current
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
    (!same).then_some(next)
}

// --- Issuers. ---

/// cert-manager's `issuerForIngressLike`, with its messages.
fn issuer_for_source(
    defaults: &Defaults,
    annotations: &BTreeMap<String, String>,
) -> Result<IssuerReference, IntentError> {
    let mut name = defaults.issuer_name.clone().unwrap_or_default();
    let mut kind = defaults.issuer_kind.clone();
    let mut group = defaults.issuer_group.clone();

    let issuer = annotations.get(ann::ISSUER);
    if let Some(n) = issuer {
        name = n.clone();
        kind = "Issuer".to_string();
    }
    let cluster_issuer = annotations.get(ann::CLUSTER_ISSUER);
    if let Some(n) = cluster_issuer {
        name = n.clone();
        kind = "ClusterIssuer".to_string();
    }
    let kind_annotation = annotations.get(ann::ISSUER_KIND);
    if let Some(k) = kind_annotation {
        kind = k.clone();
    }
    let group_annotation = annotations.get(ann::ISSUER_GROUP);
    if let Some(g) = group_annotation {
        group = g.clone();
    }

    let both =
        |a: &str, b: &str| format!("both {} and {} may not be set", go_quote(a), go_quote(b));
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push("failed to determine issuer name to be used for ingress resource".to_string());
    }
    if issuer.is_some() && cluster_issuer.is_some() {
        errs.push(both(ann::ISSUER, ann::CLUSTER_ISSUER));
    }
    if cluster_issuer.is_some() && group_annotation.is_some() {
        errs.push(both(ann::CLUSTER_ISSUER, ann::ISSUER_GROUP));
    }
    if cluster_issuer.is_some() && kind_annotation.is_some() {
        errs.push(both(ann::CLUSTER_ISSUER, ann::ISSUER_KIND));
    }
    if !errs.is_empty() {
        return Err(IntentError::Issuer(errs));
    }
    Ok(issuer_ref(name, kind, group))
}

fn issuer_ref(name: String, kind: String, group: String) -> IssuerReference {
    IssuerReference {
        name,
        kind: (!kind.is_empty()).then_some(kind),
        group: (!group.is_empty()).then_some(group),
    }
}

/// Listener name → (annotation, issuer), from the per-listener annotations.
fn listener_issuers(
    defaults: &Defaults,
    annotations: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, (String, IssuerReference)>, IntentError> {
    let mut out: BTreeMap<String, (String, IssuerReference)> = BTreeMap::new();
    let mut errs = Vec::new();
    for (key, value) in annotations {
        let (listener, cluster) = if let Some(l) = key.strip_prefix(LISTENER_ISSUER_PREFIX) {
            (l, false)
        } else if let Some(l) = key.strip_prefix(LISTENER_CLUSTER_ISSUER_PREFIX) {
            (l, true)
        } else {
            continue;
        };
        if listener.is_empty() {
            errs.push(format!("annotation {} names no listener", go_quote(key)));
            continue;
        }
        if value.is_empty() {
            errs.push(format!(
                "failed to determine issuer name to be used for listener {}",
                go_quote(listener)
            ));
            continue;
        }
        let issuer = if cluster {
            issuer_ref(
                value.clone(),
                "ClusterIssuer".to_string(),
                defaults.issuer_group.clone(),
            )
        } else {
            issuer_ref(
                value.clone(),
                annotations
                    .get(ann::ISSUER_KIND)
                    .cloned()
                    .unwrap_or_else(|| "Issuer".to_string()),
                annotations
                    .get(ann::ISSUER_GROUP)
                    .cloned()
                    .unwrap_or_else(|| defaults.issuer_group.clone()),
            )
        };
        if let Some((other, _)) = out.get(listener) {
            // BTreeMap order: listener-cluster-issuer.<l> comes first.
            errs.push(format!(
                "both {} and {} may not be set",
                go_quote(other),
                go_quote(key)
            ));
            continue;
        }
        out.insert(listener.to_string(), (key.clone(), issuer));
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(IntentError::Issuer(errs))
    }
}

// --- TLS blocks. ---

fn validate_block(
    source: &Source,
    index: usize,
    block: &TlsBlock,
    namespace: &str,
) -> Result<(), IntentError> {
    let mut errs = Vec::new();
    if source.kind == SourceKind::Ingress {
        let path = format!("spec.tls[{index}]");
        if block.hosts.is_empty() {
            errs.push(format!("{path}.hosts: Required value"));
        }
        for (i, host) in block.hosts.iter().enumerate() {
            if let Some(why) = invalid_host(host) {
                errs.push(format!(
                    "{path}.hosts[{i}]: Invalid value: {}: {why}",
                    go_quote(host)
                ));
            }
        }
        if block.secret_name.is_empty() {
            errs.push(format!("{path}.secretName: Required value"));
        } else if let Some(why) = invalid_dns_subdomain(&block.secret_name) {
            errs.push(format!(
                "{path}.secretName: Invalid value: {}: {why}",
                go_quote(&block.secret_name)
            ));
        }
        if namespace != source.namespace && !block.allowed_cross_namespace {
            errs.push(format!(
                "{path}.secretName: Invalid value: {}: cross-namespace secret references are not allowed",
                go_quote(namespace)
            ));
        }
        return if errs.is_empty() {
            Ok(())
        } else {
            Err(IntentError::TlsBlock(errs))
        };
    }

    let path = match &block.listener {
        Some(l) => format!("spec.listeners[{l}]"),
        None => format!("spec.listeners[{index}]"),
    };
    if block.hosts.iter().all(|h| h.is_empty()) {
        errs.push(format!(
            "{path}.hostname: Required value: the hostname cannot be empty"
        ));
    } else {
        for host in &block.hosts {
            if let Some(why) = invalid_host(host) {
                errs.push(format!(
                    "{path}.hostname: Invalid value: {}: {why}",
                    go_quote(host)
                ));
            }
        }
    }
    if block.secret_name.is_empty() {
        errs.push(format!(
            "{path}.tls.certificateRef: Required value: listener has no certificateRefs"
        ));
    } else if let Some(why) = invalid_dns_subdomain(&block.secret_name) {
        errs.push(format!(
            "{path}.tls.certificateRef.name: Invalid value: {}: {why}",
            go_quote(&block.secret_name)
        ));
    }
    if namespace != source.namespace && !block.allowed_cross_namespace {
        errs.push(format!(
            "{path}.tls.certificateRef.namespace: Invalid value: {}: cross-namespace secret references are not allowed in listeners without a ReferenceGrant",
            go_quote(namespace)
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(IntentError::ListenerBlock(errs))
    }
}

/// Why a host cannot be a SAN (dnsNames: 1 to 253 characters, no whitespace).
pub(crate) fn invalid_host(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        Some("must not be empty")
    } else if host.parse::<IpAddr>().is_ok() {
        None
    } else if host.len() > 253 {
        Some("must be no more than 253 characters")
    } else if host.chars().any(|c| c.is_whitespace() || c == ',') {
        Some("must not contain whitespace or commas")
    } else {
        None
    }
}

/// Why a name is not a lowercase RFC 1123 subdomain (a Secret name).
fn invalid_dns_subdomain(name: &str) -> Option<&'static str> {
    const MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
    if name.len() > 253 {
        return Some("must be no more than 253 characters");
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        match (b.first(), b.last()) {
            (Some(f), Some(e)) => {
                (f.is_ascii_lowercase() || f.is_ascii_digit())
                    && (e.is_ascii_lowercase() || e.is_ascii_digit())
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            }
            _ => false,
        }
    };
    if name.split('.').all(label_ok) {
        None
    } else {
        Some(MSG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CertificateSpec;
    use crate::api::certificate::*;
    use crate::gocompat::{go_parse_int, split_with_escape_csv};
    use crate::intent::ownership::OWNER_UID_LABEL;
    use crate::intent::ownership::is_owned_by;
    use crate::pki::csr::DEFAULT_KEY_USAGES;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const NS: &str = "default";
    const UID: &str = "uid-1";

    fn ingress(annotations: &[(&str, &str)], tls: Vec<TlsBlock>) -> Source {
        Source {
            kind: SourceKind::Ingress,
            api_version: "networking.k8s.io/v1".into(),
            name: "ing".into(),
            namespace: NS.into(),
            uid: UID.into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            labels: BTreeMap::new(),
            tls,
            http01_parent: None,
        }
    }

    fn gateway(annotations: &[(&str, &str)], tls: Vec<TlsBlock>) -> Source {
        Source {
            kind: SourceKind::Gateway,
            api_version: "gateway.networking.k8s.io/v1".into(),
            name: "gw".into(),
            ..ingress(annotations, tls)
        }
    }

    fn block(hosts: &[&str], secret: &str) -> TlsBlock {
        TlsBlock {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            secret_name: secret.into(),
            ..TlsBlock::default()
        }
    }

    fn listener(name: &str, host: &str, secret: &str) -> TlsBlock {
        TlsBlock {
            listener: Some(name.into()),
            ..block(&[host], secret)
        }
    }

    fn build0(source: &Source) -> Plan {
        build(source, &Defaults::default(), &[], &[])
    }

    fn messages(plan: &Plan) -> Vec<String> {
        plan.events
            .iter()
            .map(|e| format!("{:?} {} {}", e.type_, e.reason, e.message))
            .collect()
    }

    fn only_create(plan: &Plan) -> &Certificate {
        assert_eq!(plan.create.len(), 1, "{:?}", messages(plan));
        &plan.create[0]
    }

    fn cluster_issuer(name: &str) -> IssuerReference {
        IssuerReference {
            name: name.into(),
            kind: Some("ClusterIssuer".into()),
            group: Some("cert-manager.io".into()),
        }
    }

    fn strs(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn creates_certificate_like_cert_manager() {
        let mut src = ingress(
            &[(ann::CLUSTER_ISSUER, "ci"), (ann::COMMON_NAME, "my-cn")],
            vec![block(
                &["example.com", "www.example.com", "10.0.0.1", "2a00::1"],
                "example-com-tls",
            )],
        );
        src.labels.insert("app".into(), "web".into());
        src.labels.insert(APPLYSET_LABEL.into(), "set".into());
        let plan = build0(&src);
        let cert = only_create(&plan);
        assert_eq!(
            messages(&plan),
            [r#"Normal CreateCertificate Successfully created Certificate "example-com-tls""#]
        );
        assert_eq!(cert.metadata.name.as_deref(), Some("example-com-tls"));
        assert_eq!(cert.metadata.namespace.as_deref(), Some(NS));
        assert_eq!(
            cert.metadata.labels,
            Some(BTreeMap::from([("app".to_string(), "web".to_string())]))
        );
        assert_eq!(cert.metadata.annotations, None);
        assert_eq!(
            cert.metadata.owner_references,
            Some(vec![OwnerReference {
                api_version: "networking.k8s.io/v1".into(),
                kind: "Ingress".into(),
                name: "ing".into(),
                uid: UID.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }])
        );
        assert_eq!(
            cert.spec,
            CertificateSpec {
                common_name: Some("my-cn".into()),
                dns_names: strs(&["example.com", "www.example.com"]),
                ip_addresses: strs(&["10.0.0.1", "2a00::1"]),
                secret_name: "example-com-tls".into(),
                issuer_ref: cluster_issuer("ci"),
                usages: Some(DEFAULT_KEY_USAGES.to_vec()),
                ..CertificateSpec::default()
            }
        );
        assert!(plan.update.is_empty() && plan.delete.is_empty());
    }

    /// One annotation on an otherwise valid Ingress: the expected spec change,
    /// or the BadConfig message.
    #[test]
    fn annotations() {
        type Check = fn(&CertificateSpec) -> bool;
        let ok: &[(&str, &str, Check)] = &[
            (ann::COMMON_NAME, "cn.example.com", |s| {
                s.common_name.as_deref() == Some("cn.example.com")
            }),
            (ann::COMMON_NAME, "", |s| s.common_name.is_none()),
            (
                ann::ALT_NAMES,
                "a.example.com, b.example.com,example.com",
                |s| s.dns_names == strs(&["example.com", "a.example.com", "b.example.com"]),
            ),
            (ann::ALT_NAMES, "", |s| {
                s.dns_names == strs(&["example.com"])
            }),
            (ann::IP_SANS, "1.1.1.1,2a00:1450::eeee,1.1.1.1", |s| {
                s.ip_addresses == strs(&["1.1.1.1", "2a00:1450::eeee"])
            }),
            (ann::URI_SANS, "spiffe://cluster.local/ns/a,urn:x", |s| {
                s.uris == strs(&["spiffe://cluster.local/ns/a", "urn:x"])
            }),
            (ann::EMAIL_SANS, "a@example.com,b@example.com", |s| {
                s.email_addresses == strs(&["a@example.com", "b@example.com"])
            }),
            (ann::SUBJECT_ORGANIZATIONS, "Org A,Org B", |s| {
                s.subject.as_ref().and_then(|x| x.organizations.clone())
                    == strs(&["Org A", "Org B"])
            }),
            (ann::SUBJECT_ORGANIZATIONAL_UNITS, "Unit", |s| {
                s.subject
                    .as_ref()
                    .and_then(|x| x.organizational_units.clone())
                    == strs(&["Unit"])
            }),
            (ann::SUBJECT_COUNTRIES, "GB,FR", |s| {
                s.subject.as_ref().and_then(|x| x.countries.clone()) == strs(&["GB", "FR"])
            }),
            (ann::SUBJECT_PROVINCES, "Province", |s| {
                s.subject.as_ref().and_then(|x| x.provinces.clone()) == strs(&["Province"])
            }),
            (ann::SUBJECT_LOCALITIES, "City", |s| {
                s.subject.as_ref().and_then(|x| x.localities.clone()) == strs(&["City"])
            }),
            (
                ann::SUBJECT_STREET_ADDRESSES,
                r#""1725 Slough Avenue, Suite 200","1800 ""Slough"" Avenue""#,
                |s| {
                    s.subject.as_ref().and_then(|x| x.street_addresses.clone())
                        == strs(&["1725 Slough Avenue, Suite 200", "1800 \"Slough\" Avenue"])
                },
            ),
            (ann::SUBJECT_POSTAL_CODES, "ABC123", |s| {
                s.subject.as_ref().and_then(|x| x.postal_codes.clone()) == strs(&["ABC123"])
            }),
            (ann::SUBJECT_SERIAL_NUMBER, "123456", |s| {
                s.subject.as_ref().and_then(|x| x.serial_number.clone()) == Some("123456".into())
            }),
            (ann::SUBJECT_SERIAL_NUMBER, "", |s| s.subject.is_none()),
            (ann::DURATION, "168h", |s| {
                s.duration.as_deref() == Some("168h0m0s")
            }),
            (ann::DURATION, "1h30m0.5s", |s| {
                s.duration.as_deref() == Some("1h30m0.5s")
            }),
            (ann::RENEW_BEFORE, "24h", |s| {
                s.renew_before.as_deref() == Some("24h0m0s")
            }),
            (ann::RENEW_BEFORE_PERCENTAGE, "50", |s| {
                s.renew_before_percentage == Some(50)
            }),
            (ann::USAGES, "server auth, signing", |s| {
                s.usages == Some(vec![KeyUsage::ServerAuth, KeyUsage::Signing])
            }),
            (ann::REVISION_HISTORY_LIMIT, "7", |s| {
                s.revision_history_limit == Some(7)
            }),
            (ann::PRIVATE_KEY_ALGORITHM, "ECDSA", |s| {
                s.private_key.as_ref().and_then(|k| k.algorithm) == Some(PrivateKeyAlgorithm::Ecdsa)
            }),
            (ann::PRIVATE_KEY_ALGORITHM, "Ed25519", |s| {
                s.private_key.as_ref().and_then(|k| k.algorithm)
                    == Some(PrivateKeyAlgorithm::Ed25519)
            }),
            (ann::PRIVATE_KEY_ENCODING, "PKCS8", |s| {
                s.private_key.as_ref().and_then(|k| k.encoding) == Some(PrivateKeyEncoding::Pkcs8)
            }),
            (ann::PRIVATE_KEY_SIZE, "4096", |s| {
                s.private_key.as_ref().and_then(|k| k.size) == Some(4096)
            }),
            (ann::PRIVATE_KEY_ROTATION_POLICY, "Always", |s| {
                s.private_key.as_ref().and_then(|k| k.rotation_policy)
                    == Some(RotationPolicy::Always)
            }),
            (
                ann::SECRET_TEMPLATE,
                r#"{"labels":{"a":"b"},"annotations":{"example.com/x":"y"}}"#,
                |s| {
                    s.secret_template
                        == Some(CertificateSecretTemplate {
                            labels: Some(BTreeMap::from([("a".into(), "b".into())])),
                            annotations: Some(BTreeMap::from([(
                                "example.com/x".into(),
                                "y".into(),
                            )])),
                        })
                },
            ),
            (ann::SECRET_TEMPLATE, r#"{"labels":{}}"#, |s| {
                s.secret_template.is_none()
            }),
        ];
        for &(key, value, check) in ok {
            let src = ingress(
                &[(ann::ISSUER, "iss"), (key, value)],
                vec![block(&["example.com"], "tls")],
            );
            let plan = build0(&src);
            assert_eq!(plan.create.len(), 1, "{key}={value}: {:?}", messages(&plan));
            assert!(
                check(&plan.create[0].spec),
                "{key}={value}: {:?}",
                plan.create[0].spec
            );
        }

        let bad: &[(&str, &str, &str)] = &[
            (ann::COMMON_NAME, &"x".repeat(65), "is longer than 64 bytes"),
            (
                ann::ALT_NAMES,
                "a.example.com,,b",
                r#"invalid DNS name "": must not be empty"#,
            ),
            (
                ann::ALT_NAMES,
                "a b.example.com",
                r#"invalid DNS name "a b.example.com""#,
            ),
            (ann::IP_SANS, "2160h", r#"invalid IP address "2160h""#),
            (ann::URI_SANS, "not a uri", r#"invalid URI "not a uri""#),
            (ann::URI_SANS, "/relative", r#"invalid URI "/relative""#),
            (ann::EMAIL_SANS, "2160h", r#"invalid email address "2160h""#),
            (
                ann::SUBJECT_ORGANIZATIONS,
                "",
                r#"no values found after parsing """#,
            ),
            (
                ann::SUBJECT_ORGANIZATIONAL_UNITS,
                "a\nb",
                r#"refusing to use "a\nb" as input as it parses as multiple lines of CSV"#,
            ),
            (
                ann::SUBJECT_COUNTRIES,
                r#"G"B"#,
                r#"failed to parse "G\"B" as CSV: parse error on line 1, column 2: bare " in non-quoted field"#,
            ),
            (
                ann::SUBJECT_PROVINCES,
                r#""a"b"#,
                r#"extraneous or missing " in quoted-field"#,
            ),
            (ann::SUBJECT_LOCALITIES, r#""open"#, "in quoted-field"),
            (
                ann::SUBJECT_STREET_ADDRESSES,
                "invalid csv\",",
                r#"bare " in non-quoted field"#,
            ),
            (ann::SUBJECT_POSTAL_CODES, "", "no values found"),
            (
                ann::DURATION,
                "an un-parsable duration string",
                r#"time: invalid duration "an un-parsable duration string""#,
            ),
            (
                ann::DURATION,
                "-5s",
                r#"negative duration "-5s" is not allowed"#,
            ),
            (
                ann::DURATION,
                "30m",
                r#"duration "30m" must be at least 1h"#,
            ),
            (
                ann::RENEW_BEFORE,
                "1x",
                r#"time: unknown unit "x" in duration "1x""#,
            ),
            (
                ann::RENEW_BEFORE,
                "1m",
                r#"renew before "1m" must be at least 5m"#,
            ),
            (
                ann::RENEW_BEFORE,
                "2160h",
                r#"renew before "2160h" must be shorter than the duration (2160h0m0s)"#,
            ),
            (
                ann::RENEW_BEFORE_PERCENTAGE,
                "an un-parsable integer",
                r#"strconv.ParseInt: parsing "an un-parsable integer": invalid syntax"#,
            ),
            (
                ann::RENEW_BEFORE_PERCENTAGE,
                "150",
                r#"renew before percentage must be between 1 and 99 "150""#,
            ),
            (
                ann::USAGES,
                "playing ping pong",
                r#"invalid key usage name "playing ping pong""#,
            ),
            (
                ann::USAGES,
                "server auth,,signing",
                r#"invalid key usage name """#,
            ),
            (
                ann::REVISION_HISTORY_LIMIT,
                "seven",
                r#"strconv.ParseInt: parsing "seven": invalid syntax"#,
            ),
            (
                ann::REVISION_HISTORY_LIMIT,
                "99999999999",
                r#"strconv.ParseInt: parsing "99999999999": value out of range"#,
            ),
            (
                ann::REVISION_HISTORY_LIMIT,
                "0",
                r#"revision history limit must be a positive number "0""#,
            ),
            (
                ann::PRIVATE_KEY_ALGORITHM,
                "rsa",
                r#"invalid private key algorithm "rsa""#,
            ),
            (
                ann::PRIVATE_KEY_ENCODING,
                "PEM",
                r#"invalid private key encoding "PEM""#,
            ),
            (
                ann::PRIVATE_KEY_SIZE,
                "big",
                r#"strconv.Atoi: parsing "big": invalid syntax"#,
            ),
            (
                ann::PRIVATE_KEY_SIZE,
                "1024",
                r#"invalid private key size for RSA algorithm "1024""#,
            ),
            (
                ann::PRIVATE_KEY_SIZE,
                "0",
                r#"invalid private key size for RSA algorithm "0""#,
            ),
            (
                ann::PRIVATE_KEY_ROTATION_POLICY,
                "Sometimes",
                r#"invalid private key rotation policy "Sometimes""#,
            ),
            (
                ann::SECRET_TEMPLATE,
                r#"{"labels":{"a":"b"},"extra":1}"#,
                "error parsing secret template JSON",
            ),
            (
                ann::SECRET_TEMPLATE,
                "not json",
                "error parsing secret template JSON",
            ),
            (
                ann::SECRET_TEMPLATE,
                r#"{"annotations":{"cert-manager.io/issuer-name":"x"}}"#,
                r#"secretTemplate must not have cert-manager.io/ annotations: "cert-manager.io/issuer-name""#,
            ),
        ];
        for &(key, value, want) in bad {
            let src = ingress(
                &[(ann::ISSUER, "iss"), (key, value)],
                vec![block(&["example.com"], "tls")],
            );
            let existing = owned(&src, "stale");
            let plan = build(&src, &Defaults::default(), &[existing], &[]);
            assert!(
                plan.create.is_empty() && plan.update.is_empty() && plan.delete.is_empty(),
                "{key}={value}: {plan:?}"
            );
            let got = messages(&plan);
            assert_eq!(got.len(), 1, "{key}={value}: {got:?}");
            let prefix = format!("Warning BadConfig invalid ingress annotation \"{key}\": ");
            assert!(got[0].starts_with(&prefix), "{key}={value}: {got:?}");
            assert!(got[0].contains(want), "{key}={value}: {got:?} lacks {want}");
        }
    }

    #[test]
    fn annotation_combinations() {
        // The size is judged against the algorithm annotation.
        let src = ingress(
            &[
                (ann::ISSUER, "iss"),
                (ann::PRIVATE_KEY_ALGORITHM, "ECDSA"),
                (ann::PRIVATE_KEY_SIZE, "2048"),
            ],
            vec![block(&["example.com"], "tls")],
        );
        assert_eq!(
            messages(&build0(&src)),
            [
                r#"Warning BadConfig invalid ingress annotation "cert-manager.io/private-key-size": invalid private key size for ECDSA algorithm "2048""#
            ]
        );
        let src = ingress(
            &[
                (ann::ISSUER, "iss"),
                (ann::PRIVATE_KEY_ALGORITHM, "ECDSA"),
                (ann::PRIVATE_KEY_SIZE, "384"),
                (ann::DURATION, "720h"),
                (ann::RENEW_BEFORE, "700h"),
            ],
            vec![block(&["example.com"], "tls")],
        );
        let plan = build0(&src);
        let spec = &only_create(&plan).spec;
        assert_eq!(
            spec.private_key,
            Some(CertificatePrivateKey {
                algorithm: Some(PrivateKeyAlgorithm::Ecdsa),
                size: Some(384),
                ..CertificatePrivateKey::default()
            })
        );
        assert_eq!(spec.renew_before.as_deref(), Some("700h0m0s"));
        // renew-before and renew-before-percentage are exclusive; every bad
        // annotation is reported.
        let src = ingress(
            &[
                (ann::ISSUER, "iss"),
                (ann::RENEW_BEFORE, "24h"),
                (ann::RENEW_BEFORE_PERCENTAGE, "10"),
                (ann::USAGES, "nope"),
            ],
            vec![block(&["example.com"], "tls")],
        );
        assert_eq!(
            messages(&build0(&src)),
            [
                r#"Warning BadConfig invalid ingress annotation "cert-manager.io/renew-before-percentage": "cert-manager.io/renew-before-percentage" may not be set together with "cert-manager.io/renew-before""#,
                r#"Warning BadConfig invalid ingress annotation "cert-manager.io/usages": invalid key usage name "nope""#,
            ]
        );
    }

    #[test]
    fn http01_annotations() {
        let src = ingress(
            &[
                (ann::ISSUER, "iss"),
                (ann::HTTP01_EDIT_IN_PLACE, "true"),
                (ann::HTTP01_INGRESS_CLASS, "traefik"),
                (ann::HTTP01_INGRESS_INGRESSCLASSNAME, "nginx"),
            ],
            vec![block(&["example.com"], "tls")],
        );
        let plan = build0(&src);
        assert_eq!(
            only_create(&plan).metadata.annotations,
            Some(BTreeMap::from([
                (ann::HTTP01_OVERRIDE_INGRESS_NAME.into(), "ing".into()),
                (ann::ISSUE_TEMPORARY_CERTIFICATE.into(), "true".into()),
                (ann::HTTP01_OVERRIDE_INGRESS_CLASS.into(), "traefik".into()),
                (
                    ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME.into(),
                    "nginx".into()
                ),
            ]))
        );
        // Only exactly "true" edits in place; empty classes are ignored.
        let src = ingress(
            &[
                (ann::ISSUER, "iss"),
                (ann::HTTP01_EDIT_IN_PLACE, "True"),
                (ann::HTTP01_INGRESS_CLASS, ""),
            ],
            vec![block(&["example.com"], "tls")],
        );
        assert_eq!(only_create(&build0(&src)).metadata.annotations, None);
        // Gateways and ListenerSets are the HTTP-01 parentRef.
        let src = gateway(
            &[(ann::ISSUER, "iss")],
            vec![listener("https", "a.example.com", "tls")],
        );
        assert_eq!(
            only_create(&build0(&src)).metadata.annotations,
            Some(BTreeMap::from([
                (ann::HTTP01_PARENTREF_KIND.into(), "Gateway".into()),
                (ann::HTTP01_PARENTREF_NAME.into(), "gw".into()),
            ]))
        );
        let mut src = gateway(
            &[(ann::ISSUER, "iss")],
            vec![listener("https", "a.example.com", "tls")],
        );
        src.kind = SourceKind::ListenerSet;
        src.name = "ls".into();
        assert_eq!(
            only_create(&build0(&src)).metadata.annotations,
            Some(BTreeMap::from([
                (ann::HTTP01_PARENTREF_KIND.into(), "ListenerSet".into()),
                (ann::HTTP01_PARENTREF_NAME.into(), "ls".into()),
            ]))
        );
        // A ListenerSet whose route goes to its parent Gateway (no HTTP listener
        // of its own, or `http01-parentreffallback`).
        src.http01_parent = Some(Http01Parent {
            kind: "Gateway".into(),
            namespace: "infra".into(),
            name: "edge".into(),
        });
        assert_eq!(
            only_create(&build0(&src)).metadata.annotations,
            Some(BTreeMap::from([
                (ann::HTTP01_PARENTREF_KIND.into(), "Gateway".into()),
                (ann::HTTP01_PARENTREF_NAME.into(), "edge".into()),
                (ann::HTTP01_PARENTREF_NAMESPACE.into(), "infra".into()),
            ]))
        );
    }

    #[test]
    fn issuer_resolution() {
        let d = Defaults::default();
        let with_default = Defaults {
            issuer_name: Some("letsencrypt".into()),
            issuer_kind: "ClusterIssuer".into(),
            issuer_group: "cert-manager.io".into(),
            ..Defaults::default()
        };
        let ext = |name: &str, kind: &str, group: &str| IssuerReference {
            name: name.into(),
            kind: Some(kind.into()),
            group: (!group.is_empty()).then(|| group.to_string()),
        };
        let both = |a: &str, b: &str| {
            format!(
                r#"Warning BadConfig Could not determine issuer for ingress due to bad annotations: both "{a}" and "{b}" may not be set"#
            )
        };
        // (annotations, defaults, kind, issuer or event)
        type Case<'a> = (
            Vec<(&'a str, &'a str)>,
            &'a Defaults,
            SourceKind,
            Result<IssuerReference, String>,
        );
        let cases: Vec<Case> = vec![
            (vec![(ann::ISSUER, "iss")], &d, SourceKind::Ingress, Ok(ext("iss", "Issuer", "cert-manager.io"))),
            (vec![(ann::CLUSTER_ISSUER, "ci")], &d, SourceKind::Ingress, Ok(cluster_issuer("ci"))),
            (
                vec![(ann::ISSUER, "pca"), (ann::ISSUER_KIND, "AWSPCAIssuer"), (ann::ISSUER_GROUP, "awspca.cert-manager.io")],
                &d,
                SourceKind::Ingress,
                Ok(ext("pca", "AWSPCAIssuer", "awspca.cert-manager.io")),
            ),
            (vec![(ann::TLS_ACME, "true")], &with_default, SourceKind::Ingress, Ok(cluster_issuer("letsencrypt"))),
            (vec![(ann::TLS_ACME, "1")], &with_default, SourceKind::Ingress, Ok(cluster_issuer("letsencrypt"))),
            (
                vec![(ann::TLS_ACME, "true"), (ann::ISSUER, "iss")],
                &with_default,
                SourceKind::Ingress,
                Ok(ext("iss", "Issuer", "cert-manager.io")),
            ),
            (
                vec![(ann::TLS_ACME, "true")],
                &d,
                SourceKind::Ingress,
                Err("Warning BadConfig Could not determine issuer for ingress due to bad annotations: failed to determine issuer name to be used for ingress resource".into()),
            ),
            (
                vec![(ann::ISSUER, "")],
                &d,
                SourceKind::Ingress,
                Err("Warning BadConfig Could not determine issuer for ingress due to bad annotations: failed to determine issuer name to be used for ingress resource".into()),
            ),
            (vec![(ann::ISSUER, "a"), (ann::CLUSTER_ISSUER, "b")], &d, SourceKind::Ingress, Err(both(ann::ISSUER, ann::CLUSTER_ISSUER))),
            (vec![(ann::CLUSTER_ISSUER, "b"), (ann::ISSUER_GROUP, "g")], &d, SourceKind::Gateway, Err(both(ann::CLUSTER_ISSUER, ann::ISSUER_GROUP))),
            (vec![(ann::CLUSTER_ISSUER, "b"), (ann::ISSUER_KIND, "K")], &d, SourceKind::Ingress, Err(both(ann::CLUSTER_ISSUER, ann::ISSUER_KIND))),
            (
                vec![(ann::ISSUER, "a"), (ann::CLUSTER_ISSUER, "b"), (ann::ISSUER_KIND, "K")],
                &d,
                SourceKind::Ingress,
                Err(format!(
                    r#"Warning BadConfig Could not determine issuer for ingress due to bad annotations: both "{}" and "{}" may not be set, both "{}" and "{}" may not be set"#,
                    ann::ISSUER, ann::CLUSTER_ISSUER, ann::CLUSTER_ISSUER, ann::ISSUER_KIND
                )),
            ),
        ];
        for (annotations, defaults, kind, want) in cases {
            let mut src = ingress(&annotations, vec![listener("l", "example.com", "tls")]);
            src.kind = kind;
            let existing = owned(&src, "stale");
            let plan = build(&src, defaults, &[existing], &[]);
            match want {
                Ok(issuer) => {
                    assert_eq!(
                        only_create(&plan).spec.issuer_ref,
                        issuer,
                        "{annotations:?}"
                    );
                    assert_eq!(plan.delete.len(), 1);
                }
                Err(event) => {
                    assert_eq!(messages(&plan), [event], "{annotations:?}");
                    assert!(plan.create.is_empty() && plan.delete.is_empty());
                }
            }
        }
    }

    #[test]
    fn no_issuer_annotation_deletes_owned_certificates() {
        let with_default = Defaults {
            issuer_name: Some("letsencrypt".into()),
            ..Defaults::default()
        };
        for (annotations, kind) in [
            (vec![], SourceKind::Ingress),
            (vec![(ann::TLS_ACME, "false")], SourceKind::Ingress),
            (vec![(ann::TLS_ACME, "")], SourceKind::Ingress),
            // tls-acme is for Ingresses only, as in cert-manager.
            (vec![(ann::TLS_ACME, "true")], SourceKind::Gateway),
            // Per-listener issuers are for Gateways only.
            (
                vec![("cert-manager.io/listener-issuer.l", "iss")],
                SourceKind::Ingress,
            ),
        ] {
            let mut src = ingress(&annotations, vec![listener("l", "example.com", "tls")]);
            src.kind = kind;
            let existing = owned(&src, "tls");
            let plan = build(&src, &with_default, &[existing], &[]);
            assert!(plan.create.is_empty() && plan.update.is_empty());
            assert_eq!(
                plan.delete,
                [CertificateKey {
                    namespace: NS.into(),
                    name: "tls".into()
                }]
            );
            assert_eq!(
                messages(&plan),
                [r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "tls""#]
            );
        }
    }

    #[test]
    fn invalid_blocks_are_skipped() {
        let src = ingress(
            &[(ann::ISSUER, "iss")],
            vec![
                block(&[], "no-hosts"),
                block(&["example.com"], ""),
                block(&[], ""),
                block(&["example.com"], "Bad_Name"),
                block(&["ok.example.com"], "ok"),
            ],
        );
        // Owned Certificates of skipped blocks stay, as in cert-manager.
        let existing = [owned(&src, "no-hosts"), owned(&src, "gone")];
        let plan = build(&src, &Defaults::default(), &existing, &[]);
        assert_eq!(
            messages(&plan),
            [
                "Warning BadConfig Skipped a TLS block: spec.tls[0].hosts: Required value",
                "Warning BadConfig Skipped a TLS block: spec.tls[1].secretName: Required value",
                "Warning BadConfig Skipped a TLS block: [spec.tls[2].hosts: Required value, spec.tls[2].secretName: Required value]",
                r#"Warning BadConfig Skipped a TLS block: spec.tls[3].secretName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"#,
                r#"Normal CreateCertificate Successfully created Certificate "ok""#,
                r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "gone""#,
            ]
        );

        let src = gateway(
            &[(ann::ISSUER, "iss")],
            vec![
                listener("a", "", "tls-a"),
                listener("b", "b.example.com", ""),
            ],
        );
        assert_eq!(
            messages(&build0(&src)),
            [
                "Warning BadConfig Skipped a listener block: spec.listeners[a].hostname: Required value: the hostname cannot be empty",
                "Warning BadConfig Skipped a listener block: spec.listeners[b].tls.certificateRef: Required value: listener has no certificateRefs",
            ]
        );
    }

    #[test]
    fn blocks_sharing_a_secret_are_merged() {
        // cert-manager#7840: two listeners, one Secret.
        let src = gateway(
            &[(ann::CLUSTER_ISSUER, "ci")],
            vec![
                listener("root", "example.com", "shared"),
                listener("wildcard", "*.example.com", "shared"),
                listener("other", "other.example.com", "other"),
                listener("again", "example.com", "shared"),
            ],
        );
        let plan = build0(&src);
        assert_eq!(plan.create.len(), 2);
        assert_eq!(
            plan.create[0].spec.dns_names,
            strs(&["example.com", "*.example.com"])
        );
        assert_eq!(plan.create[1].spec.dns_names, strs(&["other.example.com"]));
        // Ingress TLS entries too.
        let src = ingress(
            &[(ann::CLUSTER_ISSUER, "ci")],
            vec![
                block(&["a.example.com"], "tls"),
                block(&["b.example.com", "1.2.3.4"], "tls"),
            ],
        );
        let plan = build0(&src);
        let spec = &only_create(&plan).spec;
        assert_eq!(spec.dns_names, strs(&["a.example.com", "b.example.com"]));
        assert_eq!(spec.ip_addresses, strs(&["1.2.3.4"]));
    }

    #[test]
    fn per_listener_issuers() {
        let src = gateway(
            &[
                (ann::CLUSTER_ISSUER, "default-ci"),
                ("cert-manager.io/listener-issuer.internal", "vault"),
                (
                    "cert-manager.io/listener-cluster-issuer.public",
                    "letsencrypt",
                ),
            ],
            vec![
                listener("internal", "internal.example.com", "internal"),
                listener("public", "www.example.com", "public"),
                listener("plain", "plain.example.com", "plain"),
            ],
        );
        let plan = build0(&src);
        let issuers: Vec<_> = plan
            .create
            .iter()
            .map(|c| c.spec.issuer_ref.clone())
            .collect();
        assert_eq!(
            issuers,
            [
                IssuerReference {
                    name: "vault".into(),
                    kind: Some("Issuer".into()),
                    group: Some("cert-manager.io".into()),
                },
                cluster_issuer("letsencrypt"),
                cluster_issuer("default-ci"),
            ]
        );

        // Listener annotations alone: other listeners are left alone (and
        // their owned Certificates deleted); issuer-kind/group apply.
        let src = gateway(
            &[
                ("cert-manager.io/listener-issuer.internal", "pca"),
                (ann::ISSUER_KIND, "AWSPCAIssuer"),
                (ann::ISSUER_GROUP, "awspca.cert-manager.io"),
                ("cert-manager.io/listener-issuer.missing", "x"),
            ],
            vec![
                listener("internal", "internal.example.com", "internal"),
                listener("plain", "plain.example.com", "plain"),
            ],
        );
        let existing = owned(&src, "plain");
        let plan = build(&src, &Defaults::default(), &[existing], &[]);
        let cert = only_create(&plan);
        assert_eq!(cert.metadata.name.as_deref(), Some("internal"));
        assert_eq!(
            cert.spec.issuer_ref,
            IssuerReference {
                name: "pca".into(),
                kind: Some("AWSPCAIssuer".into()),
                group: Some("awspca.cert-manager.io".into()),
            }
        );
        assert_eq!(
            messages(&plan),
            [
                r#"Warning SkippedListenerAnnotation annotation "cert-manager.io/listener-issuer.missing" names no TLS listener "missing" of this Gateway: ignored"#,
                r#"Normal CreateCertificate Successfully created Certificate "internal""#,
                r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "plain""#,
            ]
        );

        // Merged blocks with different issuers.
        let src = gateway(
            &[
                (ann::CLUSTER_ISSUER, "ci"),
                ("cert-manager.io/listener-issuer.b", "vault"),
            ],
            vec![
                listener("a", "a.example.com", "shared"),
                listener("b", "b.example.com", "shared"),
            ],
        );
        let existing = owned(&src, "shared");
        let plan = build(&src, &Defaults::default(), &[existing], &[]);
        assert!(plan.create.is_empty() && plan.update.is_empty() && plan.delete.is_empty());
        assert_eq!(
            messages(&plan),
            [
                r#"Warning BadConfig Skipped Certificate "shared": the TLS blocks sharing Secret "shared" ask for different issuers (listener "a": ClusterIssuer "ci", listener "b": Issuer "vault")"#
            ]
        );

        // Both kinds for one listener, or no name: no change.
        for (annotations, want) in [
            (
                vec![
                    ("cert-manager.io/listener-issuer.a", "x"),
                    ("cert-manager.io/listener-cluster-issuer.a", "y"),
                ],
                r#"Warning BadConfig Could not determine issuer for ingress due to bad annotations: both "cert-manager.io/listener-cluster-issuer.a" and "cert-manager.io/listener-issuer.a" may not be set"#,
            ),
            (
                vec![("cert-manager.io/listener-issuer.a", "")],
                r#"Warning BadConfig Could not determine issuer for ingress due to bad annotations: failed to determine issuer name to be used for listener "a""#,
            ),
        ] {
            let src = gateway(&annotations, vec![listener("a", "a.example.com", "tls")]);
            let existing = owned(&src, "tls");
            let plan = build(&src, &Defaults::default(), &[existing], &[]);
            assert_eq!(messages(&plan), [want]);
            assert!(plan.create.is_empty() && plan.delete.is_empty());
        }
    }

    #[test]
    fn cross_namespace_references() {
        let mut allowed = listener("https", "a.example.com", "shared-tls");
        allowed.secret_namespace = Some("certs".into());
        allowed.allowed_cross_namespace = true;
        let mut refused = listener("other", "b.example.com", "refused-tls");
        refused.secret_namespace = Some("elsewhere".into());
        let mut same = listener("same", "c.example.com", "same-tls");
        same.secret_namespace = Some(NS.into());
        let src = gateway(&[(ann::CLUSTER_ISSUER, "ci")], vec![allowed, refused, same]);
        // A Certificate left from when the reference was allowed goes.
        let mut stale = owned_cross(&src, "elsewhere", "refused-tls");
        stale.spec.dns_names = strs(&["b.example.com"]);
        let plan = build(&src, &Defaults::default(), &[stale], &[]);
        assert_eq!(
            messages(&plan),
            [
                r#"Warning BadConfig Skipped a listener block: spec.listeners[other].tls.certificateRef.namespace: Invalid value: "elsewhere": cross-namespace secret references are not allowed in listeners without a ReferenceGrant"#,
                r#"Normal CreateCertificate Successfully created Certificate "certs/shared-tls""#,
                r#"Normal CreateCertificate Successfully created Certificate "same-tls""#,
                r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "elsewhere/refused-tls""#,
            ]
        );
        assert_eq!(
            plan.delete,
            [CertificateKey {
                namespace: "elsewhere".into(),
                name: "refused-tls".into()
            }]
        );
        let cert = &plan.create[0];
        assert_eq!(cert.metadata.namespace.as_deref(), Some("certs"));
        assert_eq!(cert.metadata.owner_references, None);
        assert_eq!(
            cert.metadata.labels,
            Some(BTreeMap::from([(OWNER_UID_LABEL.into(), UID.into())]))
        );
        assert_eq!(
            cert.metadata.annotations,
            Some(BTreeMap::from([
                (ann::HTTP01_PARENTREF_KIND.into(), "Gateway".into()),
                (ann::HTTP01_PARENTREF_NAME.into(), "gw".into()),
                (ann::HTTP01_PARENTREF_NAMESPACE.into(), NS.into()),
                (OWNER_ANNOTATION.into(), "Gateway/default/gw".into()),
            ]))
        );
        assert!(is_owned_by(cert, UID));
        assert!(!is_owned_by(cert, "someone-else"));
        assert!(is_owned_by(&plan.create[1], UID));
        assert_eq!(plan.create[1].metadata.namespace.as_deref(), Some(NS));

        // Once created, the cross-namespace Certificate is up to date.
        let created = plan.create[0].clone();
        let plan = build(&src, &Defaults::default(), &[created], &[]);
        assert_eq!(plan.create.len(), 1);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
    }

    /// A Certificate as the API server returns the intent.
    fn applied(cert: &Certificate) -> Certificate {
        let mut c = cert.clone();
        c.metadata.resource_version = Some("42".into());
        c.metadata.uid = Some("cert-uid".into());
        c
    }

    /// An owned Certificate with some other spec.
    fn owned(src: &Source, name: &str) -> Certificate {
        Certificate {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(src.namespace.clone()),
                owner_references: Some(vec![owner_reference(src)]),
                ..ObjectMeta::default()
            },
            spec: CertificateSpec {
                secret_name: name.into(),
                dns_names: strs(&["old.example.com"]),
                ..CertificateSpec::default()
            },
            status: None,
        }
    }

    fn owned_cross(src: &Source, namespace: &str, name: &str) -> Certificate {
        let mut c = owned(src, name);
        c.metadata.namespace = Some(namespace.into());
        c.metadata.owner_references = None;
        c.metadata.labels = Some(BTreeMap::from([(OWNER_UID_LABEL.into(), src.uid.clone())]));
        c
    }

    #[test]
    fn update_detection() {
        let src = gateway(
            &[
                (ann::CLUSTER_ISSUER, "ci"),
                (ann::HTTP01_INGRESS_CLASS, "nginx"),
            ],
            vec![listener("https", "a.example.com", "tls")],
        );
        let plan = build0(&src);
        let intent = only_create(&plan).clone();
        let current = applied(&intent);

        // No-op when nothing differs, whatever other metadata the object has.
        let mut with_extra = current.clone();
        with_extra
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("example.com/note".into(), "kept".into());
        with_extra
            .metadata
            .owner_references
            .get_or_insert_default()
            .push(OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "x".into(),
                uid: "other".into(),
                ..OwnerReference::default()
            });
        for existing in [current.clone(), with_extra] {
            let plan = build(&src, &Defaults::default(), &[existing], &[]);
            assert_eq!(plan, Plan::default());
        }

        type Edit = fn(&mut Certificate);
        let edits: &[(&str, Edit)] = &[
            ("spec hand edit", |c| {
                c.spec.dns_names = strs(&["evil.example.com"])
            }),
            ("extra spec field", |c| c.spec.is_ca = Some(true)),
            ("issuer", |c| c.spec.issuer_ref.name = "other".into()),
            ("label added", |c| {
                c.metadata
                    .labels
                    .get_or_insert_default()
                    .insert("x".into(), "y".into());
            }),
            ("managed annotation changed", |c| {
                c.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(ann::HTTP01_OVERRIDE_INGRESS_CLASS.into(), "traefik".into());
            }),
            ("managed annotation stale", |c| {
                c.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(ann::HTTP01_OVERRIDE_INGRESS_NAME.into(), "gw".into());
            }),
            ("owner reference not blocking", |c| {
                if let Some(refs) = c.metadata.owner_references.as_mut() {
                    refs[0].block_owner_deletion = None;
                }
            }),
        ];
        for (what, edit) in edits {
            let mut existing = current.clone();
            edit(&mut existing);
            let plan = build(&src, &Defaults::default(), &[existing.clone()], &[]);
            assert_eq!(
                messages(&plan),
                [r#"Normal UpdateCertificate Successfully updated Certificate "tls""#],
                "{what}"
            );
            let updated = &plan.update[0];
            assert_eq!(updated.spec, intent.spec, "{what}");
            assert_eq!(updated.metadata.labels, intent.metadata.labels, "{what}");
            assert_eq!(
                updated.metadata.annotations, intent.metadata.annotations,
                "{what}"
            );
            assert_eq!(
                updated.metadata.owner_references, intent.metadata.owner_references,
                "{what}"
            );
            assert_eq!(updated.metadata.resource_version.as_deref(), Some("42"));
            // Applying the update converges.
            let plan = build(
                &src,
                &Defaults::default(),
                std::slice::from_ref(updated),
                &[],
            );
            assert_eq!(plan, Plan::default(), "{what}");
        }

        // Annotation changes on the source reach the Certificate.
        let src2 = gateway(
            &[(ann::CLUSTER_ISSUER, "ci"), (ann::DURATION, "720h")],
            vec![listener("https", "a.example.com", "tls")],
        );
        let plan = build(&src2, &Defaults::default(), &[current], &[]);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].spec.duration.as_deref(), Some("720h0m0s"));
        assert_eq!(
            plan.update[0]
                .metadata
                .annotations
                .as_ref()
                .map(|a| a.contains_key(ann::HTTP01_OVERRIDE_INGRESS_CLASS)),
            Some(false)
        );
    }

    #[test]
    fn stale_certificates_are_deleted() {
        let src = ingress(
            &[(ann::ISSUER, "iss")],
            vec![block(&["a.example.com"], "keep")],
        );
        let keep = applied(only_create(&build0(&src)));
        let plan = build(
            &src,
            &Defaults::default(),
            &[keep, owned(&src, "old-1"), owned(&src, "old-2")],
            &[],
        );
        assert!(plan.create.is_empty() && plan.update.is_empty());
        assert_eq!(
            messages(&plan),
            [
                r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "old-1""#,
                r#"Normal DeleteCertificate Successfully deleted unrequired Certificate "old-2""#,
            ]
        );
    }

    #[test]
    fn certificate_of_another_owner_is_left_alone() {
        let src = ingress(
            &[(ann::ISSUER, "iss")],
            vec![
                block(&["a.example.com"], "taken"),
                block(&["b.example.com"], "free"),
                block(&["c.example.com"], "manual"),
            ],
        );
        let mut taken = owned(&src, "taken");
        if let Some(refs) = taken.metadata.owner_references.as_mut() {
            refs[0].uid = "other-uid".into();
            refs[0].name = "other-ing".into();
        }
        let mut manual = owned(&src, "manual");
        manual.metadata.owner_references = None;
        // A same-named Certificate in another namespace does not collide.
        let mut elsewhere = owned(&src, "free");
        elsewhere.metadata.namespace = Some("other".into());
        let plan = build(&src, &Defaults::default(), &[], &[taken, manual, elsewhere]);
        assert_eq!(
            messages(&plan),
            [
                r#"Warning BadConfig Skipped Certificate "taken": certificate resource is not owned by this object (it is controlled by Ingress "other-ing"). refusing to update non-owned certificate resource for object"#,
                r#"Normal CreateCertificate Successfully created Certificate "free""#,
                r#"Warning BadConfig Skipped Certificate "manual": certificate resource has no owner. refusing to update non-owned certificate resource for object"#,
            ]
        );
        assert_eq!(plan.create.len(), 1);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            split_with_escape_csv(r#"a,"b,c",,"d""e""#),
            Ok(vec!["a".into(), "b,c".into(), String::new(), "d\"e".into()])
        );
        assert_eq!(
            split_with_escape_csv("a,b\n\n"),
            Ok(vec!["a".into(), "b".into()])
        );
        assert!(split_with_escape_csv("a\nb,c").is_err());
        assert_eq!(
            aggregate(&["x".into(), "x".into()]),
            "x",
            "Go's aggregate drops duplicates"
        );
        assert!(go_parse_bool("True") && !go_parse_bool("yes"));
        assert_eq!(go_parse_int("+7", "f", 0, 10), Ok(7));
    }

    #[test]
    fn extra_and_auto_certificate_annotations_follow_the_flags() {
        const EXTRA: &str = "venafi.cert-manager.io/custom-fields";
        let defaults = Defaults {
            extra_certificate_annotations: vec![EXTRA.into(), "absent.example/x".into()],
            ..Defaults::default()
        };
        for src in [
            ingress(
                &[
                    (ann::CLUSTER_ISSUER, "ci"),
                    (EXTRA, "[{\"name\":\"a\"}]"),
                    ("other/x", "y"),
                ],
                vec![block(&["a.example.com"], "a-tls")],
            ),
            gateway(
                &[
                    (ann::CLUSTER_ISSUER, "ci"),
                    (EXTRA, "[{\"name\":\"a\"}]"),
                    ("other/x", "y"),
                ],
                vec![listener("https", "a.example.com", "a-tls")],
            ),
        ] {
            let plan = build(&src, &defaults, &[], &[]);
            assert_eq!(plan.create.len(), 1, "{:?}", messages(&plan));
            let a = plan.create[0]
                .metadata
                .annotations
                .clone()
                .unwrap_or_default();
            assert_eq!(a.get(EXTRA).map(String::as_str), Some("[{\"name\":\"a\"}]"));
            assert!(
                !a.contains_key("other/x") && !a.contains_key("absent.example/x"),
                "{a:?}"
            );
            // Not listed: not copied.
            let plan = build(&src, &Defaults::default(), &[], &[]);
            let a = plan.create[0]
                .metadata
                .annotations
                .clone()
                .unwrap_or_default();
            assert!(!a.contains_key(EXTRA), "{a:?}");
        }

        // --auto-certificate-annotations replaces kubernetes.io/tls-acme.
        let auto = Defaults {
            issuer_name: Some("letsencrypt".into()),
            issuer_kind: "ClusterIssuer".into(),
            auto_certificate_annotations: vec!["example.com/auto-tls".into()],
            ..Defaults::default()
        };
        let tls = || vec![block(&["b.example.com"], "b-tls")];
        let plan = build(
            &ingress(&[("example.com/auto-tls", "true")], tls()),
            &auto,
            &[],
            &[],
        );
        assert_eq!(plan.create.len(), 1, "{:?}", messages(&plan));
        assert_eq!(plan.create[0].spec.issuer_ref.name, "letsencrypt");
        let plan = build(&ingress(&[(ann::TLS_ACME, "true")], tls()), &auto, &[], &[]);
        assert!(plan.create.is_empty(), "tls-acme is no longer the trigger");
    }
}
