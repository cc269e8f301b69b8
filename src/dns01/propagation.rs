//! Propagation checks: is a challenge's TXT value visible where the ACME server
//! will look?
//!
//! A check follows the record name's CNAMEs (as the ACME server does), then asks
//! every authoritative nameserver of the zone (each that answers must hold the value),
//! or only the recursive nameservers when `recursive_nameservers_only` is set.
//!
//! A nameserver that does not answer (timeout, unreachable, SERVFAIL, REFUSED) does
//! not hold the check back once another one answers with the value: the ACME
//! server's resolver moves on from it the same way, so it cannot make validation
//! fail. cert-manager waits for it forever. One that answers without the value
//! (lagging behind) does hold it back: the CA may ask it.
//!
//! Checks of one name are coalesced: a wildcard and its base name share
//! `_acme-challenge.<domain>.`, each challenge waiting for its own value. Concurrent
//! checks of a name share one round of queries, and a finished round answers further
//! checks of that name for less than half the poll period, so two values on one name
//! cost one round per poll. The name's resolution (CNAME target, zone, nameserver
//! addresses) is kept for a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::Dns01Config;
use super::Nameserver;
use super::fqdn as absolute;
use super::resolver::{Resolver, ResolverError};

/// How long a name's resolution (CNAME target and nameservers) is reused.
const PLAN_TTL: Duration = Duration::from_secs(60);

/// Whether a value is visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Propagation {
    /// Every nameserver asked holds the value.
    Visible,
    /// Some nameservers do not hold it yet: one message per such nameserver.
    Pending { messages: Vec<String> },
}

impl Propagation {
    /// Whether the value is visible everywhere it was looked for.
    pub fn is_visible(&self) -> bool {
        matches!(self, Self::Visible)
    }

    /// One line saying what is missing (empty when visible).
    pub fn message(&self) -> String {
        match self {
            Self::Visible => String::new(),
            Self::Pending { messages } => messages.join("; "),
        }
    }
}

/// Why a check could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropagationError {
    /// Looking up the record's CNAME target, zone or nameservers failed.
    #[error(transparent)]
    Lookup(#[from] ResolverError),
    /// [`Checker::wait`] gave up.
    #[error("DNS record for \"{fqdn}\" still not visible after {waited_secs}s: {last}")]
    TimedOut {
        fqdn: String,
        waited_secs: u64,
        last: String,
    },
}

/// Where a name's TXT records are looked for.
#[derive(Debug)]
struct Plan {
    /// The name after following CNAMEs.
    target: String,
    /// The nameservers asked.
    servers: Vec<Nameserver>,
}

/// One round of TXT queries for a name.
#[derive(Debug)]
struct Round {
    target: String,
    answers: Vec<(Nameserver, Result<Vec<String>, ResolverError>)>,
}

type RoundResult = (Instant, Result<Arc<Round>, PropagationError>);

/// A round shared by the checks of one name: in flight, or finished at a time.
#[derive(Default)]
struct Slot {
    cell: OnceCell<RoundResult>,
}

impl Slot {
    /// In flight, or finished less than `fresh_for` ago.
    fn usable(&self, now: Instant, fresh_for: Duration) -> bool {
        match self.cell.get() {
            None => true,
            Some((at, _)) => now.saturating_duration_since(*at) < fresh_for,
        }
    }
}

