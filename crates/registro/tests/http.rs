//! The HTTP contract of `registro serve`, over real HTTP against the real binary on port 0:
//! every rule and redirect of reference/api.md, the idempotency scenarios of §5.8, concurrent
//! duplicates, hostile input, and crash recovery between upload and commit.

mod admin;
mod cloud;
mod front;
mod hardening;
mod hardening_http;
mod infra;
mod links;
mod mail_services;
mod pipeline;
mod props;
mod rules;
mod sheets_services;
mod support;

use domain::catalog::Modality;
use futures_util::future::join_all;
use reqwest::StatusCode;
use support::*;
use testkit::forms::{FormFixture, committee_choices, pdf};
use testkit::spawn::Options;

// ---------------------------------------------------------------------------------------------
// Accepted forms, from both catalogs

#[tokio::test]
async fn valid_forms_built_from_the_real_catalog_are_accepted() {
    // The example always; the real catalog when REGISTRO_TEST_CATALOG names it.
    for catalog in testkit::forms::test_catalog_paths() {
        let env = Env::start(Options::default().catalog(catalog.clone()));
        for (i, form) in [
            FormFixture::individual(&env.catalog, &key(1)),
            FormFixture::pareja(&env.catalog, &key(2)),
            FormFixture::faculty(&key(3), 5),
        ]
        .into_iter()
        .enumerate()
        {
            let path = if i == 2 { FACULTY } else { DELEGACIONES };
            let r = env.post(path, &form).await;
            assert!(
                r.is_confirmation(),
                "{}: form {i}: {r:?}",
                catalog.display()
            );
        }
        assert_eq!(env.count("submissions"), 3);
        assert_eq!(env.count("outbox"), 3);
        assert_eq!(env.count("idempotency"), 3);
        assert_eq!(env.blob_files().len(), 3);
    }
}

#[tokio::test]
async fn valid_forms_built_from_the_shipped_example_catalog_are_accepted() {
    let env = Env::start(Options::default());
    for form in [
        FormFixture::individual(&env.catalog, &key(1)),
        FormFixture::pareja(&env.catalog, &key(2)),
    ] {
        let r = env.post(DELEGACIONES, &form).await;
        assert!(r.is_confirmation(), "{r:?}");
    }
    let r = env.post(FACULTY, &FormFixture::faculty(&key(3), 4)).await;
    assert!(r.is_confirmation(), "{r:?}");
    assert_eq!(env.count("submissions"), 3);
}

#[tokio::test]
async fn the_stored_documents_have_the_reference_shape_and_no_personal_data_in_the_object_name() {
    let env = Env::start(Options::default());
    let form = FormFixture::pareja(&env.catalog, &key(7));
    let r = env.post(DELEGACIONES, &form).await;
    let folio = r.folio().expect("folio");
    let doc = env.submission_doc(&folio);
    assert_eq!(doc["type"], "delegacion");
    // The worker may already have picked it up.
    assert!(
        ["pending", "processing", "completed"].contains(&doc["status"].as_str().unwrap()),
        "{}",
        doc["status"]
    );
    assert_eq!(doc["idempotency_key"], key(7));
    assert_eq!(
        doc["file_path"],
        format!("uploads/delegaciones/{folio}.pdf")
    );
    let data = &doc["data"];
    assert_eq!(data["modalidad"], "pareja");
    assert_eq!(data["delegacion_oficial"]["is_oficial"], false);
    assert_eq!(data["delegacion_oficial"]["nombre"], "No aplica");
    assert_eq!(data["participantes"].as_array().unwrap().len(), 2);
    let p0 = &data["participantes"][0];
    assert_eq!(p0["edad"], 17);
    assert_eq!(
        p0["contacto_emergencia"],
        "Contacto Ejemplo (Madre): +529997654321"
    );
    assert!(p0["info_extra"].is_null());
    let comites = data["comites"].as_array().unwrap();
    assert_eq!(comites.len(), 3);
    let choices = committee_choices(&env.catalog, Modality::Pareja);
    assert_eq!(comites[0]["nombre"], choices[0].0);
    let first = choices[0].1[0].split_once(':').unwrap().1;
    assert_eq!(comites[0]["opciones"][0], first);
    let outbox = env.outbox_doc(&folio);
    assert!(["pending", "publishing", "sent"].contains(&outbox["status"].as_str().unwrap()));
    assert_eq!(outbox["submission_type"], "delegacion");
    assert_eq!(outbox["created_at"], doc["created_at"]);
    let record = env.record_doc(&format!("delegacion:{}", key(7)));
    assert_eq!(record["status"], "committed");
    assert_eq!(record["submission_id"], folio.as_str());
    assert_eq!(
        env.blob_files(),
        vec![format!("uploads/delegaciones/{folio}.pdf")]
    );
}

