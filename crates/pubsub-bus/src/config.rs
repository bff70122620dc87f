//! Settings of the Pub/Sub bus, read from the environment and checked before connecting.
//!
//! The names are the older system's (`GOOGLE_CLOUD_PROJECT`, `PUB_SUB_TOPIC_NAME`) and the
//! Google tools' (`PUBSUB_EMULATOR_HOST`), so one Terraform sets both systems. The Rust client
//! reads none of them itself: this module maps them (the project into the topic's path, the
//! emulator's `host:port` into a plaintext gRPC endpoint).

pub const PROJECT_VAR: &str = "GOOGLE_CLOUD_PROJECT";
pub const TOPIC_VAR: &str = "PUB_SUB_TOPIC_NAME";
pub const EMULATOR_VAR: &str = "PUBSUB_EMULATOR_HOST";

/// Every variable this crate reads (for the services' `.env.example` and Terraform checks).
pub const VARIABLES: &[&str] = &[PROJECT_VAR, TOPIC_VAR, EMULATOR_VAR];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubSubConfig {
    pub project: String,
    /// The topic's full name, `projects/<project>/topics/<id>`.
    pub topic: String,
    /// `http://host:port` of the emulator (plaintext gRPC, no credentials); `None` on Google
    /// Cloud (Application Default Credentials).
    pub emulator_endpoint: Option<String>,
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

impl PubSubConfig {
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
        check_project(&project).map_err(|reason| ConfigError::Invalid {
            var: PROJECT_VAR,
            value: project.clone(),
            reason,
        })?;
        let name = get(TOPIC_VAR).ok_or(ConfigError::Missing(TOPIC_VAR))?;
        let topic =
            resource_path(&project, Kind::Topic, &name).map_err(|reason| ConfigError::Invalid {
                var: TOPIC_VAR,
                value: name.clone(),
                reason,
            })?;
        let emulator_endpoint = get(EMULATOR_VAR)
            .map(|host| {
                emulator_endpoint(&host).ok_or(ConfigError::Invalid {
                    var: EMULATOR_VAR,
                    value: host,
                    reason: "expected host:port",
                })
            })
            .transpose()?;
        Ok(Self {
            project,
            topic,
            emulator_endpoint,
        })
    }
}

/// What a resource name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Topic,
    Subscription,
}

impl Kind {
    fn collection(self) -> &'static str {
        match self {
            Self::Topic => "topics",
            Self::Subscription => "subscriptions",
        }
    }
}

/// The full name of a topic or subscription: a short id becomes
/// `projects/<project>/<topics|subscriptions>/<id>`; a full name (possibly of another project)
/// is kept. The id must follow Pub/Sub's rules (3–255 characters, a letter first, then letters,
/// digits and `-_.~+%`, not starting with `goog`). The error is the reason.
pub fn resource_path(project: &str, kind: Kind, name: &str) -> Result<String, &'static str> {
    let collection = kind.collection();
    let (project, id) = match name.strip_prefix("projects/") {
        Some(rest) => match rest.split('/').collect::<Vec<_>>().as_slice() {
            [p, c, id] if *c == collection => (*p, *id),
            _ => {
                return Err(match kind {
                    Kind::Topic => "expected a topic id or projects/<project>/topics/<id>",
                    Kind::Subscription => {
                        "expected a subscription id or projects/<project>/subscriptions/<id>"
                    }
                });
            }
        },
        None => (project, name),
    };
    check_project(project)?;
    check_id(id)?;
    Ok(format!("projects/{project}/{collection}/{id}"))
}

/// A Google Cloud project id as it may appear in a resource name.
fn check_project(project: &str) -> Result<(), &'static str> {
    let ok = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.');
    if ok {
        Ok(())
    } else {
        Err("not a Google Cloud project id")
    }
}

/// Pub/Sub's rules for a topic or subscription id.
fn check_id(id: &str) -> Result<(), &'static str> {
    if !(3..=255).contains(&id.len()) {
        Err("a Pub/Sub id has 3 to 255 characters")
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Err("a Pub/Sub id starts with a letter")
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
    {
        Err("a Pub/Sub id has only letters, digits and - _ . ~ + %")
    } else if id.starts_with("goog") {
        Err("a Pub/Sub id cannot start with \"goog\"")
    } else {
        Ok(())
    }
}

