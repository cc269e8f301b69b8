//! Time as the controllers see it: the system clock, or a clock tests move by hand.

use jiff::Timestamp;
use std::sync::{Arc, Mutex};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at the system time and moves only when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    offset: Arc<Mutex<jiff::SignedDuration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            offset: Arc::new(Mutex::new(jiff::SignedDuration::ZERO)),
        }
    }
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        if let Ok(mut o) = self.offset.lock() {
            *o = o.saturating_add(
                jiff::SignedDuration::try_from(by).unwrap_or(jiff::SignedDuration::MAX),
            );
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let offset = self.offset.lock().map(|o| *o).unwrap_or_default();
        Timestamp::now()
            .saturating_add(offset)
            .unwrap_or_else(|_| Timestamp::now())
    }
}