// ---------------------------------------------------------------------------------------------
// Redirect cases of reference/api.md §3.2

#[tokio::test]
async fn a_replay_with_the_same_key_and_payload_lands_on_the_confirmation_of_the_first() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let a = env.post(DELEGACIONES, &form).await;
    let b = env.post(DELEGACIONES, &form).await;
    assert!(a.is_confirmation() && b.is_confirmation());
    assert_eq!(a.folio(), b.folio());
    assert_eq!(env.count("submissions"), 1);
    assert_eq!(
        env.blob_files().len(),
        1,
        "the replay's upload is never made"
    );
    assert!(env.logged("idempotency_replayed"));
}

#[tokio::test]
async fn the_same_key_with_another_payload_asks_the_browser_to_rotate_its_key() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    assert!(env.post(DELEGACIONES, &form).await.is_confirmation());
    let edited = form.set("nombre_0", "Otro");
    let r = env.post(DELEGACIONES, &edited).await;
    assert_eq!(
        r.location,
        format!(
            "{ORIGIN}/registro/error/?rotate_idempotency_key=1&form=delegaciones&code=registro_existente"
        )
    );
    assert_eq!(env.count("submissions"), 1);
    assert_eq!(env.blob_files().len(), 1);
}

#[tokio::test]
async fn a_failed_submission_replayed_with_its_explicit_key_asks_for_a_new_key() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let folio = env.post(DELEGACIONES, &form).await.folio().unwrap();
    env.mark_failed(&folio);
    let r = env.post(DELEGACIONES, &form).await;
    assert_eq!(
        r.location,
        format!(
            "{ORIGIN}/registro/error/?rotate_idempotency_key=1&form=delegaciones&code=registro_fallido"
        )
    );
    assert_eq!(env.count("submissions"), 1);
}

#[tokio::test]
async fn a_failed_submission_replayed_without_a_key_is_reopened_as_a_new_submission() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("idempotency_key");
    let first = env.post(DELEGACIONES, &form).await.folio().unwrap();
    env.mark_failed(&first);
    let r = env.post(DELEGACIONES, &form).await;
    let second = r.folio().expect("confirmation");
    assert_ne!(first, second);
    assert_eq!(env.count("submissions"), 2);
    assert_eq!(env.count("outbox"), 2);
    assert!(env.logged("failed_submission_fallback_retry_reclaimed"));
}

#[tokio::test]
async fn a_fresh_claim_left_by_the_older_system_is_in_progress_and_a_stale_one_is_taken_over() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let fingerprint = env.fingerprint_of(&form);
    let id = format!("delegacion:{}", key(1));
    env.seed_claim(&id, &key(1), &fingerprint, 0);
    let r = env.post(DELEGACIONES, &form).await;
    assert_eq!(
        r.location,
        format!(
            "{ORIGIN}/registro/error/?keep_idempotency_key=1&form=delegaciones&code=en_proceso"
        )
    );
    assert_eq!(env.count("submissions"), 0);
    assert!(
        env.blob_files().is_empty(),
        "in-progress answers come before any upload"
    );
    env.seed_claim(&id, &key(1), &fingerprint, 31);
    let r = env.post(DELEGACIONES, &form).await;
    assert!(r.is_confirmation(), "{r:?}");
    assert_eq!(env.count("submissions"), 1);
    assert!(env.logged("idempotency_claim_recovered"));
}

#[tokio::test]
async fn an_upload_failure_keeps_the_key_and_writes_nothing() {
    let env = Env::start(Options::default().env("REGISTRO_FAILPOINTS", "after_upload=error"));
    let r = env
        .post(
            DELEGACIONES,
            &FormFixture::individual(&env.catalog, &key(1)),
        )
        .await;
    assert_eq!(
        r.location,
        format!(
            "{ORIGIN}/registro/error/?keep_idempotency_key=1&form=delegaciones&code=almacenamiento_no_disponible"
        )
    );
    assert_eq!(env.count("submissions"), 0);
    assert!(env.blob_files().is_empty());
}

#[tokio::test]
async fn a_commit_whose_outcome_is_unknown_is_reconciled_by_reading_it_back() {
    let env = Env::start(Options::default().env("REGISTRO_FAILPOINTS", "after_commit=error"));
    let r = env
        .post(
            DELEGACIONES,
            &FormFixture::individual(&env.catalog, &key(1)),
        )
        .await;
    assert!(r.is_confirmation(), "{r:?}");
    assert_eq!(env.count("submissions"), 1);
    assert!(env.logged("submission_commit_reconciled_after_exception"));
}

