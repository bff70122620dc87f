//! Typed configuration, validated at startup: a bad value stops the process with a message
//! that names the setting, instead of surfacing later as a data error.

use domain::failpoints::Failpoints;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "development" | "dev" | "" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid {
                setting: "REGISTRO_ENV",
                reason: format!("{other:?} is not development or production"),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("the embedded backend (SQLite, local files) is refused when REGISTRO_ENV=production")]
    EmbeddedInProduction,
    #[error("failpoints are refused when REGISTRO_ENV=production")]
    FailpointsInProduction,
    /// Names its setting (`RESEND_API_KEY`, `RESEND_API_URL`, …).
    #[error(transparent)]
    Resend(#[from] resend::ConfigError),
    /// Names its setting (`DELEGACIONES_SHEET_ID`, `SHEETS_API_URL`, …).
    #[error(transparent)]
    Sheets(#[from] sheets::ConfigError),
    #[error("cannot read the catalog {path}: {reason}")]
    Catalog { path: String, reason: String },
}

/// Settings of `registro serve`, as given (flags or their env twins).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub addr: String,
    pub data_dir: PathBuf,
    pub catalog: Option<PathBuf>,
    pub allowed_origins: String,
    pub frontend_url: String,
    pub rate_limit_per_minute: u32,
    pub trust_forwarded_for: bool,
    pub env: String,
    pub failpoints: String,
    pub log_level: String,
    /// Base URL of this server as organizers reach it (receipt links in the sheet and e-mails).
    pub public_url: Option<String>,
    /// Recipient of the internal notification e-mails.
    pub internal_email: String,
    pub worker_max_attempts: i64,
    pub worker_concurrency: usize,
    /// Serve the trigger routes to any caller, without the token (`triggers`).
    pub open_triggers: bool,
    /// The built front to serve at `/`; unset: `front/build` if it is built (`front`).
    pub front_dir: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub catalog_json: String,
    pub api: api::ApiConfig,
    pub env: Environment,
    pub failpoints: std::sync::Arc<Failpoints>,
    pub log_level: String,
    pub public_url: Option<String>,
    pub mail: domain::mail::MailSettings,
    pub worker: worker::WorkerConfig,
    /// Deliveries the embedded worker runs at once.
    pub worker_concurrency: usize,
    pub open_triggers: bool,
    /// The built front served at `/` (absolute, holds `index.html`); `None`: no front, `/`
    /// answers the "front not built" page (`front`).
    pub front_dir: Option<PathBuf>,
    /// Send e-mails through Resend instead of writing them to `DATA_DIR/mail` (set when any
    /// `RESEND_*` variable is).
    pub resend: Option<resend::Config>,
    /// Write the organizers' rows to Google Sheets instead of `DATA_DIR/sheets/*.csv` (set
    /// when any of the Sheets variables is, `sheets::VARIABLES`).
    pub sheets: Option<sheets::Config>,
}

/// The settings that switch the embedded mailer to Resend.
const RESEND_VARS: &[&str] = &[
    "RESEND_API_KEY",
    "RESEND_API_URL",
    "RESEND_REQUESTS_PER_SECOND",
];

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// `scheme://host[:port]` with no path, query or trailing slash.
pub fn parse_origin(setting: &'static str, s: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        setting,
        reason: format!("{s:?}: {reason}"),
    };
    let uri: http_uri::Uri = s.parse().map_err(|_| bad("not a URL"))?;
    let scheme = uri.scheme_str().ok_or_else(|| bad("missing scheme"))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad("scheme must be http or https"));
    }
    let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
    let origin = format!("{scheme}://{authority}");
    if origin != s {
        return Err(bad("must be an origin like https://example.org (no path)"));
    }
    Ok(origin)
}

/// A comma-separated list of origins (empty entries ignored), each as [`parse_origin`].
pub fn parse_origins(setting: &'static str, list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|o| parse_origin(setting, o))
        .collect()
}

/// `REGISTRO_FAILPOINTS`, refused in production.
pub fn parse_failpoints(spec: &str, env: Environment) -> Result<Failpoints, ConfigError> {
    let failpoints = Failpoints::parse(spec).map_err(|e| ConfigError::Invalid {
        setting: "REGISTRO_FAILPOINTS",
        reason: e.to_string(),
    })?;
    if env == Environment::Production && !failpoints.is_empty() {
        return Err(ConfigError::FailpointsInProduction);
    }
    Ok(failpoints)
}

