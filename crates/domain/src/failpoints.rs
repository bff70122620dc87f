//! Named fault-injection points, parsed from configuration.
//!
//! Crash-consistency is a product promise ("nothing lost, nothing twice"), so the end-to-end
//! tests kill the real process at chosen points. The points are inert unless configured, and
//! the runtime refuses to configure them in production.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Abort the process on the spot (no destructors, no flushing): a crash.
    Abort,
    /// Make the step fail with an error, as a downstream outage would.
    Error,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failpoints(BTreeMap<String, FailAction>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid failpoint spec {0:?}: expected name=abort|error[,name=…]")]
pub struct InvalidFailpoints(pub String);

impl Failpoints {
    /// Parses `"after_upload=abort,after_commit=error"`. Empty means none.
    pub fn parse(spec: &str) -> Result<Self, InvalidFailpoints> {
        let mut map = BTreeMap::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, action) = item
                .split_once('=')
                .ok_or_else(|| InvalidFailpoints(item.to_owned()))?;
            let action = match action.trim() {
                "abort" => FailAction::Abort,
                "error" => FailAction::Error,
                _ => return Err(InvalidFailpoints(item.to_owned())),
            };
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(InvalidFailpoints(item.to_owned()));
            }
            map.insert(name.to_owned(), action);
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<FailAction> {
        self.0.get(name).copied()
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
        assert_eq!(f.get("after_upload"), Some(FailAction::Abort));
        assert_eq!(f.get("after_commit"), Some(FailAction::Error));
        assert_eq!(f.get("other"), None);
        assert!(Failpoints::parse("").unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in [
            "after_upload",
            "after_upload=explode",
            "=abort",
            "Bad=abort",
        ] {
            assert!(Failpoints::parse(bad).is_err(), "{bad}");
        }
    }
}
