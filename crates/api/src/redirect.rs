//! Where the browser goes next: origin resolution (reference/api.md §3.1) and the 303 shapes of
//! §3.2, in one place. Every outcome of a form post is one of these redirects.

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

/// Origin header if allowed, else Referer's origin if allowed, else the configured front.
pub fn resolve_origin(headers: &HeaderMap, allowed: &[String], fallback: &str) -> String {
    for header in [http::header::ORIGIN, http::header::REFERER] {
        if let Some(origin) = headers
            .get(&header)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of)
            && allowed.contains(&origin)
        {
            return origin;
        }
    }
    fallback.to_owned()
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

    #[test]
    fn origin_resolution_prefers_origin_then_referer_then_fallback() {
        let allowed = vec![
            "http://localhost:5173".to_owned(),
            "https://smmun.com".to_owned(),
        ];
        let fb = "https://front.example";
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
        ];
        for (h, want) in cases {
            assert_eq!(resolve_origin(&headers(&h), &allowed, fb), want, "{h:?}");
        }
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
