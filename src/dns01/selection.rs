//! Which of an ACME issuer's solvers handles a name: cert-manager's precedence.
//!
//! A solver is a candidate when its type is among the challenges the ACME server
//! offers for the authorization (a wildcard name can only be validated with dns01)
//! and its selector, if any, matches: every `matchLabels` entry is on the
//! Certificate, the name is one of `dnsNames` (when given), and the name is inside one
//! of `dnsZones` (when given). Among candidates:
//! 1. a `dnsNames` match beats any solver without one;
//! 2. then the most specific `dnsZones` match (the zone with the most labels) wins;
//! 3. then the most `matchLabels` entries;
//! 4. then the first in the list. A solver without a selector matches everything with
//!    nothing to its credit.

use std::collections::BTreeMap;

use crate::api::acme::{AcmeChallengeSolver, CertificateDnsNameSelector};

/// A challenge type an ACME server can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    Http01,
    Dns01,
    /// RFC 8737; certgate's own solvers (see [`crate::tlsalpn01`]).
    TlsAlpn01,
}

impl ChallengeKind {
    /// The kind of an ACME challenge type (`http-01`, `dns-01`, `tls-alpn-01`);
    /// `None` for others.
    pub fn from_acme_type(t: &str) -> Option<Self> {
        match t {
            "http-01" => Some(Self::Http01),
            "dns-01" => Some(Self::Dns01),
            "tls-alpn-01" => Some(Self::TlsAlpn01),
            _ => None,
        }
    }

    /// The ACME challenge type.
    pub fn as_acme_type(self) -> &'static str {
        match self {
            Self::Http01 => "http-01",
            Self::Dns01 => "dns-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// Why no solver can be used. Messages start with cert-manager's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSolver {
    /// The issuer lists no solvers.
    #[error(
        "no configured challenge solvers can be used for this challenge: the issuer has no solvers (spec.acme.solvers is empty) for \"{domain}\""
    )]
    NoSolvers { domain: String },
    /// No solver's selector matches the name and the Certificate's labels.
    #[error(
        "no configured challenge solvers can be used for this challenge: no solver matches \"{domain}\""
    )]
    NoMatch { domain: String },
    /// Only http01 solvers match a wildcard name.
    #[error(
        "no configured challenge solvers can be used for this challenge: no solver matches \"{domain}\": \
         a wildcard name can only be validated with dns01 and only http01 solvers match it"
    )]
    WildcardNeedsDns01 { domain: String },
    /// Matching solvers exist, but none of a type the ACME server offers.
    #[error(
        "no configured challenge solvers can be used for this challenge: no solver matches \"{domain}\": \
         the ACME server offers {offered} and no matching solver is of that type"
    )]
    NotOffered { domain: String, offered: String },
}

/// What the selection needs to know of a solver: an issuer's `solvers[]` entry, or
/// one of certgate's TLS-ALPN-01 solvers.
pub trait SolverCandidate {
    /// Its selector; `None` matches every name.
    fn selector(&self) -> Option<&CertificateDnsNameSelector>;
    /// Whether it solves challenges of `kind`, for a wildcard name or not.
    fn solves(&self, kind: ChallengeKind, wildcard: bool) -> bool;
}

impl SolverCandidate for AcmeChallengeSolver {
    fn selector(&self) -> Option<&CertificateDnsNameSelector> {
        self.selector.as_ref()
    }

    fn solves(&self, kind: ChallengeKind, wildcard: bool) -> bool {
        match kind {
            ChallengeKind::Http01 => self.http01.is_some() && !wildcard,
            ChallengeKind::Dns01 => self.dns01.is_some(),
            ChallengeKind::TlsAlpn01 => false,
        }
    }
}

/// The challenge type `solver` would use among `offered` (in the server's order), for
/// a wildcard name or not.
pub fn challenge_kind_for(
    solver: &impl SolverCandidate,
    offered: &[ChallengeKind],
    wildcard: bool,
) -> Option<ChallengeKind> {
    offered
        .iter()
        .copied()
        .find(|kind| solver.solves(*kind, wildcard))
}

