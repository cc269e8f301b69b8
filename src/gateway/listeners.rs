//! Gateway and ListenerSet listeners as TLS blocks for the intent builder (pure):
//! HTTPS and TLS listeners in Terminate mode with a Secret reference and a hostname —
//! or, opted into per source, without one: the names of the routes attached to them
//! (computed by the caller with [`crate::gateway::routes`]).

use crate::gateway::routes::{self, MAX_NAMES_PER_CERTIFICATE, RoutesError};
use crate::gateway::types::{Listener, ReferenceGrant, SecretObjectReference};
use crate::intent::TlsBlock;

/// A listener left out, and why (reported as an event on the source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The listener's name.
    pub listener: String,
    /// Why, in words.
    pub reason: String,
}

/// A Secret certgate fills with a listener's route names beyond the first
/// [`MAX_NAMES_PER_CERTIFICATE`] that the listener does not list: the Gateway serves
/// those names only once the listener lists it (reported as a Warning on the source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlistedRef {
    /// The listener's name.
    pub listener: String,
    /// The Secret's name (`<first ref name>-<n>`).
    pub secret_name: String,
    /// The Secret's namespace, when the listener's first ref names one.
    pub secret_namespace: Option<String>,
    /// How many names its Certificate holds.
    pub names: usize,
}

impl UnlistedRef {
    /// The Warning's message.
    pub fn message(&self) -> String {
        let namespace = self
            .secret_namespace
            .as_ref()
            .map(|ns| format!(", namespace: {ns}"))
            .unwrap_or_default();
        format!(
            "listener {:?}: its routes name more hosts than one Certificate holds ({MAX_NAMES_PER_CERTIFICATE}); \
             {} of them went to Secret {:?}, which the listener does not list: add \
             {{name: {}{namespace}}} to its tls.certificateRefs for the Gateway to serve those names",
            self.listener, self.names, self.secret_name, self.secret_name
        )
    }
}

/// What a source's listeners ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerBlocks {
    /// One block per Secret a listener fills.
    pub tls: Vec<TlsBlock>,
    /// The TLS listeners left out, with why.
    pub skipped: Vec<Skipped>,
    /// The Secrets filled for route names that no listener lists.
    pub unlisted_refs: Vec<UnlistedRef>,
}

/// The names of the routes attached to a listener (see [`routes::hostnames_from_routes`]).
pub type RouteHostnames<'a> = &'a dyn Fn(&Listener) -> Result<Vec<String>, RoutesError>;

/// Whether grants (the ReferenceGrants of `target_ns`) let a `from_kind` in `from_ns`
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

fn is_secret(r: &&SecretObjectReference) -> bool {
    r.kind.as_deref().is_none_or(|k| k == "Secret") && r.group.as_deref().is_none_or(str::is_empty)
}

/// cert-manager's annotation naming listeners (comma-separated) the shim leaves alone.
pub const IGNORE_TLS_LISTENERS_ANNOTATION: &str = "cert-manager.io/ignore-tls-listeners";

/// Which listeners are considered, as cert-manager's `--gateway-api-extra-protocols`
/// and `cert-manager.io/ignore-tls-listeners` decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerOptions {
    /// Listener protocols besides HTTPS and TLS that carry a certificate (e.g. `DTLS`);
    /// compared case-sensitively, as cert-manager does.
    pub extra_protocols: Vec<String>,
    /// Listener names to leave alone (the source's ignore annotation).
    pub ignored: Vec<String>,
}

impl ListenerOptions {
    /// The options for a source with `annotations`, given the controller's extra
    /// protocols.
    pub fn for_source(
        annotations: &std::collections::BTreeMap<String, String>,
        extra_protocols: &[String],
    ) -> ListenerOptions {
        ListenerOptions {
            extra_protocols: extra_protocols.to_vec(),
            ignored: annotations
                .get(IGNORE_TLS_LISTENERS_ANNOTATION)
                .map(|v| v.split(',').map(|n| n.trim().to_string()).collect())
                .unwrap_or_default(),
        }
    }