/// Checks challenge records. Cheap to clone; clones share rounds, caches and the
/// query counter, so one checker serves every challenge task.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: Resolver,
    config: Dns01Config,
    rounds: Mutex<HashMap<String, Arc<Slot>>>,
    plans: Mutex<HashMap<String, (Instant, Arc<Plan>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Checker {
    /// A checker with its own resolver built from `config`.
    pub fn new(config: Dns01Config) -> Result<Self, ResolverError> {
        let resolver = Resolver::new(&config)?;
        Ok(Self::with_resolver(resolver, config))
    }

    /// A checker using `resolver` (whose query counter it then shares).
    pub fn with_resolver(resolver: Resolver, config: Dns01Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                resolver,
                config,
                rounds: Mutex::new(HashMap::new()),
                plans: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The resolver the checks use.
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// How many DNS queries the checks (and anything else sharing the resolver) sent.
    pub fn queries_sent(&self) -> u64 {
        self.inner.resolver.queries_sent()
    }

    /// Whether `value` is visible in the TXT records of `fqdn` at every nameserver
    /// that counts.
    pub async fn check(&self, fqdn: &str, value: &str) -> Result<Propagation, PropagationError> {
        let key = absolute(fqdn);
        let slot = self.slot(&key);
        let (_, result) = slot.cell.get_or_init(|| self.round(key.clone())).await;
        let round = result.clone()?;
        Ok(evaluate(&key, &round, value))
    }

    /// Checks every poll period until `value` is visible, for at most the configured
    /// timeout.
    pub async fn wait(&self, fqdn: &str, value: &str) -> Result<(), PropagationError> {
        let start = Instant::now();
        let deadline = start + self.inner.config.timeout;
        loop {
            let last = match self.check(fqdn, value).await {
                Ok(Propagation::Visible) => return Ok(()),
                Ok(pending) => pending.message(),
                Err(e) => e.to_string(),
            };
            let poll = self.inner.config.poll_period;
            if Instant::now() + poll > deadline {
                return Err(PropagationError::TimedOut {
                    fqdn: absolute(fqdn),
                    waited_secs: start.elapsed().as_secs(),
                    last,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The shared round for `key`: the one in flight or fresh, else a new one.
    fn slot(&self, key: &str) -> Arc<Slot> {
        let fresh_for = self.inner.config.poll_period / 2;
        let now = Instant::now();
        let mut rounds = lock(&self.inner.rounds);
        rounds.retain(|_, slot| slot.usable(now, fresh_for));
        rounds.entry(key.to_string()).or_default().clone()
    }

    async fn round(&self, key: String) -> RoundResult {
        let result = self.run_round(&key).await;
        (Instant::now(), result)
    }

    async fn run_round(&self, key: &str) -> Result<Arc<Round>, PropagationError> {
        let plan = self.plan(key).await?;
        let resolver = &self.inner.resolver;
        let target = plan.target.as_str();
        let answers = futures::future::join_all(plan.servers.iter().map(|server| async move {
            (
                server.clone(),
                resolver.txt_values(server.clone(), target).await,
            )
        }))
        .await;
        Ok(Arc::new(Round {
            target: plan.target.clone(),
            answers,
        }))
    }

    /// Where `key`'s records are looked for, reused for [`PLAN_TTL`].
    async fn plan(&self, key: &str) -> Result<Arc<Plan>, ResolverError> {
        let now = Instant::now();
        {
            let mut plans = lock(&self.inner.plans);
            plans.retain(|_, (at, _)| now.saturating_duration_since(*at) < PLAN_TTL);
            if let Some((_, plan)) = plans.get(key) {
                return Ok(plan.clone());
            }
        }
        let resolver = &self.inner.resolver;
        let target = resolver.follow_cname(key).await?;
        let servers = if self.inner.config.recursive_nameservers_only {
            resolver.recursive_nameservers().to_vec()
        } else {
            let zone = resolver.find_zone(&target).await?;
            resolver
                .authoritative_nameservers(&zone)
                .await?
                .into_iter()
                .map(Nameserver::Addr)
                .collect()
        };
        let plan = Arc::new(Plan { target, servers });
        lock(&self.inner.plans).insert(key.to_string(), (Instant::now(), plan.clone()));
        Ok(plan)
    }
}

/// Whether `round` shows `value`, with a message per nameserver that lacks it.
fn evaluate(key: &str, round: &Round, value: &str) -> Propagation {
    let subject = if round.target == key {
        format!("DNS record for \"{key}\"")
    } else {
        format!("DNS record for \"{key}\" (CNAME to \"{}\")", round.target)
    };
    let seen_somewhere = round.answers.iter().any(|(_, a)| {
        a.as_ref()
            .is_ok_and(|values| values.iter().any(|v| v == value))
    });
    let mut messages = Vec::new();
    for (server, answer) in &round.answers {
        let problem = match answer {
            Ok(values) if values.iter().any(|v| v == value) => continue,
            Ok(values) if values.is_empty() => format!("{server} has no TXT record"),
            Ok(values) => format!("{server} has {} value(s), none matches", values.len()),
            // Unanswered: the CA's resolver asks another server.
            Err(_) if seen_somewhere => continue,
            Err(e) => e.to_string(),
        };
        messages.push(format!("{subject} not yet propagated: {problem}"));
    }
    if round.answers.is_empty() {
        messages.push(format!(
            "{subject} not yet propagated: no nameservers to ask"
        ));
    }
    if messages.is_empty() {
        Propagation::Visible
    } else {
        Propagation::Pending { messages }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Nameserver {
        s.parse().unwrap()
    }

    #[test]
    fn visible_only_when_every_server_has_the_value() {
        let round = Round {
            target: "_acme-challenge.example.com.".into(),
            answers: vec![
                (addr("127.0.0.1:5353"), Ok(vec!["a".into(), "b".into()])),
                (addr("127.0.0.2:5353"), Ok(vec!["b".into()])),
            ],
        };
        let key = "_acme-challenge.example.com.";
        assert_eq!(evaluate(key, &round, "b"), Propagation::Visible);
        let pending = evaluate(key, &round, "a");
        assert_eq!(
            pending,
            Propagation::Pending {
                messages: vec![
                    "DNS record for \"_acme-challenge.example.com.\" not yet propagated: \
                     127.0.0.2:5353 has 1 value(s), none matches"
                        .into()
                ]
            }
        );
        assert!(!pending.is_visible());
    }

    #[test]
    fn messages_for_missing_records_errors_and_cnames() {
        let round = Round {
            target: "_acme-challenge.delegated.example.net.".into(),
            answers: vec![
                (addr("127.0.0.1:53"), Ok(vec![])),
                (
                    addr("127.0.0.2:53"),
                    Err(ResolverError::Rcode {
                        name: "_acme-challenge.delegated.example.net.".into(),
                        rtype: "TXT".into(),
                        server: addr("127.0.0.2:53"),
                        rcode: "REFUSED".into(),
                    }),
                ),
            ],
        };
        let p = evaluate("_acme-challenge.app.example.com.", &round, "v");
        let msg = p.message();
        assert!(
            msg.contains("(CNAME to \"_acme-challenge.delegated.example.net.\")"),
            "{msg}"
        );
        assert!(msg.contains("127.0.0.1:53 has no TXT record"), "{msg}");
        assert!(msg.contains("127.0.0.2:53 answered REFUSED"), "{msg}");
    }

    #[test]
    fn a_server_that_does_not_answer_holds_back_only_while_none_has_the_value() {
        let silent = || {
            Err(ResolverError::NoAnswer {
                name: "_acme-challenge.example.com.".into(),
                rtype: "TXT".into(),
                servers: "127.0.0.2:53".into(),
                reason: "timed out".into(),
            })
        };
        let key = "_acme-challenge.example.com.";
        let round = Round {
            target: key.into(),
            answers: vec![
                (addr("127.0.0.1:53"), Ok(vec!["v".into()])),
                (addr("127.0.0.2:53"), silent()),
            ],
        };
        assert_eq!(evaluate(key, &round, "v"), Propagation::Visible);
        let round = Round {
            target: key.into(),
            answers: vec![
                (addr("127.0.0.1:53"), Ok(vec![])),
                (addr("127.0.0.2:53"), silent()),
            ],
        };
        let msg = evaluate(key, &round, "v").message();
        assert!(msg.contains("127.0.0.1:53 has no TXT record"), "{msg}");
        assert!(msg.contains("timed out"), "{msg}");
    }

    #[test]
    fn no_servers_is_never_visible() {
        let round = Round {
            target: "x.".into(),
            answers: vec![],
        };
        assert!(!evaluate("x.", &round, "v").is_visible());
    }

    #[tokio::test]
    async fn slots_are_fresh_for_half_the_poll_period() {
        let slot = Slot::default();
        let now = Instant::now();
        assert!(slot.usable(now, Duration::from_secs(1)), "in flight");
        let _ = slot
            .cell
            .get_or_init(|| async {
                (
                    now,
                    Err(PropagationError::TimedOut {
                        fqdn: "x.".into(),
                        waited_secs: 0,
                        last: String::new(),
                    }),
                )
            })
            .await;
        assert!(slot.usable(now + Duration::from_millis(999), Duration::from_secs(1)));
        assert!(!slot.usable(now + Duration::from_secs(1), Duration::from_secs(1)));
    }
}
