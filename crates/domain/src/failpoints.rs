//! Named fault-injection points, parsed from configuration.
//!
//! Crash-consistency is a product promise ("nothing lost, nothing twice"), so the end-to-end
//! tests kill the real process at chosen points. The points are inert unless configured, and
//! the runtime refuses to configure them in production.
//!
//! Spec: comma-separated `name=action[@N|*N]` with action `abort` (crash on the spot) or
//! `error` (the step fails as a downstream outage would). `@N` fires on the N-th hit only,
//! `*N` on each of the first N hits; without either it fires on every hit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Abort the process on the spot (no destructors, no flushing): a crash.
    Abort,
    /// Make the step fail with an error, as a downstream outage would.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Always,
    Nth(u64),
    FirstN(u64),
}

#[derive(Debug)]
struct Point {
    action: FailAction,
    when: When,
    hits: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Failpoints(BTreeMap<String, Point>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid failpoint spec {0:?}: expected name=abort|error[@N|*N][,…]")]
pub struct InvalidFailpoints(pub String);

impl Failpoints {
    /// Parses `"after_upload=abort,mailer_send=error*3"`. Empty means none.
    pub fn parse(spec: &str) -> Result<Self, InvalidFailpoints> {
        let mut map = BTreeMap::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || InvalidFailpoints(item.to_owned());
            let (name, rest) = item.split_once('=').ok_or_else(bad)?;
            let rest = rest.trim();
            let (action, when) = if let Some((a, n)) = rest.split_once('@') {
                (a, When::Nth(n.parse().map_err(|_| bad())?))
            } else if let Some((a, n)) = rest.split_once('*') {
                (a, When::FirstN(n.parse().map_err(|_| bad())?))
            } else {
                (rest, When::Always)
            };
            let action = match action {
                "abort" => FailAction::Abort,
                "error" => FailAction::Error,
                _ => return Err(bad()),
            };
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(bad());
            }
            if matches!(when, When::Nth(0)) {
                return Err(bad());
            }
            map.insert(
                name.to_owned(),
                Point {
                    action,
                    when,
                    hits: AtomicU64::new(0),
                },
            );
        }
        Ok(Self(map))
    }

    /// Records one pass through `name` and says whether (and how) it fires this time.
    pub fn hit(&self, name: &str) -> Option<FailAction> {
        let p = self.0.get(name)?;
        let n = p.hits.fetch_add(1, Ordering::Relaxed) + 1;
        let fires = match p.when {
            When::Always => true,
            When::Nth(k) => n == k,
            When::FirstN(k) => n <= k,
        };
        fires.then_some(p.action)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_list_of_points() {
        let f = Failpoints::parse("after_upload=abort, after_commit=error").unwrap();
        assert_eq!(f.hit("after_upload"), Some(FailAction::Abort));
        assert_eq!(f.hit("after_commit"), Some(FailAction::Error));
        assert_eq!(f.hit("after_commit"), Some(FailAction::Error));
        assert_eq!(f.hit("other"), None);
        assert!(Failpoints::parse("").unwrap().is_empty());
    }

    #[test]
    fn counted_points_fire_on_the_nth_or_first_n_hits() {
        let f = Failpoints::parse("a=abort@3,b=error*2").unwrap();
        let a: Vec<_> = (0..5).map(|_| f.hit("a")).collect();
        assert_eq!(a, [None, None, Some(FailAction::Abort), None, None]);
        let b: Vec<_> = (0..4).map(|_| f.hit("b")).collect();
        assert_eq!(
            b,
            [Some(FailAction::Error), Some(FailAction::Error), None, None]
        );
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in [
            "after_upload",
            "after_upload=explode",
            "=abort",
            "Bad=abort",
            "a=abort@x",
            "a=abort@0",
            "a=error*",
        ] {
            assert!(Failpoints::parse(bad).is_err(), "{bad}");
        }
    }
}