/// `host:port` (as the Google tools set `PUBSUB_EMULATOR_HOST`) to the client's endpoint.
fn emulator_endpoint(host: &str) -> Option<String> {
    let host = host.trim_end_matches('/');
    let port = host.rsplit_once(':').map(|(_, p)| p)?;
    let valid = !host.contains("://")
        && !host.starts_with(':')
        && !host.contains('/')
        && port.parse::<u16>().is_ok();
    valid.then(|| format!("http://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<PubSubConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PubSubConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn a_short_topic_name_is_put_in_the_project_and_the_emulator_host_becomes_a_url() {
        /// (variables, topic, emulator endpoint)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (
                &[(PROJECT_VAR, "smmun-prod"), (TOPIC_VAR, "inscripciones")],
                "projects/smmun-prod/topics/inscripciones",
                None,
            ),
            (
                &[
                    (PROJECT_VAR, " smmun-prod "),
                    (TOPIC_VAR, " work.v1~a+b%20_c "),
                ],
                "projects/smmun-prod/topics/work.v1~a+b%20_c",
                None,
            ),
            (
                &[
                    (PROJECT_VAR, "smmun-prod"),
                    (TOPIC_VAR, "projects/other-proj/topics/shared"),
                ],
                "projects/other-proj/topics/shared",
                None,
            ),
            (
                &[
                    (PROJECT_VAR, "demo-registro"),
                    (TOPIC_VAR, "work"),
                    (EMULATOR_VAR, "127.0.0.1:8085"),
                ],
                "projects/demo-registro/topics/work",
                Some("http://127.0.0.1:8085"),
            ),
            (
                &[
                    (PROJECT_VAR, "demo-registro"),
                    (TOPIC_VAR, "work"),
                    (EMULATOR_VAR, "localhost:8085"),
                ],
                "projects/demo-registro/topics/work",
                Some("http://localhost:8085"),
            ),
            (
                &[
                    (PROJECT_VAR, "demo-registro"),
                    (TOPIC_VAR, "work"),
                    (EMULATOR_VAR, "[::1]:8085"),
                ],
                "projects/demo-registro/topics/work",
                Some("http://[::1]:8085"),
            ),
            (
                &[
                    (PROJECT_VAR, "demo-registro"),
                    (TOPIC_VAR, "work"),
                    (EMULATOR_VAR, "  "),
                ],
                "projects/demo-registro/topics/work",
                None,
            ),
        ];
        for (vars, topic, endpoint) in cases {
            let c = parse(vars).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!(c.topic, *topic, "{vars:?}");
            assert_eq!(c.emulator_endpoint.as_deref(), *endpoint, "{vars:?}");
        }
    }

    #[test]
    fn bad_settings_are_refused_naming_the_variable() {
        let with_topic = |t: &'static str| [(PROJECT_VAR, "p-1"), (TOPIC_VAR, t)];
        let with_host =
            |h: &'static str| [(PROJECT_VAR, "p-1"), (TOPIC_VAR, "work"), (EMULATOR_VAR, h)];
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![(TOPIC_VAR, "work")], PROJECT_VAR),
            (vec![(PROJECT_VAR, " "), (TOPIC_VAR, "work")], PROJECT_VAR),
            (vec![(PROJECT_VAR, "p p"), (TOPIC_VAR, "work")], PROJECT_VAR),
            (vec![(PROJECT_VAR, "p/q"), (TOPIC_VAR, "work")], PROJECT_VAR),
            (vec![(PROJECT_VAR, "p-1")], TOPIC_VAR),
            (with_topic("").to_vec(), TOPIC_VAR),
            (with_topic("ab").to_vec(), TOPIC_VAR),
            (with_topic("1work").to_vec(), TOPIC_VAR),
            (with_topic("-work").to_vec(), TOPIC_VAR),
            (with_topic("work topic").to_vec(), TOPIC_VAR),
            (with_topic("work/x").to_vec(), TOPIC_VAR),
            (with_topic("work*").to_vec(), TOPIC_VAR),
            (with_topic("trabajo-ñ").to_vec(), TOPIC_VAR),
            (with_topic("google-work").to_vec(), TOPIC_VAR),
            (
                with_topic("projects/p/subscriptions/work").to_vec(),
                TOPIC_VAR,
            ),
            (with_topic("projects/p/topics/").to_vec(), TOPIC_VAR),
            (with_topic("projects//topics/work").to_vec(), TOPIC_VAR),
            (
                with_topic("projects/p/topics/work/extra").to_vec(),
                TOPIC_VAR,
            ),
            (with_topic("projects/p q/topics/work").to_vec(), TOPIC_VAR),
            (with_host("localhost").to_vec(), EMULATOR_VAR),
            (with_host("http://localhost:8085").to_vec(), EMULATOR_VAR),
            (with_host(":8085").to_vec(), EMULATOR_VAR),
            (with_host("localhost:port").to_vec(), EMULATOR_VAR),
            (with_host("localhost:99999").to_vec(), EMULATOR_VAR),
            (with_host("localhost:8085/x").to_vec(), EMULATOR_VAR),
        ];
        for (vars, var) in &cases {
            let e = parse(vars).expect_err(&format!("{vars:?} is refused"));
            assert!(e.to_string().contains(var), "{vars:?}: {e}");
        }
    }

    #[test]
    fn topic_ids_of_exactly_3_and_255_characters_are_accepted_and_one_more_is_not() {
        let at = |n: usize| format!("t{}", "x".repeat(n - 1));
        for (id, ok) in [(at(3), true), (at(255), true), (at(256), false)] {
            assert_eq!(
                resource_path("p", Kind::Topic, &id).is_ok(),
                ok,
                "{} characters",
                id.len()
            );
        }
    }

    #[test]
    fn subscription_names_follow_the_same_rules_under_subscriptions() {
        assert_eq!(
            resource_path("p", Kind::Subscription, "work-push"),
            Ok("projects/p/subscriptions/work-push".into())
        );
        assert_eq!(
            resource_path("p", Kind::Subscription, "projects/q/subscriptions/s-1"),
            Ok("projects/q/subscriptions/s-1".into())
        );
        assert!(resource_path("p", Kind::Subscription, "projects/q/topics/s-1").is_err());
        assert!(resource_path("p", Kind::Subscription, "goog-sub").is_err());
    }

    #[test]
    fn every_variable_read_is_listed() {
        assert_eq!(VARIABLES, [PROJECT_VAR, TOPIC_VAR, EMULATOR_VAR]);
    }
}
