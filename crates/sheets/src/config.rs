//! The adapter's settings, read from the environment with the reference's variable names and
//! validated when the process starts, so a missing or malformed id stops the deploy instead of
//! turning every submission into a `failed` one later (reference weakness §11 item 9).

use reqwest::Url;
use std::time::Duration;

pub const DEFAULT_API_URL: &str = "https://sheets.googleapis.com";
/// The API's default quota: 60 write and 60 read requests per minute per user (the worker's
/// service account is one user).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

/// Every variable the adapter reads. Setting any of them switches `registro serve` from the
/// CSV sheet to Google Sheets.
pub const VARIABLES: &[&str] = &[
    "DELEGACIONES_SPREADSHEET_ID",
    "DELEGACIONES_SHEET_ID",
    "DELEGACIONES_TABLE_ID",
    "FACULTY_SPREADSHEET_ID",
    "FACULTY_GENERAL_SHEET_ID",
    "FACULTY_GENERAL_TABLE_ID",
    "FACULTY_DELEGACIONES_SHEET_ID",
    "FACULTY_DELEGACIONES_TABLE_ID",
    "SHEETS_API_URL",
    "SHEETS_WRITES_PER_MINUTE",
    "SHEETS_READS_PER_MINUTE",
    "SHEETS_REQUEST_TIMEOUT_SECS",
];

/// A configuration error; it names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("invalid {setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("cannot load Google credentials (Application Default Credentials): {0}")]
    Credentials(String),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// A table in a spreadsheet: where one kind of row is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub spreadsheet_id: String,
    pub sheet_id: i32,
    pub table_id: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub api_url: Url,
    pub delegaciones: TableRef,
    pub faculty_general: TableRef,
    pub faculty_delegaciones: TableRef,
    pub writes_per_minute: u32,
    pub reads_per_minute: u32,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    /// Attempts per batch (each re-checks what is already in the sheet) before the callers get
    /// `Retryable` and the worker's own backoff takes over.
    pub max_attempts: u32,
    /// Total time per batch, waits included, before giving up with `Retryable`.
    pub retry_budget: Duration,
    /// First backoff delay when the API sends no `Retry-After` (doubles each attempt).
    pub initial_backoff: Duration,
    /// How long the batcher waits for more submissions before it writes.
    pub batch_window: Duration,
    /// Most submissions in one `batchUpdate`.
    pub max_batch: usize,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `from_env` over any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |k: &'static str| get(k).ok_or(ConfigError::Missing(k));
        let spreadsheet = |k: &'static str| -> Result<String, ConfigError> {
            let v = required(k)?;
            if v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    setting: k,
                    reason: "a spreadsheet id has only letters, digits, '-' and '_' (the part of \
                             the sheet's URL after /d/)"
                        .into(),
                })
            }
        };
        let sheet = |k: &'static str| -> Result<i32, ConfigError> {
            required(k)?
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(ConfigError::Invalid {
                    setting: k,
                    reason: "a sheet id is a whole number ≥ 0 (the gid= of the tab's URL)".into(),
                })
        };
        let table = |k: &'static str| -> Result<String, ConfigError> {
            let v = required(k)?;
            if v.len() <= 100 && v.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    setting: k,
                    reason: "a table id is a short token without spaces".into(),
                })
            }
        };
        let per_minute = |k: &'static str| -> Result<u32, ConfigError> {
            match get(k) {
                None => Ok(DEFAULT_REQUESTS_PER_MINUTE),
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=6000).contains(n))
                    .ok_or(ConfigError::Invalid {
                        setting: k,
                        reason: "a whole number of requests per minute, 1 to 6000".into(),
                    }),
            }
        };
        let api_url = parse_url(&get("SHEETS_API_URL").unwrap_or(DEFAULT_API_URL.into()))?;
        let delegaciones_ss = spreadsheet("DELEGACIONES_SPREADSHEET_ID")?;
        let faculty_ss = spreadsheet("FACULTY_SPREADSHEET_ID")?;
        let request_timeout = match get("SHEETS_REQUEST_TIMEOUT_SECS") {
            None => Duration::from_secs(30),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=300).contains(n))
                .map(Duration::from_secs)
                .ok_or(ConfigError::Invalid {
                    setting: "SHEETS_REQUEST_TIMEOUT_SECS",
                    reason: "whole seconds, 1 to 300".into(),
                })?,
        };
        Ok(Self {
            api_url,
            delegaciones: TableRef {
                spreadsheet_id: delegaciones_ss,
                sheet_id: sheet("DELEGACIONES_SHEET_ID")?,
                table_id: table("DELEGACIONES_TABLE_ID")?,
            },
            faculty_general: TableRef {
                spreadsheet_id: faculty_ss.clone(),
                sheet_id: sheet("FACULTY_GENERAL_SHEET_ID")?,
                table_id: table("FACULTY_GENERAL_TABLE_ID")?,
            },
            faculty_delegaciones: TableRef {
                spreadsheet_id: faculty_ss,
                sheet_id: sheet("FACULTY_DELEGACIONES_SHEET_ID")?,
                table_id: table("FACULTY_DELEGACIONES_TABLE_ID")?,
            },
            writes_per_minute: per_minute("SHEETS_WRITES_PER_MINUTE")?,
            reads_per_minute: per_minute("SHEETS_READS_PER_MINUTE")?,
            request_timeout,
            max_attempts: 6,
            retry_budget: Duration::from_secs(120),
            initial_backoff: Duration::from_secs(1),
            batch_window: Duration::from_millis(250),
            max_batch: 50,
        })
    }
}

