//! The Challenge controller's decisions, pure: from what is observed of a
//! Challenge (and of its solver) to what to do next. The controller
//! (`challenges.rs`) observes, calls these, and does the I/O they ask for.

use std::time::Duration;

/// What the controller observed of a Challenge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// It carries the ACME challenge finalizer.
    pub has_finalizer: bool,
    /// `status.state` is final (valid, invalid, errored, expired).
    pub decided: bool,
    pub presented: bool,
    pub processing: bool,
    /// The CA was told the challenge is ready (`status.reason` says so).
    pub accepted: bool,
}

/// The phase a Challenge is in, and the one thing to do for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Being deleted: clean up (always, when we hold the finalizer: presenting may
    /// have happened without being recorded), then drop the finalizer.
    Release { clean_up: bool },
    /// New: add the finalizer before anything is presented.
    AddFinalizer,
    /// The CA decided: clean up once (when anything may be presented), free the slot.
    Finish { clean_up: bool },
    /// Needs a challenge slot (`--max-concurrent-challenges`) and, once it has one,
    /// `processing: true` and the `Started` event.
    Schedule,
    /// Has its slot: present, check, tell the CA, wait for its verdict.
    Work,
}

pub fn phase(o: &Observed) -> Phase {
    if o.deleting {
        return Phase::Release {
            clean_up: o.has_finalizer,
        };
    }
    if !o.has_finalizer {
        return Phase::AddFinalizer;
    }
    if o.decided {
        return Phase::Finish {
            clean_up: o.presented || o.processing,
        };
    }
    if !o.processing {
        return Phase::Schedule;
    }
    Phase::Work
}

/// While working, before the CA is told: present again when it never was, or when
/// the solver lost it (an in-process answer forgotten by a restart).
pub fn must_present(presented: bool, lost: bool) -> bool {
    !presented || lost
}

/// With `waitInsteadOfSelfCheck`: how much longer to wait after presenting, if any.
pub fn wait_remaining(wait: Duration, since_presented: Option<Duration>) -> Option<Duration> {
    let elapsed = since_presented.unwrap_or_default();
    (elapsed < wait).then(|| wait - elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(f: impl FnOnce(&mut Observed)) -> Observed {
        let mut o = Observed {
            has_finalizer: true,
            processing: true,
            ..Default::default()
        };
        f(&mut o);
        o
    }

    #[test]
    fn each_phase_is_reached_from_what_is_observed() {
        let table: Vec<(Observed, Phase)> = vec![
            (o(|o| o.deleting = true), Phase::Release { clean_up: true }),
            (
                o(|o| {
                    o.deleting = true;
                    o.has_finalizer = false
                }),
                Phase::Release { clean_up: false },
            ),
            (o(|o| o.has_finalizer = false), Phase::AddFinalizer),
            (
                o(|o| {
                    o.decided = true;
                    o.processing = false
                }),
                Phase::Finish { clean_up: false },
            ),
            (o(|o| o.decided = true), Phase::Finish { clean_up: true }),
            (
                o(|o| {
                    o.decided = true;
                    o.processing = false;
                    o.presented = true
                }),
                Phase::Finish { clean_up: true },
            ),
            (o(|o| o.processing = false), Phase::Schedule),
            (o(|_| {}), Phase::Work),
            (o(|o| o.accepted = true), Phase::Work),
        ];
        for (observed, want) in table {
            assert_eq!(phase(&observed), want, "{observed:?}");
        }
    }

    #[test]
    fn deletion_wins_over_everything_and_the_finalizer_comes_first() {
        let deleting_decided = o(|o| {
            o.deleting = true;
            o.decided = true
        });
        assert_eq!(phase(&deleting_decided), Phase::Release { clean_up: true });
        let new_decided = o(|o| {
            o.has_finalizer = false;
            o.decided = true
        });
        assert_eq!(phase(&new_decided), Phase::AddFinalizer);
    }

    #[test]
    fn presenting_again_only_when_never_done_or_lost() {
        assert!(must_present(false, false));
        assert!(must_present(true, true));
        assert!(!must_present(true, false));
    }

    #[test]
    fn the_wait_instead_of_a_self_check_counts_from_presenting() {
        let s = Duration::from_secs;
        assert_eq!(wait_remaining(s(30), Some(s(10))), Some(s(20)));
        assert_eq!(wait_remaining(s(30), Some(s(30))), None);
        assert_eq!(wait_remaining(s(30), None), Some(s(30)));
        assert_eq!(wait_remaining(s(0), None), None);
    }
}
