//! Work shared across replicas (`--shards`): each replica holds a Lease of its own
//! (`certgate-shard-<identity>`, labelled with the group) and renews it; the live
//! Leases are the members, and each namespace belongs to one member by rendezvous
//! hashing, so a member joining or leaving moves only its own share. Namespaced
//! controllers ask [`Shards::owns`] before they act and reconcile everything again
//! when the share changes; cluster-scoped work stays with the one leader (the
//! wiring gates it, see `controller/`).
//!
//! No namespace is worked by two replicas at once: a member is counted by the others
//! `join_delay` after it joined, and counts itself (starts working) only
//! `handoff` later, by when every other member has seen it and let go; a member
//! whose Lease is not renewed in time stops working before the others count it
//! gone. Decisions ([`view`], [`owner`]) are pure; the Lease I/O is [`run`].
//! Nothing here knows a feature.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::Event;

/// The label naming a member Lease's group.
pub const GROUP_LABEL: &str = "certgate.io/shard-group";
/// Member Leases are named this prefix and the member's identity.
pub const LEASE_PREFIX: &str = "certgate-shard-";

/// How members keep and read their Leases.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    /// Where the member Leases live.
    pub namespace: String,
    /// Replicas of one group share work (one group per certgate installation).
    pub group: String,
    /// This replica's identity (unique per process: a restart is a new member).
    pub identity: String,
    /// How many replicas are expected (logged when the members differ).
    pub expected: u32,
    pub timing: Timing,
    /// Only these namespaces are shared out (others are no member's): for several
    /// groups on one cluster, as the tests run side by side. `None`: every one.
    pub scope: Option<std::collections::BTreeSet<String>>,
}

impl ShardSettings {
    pub fn new(namespace: &str, identity: &str, expected: u32) -> ShardSettings {
        ShardSettings {
            namespace: namespace.to_string(),
            group: "certgate".to_string(),
            identity: identity.to_string(),
            expected,
            timing: Timing::default(),
            scope: None,
        }
    }

    /// The name of this member's Lease (a DNS subdomain whatever the identity).
    pub fn lease_name(&self) -> String {
        let id: String = self
            .identity
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let name = format!("{LEASE_PREFIX}{}", id.trim_matches('-'));
        name.chars().take(253).collect()
    }
}

/// Lease timing: a dead member's share is taken over within `lease + renew`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// A Lease not renewed for this long is gone.
    pub lease: Duration,
    /// How often a member renews its Lease and reads the others'.
    pub renew: Duration,
    /// How long after joining a member is counted by the others.
    pub join_delay: Duration,
    /// How much later a member counts itself (the others have let go by then).
    pub handoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(10),
            renew: Duration::from_secs(2),
            join_delay: Duration::from_secs(4),
            handoff: Duration::from_secs(4),
        }
    }
}

/// What a member Lease says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub identity: String,
    pub joined: jiff::Timestamp,
    pub renewed: jiff::Timestamp,
}

/// Who works: the members counted (sorted), and whether this replica is one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub members: Vec<String>,
    pub working: bool,
}

fn after(t: jiff::Timestamp, d: Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

/// The members `me` counts at `now`: every other member whose Lease is live and
/// who joined at least `join_delay` ago, and `me` once it joined `join_delay +
/// handoff` ago and renewed its own Lease within `lease - renew` (a member that
/// cannot renew stops before the others count it gone).
pub fn view(
    members: &[Member],
    me: &str,
    my_last_renewal: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    t: Timing,
) -> View {
    let live = |m: &Member| after(m.renewed, t.lease) > now;
    let mut counted: Vec<String> = members
        .iter()
        .filter(|m| m.identity != me && live(m) && after(m.joined, t.join_delay) <= now)
        .map(|m| m.identity.clone())
        .collect();
    let fenced_ok =
        my_last_renewal.is_some_and(|r| after(r, t.lease.saturating_sub(t.renew)) > now);
    let working = fenced_ok
        && members
            .iter()
            .any(|m| m.identity == me && after(m.joined, t.join_delay + t.handoff) <= now);
    if working {
        counted.push(me.to_string());
    }
    counted.sort();
    counted.dedup();
    View {
        members: counted,
        working,
    }
}

/// A 64-bit hash with good mixing (FNV-1a, then splitmix64's finalizer).
fn score(member: &str, namespace: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0u8]).chain(namespace.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The member a namespace belongs to: the highest score (rendezvous hashing), so
/// a member leaving moves only its own namespaces.
pub fn owner<'a>(namespace: &str, members: &'a [String]) -> Option<&'a str> {
    members
        .iter()
        .max_by_key(|m| (score(m, namespace), m.as_str()))
        .map(String::as_str)
}

struct Membership {
    identity: String,
    scope: Option<std::collections::BTreeSet<String>>,
    view: RwLock<View>,
    changes: tokio::sync::watch::Sender<u64>,
}

