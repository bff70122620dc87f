//! Settings every Cloud Run service reads, validated at startup. Errors name the variable.

use crate::config::{ConfigError, Environment};
use std::net::{Ipv4Addr, SocketAddr};

/// A source of variables: the process environment, or a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;

    /// The value, trimmed; an empty value counts as unset.
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// The process environment.
pub struct Env;

impl Vars for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

pub const PORT_VAR: &str = "PORT";
pub const ENV_VAR: &str = "REGISTRO_ENV";
pub const LOG_LEVEL_VAR: &str = "LOG_LEVEL";
pub const PROJECT_VAR: &str = "GOOGLE_CLOUD_PROJECT";
/// Where the service listens: all interfaces on Cloud Run (`0.0.0.0`), loopback in tests.
pub const HOST_VAR: &str = "REGISTRO_HOST";

pub const OIDC_AUDIENCE_VAR: &str = "OIDC_AUDIENCE";
pub const OIDC_SERVICE_ACCOUNT_VAR: &str = "OIDC_SERVICE_ACCOUNT";
pub const OIDC_JWKS_URL_VAR: &str = "OIDC_JWKS_URL";
pub const OIDC_DISABLED_VAR: &str = "OIDC_DISABLED";

/// Variables of [`Common`].
pub const COMMON_VARIABLES: &[&str] = &[PORT_VAR, HOST_VAR, ENV_VAR, LOG_LEVEL_VAR, PROJECT_VAR];
/// Variables of [`OidcSettings`].
pub const OIDC_VARIABLES: &[&str] = &[
    OIDC_AUDIENCE_VAR,
    OIDC_SERVICE_ACCOUNT_VAR,
    OIDC_JWKS_URL_VAR,
    OIDC_DISABLED_VAR,
];

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// What every service needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `REGISTRO_HOST` (default `0.0.0.0`) and `PORT` (default 8080, as Cloud Run sets it).
    pub addr: SocketAddr,
    pub env: Environment,
    pub log_level: String,
    /// Needed for the trace field of the logs and by the Google clients.
    pub project: String,
}

impl Common {
    pub fn from_vars(v: &impl Vars) -> Result<Self, ConfigError> {
        let port = match v.var(PORT_VAR) {
            None => 8080,
            Some(p) => p.parse::<u16>().map_err(|_| ConfigError::Invalid {
                setting: PORT_VAR,
                reason: format!("{p:?} is not a port number"),
            })?,
        };
        let host = match v.var(HOST_VAR) {
            None => std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(h) => h.parse().map_err(|_| ConfigError::Invalid {
                setting: HOST_VAR,
                reason: format!("{h:?} is not an IP address"),
            })?,
        };
        let env = Environment::parse(&v.var(ENV_VAR).unwrap_or_default())?;
        let log_level = v.var(LOG_LEVEL_VAR).unwrap_or_else(|| "info".into());
        if !LOG_LEVELS.contains(&log_level.as_str()) {
            return Err(ConfigError::Invalid {
                setting: LOG_LEVEL_VAR,
                reason: format!("{log_level:?} is not one of {}", LOG_LEVELS.join(", ")),
            });
        }
        let project = v.var(PROJECT_VAR).ok_or(ConfigError::Invalid {
            setting: PROJECT_VAR,
            reason: "is required".into(),
        })?;
        Ok(Self {
            addr: SocketAddr::new(host, port),
            env,
            log_level,
            project,
        })
    }
}

/// Who may call the push / trigger endpoints: Google-signed OIDC ID tokens for one of
/// `audiences`, issued to `service_account` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcSettings {
    Verify {
        /// `OIDC_AUDIENCE`, comma-separated: a Cloud Run service answers at two URLs (the
        /// deterministic `<service>-<project number>.<region>.run.app` and the older hashed one),
        /// and a caller may mint its token for either.
        audiences: Vec<String>,
        service_account: Option<String>,
        /// Google's JWKS unless overridden (tests serve their own keys).
        jwks_url: Option<String>,
    },
    /// `OIDC_DISABLED=true`: for the emulators only; refused in production.
    Disabled,
}

