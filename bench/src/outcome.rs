//! What a response means to the browser (reference/api.md §3.2) and whether it is the one the
//! scenario expects. Anything else is an error, named by a short kind for the report.

/// Where a 303 sends the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// `/registro/confirmacion/?form=delegaciones[&folio=<id>]`.
    Confirmation { folio: Option<String> },
    /// `/registro/error/` with no key signal (validation or business rule).
    ErrorPlain,
    /// `/registro/error/?keep_idempotency_key=1…` (retry with the same key).
    ErrorKeep,
    /// `/registro/error/?rotate_idempotency_key=1…` (key conflict).
    ErrorRotate,
    /// A 303 to somewhere else.
    Other,
}

/// What the request was, and so what it should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Unique,
    Replay,
    Invalid,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unique => "unique",
            Kind::Replay => "replay",
            Kind::Invalid => "invalid",
        }
    }
}

pub fn classify_location(location: &str) -> Landing {
    let (path, query) = location.split_once('?').unwrap_or((location, ""));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let flag = |name: &str| params.iter().any(|(k, v)| *k == name && *v == "1");
    if path.ends_with("/registro/confirmacion/") {
        let folio = params
            .iter()
            .find(|(k, _)| *k == "folio")
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty());
        Landing::Confirmation { folio }
    } else if path.ends_with("/registro/error/") {
        if flag("rotate_idempotency_key") {
            Landing::ErrorRotate
        } else if flag("keep_idempotency_key") {
            Landing::ErrorKeep
        } else {
            Landing::ErrorPlain
        }
    } else {
        Landing::Other
    }
}

/// `Ok(folio)` when the response is what `kind` expects; otherwise the error kind.
/// For replays, `expected_folio` is the id the first post got: a different one means the server
/// created a second submission for the same key.
pub fn check(
    kind: Kind,
    status: u16,
    location: Option<&str>,
    expected_folio: Option<&str>,
) -> Result<Option<String>, String> {
    if status != 303 {
        return Err(format!("status_{status}"));
    }
    let Some(location) = location else {
        return Err("missing_location".into());
    };
    let landing = classify_location(location);
    match (kind, landing) {
        (Kind::Unique | Kind::Replay, Landing::Confirmation { folio }) => {
            if let (Some(want), Some(got)) = (expected_folio, folio.as_deref())
                && want != got
            {
                return Err("replay_new_folio".into());
            }
            Ok(folio)
        }
        (Kind::Invalid, Landing::ErrorPlain) => Ok(None),
        (_, landing) => Err(match landing {
            Landing::Confirmation { .. } => "redirect_confirmation",
            Landing::ErrorPlain => "redirect_error",
            Landing::ErrorKeep => "redirect_error_keep",
            Landing::ErrorRotate => "redirect_error_rotate",
            Landing::Other => "redirect_other",
        }
        .into()),
    }
}

/// A transport failure, named coarsely.
pub fn transport_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "transport_timeout"
    } else if e.is_connect() {
        "transport_connect"
    } else if e.is_body() || e.is_decode() {
        "transport_body"
    } else {
        "transport_other"
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landings_are_read_from_the_location() {
        let cases = [
            (
                "http://localhost:5173/registro/confirmacion/?form=delegaciones&folio=abc",
                Landing::Confirmation {
                    folio: Some("abc".into()),
                },
            ),
            (
                "http://localhost:5173/registro/confirmacion/?form=delegaciones",
                Landing::Confirmation { folio: None },
            ),
            ("http://localhost:5173/registro/error/", Landing::ErrorPlain),
            (
                "http://localhost:5173/registro/error/?keep_idempotency_key=1&form=delegaciones",
                Landing::ErrorKeep,
            ),
            (
                "http://localhost:5173/registro/error/?rotate_idempotency_key=1&form=delegaciones",
                Landing::ErrorRotate,
            ),
            ("http://localhost:5173/", Landing::Other),
        ];
        for (loc, want) in cases {
            assert_eq!(classify_location(loc), want, "{loc}");
        }
    }

    #[test]
    fn expectations_per_kind() {
        let confirm = "http://x/registro/confirmacion/?form=delegaciones&folio=f1";
        assert_eq!(
            check(Kind::Unique, 303, Some(confirm), None),
            Ok(Some("f1".into()))
        );
        assert_eq!(
            check(Kind::Replay, 303, Some(confirm), Some("f1")),
            Ok(Some("f1".into()))
        );
        assert_eq!(
            check(Kind::Replay, 303, Some(confirm), Some("f0")),
            Err("replay_new_folio".into())
        );
        assert_eq!(
            check(Kind::Invalid, 303, Some(confirm), None),
            Err("redirect_confirmation".into())
        );
        assert_eq!(
            check(Kind::Invalid, 303, Some("http://x/registro/error/"), None),
            Ok(None)
        );
        assert_eq!(
            check(Kind::Unique, 429, None, None),
            Err("status_429".into())
        );
        assert_eq!(
            check(Kind::Unique, 303, None, None),
            Err("missing_location".into())
        );
    }
}
