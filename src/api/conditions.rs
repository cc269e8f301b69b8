//! Setting conditions the way cert-manager does: `lastTransitionTime` moves only when
//! the status changes; `observedGeneration` records the generation acted on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::meta::{Condition, ConditionStatus};

/// Sets (or replaces) a condition in `conditions`; true when anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
    generation: Option<i64>,
) -> bool {
    let previous = conditions.iter().position(|c| c.type_ == type_);
    let transition = match previous.map(|i| &conditions[i]) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let next = Condition {
        type_: type_.to_string(),
        status,
        last_transition_time: transition,
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        observed_generation: generation,
    };
    match previous {
        Some(i) if conditions[i] == next => false,
        Some(i) => {
            conditions[i] = next;
            true
        }
        None => {
            conditions.push(next);
            true
        }
    }
}

/// Removes a condition; true when it was there.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let t0 = jiff::Timestamp::from_second(1_000).unwrap();
        let t1 = jiff::Timestamp::from_second(2_000).unwrap();
        let mut c = Vec::new();
        assert!(set(
            &mut c,
            "Ready",
            ConditionStatus::False,
            "Pending",
            "waiting",
            t0,
            Some(1)
        ));
        assert!(set(
            &mut c,
            "Ready",
            ConditionStatus::False,
            "Pending",
            "still waiting",
            t1,
            Some(1)
        ));
        assert_eq!(c[0].last_transition_time, Some(Time(t0)));
        assert!(set(
            &mut c,
            "Ready",
            ConditionStatus::True,
            "Ready",
            "ok",
            t1,
            Some(2)
        ));
        assert_eq!(c[0].last_transition_time, Some(Time(t1)));
        assert!(!set(
            &mut c,
            "Ready",
            ConditionStatus::True,
            "Ready",
            "ok",
            t1,
            Some(2)
        ));
        assert!(remove(&mut c, "Ready"));
        assert!(c.is_empty());
    }
}