/// The front to serve: the one named (it must be built), else `front/build` under the current
/// directory when built, else none.
fn front_dir(named: Option<PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
    let bad = |reason: String| ConfigError::Invalid {
        setting: "REGISTRO_FRONT_DIR",
        reason,
    };
    let absolute = |dir: &std::path::Path| {
        std::path::absolute(dir).map_err(|e| bad(format!("{}: {e}", dir.display())))
    };
    match named.filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if crate::front::is_built(&dir) => absolute(&dir).map(Some),
        Some(dir) => Err(bad(format!(
            "{:?} holds no index.html; --front-dir must name a built front ({})",
            dir.display().to_string(),
            crate::front::BUILD_HINT
        ))),
        None => {
            let default = std::path::Path::new(crate::front::DEFAULT_DIR);
            if crate::front::is_built(default) {
                absolute(default).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

mod http_uri {
    pub use axum::http::Uri;
}

impl ServeSettings {
    pub fn validate(self) -> Result<ServeConfig, ConfigError> {
        let env = Environment::parse(&self.env)?;
        let failpoints = parse_failpoints(&self.failpoints, env)?;
        if env == Environment::Production {
            return Err(ConfigError::EmbeddedInProduction);
        }
        let addr: SocketAddr = self.addr.parse().map_err(|_| ConfigError::Invalid {
            setting: "REGISTRO_ADDR",
            reason: format!("{:?} is not an address like 127.0.0.1:8080", self.addr),
        })?;
        let allowed_origins = parse_origins("REGISTRO_ALLOWED_ORIGINS", &self.allowed_origins)?;
        let frontend_url = parse_origin(
            "REGISTRO_FRONTEND_URL",
            self.frontend_url.trim_end_matches('/'),
        )?;
        let catalog_json = match &self.catalog {
            // The example catalog shipped with the product.
            None => domain::catalog::EXAMPLE_JSON.to_owned(),
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError::Catalog {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
        };
        domain::catalog::Catalog::from_json(&catalog_json).map_err(|e| ConfigError::Catalog {
            path: self
                .catalog
                .as_ref()
                .map_or("(example)".into(), |p| p.display().to_string()),
            reason: e.to_string(),
        })?;
        if !LOG_LEVELS.contains(&self.log_level.as_str()) {
            return Err(ConfigError::Invalid {
                setting: "LOG_LEVEL",
                reason: format!(
                    "{:?} is not one of {}",
                    self.log_level,
                    LOG_LEVELS.join(", ")
                ),
            });
        }
        let public_url = self
            .public_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| parse_origin("REGISTRO_PUBLIC_URL", u.trim_end_matches('/')))
            .transpose()?;
        let internal_email =
            domain::email::normalize(&self.internal_email).map_err(|_| ConfigError::Invalid {
                setting: "REGISTRO_INTERNAL_EMAIL",
                reason: format!("{:?} is not an e-mail address", self.internal_email),
            })?;
        if !(1..=256).contains(&self.worker_concurrency) {
            return Err(ConfigError::Invalid {
                setting: "REGISTRO_WORKER_CONCURRENCY",
                reason: format!("{} is not between 1 and 256", self.worker_concurrency),
            });
        }
        if !(1..=100).contains(&self.worker_max_attempts) {
            return Err(ConfigError::Invalid {
                setting: "REGISTRO_WORKER_MAX_ATTEMPTS",
                reason: format!("{} is not between 1 and 100", self.worker_max_attempts),
            });
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                setting: "REGISTRO_DATA_DIR",
                reason: "must not be empty".into(),
            });
        }
        let front_dir = front_dir(self.front_dir)?;
        Ok(ServeConfig {
            addr,
            data_dir: self.data_dir,
            catalog_json,
            api: api::ApiConfig {
                allowed_origins,
                frontend_url,
                rate_limit_per_minute: self.rate_limit_per_minute,
                trust_forwarded_for: self.trust_forwarded_for,
                same_origin_front: front_dir.is_some(),
                ..api::ApiConfig::default()
            },
            env,
            failpoints: std::sync::Arc::new(failpoints),
            log_level: self.log_level,
            public_url,
            mail: domain::mail::MailSettings {
                internal_recipient: internal_email,
                ..domain::mail::MailSettings::default()
            },
            worker: worker::WorkerConfig {
                max_attempts: self.worker_max_attempts,
                ..worker::WorkerConfig::default()
            },
            worker_concurrency: self.worker_concurrency,
            open_triggers: self.open_triggers,
            front_dir,
            resend: if RESEND_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
                Some(resend::Config::from_env()?)
            } else {
                None
            },
            sheets: if sheets::VARIABLES
                .iter()
                .any(|v| std::env::var_os(v).is_some())
            {
                Some(sheets::Config::from_env()?)
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ServeSettings {
        ServeSettings {
            addr: "127.0.0.1:0".into(),
            data_dir: "data".into(),
            catalog: None,
            allowed_origins: "http://localhost:5173, https://smmun.com".into(),
            frontend_url: "https://smmun.com/".into(),
            rate_limit_per_minute: 0,
            trust_forwarded_for: false,
            env: "development".into(),
            failpoints: String::new(),
            log_level: "info".into(),
            public_url: None,
            internal_email: "secretariadefinanzas@smmun.com".into(),
            worker_max_attempts: 10,
            worker_concurrency: 4,
            open_triggers: false,
            front_dir: None,
        }
    }

    #[test]
    fn valid_settings_pass_with_the_example_catalog() {
        let c = settings().validate().unwrap();
        assert_eq!(
            c.api.allowed_origins,
            ["http://localhost:5173", "https://smmun.com"]
        );
        assert_eq!(c.api.frontend_url, "https://smmun.com");
    }

    #[test]
    fn bad_settings_are_named_in_the_error() {
        type Mutate = fn(&mut ServeSettings);
        let cases: Vec<(Mutate, &str)> = vec![
            (|s| s.addr = "nope".into(), "REGISTRO_ADDR"),
            (
                |s| s.allowed_origins = "https://a.example/path".into(),
                "REGISTRO_ALLOWED_ORIGINS",
            ),
            (
                |s| s.allowed_origins = "ftp://a.example".into(),
                "REGISTRO_ALLOWED_ORIGINS",
            ),
            (
                |s| s.frontend_url = "not a url".into(),
                "REGISTRO_FRONTEND_URL",
            ),
            (|s| s.env = "staging".into(), "REGISTRO_ENV"),
            (|s| s.failpoints = "x=boom".into(), "REGISTRO_FAILPOINTS"),
            (
                |s| s.catalog = Some("/nonexistent/catalog.json".into()),
                "catalog",
            ),
            (|s| s.env = "production".into(), "production"),
            (|s| s.log_level = "verbose".into(), "LOG_LEVEL"),
            (
                |s| s.public_url = Some("http://x.example/path".into()),
                "REGISTRO_PUBLIC_URL",
            ),
            (
                |s| s.internal_email = "nobody".into(),
                "REGISTRO_INTERNAL_EMAIL",
            ),
            (
                |s| s.front_dir = Some("/nonexistent/front/build".into()),
                "REGISTRO_FRONT_DIR",
            ),
            (
                |s| s.front_dir = Some("/nonexistent/front/build".into()),
                "--front-dir",
            ),
        ];
        for (mutate, needle) in cases {
            let mut s = settings();
            mutate(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
        }
    }

    #[test]
    fn a_named_front_must_be_built_and_then_makes_redirects_same_origin() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings();
        s.front_dir = Some(dir.path().to_owned());
        let err = s.clone().validate().unwrap_err().to_string();
        assert!(err.contains("REGISTRO_FRONT_DIR"), "{err}");
        assert!(err.contains("index.html"), "{err}");
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        let c = s.validate().unwrap();
        assert_eq!(c.front_dir.as_deref(), Some(dir.path()));
        assert!(c.api.same_origin_front);
    }

    #[test]
    fn without_a_named_front_the_default_build_is_used_only_when_built() {
        let mut s = settings();
        s.front_dir = Some(PathBuf::new());
        let c = s.validate().unwrap();
        let built = std::path::Path::new(crate::front::DEFAULT_DIR)
            .join("index.html")
            .is_file();
        assert_eq!(c.front_dir.is_some(), built);
        assert_eq!(c.api.same_origin_front, built);
        if let Some(d) = c.front_dir {
            assert!(d.is_absolute() && d.ends_with(crate::front::DEFAULT_DIR));
        }
    }
}
