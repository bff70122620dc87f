//! Property test over real HTTP: generated forms, valid and hostile alike, always get a 303
//! (never a 5xx), and what was written always matches what the browser was told.

use crate::support::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use testkit::forms::{FormFixture, PNG, pdf};
use testkit::spawn::Options;

#[derive(Debug, Clone)]
enum Mutation {
    /// Set a field (declared or not) to an arbitrary value.
    Set(String, String),
    /// Add a duplicate occurrence of a field.
    Dup(String, String),
    Remove(String),
    /// Replace the receipt.
    File(String, Option<String>, Vec<u8>),
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "modalidad",
            "delegacion_oficial",
            "nombre_delegacion_oficial",
            "nombre_0",
            "apellido_0",
            "edad_0",
            "celular_0",
            "correo_0",
            "escolaridad_0",
            "escuela_0",
            "comite_0",
            "comite_1",
            "comite_0_pais_0",
            "comite_2_pais_2",
            "edad_1",
            "correo_1",
            "idempotency_key",
            "info_extra_0",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}[0-9]?",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,3}",
        "\\PC{0,40}",
        "[ -~]{0,200}",
        prop::sample::select(vec![
            "individual",
            "pareja",
            "si",
            "no",
            "SOCHUM",
            "Crisis",
            "FIA:DHL",
            "17",
            "26",
            "11"
        ])
        .prop_map(str::to_owned),
        (1usize..3000).prop_map(|n| "ñ".repeat(n)),
    ]
}

fn file() -> impl Strategy<Value = (String, Option<String>, Vec<u8>)> {
    let names = prop::sample::select(vec![
        "r.pdf", "r.png", "R.JPG", "r.heic", "r", "r.exe", ".pdf",
    ]);
    let types = prop::option::of(prop::sample::select(vec![
        "application/pdf",
        "image/png",
        "image/jpeg",
        "application/octet-stream",
        "",
    ]));
    let bytes = prop_oneof![
        Just(pdf(1000)),
        Just(PNG.to_vec()),
        Just(vec![]),
        prop::collection::vec(any::<u8>(), 0..2000),
    ];
    (names, types, bytes).prop_map(|(n, t, b)| (n.to_owned(), t.map(str::to_owned), b))
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (field_name(), value()).prop_map(|(k, v)| Mutation::Set(k, v)),
        2 => (field_name(), value()).prop_map(|(k, v)| Mutation::Dup(k, v)),
        2 => field_name().prop_map(Mutation::Remove),
        1 => file().prop_map(|(n, t, b)| Mutation::File(n, t, b)),
    ]
}

#[test]
fn generated_forms_always_get_a_redirect_and_never_a_partial_write() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = Env::start(Options::default());
    let confirmed = std::cell::RefCell::new(BTreeSet::new());
    let counter = std::cell::Cell::new(0u32);
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(muts in prop::collection::vec(mutation(), 0..6), pareja in any::<bool>(), truncate in prop::option::of(1usize..400))| {
        counter.set(counter.get() + 1);
        let k = key(10_000 + counter.get());
        let mut form = if pareja { FormFixture::pareja(&env.catalog, &k) } else { FormFixture::individual(&env.catalog, &k) };
        for m in muts {
            form = match m {
                Mutation::Set(n, v) => form.set(&n, &v),
                Mutation::Dup(n, v) => form.push(&n, &v),
                Mutation::Remove(n) => form.remove(&n),
                Mutation::File(n, t, b) => form.file(&n, t.as_deref(), b),
            };
        }
        let mut body = form.to_multipart_bytes("PROPBOUNDARY");
        if let Some(cut) = truncate {
            body.truncate(body.len().saturating_sub(cut));
        }
        let res = rt.block_on(async {
            testkit::spawn::client()
                .post(env.app.url(DELEGACIONES))
                .header("origin", ORIGIN)
                .header("content-type", "multipart/form-data; boundary=PROPBOUNDARY")
                .body(body)
                .send()
                .await
        }).expect("the server always answers");
        prop_assert_eq!(res.status().as_u16(), 303);
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        prop_assert!(loc.starts_with(ORIGIN));
        if let Some(folio) = (Posted { status: 303, location: loc.clone() }).folio() {
            confirmed.borrow_mut().insert(folio);
        } else {
            prop_assert!(loc.contains("/registro/error/?"), "{}", loc);
        }
    });
    let confirmed = confirmed.into_inner();
    assert!(
        !confirmed.is_empty(),
        "some generated forms must be valid, or the test proves little"
    );
    assert_eq!(env.count("submissions"), confirmed.len() as u64);
    assert_eq!(env.count("outbox"), confirmed.len() as u64);
    assert_eq!(env.blob_files().len(), confirmed.len());
    assert!(
        !env.app.logs().iter().any(|l| l["severity"] == "ERROR"),
        "no input is an internal error"
    );
}
