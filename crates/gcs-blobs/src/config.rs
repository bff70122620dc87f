//! Settings of the Cloud Storage adapter, read from the environment and checked before
//! connecting, so a malformed bucket name stops the deploy instead of failing every upload.
//! `COMPROBANTES_BUCKET_NAME` is the older system's variable, so one Terraform sets both.

use reqwest::Url;

pub const BUCKET_VAR: &str = "COMPROBANTES_BUCKET_NAME";
/// The emulator's address, as the Google tools and client libraries of other languages read
/// it: `host:port`, or a URL `http(s)://host:port`.
pub const EMULATOR_VAR: &str = "STORAGE_EMULATOR_HOST";
pub const PROJECT_VAR: &str = "GOOGLE_CLOUD_PROJECT";

/// Every variable this crate reads (for the services' `.env.example` and Terraform checks).
pub const VARIABLES: &[&str] = &[BUCKET_VAR, EMULATOR_VAR, PROJECT_VAR];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsConfig {
    /// The bucket's bare name (`my-bucket`, not `gs://my-bucket`).
    pub bucket: String,
    /// The emulator's base URL (`http://127.0.0.1:4443`, no trailing slash): no credentials,
    /// and signed URLs point there. `None` in production.
    pub emulator_endpoint: Option<String>,
    /// The Google Cloud project. Not needed to read or write objects (bucket names are
    /// global); tests use it to create buckets on the emulator.
    pub project: Option<String>,
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

impl GcsConfig {
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
        let bucket = get(BUCKET_VAR).ok_or(ConfigError::Missing(BUCKET_VAR))?;
        check_bucket(&bucket).map_err(|reason| ConfigError::Invalid {
            var: BUCKET_VAR,
            value: bucket.clone(),
            reason,
        })?;
        let emulator_endpoint = get(EMULATOR_VAR)
            .map(|v| {
                emulator_url(&v).map_err(|reason| ConfigError::Invalid {
                    var: EMULATOR_VAR,
                    value: v,
                    reason,
                })
            })
            .transpose()?;
        let project = get(PROJECT_VAR);
        if let Some(p) = &project
            && !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.')
        {
            return Err(ConfigError::Invalid {
                var: PROJECT_VAR,
                value: p.clone(),
                reason: "not a Google Cloud project id",
            });
        }
        Ok(Self {
            bucket,
            emulator_endpoint,
            project,
        })
    }

    /// The bucket as the client library names it: `projects/_/buckets/<bucket>`.
    pub fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.bucket)
    }
}

/// Cloud Storage's naming rules for a bucket without dots-as-domain verification: 3–63
/// characters of lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter
/// or digit; not an IP address; no `goog` prefix and no `google` inside (both reserved).
pub(crate) fn check_bucket(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err("a bucket name has 3 to 63 characters");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("a bucket name has only lowercase letters, digits, '-', '_' and '.'");
    }
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return Err("a bucket name starts and ends with a letter or a digit");
    }
    if name.contains("..") {
        return Err("a bucket name has no empty dot-separated part");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("a bucket name cannot be an IP address");
    }
    if name.starts_with("goog") || name.contains("google") {
        return Err("bucket names starting with 'goog' or containing 'google' are reserved");
    }
    Ok(())
}

