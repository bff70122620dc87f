//! Hardening items checked over real HTTP on `registro serve`: the rate limit behind a proxy
//! (item 6) and the field named in error redirects (item 12).

use crate::support::*;
use testkit::forms::FormFixture;
use testkit::spawn::Options;

#[tokio::test]
async fn item_06_a_spoofed_forwarded_for_line_does_not_escape_the_rate_limit() {
    let env = Env::start(
        Options::default()
            .arg("--rate-limit-per-minute")
            .arg("2")
            .arg("--trust-forwarded-for"),
    );
    let c = testkit::spawn::client();
    let mut codes = vec![];
    for n in 0..4u32 {
        let form = FormFixture::individual(&env.catalog, &key(n + 1));
        let res = c
            .post(env.app.url(DELEGACIONES))
            .header("origin", ORIGIN)
            // A client-chosen first line, different every time, then the proxy's own line.
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .header("x-forwarded-for", "198.51.100.7")
            .multipart(form.to_multipart())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        codes.push(res.headers()["location"].to_str().unwrap().to_owned());
    }
    assert!(codes[0].contains("/confirmacion/") && codes[1].contains("/confirmacion/"));
    for loc in &codes[2..] {
        assert!(
            loc.contains("keep_idempotency_key=1") && loc.contains("code=demasiadas_solicitudes"),
            "{loc}"
        );
    }
}

#[tokio::test]
async fn item_12_an_invalid_form_redirect_names_the_field_that_failed() {
    let env = Env::start(Options::default());
    let bad_email = FormFixture::individual(&env.catalog, &key(1)).set("correo_0", "no-es-correo");
    let posted = env.post(DELEGACIONES, &bad_email).await;
    assert_eq!(
        posted.location,
        format!(
            "{ORIGIN}/registro/error/?code={}&form=delegaciones&campo=correo_0",
            domain::form::rules::CAMPO_CORREO_INVALIDO.0
        )
    );
    let faculty = FormFixture::faculty(&key(2), 4).set("edad_d2", "99");
    let posted = env.post(FACULTY, &faculty).await;
    assert!(
        posted.location.ends_with("&form=faculty&campo=edad_d2"),
        "{}",
        posted.location
    );
}
