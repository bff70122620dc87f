//! Where the browser goes next: origin resolution (reference/api.md §3.1), the 303 shapes of
//! §3.2, and the 308 of a `GET` on a form endpoint, in one place. Every outcome of a form post
//! is one of these redirects.

use crate::ApiConfig;
use axum::response::{IntoResponse, Response};
use domain::SubmissionType;
use http::{HeaderMap, StatusCode, Uri};

/// The browser-facing outcome of a form post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (new, replayed or reconciled): confirmation page with the folio.
    Confirmed { folio: String },
    /// The browser must discard its idempotency key (conflict, failed submission).
    RotateKey { code: &'static str },
    /// The same key should be retried later (in progress, infrastructure trouble).
    KeepKey { code: &'static str },
    /// The form itself is wrong; the key is kept. `field` is the declared field the rule
    /// failed on (`campo=`), so the page can point at it.
    Invalid {
        code: &'static str,
        field: Option<String>,
    },
}

/// `scheme://authority` of an absolute URL, as the older system rebuilt it.
fn origin_of(value: &str) -> Option<String> {
    let uri: Uri = value.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    Some(format!("{scheme}://{authority}"))
}

/// `host[:port]` the client addressed: the `Host` header (HTTP/1.1), else the request target's
/// authority (HTTP/2 `:authority`).
fn request_authority<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// An http(s) origin whose `host[:port]` is the one the request was sent to: the page that
/// posted is served by this very server, so sending the browser back there is no open
/// redirect.
fn is_same_origin(origin: &str, authority: Option<&str>) -> bool {
    let Some(authority) = authority.filter(|a| !a.is_empty()) else {
        return false;
    };
    ["http://", "https://"].iter().any(|scheme| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(authority))
    })
}

/// The `Origin` header if allowed, else the `Referer`'s origin if allowed, else the configured
/// front. Allowed means in `allowed_origins`, or, when the front is served by this process
/// (`same_origin_front`), an http(s) origin on the request's own `Host`.
pub fn resolve_origin(headers: &HeaderMap, uri: &Uri, config: &ApiConfig) -> String {
    let authority = config
        .same_origin_front
        .then(|| request_authority(headers, uri))
        .flatten();
    for header in [http::header::ORIGIN, http::header::REFERER] {
        if let Some(origin) = headers
            .get(&header)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of)
            && (config.allowed_origins.contains(&origin) || is_same_origin(&origin, authority))
        {
            return origin;
        }
    }
    config.frontend_url.clone()
}

/// Where a `GET` on a form endpoint sends the browser: the form's page, on this host when the
/// front is served by this process (a relative `Location`), else on the configured front.
pub fn form_page_location(config: &ApiConfig, form: SubmissionType) -> String {
    let path = format!("/registro/{}/", form.form_name());
    if config.same_origin_front {
        path
    } else {
        format!("{}{path}", config.frontend_url)
    }
}

/// `308 Permanent Redirect` to [`form_page_location`].
pub fn form_page(config: &ApiConfig, form: SubmissionType) -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(http::header::LOCATION, form_page_location(config, form))],
    )
        .into_response()
}

pub fn location(origin: &str, form: SubmissionType, outcome: &Outcome) -> String {
    let form = form.form_name();
    match outcome {
        Outcome::Confirmed { folio } => {
            format!("{origin}/registro/confirmacion/?form={form}&folio={folio}")
        }
        Outcome::RotateKey { code } => {
            format!("{origin}/registro/error/?rotate_idempotency_key=1&form={form}&code={code}")
        }
        Outcome::KeepKey { code } => {
            format!("{origin}/registro/error/?keep_idempotency_key=1&form={form}&code={code}")
        }
        Outcome::Invalid { code, field } => {
            let campo = field
                .as_deref()
                .filter(|f| domain::form::is_declared_field(f))
                .map(|f| format!("&campo={f}"))
                .unwrap_or_default();
            format!("{origin}/registro/error/?code={code}&form={form}{campo}")
        }
    }
}