/// Which namespaces this replica works on: all of them unless sharded.
#[derive(Clone, Default)]
pub struct Shards {
    membership: Option<Arc<Membership>>,
}

impl Shards {
    /// Everything: one replica (or the leader) does all the work.
    pub fn all() -> Shards {
        Shards::default()
    }

    /// Sharded, working on nothing until [`run`] has counted this replica.
    pub fn member(settings: &ShardSettings) -> Shards {
        let (changes, _) = tokio::sync::watch::channel(0);
        Shards {
            membership: Some(Arc::new(Membership {
                identity: settings.identity.clone(),
                scope: settings.scope.clone(),
                view: RwLock::new(View::default()),
                changes,
            })),
        }
    }

    pub fn is_sharded(&self) -> bool {
        self.membership.is_some()
    }

    /// Whether this replica works on objects in `namespace` now (cluster-scoped
    /// objects, `None`, are the leader's: the wiring gates them).
    pub fn owns(&self, namespace: Option<&str>) -> bool {
        let (Some(m), Some(ns)) = (&self.membership, namespace) else {
            return true;
        };
        if m.scope.as_ref().is_some_and(|s| !s.contains(ns)) {
            return false;
        }
        let Ok(view) = m.view.read() else {
            return false;
        };
        view.working && owner(ns, &view.members) == Some(m.identity.as_str())
    }

    /// The current view (everything, unsharded: `None`).
    pub fn view(&self) -> Option<View> {
        let m = self.membership.as_ref()?;
        m.view.read().ok().map(|v| v.clone())
    }

    /// A tick each time the share changes (never, unsharded): controllers
    /// reconcile everything again on it, to pick up what they now own.
    pub fn changes(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        use futures::StreamExt;
        match &self.membership {
            Some(m) => ticks(m.changes.subscribe()).boxed(),
            None => futures::stream::pending().boxed(),
        }
    }

    /// The events of the watch `make` starts, kept to this replica's share: objects
    /// of other namespaces are left out, and the watch starts again (a fresh
    /// listing) each time the share changes, so a cache holds the share only.
    /// Unsharded: the watch as it is.
    pub fn share_of<K, S>(
        &self,
        make: impl Fn() -> S + Send + 'static,
    ) -> futures::stream::BoxStream<'static, Result<Event<K>, kube::runtime::watcher::Error>>
    where
        K: kube::Resource + Send + 'static,
        S: futures::Stream<Item = Result<Event<K>, kube::runtime::watcher::Error>> + Send + 'static,
    {
        self.share_of_and(make, |_| false)
    }

    /// As [`Shards::share_of`], keeping as well the objects of other namespaces
    /// `also` picks (a feature's objects that belong to a source in another
    /// namespace). `also` is asked of each version an event brings: an object that
    /// stops being picked stays cached as it was until the watch lists again.
    pub fn share_of_and<K, S>(
        &self,
        make: impl Fn() -> S + Send + 'static,
        also: fn(&K) -> bool,
    ) -> futures::stream::BoxStream<'static, Result<Event<K>, kube::runtime::watcher::Error>>
    where
        K: kube::Resource + Send + 'static,
        S: futures::Stream<Item = Result<Event<K>, kube::runtime::watcher::Error>> + Send + 'static,
    {
        use futures::StreamExt;
        if !self.is_sharded() {
            return make().boxed();
        }
        let state = (make().boxed(), self.changes().boxed(), self.clone(), make);
        futures::stream::unfold(
            state,
            move |(mut current, mut changes, shards, make)| async move {
                loop {
                    tokio::select! {
                        Some(()) = changes.next() => current = make().boxed(),
                        event = current.next() => {
                            let event = event?;
                            let keep = match &event {
                                Ok(Event::Apply(o)) | Ok(Event::InitApply(o)) => {
                                    shards.owns(o.meta().namespace.as_deref()) || also(o)
                                }
                                _ => true,
                            };
                            if keep {
                                return Some((event, (current, changes, shards, make)));
                            }
                        }
                    }
                }
            },
        )
        .boxed()
    }

    /// Sets the view; true when it changed.
    fn set(&self, new: View) -> bool {
        let Some(m) = &self.membership else {
            return false;
        };
        let Ok(mut view) = m.view.write() else {
            return false;
        };
        if *view == new {
            return false;
        }
        *view = new;
        m.changes.send_modify(|g| *g += 1);
        true
    }
}