impl OidcSettings {
    pub fn from_vars(v: &impl Vars, env: Environment) -> Result<Self, ConfigError> {
        let disabled = match v.var(OIDC_DISABLED_VAR).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    setting: OIDC_DISABLED_VAR,
                    reason: format!("{other:?} is not true or false"),
                });
            }
        };
        if disabled {
            if env == Environment::Production {
                return Err(ConfigError::Invalid {
                    setting: OIDC_DISABLED_VAR,
                    reason: "caller authentication cannot be switched off when \
                             REGISTRO_ENV=production"
                        .into(),
                });
            }
            return Ok(Self::Disabled);
        }
        let audience = v.var(OIDC_AUDIENCE_VAR).ok_or(ConfigError::Invalid {
            setting: OIDC_AUDIENCE_VAR,
            reason: "is required (the URL this service is called at), unless OIDC_DISABLED=true \
                     on an emulator"
                .into(),
        })?;
        let audiences: Vec<String> = audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(ConfigError::Invalid {
                setting: OIDC_AUDIENCE_VAR,
                reason: "names no audience (one URL, or several separated by commas)".into(),
            });
        }
        let service_account = v.var(OIDC_SERVICE_ACCOUNT_VAR);
        if let Some(sa) = &service_account
            && !sa.contains('@')
        {
            return Err(ConfigError::Invalid {
                setting: OIDC_SERVICE_ACCOUNT_VAR,
                reason: format!("{sa:?} is not a service account e-mail"),
            });
        }
        let jwks_url = v.var(OIDC_JWKS_URL_VAR);
        if let Some(u) = &jwks_url
            && !(u.starts_with("https://") || u.starts_with("http://127.0.0.1"))
        {
            return Err(ConfigError::Invalid {
                setting: OIDC_JWKS_URL_VAR,
                reason: format!("{u:?}: keys are fetched over https (or from 127.0.0.1 in tests)"),
            });
        }
        Ok(Self::Verify {
            audiences,
            service_account,
            jwks_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Vars {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn cloud_run_defaults() {
        let c = Common::from_vars(&vars(&[(PROJECT_VAR, "p"), (PORT_VAR, "9000")])).unwrap();
        assert_eq!(c.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.env, Environment::Development);
        assert_eq!(c.log_level, "info");
        let c = Common::from_vars(&vars(&[(PROJECT_VAR, "p")])).unwrap();
        assert_eq!(c.addr.port(), 8080);
    }

    #[test]
    fn bad_common_settings_name_their_variable() {
        for (pairs, var) in [
            (&[][..], PROJECT_VAR),
            (&[(PROJECT_VAR, "p"), (PORT_VAR, "http")][..], PORT_VAR),
            (&[(PROJECT_VAR, "p"), (PORT_VAR, "70000")][..], PORT_VAR),
            (&[(PROJECT_VAR, "p"), (HOST_VAR, "localhost")][..], HOST_VAR),
            (&[(PROJECT_VAR, "p"), (ENV_VAR, "staging")][..], ENV_VAR),
            (
                &[(PROJECT_VAR, "p"), (LOG_LEVEL_VAR, "loud")][..],
                LOG_LEVEL_VAR,
            ),
        ] {
            let e = Common::from_vars(&vars(pairs)).unwrap_err();
            assert!(e.to_string().contains(var), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn oidc_is_required_unless_disabled_and_never_disabled_in_production() {
        let dev = Environment::Development;
        let prod = Environment::Production;
        assert_eq!(
            OidcSettings::from_vars(
                &vars(&[
                    (OIDC_AUDIENCE_VAR, "https://worker.run.app/pubsub/push"),
                    (OIDC_SERVICE_ACCOUNT_VAR, "push@p.iam.gserviceaccount.com")
                ]),
                prod
            )
            .unwrap(),
            OidcSettings::Verify {
                audiences: vec!["https://worker.run.app/pubsub/push".into()],
                service_account: Some("push@p.iam.gserviceaccount.com".into()),
                jwks_url: None,
            }
        );
        assert_eq!(
            OidcSettings::from_vars(
                &vars(&[(
                    OIDC_AUDIENCE_VAR,
                    "https://outbox-123.us-central1.run.app, https://outbox-x7-uc.a.run.app,"
                )]),
                prod
            )
            .unwrap(),
            OidcSettings::Verify {
                audiences: vec![
                    "https://outbox-123.us-central1.run.app".into(),
                    "https://outbox-x7-uc.a.run.app".into()
                ],
                service_account: None,
                jwks_url: None,
            },
            "both URLs of a Cloud Run service"
        );
        assert_eq!(
            OidcSettings::from_vars(&vars(&[(OIDC_DISABLED_VAR, "true")]), dev).unwrap(),
            OidcSettings::Disabled
        );
        for (pairs, env, var) in [
            (&[][..], dev, OIDC_AUDIENCE_VAR),
            (&[(OIDC_AUDIENCE_VAR, " , ")][..], dev, OIDC_AUDIENCE_VAR),
            (&[(OIDC_DISABLED_VAR, "true")][..], prod, OIDC_DISABLED_VAR),
            (&[(OIDC_DISABLED_VAR, "yes")][..], dev, OIDC_DISABLED_VAR),
            (
                &[
                    (OIDC_AUDIENCE_VAR, "a"),
                    (OIDC_SERVICE_ACCOUNT_VAR, "nobody"),
                ][..],
                dev,
                OIDC_SERVICE_ACCOUNT_VAR,
            ),
            (
                &[
                    (OIDC_AUDIENCE_VAR, "a"),
                    (OIDC_JWKS_URL_VAR, "http://evil/keys"),
                ][..],
                dev,
                OIDC_JWKS_URL_VAR,
            ),
        ] {
            let e = OidcSettings::from_vars(&vars(pairs), env).unwrap_err();
            assert!(e.to_string().contains(var), "{pairs:?}: {e}");
        }
    }
}