/// How specific a matching selector is; compared field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    dns_name: bool,
    zone_labels: usize,
    match_labels: usize,
}

/// `None` when the selector rules the solver out for `domain`.
fn score(
    solver: &impl SolverCandidate,
    domain: &str,
    labels: &BTreeMap<String, String>,
) -> Option<Score> {
    let Some(selector) = solver.selector() else {
        return Some(Score {
            dns_name: false,
            zone_labels: 0,
            match_labels: 0,
        });
    };
    let match_labels = match &selector.match_labels {
        Some(required) => {
            if !required.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                return None;
            }
            required.len()
        }
        None => 0,
    };
    let dns_name = match selector.dns_names.as_deref() {
        Some(names) if !names.is_empty() => {
            if !names.iter().any(|n| same_name(n, domain)) {
                return None;
            }
            true
        }
        _ => false,
    };
    let zone_labels = match selector.dns_zones.as_deref() {
        Some(zones) if !zones.is_empty() => {
            let best = zones
                .iter()
                .filter_map(|z| zone_match_labels(z, domain))
                .max()
                .unwrap_or(0);
            if best == 0 {
                return None;
            }
            best
        }
        _ => 0,
    };
    Some(Score {
        dns_name,
        zone_labels,
        match_labels,
    })
}

fn labels_of(name: &str) -> Vec<String> {
    name.trim()
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn same_name(a: &str, b: &str) -> bool {
    labels_of(a) == labels_of(b)
}

/// The number of labels of `zone` when `domain` is the zone or inside it.
fn zone_match_labels(zone: &str, domain: &str) -> Option<usize> {
    let zone = labels_of(zone);
    let domain = labels_of(domain);
    (!zone.is_empty() && domain.ends_with(&zone)).then_some(zone.len())
}

/// Picks the solver for `domain` (as in the authorization: `*.example.com` for a
/// wildcard) among `solvers`, given the Certificate's labels and the challenge types
/// the ACME server offers. Returns its index in the list and the solver.
pub fn select_solver<'a, S: SolverCandidate>(
    solvers: &'a [S],
    domain: &str,
    certificate_labels: &BTreeMap<String, String>,
    offered: &[ChallengeKind],
) -> Result<(usize, &'a S), NoSolver> {
    let wildcard = domain.trim().starts_with("*.");
    let mut best: Option<(Score, usize)> = None;
    let mut matched_any = false;
    let mut matched_http01 = false;
    for (index, solver) in solvers.iter().enumerate() {
        let Some(score) = score(solver, domain, certificate_labels) else {
            continue;
        };
        matched_any = true;
        matched_http01 |= solver.solves(ChallengeKind::Http01, false);
        if challenge_kind_for(solver, offered, wildcard).is_none() {
            continue;
        }
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, index));
        }
    }
    let domain = domain.trim().to_string();
    match best {
        Some((_, index)) => Ok((index, &solvers[index])),
        None if solvers.is_empty() => Err(NoSolver::NoSolvers { domain }),
        None if !matched_any => Err(NoSolver::NoMatch { domain }),
        None if wildcard
            && matched_http01
            && (offered.is_empty() || offered.contains(&ChallengeKind::Dns01)) =>
        {
            Err(NoSolver::WildcardNeedsDns01 { domain })
        }
        None => Err(NoSolver::NotOffered {
            domain,
            offered: if offered.is_empty() {
                "no http-01 or dns-01 challenge".to_string()
            } else {
                offered
                    .iter()
                    .map(|k| k.as_acme_type())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::acme::{AcmeChallengeSolverHttp01, CertificateDnsNameSelector};
    use crate::api::acme_dns01::AcmeChallengeSolverDns01;

    use ChallengeKind::{Dns01, Http01};

    const BOTH: &[ChallengeKind] = &[Http01, Dns01];

    fn http01() -> AcmeChallengeSolver {
        AcmeChallengeSolver {
            http01: Some(AcmeChallengeSolverHttp01::default()),
            ..Default::default()
        }
    }

    fn dns01() -> AcmeChallengeSolver {
        AcmeChallengeSolver {
            dns01: Some(AcmeChallengeSolverDns01::default()),
            ..Default::default()
        }
    }

    fn with(
        mut s: AcmeChallengeSolver,
        names: &[&str],
        zones: &[&str],
        labels: &[(&str, &str)],
    ) -> AcmeChallengeSolver {
        let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
        s.selector = Some(CertificateDnsNameSelector {
            dns_names: list(names),
            dns_zones: list(zones),
            match_labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
        });
        s
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    struct Case {
        name: &'static str,
        solvers: Vec<AcmeChallengeSolver>,
        domain: &'static str,
        labels: &'static [(&'static str, &'static str)],
        offered: &'static [ChallengeKind],
        want: Result<usize, &'static str>,
    }

    #[test]
    fn precedence() {
        let cases = vec![
            Case {
                name: "a solver without selector matches anything",
                solvers: vec![http01()],
                domain: "example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(0),
            },
            Case {
                name: "first of equals wins",
                solvers: vec![http01(), dns01()],
                domain: "example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(0),
            },
            Case {
                name: "dnsNames beats dnsZones",
                solvers: vec![
                    with(dns01(), &[], &["www.example.com"], &[]),
                    with(http01(), &["www.example.com"], &[], &[]),
                ],
                domain: "www.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "dnsNames beats more matchLabels",
                solvers: vec![
                    with(dns01(), &[], &[], &[("a", "1"), ("b", "2")]),
                    with(http01(), &["www.example.com"], &[], &[]),
                ],
                domain: "www.example.com",
                labels: &[("a", "1"), ("b", "2")],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "most specific zone wins",
                solvers: vec![
                    with(dns01(), &[], &["example.com"], &[]),
                    with(dns01(), &[], &["sub.example.com"], &[]),
                    with(dns01(), &[], &["com"], &[]),
                ],
                domain: "a.sub.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "zone match beats no selector and more labels",
                solvers: vec![
                    http01(),
                    with(http01(), &[], &[], &[("a", "1")]),
                    with(dns01(), &[], &["example.com"], &[]),
                ],
                domain: "example.com",
                labels: &[("a", "1")],
                offered: BOTH,
                want: Ok(2),
            },
            Case {
                name: "zones compare whole labels",
                solvers: vec![with(dns01(), &[], &["ample.com"], &[]), http01()],
                domain: "example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "within a zone tier, more matchLabels wins",
                solvers: vec![
                    with(dns01(), &[], &["example.com"], &[("a", "1")]),
                    with(dns01(), &[], &["example.com"], &[("a", "1"), ("b", "2")]),
                ],
                domain: "x.example.com",
                labels: &[("a", "1"), ("b", "2")],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "both dnsNames: zones then labels decide",
                solvers: vec![
                    with(dns01(), &["x.example.com"], &[], &[("a", "1")]),
                    with(dns01(), &["x.example.com"], &["example.com"], &[]),
                ],
                domain: "x.example.com",
                labels: &[("a", "1")],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "matchLabels must all match",
                solvers: vec![
                    with(dns01(), &[], &[], &[("a", "1"), ("b", "2")]),
                    with(http01(), &[], &[], &[("a", "1")]),
                ],
                domain: "example.com",
                labels: &[("a", "1")],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "a label value must be equal",
                solvers: vec![with(dns01(), &[], &[], &[("a", "1")])],
                domain: "example.com",
                labels: &[("a", "2")],
                offered: BOTH,
                want: Err("no solver matches \"example.com\""),
            },
            Case {
                name: "more labels beat no selector",
                solvers: vec![http01(), with(http01(), &[], &[], &[("a", "1")])],
                domain: "example.com",
                labels: &[("a", "1")],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "an empty selector is like none",
                solvers: vec![http01(), with(dns01(), &[], &[], &[])],
                domain: "example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(0),
            },
            Case {
                name: "dnsNames mismatch rules a solver out",
                solvers: vec![with(dns01(), &["other.example.com"], &[], &[]), http01()],
                domain: "www.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "dnsNames and dnsZones must both match",
                solvers: vec![
                    with(dns01(), &["www.example.com"], &["example.net"], &[]),
                    http01(),
                ],
                domain: "www.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "a wildcard skips http01 solvers",
                solvers: vec![http01(), dns01()],
                domain: "*.example.com",
                labels: &[],
                offered: &[Dns01],
                want: Ok(1),
            },
            Case {
                name: "a wildcard skips http01 even when offered",
                solvers: vec![with(http01(), &["*.example.com"], &[], &[]), dns01()],
                domain: "*.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(1),
            },
            Case {
                name: "a wildcard matches its zone",
                solvers: vec![http01(), with(dns01(), &[], &["example.com"], &[])],
                domain: "*.example.com",
                labels: &[],
                offered: &[Dns01],
                want: Ok(1),
            },
            Case {
                name: "a wildcard dnsNames entry is exact",
                solvers: vec![
                    with(dns01(), &["example.com"], &[], &[]),
                    with(dns01(), &["*.example.com"], &[], &[]),
                ],
                domain: "*.example.com",
                labels: &[],
                offered: &[Dns01],
                want: Ok(1),
            },
            Case {
                name: "a wildcard with only http01 solvers",
                solvers: vec![http01()],
                domain: "*.example.com",
                labels: &[],
                offered: &[Dns01],
                want: Err(
                    "no solver matches \"*.example.com\": a wildcard name can only be validated with dns01",
                ),
            },
            Case {
                name: "types the server does not offer are skipped",
                solvers: vec![http01(), dns01()],
                domain: "example.com",
                labels: &[],
                offered: &[Dns01],
                want: Ok(1),
            },
            Case {
                name: "nothing of an offered type",
                solvers: vec![http01()],
                domain: "example.com",
                labels: &[],
                offered: &[Dns01],
                want: Err("the ACME server offers dns-01 and no matching solver is of that type"),
            },
            Case {
                name: "no solvers",
                solvers: vec![],
                domain: "example.com",
                labels: &[],
                offered: BOTH,
                want: Err("the issuer has no solvers"),
            },
            Case {
                name: "names compare case-insensitively",
                solvers: vec![with(dns01(), &["WWW.Example.com"], &["EXAMPLE.COM."], &[])],
                domain: "www.example.com",
                labels: &[],
                offered: BOTH,
                want: Ok(0),
            },
        ];
        for case in cases {
            let got = select_solver(
                &case.solvers,
                case.domain,
                &labels(case.labels),
                case.offered,
            );
            match (&got, &case.want) {
                (Ok((index, solver)), Ok(want)) => {
                    assert_eq!(index, want, "{}", case.name);
                    assert!(std::ptr::eq(*solver, &case.solvers[*want]), "{}", case.name);
                }
                (Err(e), Err(want)) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with(
                            "no configured challenge solvers can be used for this challenge"
                        ),
                        "{}: {msg}",
                        case.name
                    );
                    assert!(msg.contains(want), "{}: {msg}", case.name);
                }
                _ => panic!("{}: got {got:?}, want {:?}", case.name, case.want),
            }
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(ChallengeKind::from_acme_type("dns-01"), Some(Dns01));
        assert_eq!(ChallengeKind::from_acme_type("http-01"), Some(Http01));
        assert_eq!(
            ChallengeKind::from_acme_type("tls-alpn-01"),
            Some(ChallengeKind::TlsAlpn01)
        );
        assert_eq!(ChallengeKind::from_acme_type("tls-sni-01"), None);
        assert_eq!(challenge_kind_for(&http01(), BOTH, false), Some(Http01));
        assert_eq!(challenge_kind_for(&http01(), BOTH, true), None);
        assert_eq!(
            challenge_kind_for(&dns01(), &[Dns01, Http01], true),
            Some(Dns01)
        );
        assert_eq!(
            challenge_kind_for(&AcmeChallengeSolver::default(), BOTH, false),
            None
        );
    }

    #[test]
    fn no_match_names_the_domain() {
        let solvers = vec![with(dns01(), &["a.example.com"], &[], &[])];
        let e = select_solver(&solvers, "*.example.com", &BTreeMap::new(), &[Dns01]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no configured challenge solvers can be used for this challenge: no solver matches \"*.example.com\""
        );
    }
}