/// `host:port` or `http(s)://host:port` (a trailing `/` allowed) as a base URL without a
/// trailing slash.
pub(crate) fn emulator_url(value: &str) -> Result<String, &'static str> {
    const SHAPE: &str = "expected host:port or http(s)://host:port";
    let trimmed = value.trim().trim_end_matches('/');
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        // A bare `host:port` needs its port: there is no default for an emulator.
        let port = trimmed.rsplit_once(':').map(|(_, p)| p);
        if !port.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(SHAPE);
        }
        format!("http://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| SHAPE)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the emulator is reached over http or https");
    }
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(SHAPE);
    }
    // The URL as written (`Url` drops a default port, which signed URLs must keep as given).
    Ok(with_scheme)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<GcsConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        GcsConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn only_the_bucket_is_required() {
        let c = parse(&[(BUCKET_VAR, " smmun-comprobantes ")]).unwrap();
        assert_eq!(
            c,
            GcsConfig {
                bucket: "smmun-comprobantes".into(),
                emulator_endpoint: None,
                project: None,
            }
        );
        assert_eq!(c.bucket_path(), "projects/_/buckets/smmun-comprobantes");
        let c = parse(&[
            (BUCKET_VAR, "b-1"),
            (PROJECT_VAR, "smmun-prod"),
            (EMULATOR_VAR, "  "),
        ])
        .unwrap();
        assert_eq!(c.project.as_deref(), Some("smmun-prod"));
        assert_eq!(c.emulator_endpoint, None, "blank is unset");
    }

    #[test]
    fn good_bucket_names_are_accepted() {
        for name in [
            "abc",
            "smmun-comprobantes",
            "a_b.c-d",
            "0-9",
            "comprobantes.example.com",
            &"a".repeat(63),
        ] {
            assert_eq!(check_bucket(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_bucket_names_are_refused_naming_the_variable() {
        for name in [
            "ab",
            &"a".repeat(64),
            "Comprobantes",
            "gs://bucket",
            "bucket/name",
            "with space",
            "-leading",
            "trailing-",
            "_under",
            ".dot",
            "dot.",
            "a..b",
            "192.168.5.4",
            "goog-bucket",
            "my-google-bucket",
            "ñandú-bucket",
        ] {
            let e = parse(&[(BUCKET_VAR, name)]).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { var, .. } if *var == BUCKET_VAR),
                "{name:?}: {e}"
            );
            assert!(e.to_string().contains(BUCKET_VAR), "{e}");
        }
        assert_eq!(parse(&[]).unwrap_err(), ConfigError::Missing(BUCKET_VAR));
        assert!(parse(&[]).unwrap_err().to_string().contains(BUCKET_VAR));
    }

    #[test]
    fn the_emulator_address_is_normalised_to_a_url() {
        let cases = [
            ("127.0.0.1:4443", "http://127.0.0.1:4443"),
            ("localhost:4443/", "http://localhost:4443"),
            ("http://127.0.0.1:4443", "http://127.0.0.1:4443"),
            ("http://127.0.0.1:4443/", "http://127.0.0.1:4443"),
            ("https://gcs.test:443", "https://gcs.test:443"),
            ("http://gcs.test", "http://gcs.test"),
            ("[::1]:4443", "http://[::1]:4443"),
        ];
        for (given, expected) in cases {
            let c = parse(&[(BUCKET_VAR, "bucket"), (EMULATOR_VAR, given)]).unwrap();
            assert_eq!(c.emulator_endpoint.as_deref(), Some(expected), "{given}");
        }
    }

    #[test]
    fn bad_emulator_addresses_are_refused_naming_the_variable() {
        for given in [
            "localhost",
            "localhost:",
            "localhost:port",
            "ftp://127.0.0.1:21",
            "http://",
            "http://127.0.0.1:4443/storage/v1",
            "http://127.0.0.1:4443?x=1",
            "http://user:pw@127.0.0.1:4443",
        ] {
            let e = parse(&[(BUCKET_VAR, "bucket"), (EMULATOR_VAR, given)]).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { var, .. } if *var == EMULATOR_VAR),
                "{given:?}: {e}"
            );
            assert!(e.to_string().contains(EMULATOR_VAR), "{e}");
        }
    }

    #[test]
    fn a_malformed_project_is_refused_naming_the_variable() {
        let e = parse(&[(BUCKET_VAR, "bucket"), (PROJECT_VAR, "my project")]).unwrap_err();
        assert!(e.to_string().contains(PROJECT_VAR), "{e}");
    }
}