    fn carries_tls(&self, protocol: &str) -> bool {
        protocol == "HTTPS"
            || protocol == "TLS"
            || self.extra_protocols.iter().any(|p| p == protocol)
    }
}

/// The TLS blocks of listeners; `grants(ns)` returns the ReferenceGrants of a namespace;
/// `route_hostnames`, when the source opts into it, the names of the routes attached
/// to a listener without a hostname (else such a listener is skipped).
pub fn blocks(
    listeners: &[Listener],
    source_kind: &str,
    source_ns: &str,
    grants: &dyn Fn(&str) -> Vec<ReferenceGrant>,
    route_hostnames: Option<RouteHostnames<'_>>,
    options: &ListenerOptions,
) -> ListenerBlocks {
    let mut out = ListenerBlocks::default();
    let block = |l: &Listener, hosts: Vec<String>, r: &SecretObjectReference| {
        let target_ns = r.namespace.clone().filter(|n| n != source_ns);
        let allowed = match &target_ns {
            Some(ns) => grant_allows(&grants(ns), source_kind, source_ns, &r.name),
            None => false,
        };
        TlsBlock {
            hosts,
            secret_name: r.name.clone(),
            secret_namespace: target_ns,
            listener: Some(l.name.clone()),
            allowed_cross_namespace: allowed,
        }
    };
    for l in listeners {
        let skip = |reason: &str| Skipped {
            listener: l.name.clone(),
            reason: reason.to_string(),
        };
        if !options.carries_tls(&l.protocol) {
            continue; // plain HTTP/TCP/UDP listeners carry no certificate
        }
        let Some(tls) = &l.tls else {
            out.skipped.push(skip("the listener has no tls section"));
            continue;
        };
        if tls.mode.as_deref().is_some_and(|m| m != "Terminate") {
            out.skipped
                .push(skip("TLS passthrough: the backend holds the certificate"));
            continue;
        }
        if options.ignored.contains(&l.name) {
            continue; // cert-manager.io/ignore-tls-listeners: left alone, silently
        }
        let secret_refs: Vec<&SecretObjectReference> =
            tls.certificate_refs.iter().filter(is_secret).collect();
        let hostname = l.hostname.clone().filter(|h| !h.is_empty());
        if hostname.is_none() && route_hostnames.is_none() {
            out.skipped.push(skip(&format!(
                "the listener has no hostname to put in a certificate (annotate the source \
                 {}: \"true\" to take the hostnames of its routes)",
                routes::HOSTNAMES_FROM_ROUTES_ANNOTATION
            )));
            continue;
        }
        if secret_refs.is_empty() {
            out.skipped
                .push(skip("the listener has no Secret certificateRef"));
            continue;
        }
        let names = match (hostname, route_hostnames) {
            (Some(hostname), _) => {
                // Every Secret the listener lists gets the name (e.g. an RSA and an
                // ECDSA certificate), as cert-manager's shim does.
                for r in &secret_refs {
                    out.tls.push(block(l, vec![hostname.clone()], r));
                }
                continue;
            }
            (None, Some(route_hostnames)) => match route_hostnames(l) {
                Ok(names) => names,
                Err(e) => {
                    out.skipped.push(skip(&format!(
                        "the listener has no hostname, and its routes cannot be read: {e}"
                    )));
                    continue;
                }
            },
            (None, None) => continue, // skipped above
        };
        if names.is_empty() {
            out.skipped.push(skip(
                "the listener has no hostname and no attached route names one",
            ));
            continue;
        }
        for chunk in routes::split_names(&names, &secret_refs) {
            if !chunk.listed {
                out.unlisted_refs.push(UnlistedRef {
                    listener: l.name.clone(),
                    secret_name: chunk.certificate_ref.name.clone(),
                    secret_namespace: chunk.certificate_ref.namespace.clone(),
                    names: chunk.names.len(),
                });
            }
            out.tls.push(block(l, chunk.names, &chunk.certificate_ref));
        }
    }
    out
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
            allowed_routes: None,
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
        let ListenerBlocks {
            tls: blocks,
            skipped,
            unlisted_refs,
        } = blocks(
            &ls,
            "Gateway",
            "prod",
            &|_| Vec::new(),
            None,
            &ListenerOptions::default(),
        );
        assert!(unlisted_refs.is_empty());
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
        assert!(
            why[1].1.contains(routes::HOSTNAMES_FROM_ROUTES_ANNOTATION),
            "the reason tells how to opt in: {}",
            why[1].1
        );
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
        let refused = blocks(
            &ls,
            "Gateway",
            "prod",
            &|_| Vec::new(),
            None,
            &ListenerOptions::default(),
        )
        .tls;
        assert_eq!(refused[0].secret_namespace.as_deref(), Some("certs"));
        assert!(!refused[0].allowed_cross_namespace);
        let allowed = blocks(
            &ls,
            "Gateway",
            "prod",
            &|ns| {
                if ns == "certs" {
                    vec![grant("prod")]
                } else {
                    Vec::new()
                }
            },
            None,
            &ListenerOptions::default(),
        )
        .tls;
        assert!(allowed[0].allowed_cross_namespace);
        let other = blocks(
            &ls,
            "Gateway",
            "prod",
            &|_| vec![grant("elsewhere")],
            None,
            &ListenerOptions::default(),
        )
        .tls;
        assert!(!other[0].allowed_cross_namespace);
    }

    fn route_names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("h{i:03}.example.com")).collect()
    }

    #[test]
    fn listeners_without_a_hostname_take_the_names_of_their_routes_when_opted_in() {
        let mut two_refs = listener("many", "HTTPS", None, None, "many-tls", None);
        if let Some(tls) = two_refs.tls.as_mut() {
            tls.certificate_refs.push(SecretObjectReference {
                name: "many-tls-b".into(),
                ..Default::default()
            });
        }
        let mut no_ref = listener("noref", "HTTPS", None, None, "x", None);
        if let Some(tls) = no_ref.tls.as_mut() {
            tls.certificate_refs.clear();
        }
        let ls = vec![
            listener(
                "fixed",
                "HTTPS",
                Some("fixed.example.com"),
                None,
                "fixed-tls",
                None,
            ),
            listener("few", "HTTPS", None, None, "few-tls", None),
            listener(
                "tls",
                "TLS",
                None,
                Some("Terminate"),
                "tls-tls",
                Some("certs"),
            ),
            listener("none", "HTTPS", None, None, "none-tls", None),
            listener("bad", "HTTPS", None, None, "bad-tls", None),
            listener("big", "HTTPS", None, None, "big-tls", None),
            two_refs,
            no_ref,
            listener("pass", "TLS", None, Some("Passthrough"), "p", None),
        ];
        let asked = std::cell::RefCell::new(Vec::new());
        let names = |l: &Listener| {
            asked.borrow_mut().push(l.name.clone());
            match l.name.as_str() {
                "few" => Ok(vec!["a.example.com".to_string(), "*.b.example.com".into()]),
                "tls" => Ok(vec!["db.example.com".to_string()]),
                "bad" => Err(RoutesError::MissingSelector),
                "big" => Ok(route_names(150)),
                "many" => Ok(route_names(250)),
                _ => Ok(Vec::new()),
            }
        };
        let out = blocks(
            &ls,
            "Gateway",
            "prod",
            &|ns| {
                if ns == "certs" {
                    vec![grant("prod")]
                } else {
                    Vec::new()
                }
            },
            Some(&names),
            &ListenerOptions::default(),
        );
        // The route names are asked for listeners without a hostname only.
        assert_eq!(
            *asked.borrow(),
            ["few", "tls", "none", "bad", "big", "many"]
        );
        let got: Vec<(&str, &str, usize, Option<&str>)> = out
            .tls
            .iter()
            .map(|b| {
                (
                    b.listener.as_deref().unwrap_or_default(),
                    b.secret_name.as_str(),
                    b.hosts.len(),
                    b.secret_namespace.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("fixed", "fixed-tls", 1, None),
                ("few", "few-tls", 2, None),
                ("tls", "tls-tls", 1, Some("certs")),
                ("big", "big-tls", 100, None),
                ("big", "big-tls-2", 50, None),
                ("many", "many-tls", 100, None),
                ("many", "many-tls-b", 100, None),
                ("many", "many-tls-3", 50, None),
            ]
        );
        assert_eq!(out.tls[1].hosts, ["a.example.com", "*.b.example.com"]);
        assert!(out.tls[2].allowed_cross_namespace);
        assert_eq!(out.tls[4].hosts[0], "h100.example.com");
        let why: Vec<(&str, &str)> = out
            .skipped
            .iter()
            .map(|s| (s.listener.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(why[0].0 == "none" && why[0].1.contains("no attached route names one"));
        assert!(why[1].0 == "bad" && why[1].1.contains("selector is not set"));
        assert!(why[2].0 == "noref" && why[2].1.contains("no Secret certificateRef"));
        assert!(why[3].0 == "pass");
        let unlisted: Vec<(&str, &str, usize)> = out
            .unlisted_refs
            .iter()
            .map(|u| (u.listener.as_str(), u.secret_name.as_str(), u.names))
            .collect();
        assert_eq!(
            unlisted,
            [("big", "big-tls-2", 50), ("many", "many-tls-3", 50)]
        );
        let message = out.unlisted_refs[0].message();
        assert!(
            message.contains("\"big\"")
                && message.contains("{name: big-tls-2}")
                && message.contains("certificateRefs"),
            "{message}"
        );
    }

    #[test]
    fn ignored_listeners_extra_protocols_and_every_secret_of_a_listener() {
        let mut two_secrets = listener(
            "https",
            "HTTPS",
            Some("app.example.com"),
            None,
            "app-rsa",
            None,
        );
        if let Some(tls) = two_secrets.tls.as_mut() {
            tls.certificate_refs.push(SecretObjectReference {
                name: "app-ecdsa".into(),
                ..Default::default()
            });
        }
        let ls = vec![
            two_secrets,
            listener(
                "dtls",
                "DTLS",
                Some("voip.example.com"),
                None,
                "voip-tls",
                None,
            ),
            listener(
                "legacy",
                "HTTPS",
                Some("old.example.com"),
                None,
                "old-tls",
                None,
            ),
        ];
        let names = |o: &ListenerOptions| -> Vec<(String, Vec<String>)> {
            blocks(&ls, "Gateway", "prod", &|_| Vec::new(), None, o)
                .tls
                .into_iter()
                .map(|b| (b.secret_name, b.hosts))
                .collect()
        };
        let host = |h: &str| vec![h.to_string()];
        // Defaults: HTTPS and TLS only; both Secrets of a listener get its name.
        assert_eq!(
            names(&ListenerOptions::default()),
            [
                ("app-rsa".to_string(), host("app.example.com")),
                ("app-ecdsa".to_string(), host("app.example.com")),
                ("old-tls".to_string(), host("old.example.com")),
            ]
        );
        // --gateway-api-extra-protocols=DTLS (case-sensitive) and the ignore annotation.
        let annotations = std::collections::BTreeMap::from([(
            IGNORE_TLS_LISTENERS_ANNOTATION.to_string(),
            "legacy, nothing".to_string(),
        )]);
        let options = ListenerOptions::for_source(&annotations, &["DTLS".to_string()]);
        assert_eq!(options.ignored, ["legacy", "nothing"]);
        assert_eq!(
            names(&options),
            [
                ("app-rsa".to_string(), host("app.example.com")),
                ("app-ecdsa".to_string(), host("app.example.com")),
                ("voip-tls".to_string(), host("voip.example.com")),
            ]
        );
        let lower = ListenerOptions::for_source(&Default::default(), &["dtls".to_string()]);
        assert!(names(&lower).iter().all(|(s, _)| s != "voip-tls"));
    }
}