/// The changes of a watch channel (not its value when subscribed), as a stream.
fn ticks(
    rx: tokio::sync::watch::Receiver<u64>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

/// Why a member's Lease could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard member lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

fn member_of(lease: &Lease) -> Option<Member> {
    let spec = lease.spec.as_ref()?;
    Some(Member {
        identity: spec.holder_identity.clone()?,
        joined: spec.acquire_time.as_ref()?.0,
        renewed: spec.renew_time.as_ref()?.0,
    })
}

/// Renews (or creates) this member's Lease; when it joined.
async fn renew(
    api: &Api<Lease>,
    s: &ShardSettings,
    joined: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Result<jiff::Timestamp, kube::Error> {
    let name = s.lease_name();
    let joined = joined.unwrap_or(now);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(GROUP_LABEL.to_string(), s.group.clone())])),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(s.identity.clone()),
            lease_duration_seconds: Some(s.timing.lease.as_secs().max(1) as i32),
            acquire_time: Some(MicroTime(joined)),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    };
    match api.get_opt(&name).await? {
        None => {
            api.create(&PostParams::default(), &lease).await?;
        }
        Some(existing) => {
            let mut lease = lease;
            lease.metadata.resource_version = existing.metadata.resource_version;
            api.replace(&name, &PostParams::default(), &lease).await?;
        }
    }
    Ok(joined)
}

