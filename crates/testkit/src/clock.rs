//! Clocks for tests and binaries: the real one, and one a test moves by hand so time-dependent
//! rules (stale claims, grace periods, leases) are checked without sleeping.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::ports::Clock;
use std::sync::Mutex;

pub use domain::ports::SystemClock;

/// A clock that only moves when told. Share it as `Arc<ManualClock>` between the test and the
/// component under test (it coerces to `Arc<dyn Clock>`).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A fixed, whole-second instant (2026-03-01T12:00:00Z): every backend stores it exactly.
    pub fn reference_start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
    }

    /// Moves the clock by `by` (negative moves it back) and returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        *now += by;
        *now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::reference_start())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        assert_eq!(
            clock.advance(Duration::seconds(31)),
            start + Duration::seconds(31)
        );
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
