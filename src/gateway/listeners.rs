//! Gateway and ListenerSet listeners as TLS blocks for the intent builder (pure):
//! HTTPS and TLS listeners in Terminate mode with a hostname and a Secret reference.

use crate::certificates::intent::TlsBlock;
use crate::gateway::types::{Listener, ReferenceGrant};

/// A listener left out, and why (reported as an event on the source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub listener: String,
    pub reason: String,
}

/// Whether `grants` (the ReferenceGrants of `target_ns`) let a `from_kind` in `from_ns`
/// refer to the Secret `secret`.
pub fn grant_allows(
    grants: &[ReferenceGrant],
    from_kind: &str,
    from_ns: &str,
    secret: &str,
) -> bool {
    grants.iter().any(|g| {
        g.spec.from.iter().any(|f| {
            f.group == "gateway.networking.k8s.io" && f.kind == from_kind && f.namespace == from_ns
        }) && g.spec.to.iter().any(|t| {
            t.group.is_empty()
                && t.kind == "Secret"
                && t.name.as_deref().is_none_or(|n| n == secret)
        })
    })
}

/// The TLS blocks of listeners; `grants(ns)` returns the ReferenceGrants of a namespace.
pub fn blocks(
    listeners: &[Listener],
    source_kind: &str,
    source_ns: &str,
    grants: &dyn Fn(&str) -> Vec<ReferenceGrant>,
) -> (Vec<TlsBlock>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for l in listeners {
        let skip = |reason: &str| Skipped {
            listener: l.name.clone(),
            reason: reason.to_string(),
        };
        if l.protocol != "HTTPS" && l.protocol != "TLS" {
            continue; // plain HTTP/TCP/UDP listeners carry no certificate
        }
        let Some(tls) = &l.tls else {
            skipped.push(skip("the listener has no tls section"));
            continue;
        };
        if tls.mode.as_deref().is_some_and(|m| m != "Terminate") {
            skipped.push(skip("TLS passthrough: the backend holds the certificate"));
            continue;
        }
        let Some(hostname) = l.hostname.clone().filter(|h| !h.is_empty()) else {
            skipped.push(skip("the listener has no hostname to put in a certificate"));
            continue;
        };
        let Some(r) = tls.certificate_refs.iter().find(|r| {
            r.kind.as_deref().is_none_or(|k| k == "Secret")
                && r.group.as_deref().is_none_or(str::is_empty)
        }) else {
            skipped.push(skip("the listener has no Secret certificateRef"));
            continue;
        };
        let target_ns = r.namespace.clone().filter(|n| n != source_ns);
        let allowed = match &target_ns {
            Some(ns) => grant_allows(&grants(ns), source_kind, source_ns, &r.name),
            None => false,
        };
        out.push(TlsBlock {
            hosts: vec![hostname],
            secret_name: r.name.clone(),
            secret_namespace: target_ns,
            listener: Some(l.name.clone()),
            allowed_cross_namespace: allowed,
        });
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::types::{
        GrantFrom, GrantTo, ListenerTls, ReferenceGrantSpec, SecretObjectReference,
    };

    fn listener(
        name: &str,
        protocol: &str,
        host: Option<&str>,
        mode: Option<&str>,
        secret: &str,
        ns: Option<&str>,
    ) -> Listener {
        Listener {
            name: name.into(),
            hostname: host.map(str::to_string),
            port: 443,
            protocol: protocol.into(),
            tls: Some(ListenerTls {
                mode: mode.map(str::to_string),
                certificate_refs: vec![SecretObjectReference {
                    name: secret.into(),
                    namespace: ns.map(str::to_string),
                    ..Default::default()
                }],
            }),
        }
    }

    fn grant(from_ns: &str) -> ReferenceGrant {
        ReferenceGrant::new(
            "g",
            ReferenceGrantSpec {
                from: vec![GrantFrom {
                    group: "gateway.networking.k8s.io".into(),
                    kind: "Gateway".into(),
                    namespace: from_ns.into(),
                }],
                to: vec![GrantTo {
                    group: String::new(),
                    kind: "Secret".into(),
                    name: None,
                }],
            },
        )
    }

    #[test]
    fn terminate_listeners_with_hostnames_become_blocks_and_others_are_skipped_with_a_reason() {
        let ls = vec![
            listener(
                "https",
                "HTTPS",
                Some("app.example.com"),
                None,
                "app-tls",
                None,
            ),
            listener(
                "tls",
                "TLS",
                Some("*.example.com"),
                Some("Terminate"),
                "wild-tls",
                None,
            ),
            listener(
                "pass",
                "TLS",
                Some("db.example.com"),
                Some("Passthrough"),
                "x",
                None,
            ),
            listener("nohost", "HTTPS", None, None, "y", None),
            Listener {
                name: "http".into(),
                protocol: "HTTP".into(),
                port: 80,
                ..Default::default()
            },
        ];
        let (blocks, skipped) = blocks(&ls, "Gateway", "prod", &|_| Vec::new());
        let names: Vec<&str> = blocks.iter().map(|b| b.secret_name.as_str()).collect();
        assert_eq!(names, ["app-tls", "wild-tls"]);
        assert_eq!(blocks[1].hosts, ["*.example.com"]);
        let why: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.listener.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(why.len(), 2);
        assert!(why[0].0 == "pass" && why[0].1.contains("passthrough"));
        assert!(why[1].0 == "nohost" && why[1].1.contains("hostname"));
    }

    #[test]
    fn cross_namespace_refs_need_a_reference_grant() {
        let ls = vec![listener(
            "https",
            "HTTPS",
            Some("a.example.com"),
            None,
            "shared",
            Some("certs"),
        )];
        let (refused, _) = blocks(&ls, "Gateway", "prod", &|_| Vec::new());
        assert_eq!(refused[0].secret_namespace.as_deref(), Some("certs"));
        assert!(!refused[0].allowed_cross_namespace);
        let (allowed, _) = blocks(&ls, "Gateway", "prod", &|ns| {
            if ns == "certs" {
                vec![grant("prod")]
            } else {
                Vec::new()
            }
        });
        assert!(allowed[0].allowed_cross_namespace);
        let (other, _) = blocks(&ls, "Gateway", "prod", &|_| vec![grant("elsewhere")]);
        assert!(!other[0].allowed_cross_namespace);
    }
}