/// Keeps this member's Lease and the view until `shutdown`, then stops working and
/// deletes the Lease (the others take over at once). Expired Leases of members
/// gone for good are deleted on the way.
pub async fn run(
    client: kube::Client,
    settings: ShardSettings,
    shards: Shards,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let t = settings.timing;
    let mut joined: Option<jiff::Timestamp> = None;
    let mut last_renewal: Option<jiff::Timestamp> = None;
    let selector = format!("{GROUP_LABEL}={}", settings.group);
    let mut logged_members = 0usize;
    tokio::pin!(shutdown);
    loop {
        let now = jiff::Timestamp::now();
        match renew(&api, &settings, joined, now).await {
            Ok(j) => {
                joined = Some(j);
                last_renewal = Some(now);
            }
            Err(e) => {
                let e = ShardError::Api {
                    namespace: settings.namespace.clone(),
                    name: settings.lease_name(),
                    source: e,
                };
                tracing::warn!(error = %e, "cannot renew the shard member lease");
            }
        }
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => {
                let members: Vec<Member> = list.items.iter().filter_map(member_of).collect();
                let now = jiff::Timestamp::now();
                let v = view(&members, &settings.identity, last_renewal, now, t);
                let n = v.members.len();
                if shards.set(v) {
                    tracing::info!(
                        members = n,
                        working = shards.view().is_some_and(|v| v.working),
                        "shard members changed"
                    );
                    if n != settings.expected as usize && n != logged_members {
                        tracing::info!(
                            members = n,
                            expected = settings.expected,
                            "the number of shard members differs from --shards"
                        );
                    }
                    logged_members = n;
                }
                // Leases of members gone for good (three lease periods).
                for lease in &list.items {
                    if let (Some(m), Some(name)) = (member_of(lease), lease.metadata.name.as_ref())
                        && after(m.renewed, t.lease * 3) < now
                    {
                        let _ = api.delete(name, &DeleteParams::default()).await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shard member leases");
                // Without a fresh read the view cannot grow, but it must stop in time.
                let now = jiff::Timestamp::now();
                if let Some(mut v) = shards.view()
                    && last_renewal.is_none_or(|r| after(r, t.lease.saturating_sub(t.renew)) <= now)
                {
                    v.working = false;
                    shards.set(v);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(t.renew) => {}
            _ = &mut shutdown => break,
        }
    }
    shards.set(View::default());
    let _ = api
        .delete(&settings.lease_name(), &DeleteParams::default())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(
        namespace: &str,
        name: &str,
        picked: bool,
    ) -> k8s_openapi::api::core::v1::ConfigMap {
        let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
        cm.metadata.namespace = Some(namespace.into());
        cm.metadata.name = Some(name.into());
        if picked {
            cm.metadata.labels = Some([("picked".to_string(), "yes".to_string())].into());
        }
        cm
    }

    #[tokio::test]
    async fn a_share_keeps_its_namespaces_and_what_the_feature_picks_elsewhere() {
        use futures::StreamExt;
        let shards = Shards::member(&ShardSettings::new("certgate", "me", 2));
        let members = vec!["me".to_string(), "other".to_string()];
        shards.set(View {
            members: members.clone(),
            working: true,
        });
        let (mine, theirs): (Vec<String>, Vec<String>) = (0..40)
            .map(|i| format!("ns-{i}"))
            .partition(|ns| owner(ns, &members) == Some("me"));
        let (mine, theirs) = (mine[0].clone(), theirs[0].clone());
        let events = vec![
            Event::Init,
            Event::InitApply(config_map(&mine, "a", false)),
            Event::InitApply(config_map(&theirs, "b", false)),
            Event::InitApply(config_map(&theirs, "c", true)),
            Event::InitDone,
            Event::Apply(config_map(&theirs, "d", false)),
            Event::Apply(config_map(&theirs, "e", true)),
            Event::Delete(config_map(&theirs, "b", false)),
        ];
        let kept: Vec<String> = shards
            .share_of_and(
                move || futures::stream::iter(events.clone().into_iter().map(Ok)),
                |cm: &k8s_openapi::api::core::v1::ConfigMap| {
                    cm.metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key("picked"))
                },
            )
            .map(|e| match e.unwrap() {
                Event::Init => "init".to_string(),
                Event::InitDone => "done".to_string(),
                Event::InitApply(o) | Event::Apply(o) => o.metadata.name.unwrap_or_default(),
                Event::Delete(o) => format!("-{}", o.metadata.name.unwrap_or_default()),
            })
            .collect()
            .await;
        assert_eq!(kept, ["init", "a", "c", "done", "e", "-b"]);
        // Without the feature's pick, only the share.
        let plain: Vec<_> = shards
            .share_of(move || {
                futures::stream::iter(
                    vec![
                        Event::Apply(config_map(&mine, "a", false)),
                        Event::Apply(config_map(&theirs, "c", true)),
                    ]
                    .into_iter()
                    .map(Ok),
                )
            })
            .collect()
            .await;
        assert_eq!(plain.len(), 1);
    }

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn member(id: &str, joined: i64, renewed: i64) -> Member {
        Member {
            identity: id.to_string(),
            joined: ts(joined),
            renewed: ts(renewed),
        }
    }

    #[test]
    fn a_new_member_is_counted_by_others_before_it_counts_itself() {
        let t = Timing::default();
        let members = [member("a", 0, 100), member("b", 100, 100)];
        // b joined at 100: the others count it from 104, b itself from 108.
        let a_at = |s| view(&members, "a", Some(ts(s)), ts(s), t);
        let b_at = |s| view(&members, "b", Some(ts(s)), ts(s), t);
        assert_eq!(a_at(103).members, vec!["a"]);
        assert_eq!(a_at(104).members, vec!["a", "b"]);
        assert!(!b_at(104).working);
        assert_eq!(
            b_at(107).members,
            vec!["a"],
            "b does not work before its handoff"
        );
        assert!(b_at(108).working);
        assert_eq!(b_at(108).members, vec!["a", "b"]);
    }

    #[test]
    fn a_member_that_stops_renewing_stops_working_before_the_others_take_over() {
        let t = Timing::default();
        let members = [member("a", 0, 100), member("b", 0, 100)];
        // a renewed last at 100: it stops at 108 (lease 10 - renew 2); b drops it at 110.
        assert!(view(&members, "a", Some(ts(100)), ts(107), t).working);
        assert!(!view(&members, "a", Some(ts(100)), ts(108), t).working);
        assert_eq!(
            view(&members, "b", Some(ts(109)), ts(109), t).members,
            vec!["a", "b"]
        );
        assert_eq!(
            view(&members, "b", Some(ts(110)), ts(110), t).members,
            vec!["b"]
        );
    }

    #[test]
    fn namespaces_spread_evenly_and_a_leaving_member_moves_only_its_own() {
        let three: Vec<String> = ["r1", "r2", "r3"].iter().map(|s| s.to_string()).collect();
        let namespaces: Vec<String> = (0..3000).map(|i| format!("team-{i}")).collect();
        let mut counts = BTreeMap::new();
        for ns in &namespaces {
            *counts.entry(owner(ns, &three).unwrap()).or_insert(0) += 1;
        }
        for (m, n) in &counts {
            assert!((850..=1150).contains(n), "{m} owns {n} of 3000");
        }
        let two: Vec<String> = vec!["r1".into(), "r3".into()];
        for ns in &namespaces {
            let before = owner(ns, &three).unwrap();
            let after = owner(ns, &two).unwrap();
            if before != "r2" {
                assert_eq!(before, after, "{ns} moved though its owner stayed");
            }
        }
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn unsharded_owns_everything_and_a_member_nothing_until_counted() {
        assert!(Shards::all().owns(Some("any")));
        let mut settings = ShardSettings::new("ns", "a", 1);
        settings.scope = Some(["any".to_string(), "other".to_string()].into());
        let s = Shards::member(&settings);
        assert!(!s.owns(Some("any")));
        assert!(s.owns(None), "cluster-scoped work is gated elsewhere");
        assert!(s.set(View {
            members: vec!["a".into()],
            working: true
        }));
        assert!(s.owns(Some("any")));
        assert!(!s.owns(Some("elsewhere")), "outside the scope");
        assert!(!s.set(View {
            members: vec!["a".into()],
            working: true
        }));
    }

    #[test]
    fn lease_names_are_dns_names() {
        let s = ShardSettings::new("cert-manager", "certgate-7d9f_AB12", 3);
        assert_eq!(s.lease_name(), "certgate-shard-certgate-7d9f-ab12");
    }
}