#[tokio::test]
async fn unknown_routes_are_plain_404s_and_wrong_methods_405s() {
    // No front here (the server's directory has no front/build): only `/` says so (front.rs).
    let env = Env::start(Options::default());
    let c = testkit::spawn::client();
    assert_eq!(
        c.get(env.app.url("/index.html"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(env.app.url("/docs")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(env.app.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    for path in [DELEGACIONES, FACULTY] {
        for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
            assert_eq!(
                c.request(method.clone(), env.app.url(path))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        c.post(env.app.url("/registro/catalogo"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn the_origin_decides_the_redirect_host_with_referer_and_the_configured_front_as_fallbacks() {
    let env = Env::start(
        Options::default()
            .arg("--allowed-origins")
            .arg("http://localhost:5173,https://smmun.com")
            .arg("--frontend-url")
            .arg("https://front.example"),
    );
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("modalidad");
    let c = testkit::spawn::client();
    let cases = [
        (Some("https://smmun.com"), None, "https://smmun.com"),
        (
            Some("https://evil.example"),
            Some("http://localhost:5173/registro/delegaciones"),
            "http://localhost:5173",
        ),
        (Some("https://evil.example"), None, "https://front.example"),
        (None, None, "https://front.example"),
    ];
    for (origin, referer, want) in cases {
        let mut req = c
            .post(env.app.url(DELEGACIONES))
            .multipart(form.to_multipart());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let loc = res.headers()["location"].to_str().unwrap();
        assert!(
            loc.starts_with(&format!("{want}/registro/error/")),
            "{origin:?} {referer:?} → {loc}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios of reference/api.md §5.8

#[tokio::test]
async fn thirty_two_concurrent_posts_with_the_same_key_create_one_submission_and_all_confirm() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let results = join_all((0..32).map(|_| env.post(DELEGACIONES, &form))).await;
    let folios: std::collections::BTreeSet<_> = results
        .iter()
        .map(|r| {
            assert!(r.is_confirmation(), "{r:?}");
            r.folio().unwrap()
        })
        .collect();
    assert_eq!(folios.len(), 1, "every duplicate sees the same folio");
    assert_eq!(env.count("submissions"), 1);
    assert_eq!(env.count("outbox"), 1);
    // Losing duplicates remove their own upload; the single survivor is the committed one.
    assert_eq!(env.blob_files().len(), 1);
}

#[tokio::test]
async fn identical_posts_without_a_key_deduplicate_on_the_payload() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("idempotency_key");
    let a = env.post(DELEGACIONES, &form).await;
    let b = env.post(DELEGACIONES, &form).await;
    assert!(a.is_confirmation() && b.is_confirmation());
    assert_eq!(a.folio(), b.folio());
    assert_eq!(env.count("submissions"), 1);
    let fp = env.fingerprint_of(&form);
    assert_eq!(
        env.record_doc(&format!("delegacion:{fp}"))["idempotency_key"],
        fp
    );
}

#[tokio::test]
async fn two_tabs_with_their_own_keys_create_two_registrations() {
    let env = Env::start(Options::default());
    let a = FormFixture::individual(&env.catalog, &key(1));
    let b = a.clone().set("idempotency_key", &key(2));
    assert!(env.post(DELEGACIONES, &a).await.is_confirmation());
    assert!(env.post(DELEGACIONES, &b).await.is_confirmation());
    assert_eq!(env.count("submissions"), 2);
}

#[tokio::test]
async fn keys_are_namespaced_per_endpoint() {
    let env = Env::start(Options::default());
    assert!(
        env.post(
            DELEGACIONES,
            &FormFixture::individual(&env.catalog, &key(1))
        )
        .await
        .is_confirmation()
    );
    assert!(
        env.post(FACULTY, &FormFixture::faculty(&key(1), 4))
            .await
            .is_confirmation()
    );
    assert_eq!(env.count("submissions"), 2);
}

#[tokio::test]
async fn a_key_with_surrounding_spaces_is_the_same_key() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let a = env.post(DELEGACIONES, &form).await;
    let b = env
        .post(
            DELEGACIONES,
            &form
                .clone()
                .set("idempotency_key", &format!("  {}  ", key(1))),
        )
        .await;
    assert_eq!(a.folio(), b.folio());
    assert_eq!(env.count("submissions"), 1);
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never a 500, never a partial write

#[tokio::test]
async fn hostile_bodies_get_an_error_redirect_and_write_nothing() {
    let env = Env::start(Options::default());
    let c = testkit::spawn::client();
    let valid = FormFixture::individual(&env.catalog, &key(1));

    let mut ten_mib = pdf(10 * 1024 * 1024);
    ten_mib.truncate(10 * 1024 * 1024);
    let many_fields = (0..5000).fold(valid.clone(), |f, i| f.push(&format!("extra_{i}"), "x"));
    let huge = valid.clone().set("nombre_0", &"é".repeat(200_000));
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("not multipart", c.post(env.app.url(DELEGACIONES)).header("content-type", "application/x-www-form-urlencoded").body("modalidad=individual"), "formulario_mal_formado"),
        ("no content type", c.post(env.app.url(DELEGACIONES)).body("x"), "formulario_mal_formado"),
        ("truncated multipart", c.post(env.app.url(DELEGACIONES)).header("content-type", "multipart/form-data; boundary=XYZ").body("--XYZ\r\nContent-Disposition: form-data; name=\"modalidad\"\r\n\r\nindiv"), "formulario_mal_formado"),
        ("10 MiB receipt", c.post(env.app.url(DELEGACIONES)).multipart(valid.clone().file("recibo.pdf", Some("application/pdf"), ten_mib).to_multipart()), "comprobante_muy_grande"),
        ("a PDF named .png", c.post(env.app.url(DELEGACIONES)).multipart(valid.clone().file("recibo.png", Some("image/png"), pdf(4096)).to_multipart()), "comprobante_contenido_invalido"),
        ("an empty receipt", c.post(env.app.url(DELEGACIONES)).multipart(valid.clone().file("recibo.pdf", Some("application/pdf"), vec![]).to_multipart()), "comprobante_vacio"),
        ("5,000 fields", c.post(env.app.url(DELEGACIONES)).header("content-type", "multipart/form-data; boundary=B0UNDARY").body(many_fields.to_multipart_bytes("B0UNDARY")), "demasiados_campos"),
        ("a huge value", c.post(env.app.url(DELEGACIONES)).multipart(huge.to_multipart()), "campo_demasiado_largo"),
        ("invalid UTF-8", c.post(env.app.url(DELEGACIONES)).header("content-type", "multipart/form-data; boundary=XYZ").body(b"--XYZ\r\nContent-Disposition: form-data; name=\"nombre_0\"\r\n\r\n\xff\xfe\xfd\r\n--XYZ--\r\n".to_vec()), "utf8_invalido"),
        ("two receipts", c.post(env.app.url(DELEGACIONES)).multipart(valid.to_multipart().part("comprobante", reqwest::multipart::Part::bytes(pdf(100)).file_name("b.pdf").mime_str("application/pdf").unwrap())), "multiples_comprobantes"),
    ];
    for (name, req, code) in cases {
        let res = req
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{name}");
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            loc.starts_with(&format!("{ORIGIN}/registro/error/?code={code}&")),
            "{name}: {loc}"
        );
    }
    assert_eq!(env.count("submissions"), 0);
    assert_eq!(env.count("idempotency"), 0);
    assert!(env.blob_files().is_empty());
    assert!(
        !env.app.logs().iter().any(|l| l["severity"] == "ERROR"),
        "{}",
        env.app.logs_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Crash between upload and commit

#[tokio::test]
async fn a_crash_between_upload_and_commit_leaves_nothing_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bin = registro_bin();
    let mut crashing = testkit::spawn::Registro::spawn(
        &bin,
        dir.path(),
        &Options::default().env("REGISTRO_FAILPOINTS", "after_upload=abort"),
    );
    let catalog = testkit::forms::load_catalog(&testkit::forms::example_catalog_path());
    let form = FormFixture::individual(&catalog, &key(1));
    let res = testkit::spawn::client()
        .post(crashing.url(DELEGACIONES))
        .multipart(form.to_multipart())
        .send()
        .await;
    assert!(res.is_err(), "the process must die before answering");
    assert!(
        crashing
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some()
    );
    assert_eq!(
        blob_files_in(dir.path()).len(),
        1,
        "the crash happened after the upload"
    );
    drop(crashing);

    let env = Env::start_in(dir, Options::default());
    assert!(
        env.blob_files().is_empty(),
        "the startup sweep removes the orphan"
    );
    assert_eq!(env.count("submissions"), 0);
    assert!(env.logged("startup_orphan_sweep"));
    // The browser retries with the same key and is accepted exactly once.
    assert!(env.post(DELEGACIONES, &form).await.is_confirmation());
    assert_eq!(env.count("submissions"), 1);
    assert_eq!(env.blob_files().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Plumbing: catalog, health, request ids, CORS, rate limit, logs

#[tokio::test]
async fn the_catalog_is_served_as_json_for_the_front() {
    // The example always; the real catalog when REGISTRO_TEST_CATALOG names it.
    for catalog in testkit::forms::test_catalog_paths() {
        let env = Env::start(Options::default().catalog(catalog.clone()));
        let res = testkit::spawn::client()
            .get(env.app.url("/registro/catalogo"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v, env.catalog.public_json(), "{}", catalog.display());
        let comites = v["comites"].as_array().unwrap();
        assert_eq!(comites.len(), env.catalog.committees().len());
        let fia = comites.iter().find(|c| c["codigo"] == "FIA").unwrap();
        assert_eq!(fia["tipos_solo_individual"], serde_json::json!(["pilotos"]));
        let v0 = &fia["grupos"][0]["delegaciones"][0]["valor"];
        assert!(v0.as_str().unwrap().starts_with("FIA:"));
        // item 13: the form's fixed values come with the catalog.
        let f = &v["formulario"];
        assert_eq!(
            f["modalidades"],
            serde_json::json!(["individual", "pareja"])
        );
        assert_eq!(f["edad"], serde_json::json!({"min": 11, "max": 26}));
        assert_eq!(f["min_delegaciones"], 4);
    }
}

#[tokio::test]
async fn health_answers_ok() {
    let env = Env::start(Options::default());
    let res = testkit::spawn::client()
        .get(env.app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_when_plain_and_replaced_when_not() {
    let env = Env::start(Options::default());
    let c = testkit::spawn::client();
    let res = c
        .get(env.app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let hostile = "a".repeat(300);
    let res = c
        .get(env.app.url("/healthz"))
        .header("x-request-id", &hostile)
        .send()
        .await
        .unwrap();
    let got = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(got, hostile);
    assert_eq!(got.len(), 36, "a generated UUID");
}

#[tokio::test]
async fn cors_preflights_allow_configured_origins_only() {
    let env = Env::start(Options::default());
    let c = testkit::spawn::client();
    let pre = |origin: &'static str| {
        c.request(reqwest::Method::OPTIONS, env.app.url(DELEGACIONES))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = pre("http://localhost:5173").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let no = pre("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());

    // A static front on another origin reads the catalog with `fetch`: a GET.
    let catalog = env.app.url("/registro/catalogo");
    let pre = c
        .request(reqwest::Method::OPTIONS, &catalog)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    let methods = pre.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    for (origin, allowed) in [
        ("http://localhost:5173", true),
        ("https://evil.example", false),
    ] {
        let res = c
            .get(&catalog)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned()),
            allowed.then(|| origin.to_owned()),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn the_rate_limit_turns_excess_posts_into_a_keep_key_redirect() {
    let env = Env::start(Options::default().arg("--rate-limit-per-minute").arg("3"));
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("modalidad");
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(env.post(DELEGACIONES, &form).await.location);
    }
    assert!(codes[..3].iter().all(|l| l.contains("code=")) && !codes[2].contains("demasiadas"));
    assert!(
        codes[3].contains("keep_idempotency_key=1")
            && codes[3].contains("code=demasiadas_solicitudes")
    );
    assert!(env.logged("rate_limited"));
}

#[tokio::test]
async fn logs_are_cloud_logging_json_with_request_ids_and_no_personal_data() {
    let env = Env::start(Options::default());
    let form = FormFixture::pareja(&env.catalog, &key(1))
        .set("nombre_0", "Zacarías")
        .set("apellido_0", "Quiñonez")
        .set("correo_0", "zacarias.q@example.org")
        .set("celular_0", "+529998887766");
    assert!(env.post(DELEGACIONES, &form).await.is_confirmation());
    let bad = form.clone().set("edad_0", "99");
    assert!(!env.post(DELEGACIONES, &bad).await.is_confirmation());
    // Scan everything the pipeline logged too: wait until the worker has finished.
    assert!(
        env.app
            .wait_for_log(std::time::Duration::from_secs(20), |l| l["message"]
                == "submission_terminal_success")
            .is_some()
    );
    let text = env.app.logs_text();
    for secret in [
        "Zacarías",
        "Quiñonez",
        "zacarias.q",
        "9998887766",
        "recibo.pdf",
        "Contacto Ejemplo",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the logs");
    }
    let committed = env
        .app
        .wait_for_log(std::time::Duration::from_secs(5), |l| {
            l["message"] == "submission_committed"
        })
        .unwrap();
    assert_eq!(committed["severity"], "INFO");
    assert_eq!(committed["component"], "registro");
    assert!(
        committed["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(committed["submission_id"].as_str().is_some());
}
