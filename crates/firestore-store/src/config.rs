//! Settings of the Firestore store, read from the environment and checked before connecting.
//! Names and defaults are the older system's (reference/api.md §1), so one Terraform sets both.

use std::fmt;

pub const PROJECT_VAR: &str = "GOOGLE_CLOUD_PROJECT";
pub const DATABASE_VAR: &str = "FIRESTORE_DATABASE";
pub const SUBMISSIONS_VAR: &str = "FIRESTORE_COLLECTION_NAME";
pub const IDEMPOTENCY_VAR: &str = "IDEMPOTENCY_COLLECTION_NAME";
pub const OUTBOX_VAR: &str = "OUTBOX_COLLECTION_NAME";
pub const EMULATOR_VAR: &str = "FIRESTORE_EMULATOR_HOST";

pub const DEFAULT_DATABASE: &str = "(default)";
pub const DEFAULT_IDEMPOTENCY: &str = "inscripciones_idempotencia";
pub const DEFAULT_OUTBOX: &str = "inscripciones_outbox";

/// Every variable this crate reads (for the services' `.env.example` and Terraform checks).
pub const VARIABLES: &[&str] = &[
    PROJECT_VAR,
    DATABASE_VAR,
    SUBMISSIONS_VAR,
    IDEMPOTENCY_VAR,
    OUTBOX_VAR,
    EMULATOR_VAR,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collections {
    pub submissions: String,
    pub idempotency: String,
    pub outbox: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirestoreConfig {
    pub project: String,
    /// The database id, `(default)` unless set.
    pub database: String,
    pub collections: Collections,
    /// `host:port` of the emulator: plain HTTP/2 and no credentials.
    pub emulator_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl FirestoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The same from any source of variables (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let project = get(PROJECT_VAR).ok_or(ConfigError::Missing(PROJECT_VAR))?;
        if !project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.')
        {
            return Err(ConfigError::Invalid {
                var: PROJECT_VAR,
                value: project,
                reason: "not a Google Cloud project id",
            });
        }
        let collection = |var: &'static str, default: Option<&str>| {
            let name = get(var)
                .or_else(|| default.map(str::to_owned))
                .ok_or(ConfigError::Missing(var))?;
            check_collection(var, &name)?;
            Ok::<_, ConfigError>(name)
        };
        let collections = Collections {
            submissions: collection(SUBMISSIONS_VAR, None)?,
            idempotency: collection(IDEMPOTENCY_VAR, Some(DEFAULT_IDEMPOTENCY))?,
            outbox: collection(OUTBOX_VAR, Some(DEFAULT_OUTBOX))?,
        };
        let names = [
            &collections.submissions,
            &collections.idempotency,
            &collections.outbox,
        ];
        if names[0] == names[1] || names[0] == names[2] || names[1] == names[2] {
            return Err(ConfigError::Invalid {
                var: SUBMISSIONS_VAR,
                value: format!("{names:?}"),
                reason: "the three collections must be different",
            });
        }
        let emulator_host = get(EMULATOR_VAR);
        if let Some(h) = &emulator_host
            && (h.contains("://") || !h.contains(':'))
        {
            return Err(ConfigError::Invalid {
                var: EMULATOR_VAR,
                value: h.clone(),
                reason: "expected host:port",
            });
        }
        Ok(Self {
            project,
            database: get(DATABASE_VAR).unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            collections,
            emulator_host,
        })
    }
}

/// Firestore's rules for a collection id that our ids can follow in a path.
fn check_collection(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let reason = if name.contains('/') {
        Some("a collection id cannot contain '/'")
    } else if name.starts_with("__") && name.ends_with("__") {
        Some("ids of the form __x__ are reserved")
    } else if name == "." || name == ".." || name.len() > 1500 {
        Some("not a valid collection id")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::Invalid {
            var,
            value: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl fmt::Display for Collections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, {}",
            self.submissions, self.idempotency, self.outbox
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<FirestoreConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        FirestoreConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_older_systems() {
        let c = parse(&[
            (PROJECT_VAR, "smmun-prod"),
            (SUBMISSIONS_VAR, "inscripciones"),
        ])
        .unwrap();
        assert_eq!(
            c.collections,
            Collections {
                submissions: "inscripciones".into(),
                idempotency: "inscripciones_idempotencia".into(),
                outbox: "inscripciones_outbox".into(),
            }
        );
        assert_eq!(c.database, "(default)");
        assert_eq!(c.emulator_host, None);
    }

    #[test]
    fn bad_settings_are_refused_naming_the_variable() {
        let ok = [(PROJECT_VAR, "p"), (SUBMISSIONS_VAR, "inscripciones")];
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(SUBMISSIONS_VAR, "x")], PROJECT_VAR),
            (&[(PROJECT_VAR, "p")], SUBMISSIONS_VAR),
            (
                &[(PROJECT_VAR, "p"), (SUBMISSIONS_VAR, "  ")],
                SUBMISSIONS_VAR,
            ),
            (&[(PROJECT_VAR, "p p"), (SUBMISSIONS_VAR, "s")], PROJECT_VAR),
            (
                &[(PROJECT_VAR, "p"), (SUBMISSIONS_VAR, "a/b")],
                SUBMISSIONS_VAR,
            ),
            (
                &[(PROJECT_VAR, "p"), (SUBMISSIONS_VAR, "__x__")],
                SUBMISSIONS_VAR,
            ),
            (
                &[
                    (PROJECT_VAR, "p"),
                    (SUBMISSIONS_VAR, "s"),
                    (OUTBOX_VAR, "s"),
                ],
                SUBMISSIONS_VAR,
            ),
            (
                &[
                    (PROJECT_VAR, "p"),
                    (SUBMISSIONS_VAR, "s"),
                    (EMULATOR_VAR, "http://h:1"),
                ],
                EMULATOR_VAR,
            ),
            (
                &[
                    (PROJECT_VAR, "p"),
                    (SUBMISSIONS_VAR, "s"),
                    (EMULATOR_VAR, "localhost"),
                ],
                EMULATOR_VAR,
            ),
        ];
        assert!(parse(&ok).is_ok());
        for (vars, var) in cases {
            let e = parse(vars).unwrap_err();
            assert!(e.to_string().contains(var), "{vars:?}: {e}");
        }
    }
}