pub fn see_other(location: String) -> Response {
    (StatusCode::SEE_OTHER, [(http::header::LOCATION, location)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn config(allowed: &[&str], fallback: &str, same_origin_front: bool) -> ApiConfig {
        ApiConfig {
            allowed_origins: allowed.iter().map(|o| (*o).to_owned()).collect(),
            frontend_url: fallback.to_owned(),
            same_origin_front,
            ..ApiConfig::default()
        }
    }

    #[test]
    fn origin_resolution_prefers_origin_then_referer_then_fallback() {
        let fb = "https://front.example";
        let cfg = config(&["http://localhost:5173", "https://smmun.com"], fb, false);
        let here = "/registro/delegaciones".parse::<Uri>().unwrap();
        let cases = [
            (
                vec![("origin", "http://localhost:5173")],
                "http://localhost:5173",
            ),
            (
                vec![
                    ("origin", "https://evil.example"),
                    ("referer", "https://smmun.com/registro/x?y=1"),
                ],
                "https://smmun.com",
            ),
            (vec![("origin", "null")], fb),
            (vec![("referer", "https://evil.example/registro")], fb),
            (vec![], fb),
            (
                vec![("origin", "http://localhost:5173/")],
                "http://localhost:5173",
            ),
            // Without a front served here, the request's own host is not special.
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "http://127.0.0.1:41234"),
                ],
                fb,
            ),
        ];
        for (h, want) in cases {
            assert_eq!(resolve_origin(&headers(&h), &here, &cfg), want, "{h:?}");
        }
    }

    #[test]
    fn with_the_front_served_here_an_origin_on_the_requests_own_host_is_accepted() {
        let fb = "http://localhost:8080";
        let cfg = config(&["https://smmun.com"], fb, true);
        let here = "/registro/delegaciones".parse::<Uri>().unwrap();
        let cases = [
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "http://127.0.0.1:41234"),
                ],
                "http://127.0.0.1:41234",
            ),
            // The scheme is the Origin's (TLS ended at a proxy that keeps the Host).
            (
                vec![
                    ("host", "registro.smmun.com"),
                    ("origin", "https://registro.smmun.com"),
                ],
                "https://registro.smmun.com",
            ),
            (
                vec![
                    ("host", "Registro.SMMUN.com"),
                    ("origin", "https://registro.smmun.com"),
                ],
                "https://registro.smmun.com",
            ),
            // Referer on the same host when the Origin is missing or foreign.
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("referer", "http://127.0.0.1:41234/registro/faculty/"),
                ],
                "http://127.0.0.1:41234",
            ),
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "https://evil.example"),
                    ("referer", "http://127.0.0.1:41234/registro/faculty/"),
                ],
                "http://127.0.0.1:41234",
            ),
            // The allow-list still counts.
            (
                vec![("host", "127.0.0.1:41234"), ("origin", "https://smmun.com")],
                "https://smmun.com",
            ),
            // Another host, another port, another scheme, no Host: the fallback.
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "https://evil.example"),
                ],
                fb,
            ),
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "http://127.0.0.1:41235"),
                ],
                fb,
            ),
            (
                vec![("host", "127.0.0.1:41234"), ("origin", "http://127.0.0.1")],
                fb,
            ),
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "ftp://127.0.0.1:41234"),
                ],
                fb,
            ),
            (
                vec![
                    ("host", "127.0.0.1:41234"),
                    ("origin", "http://127.0.0.1:41234.evil.example"),
                ],
                fb,
            ),
            (vec![("origin", "http://127.0.0.1:41234")], fb),
            (vec![("host", ""), ("origin", "http://127.0.0.1:41234")], fb),
            (vec![("host", "127.0.0.1:41234"), ("origin", "null")], fb),
        ];
        for (h, want) in cases {
            assert_eq!(resolve_origin(&headers(&h), &here, &cfg), want, "{h:?}");
        }
        // HTTP/2 carries the host in the request target (`:authority`), not in `Host`.
        let h2 = "http://127.0.0.1:41234/registro/delegaciones"
            .parse::<Uri>()
            .unwrap();
        let h = headers(&[("origin", "http://127.0.0.1:41234")]);
        assert_eq!(resolve_origin(&h, &h2, &cfg), "http://127.0.0.1:41234");
    }

    #[test]
    fn a_get_on_a_form_endpoint_goes_to_its_page() {
        let fb = "https://smmun.com";
        let cases = [
            (
                false,
                SubmissionType::Delegacion,
                "https://smmun.com/registro/delegaciones/",
            ),
            (
                false,
                SubmissionType::Faculty,
                "https://smmun.com/registro/faculty/",
            ),
            (true, SubmissionType::Delegacion, "/registro/delegaciones/"),
            (true, SubmissionType::Faculty, "/registro/faculty/"),
        ];
        for (same_origin, form, want) in cases {
            let cfg = config(&[], fb, same_origin);
            assert_eq!(
                form_page_location(&cfg, form),
                want,
                "{same_origin} {form:?}"
            );
            let res = form_page(&cfg, form);
            assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
            assert_eq!(res.headers()[http::header::LOCATION], want);
        }
    }

    #[test]
    fn the_default_front_is_the_local_one() {
        let cfg = ApiConfig::default();
        assert_eq!(cfg.frontend_url, "http://localhost:8080");
        assert!(!cfg.same_origin_front);
    }

    #[test]
    fn redirect_shapes_match_the_contract() {
        let o = "https://smmun.com";
        let d = SubmissionType::Delegacion;
        let f = SubmissionType::Faculty;
        assert_eq!(
            location(o, d, &Outcome::Confirmed { folio: "X".into() }),
            "https://smmun.com/registro/confirmacion/?form=delegaciones&folio=X"
        );
        assert_eq!(
            location(o, f, &Outcome::RotateKey { code: "c" }),
            "https://smmun.com/registro/error/?rotate_idempotency_key=1&form=faculty&code=c"
        );
        assert_eq!(
            location(o, f, &Outcome::KeepKey { code: "c" }),
            "https://smmun.com/registro/error/?keep_idempotency_key=1&form=faculty&code=c"
        );
        assert_eq!(
            location(
                o,
                d,
                &Outcome::Invalid {
                    code: "c",
                    field: None
                }
            ),
            "https://smmun.com/registro/error/?code=c&form=delegaciones"
        );
    }

    #[test]
    fn item_12_invalid_form_redirects_name_the_declared_field_and_nothing_else() {
        let o = "https://smmun.com";
        let invalid = |field: &str| Outcome::Invalid {
            code: "c",
            field: Some(field.to_owned()),
        };
        let d = SubmissionType::Delegacion;
        let f = SubmissionType::Faculty;
        assert_eq!(
            location(o, d, &invalid("correo_0")),
            "https://smmun.com/registro/error/?code=c&form=delegaciones&campo=correo_0"
        );
        assert_eq!(
            location(o, f, &invalid("edad_d3")),
            "https://smmun.com/registro/error/?code=c&form=faculty&campo=edad_d3"
        );
        for undeclared in ["ana.lopez@example.com", "<undeclared:12>", "x&code=y"] {
            assert_eq!(
                location(o, d, &invalid(undeclared)),
                "https://smmun.com/registro/error/?code=c&form=delegaciones",
                "{undeclared}"
            );
        }
    }
}