fn parse_url(s: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        setting: "SHEETS_API_URL",
        reason,
    };
    let url = Url::parse(s).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("scheme must be http or https".into()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &[(&str, &str)] = &[
        ("DELEGACIONES_SPREADSHEET_ID", "1AbC-d_E"),
        ("DELEGACIONES_SHEET_ID", "0"),
        ("DELEGACIONES_TABLE_ID", "tbl1"),
        ("FACULTY_SPREADSHEET_ID", "2XyZ"),
        ("FACULTY_GENERAL_SHEET_ID", "12"),
        ("FACULTY_GENERAL_TABLE_ID", "tbl2"),
        ("FACULTY_DELEGACIONES_SHEET_ID", "13"),
        ("FACULTY_DELEGACIONES_TABLE_ID", "tbl3"),
    ];

    fn with(overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| {
            overrides
                .iter()
                .chain(FULL)
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_full_configuration_is_read_with_defaults_for_the_rest() {
        let c = with(&[]).unwrap();
        assert_eq!(c.api_url.as_str(), "https://sheets.googleapis.com/");
        assert_eq!(c.delegaciones.sheet_id, 0);
        assert_eq!(c.faculty_general.spreadsheet_id, "2XyZ");
        assert_eq!(c.faculty_delegaciones.table_id, "tbl3");
        assert_eq!((c.writes_per_minute, c.reads_per_minute), (60, 60));
    }

    #[test]
    fn every_error_names_its_setting() {
        for (overrides, setting) in [
            (
                &[("DELEGACIONES_SHEET_ID", "")][..],
                "DELEGACIONES_SHEET_ID",
            ),
            (
                &[("FACULTY_GENERAL_SHEET_ID", "-1")],
                "FACULTY_GENERAL_SHEET_ID",
            ),
            (
                &[("FACULTY_DELEGACIONES_SHEET_ID", "x")],
                "FACULTY_DELEGACIONES_SHEET_ID",
            ),
            (
                &[("DELEGACIONES_SPREADSHEET_ID", "a/b")],
                "DELEGACIONES_SPREADSHEET_ID",
            ),
            (&[("FACULTY_SPREADSHEET_ID", " ")], "FACULTY_SPREADSHEET_ID"),
            (&[("DELEGACIONES_TABLE_ID", "a b")], "DELEGACIONES_TABLE_ID"),
            (&[("SHEETS_API_URL", "ftp://x")], "SHEETS_API_URL"),
            (
                &[("SHEETS_WRITES_PER_MINUTE", "0")],
                "SHEETS_WRITES_PER_MINUTE",
            ),
            (
                &[("SHEETS_READS_PER_MINUTE", "many")],
                "SHEETS_READS_PER_MINUTE",
            ),
            (
                &[("SHEETS_REQUEST_TIMEOUT_SECS", "0")],
                "SHEETS_REQUEST_TIMEOUT_SECS",
            ),
        ] {
            let err = with(overrides).unwrap_err().to_string();
            assert!(err.contains(setting), "{err} should name {setting}");
        }
    }
}
