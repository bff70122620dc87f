//! Receipt links on the real server: the key they are signed with survives restarts and
//! rotation (hardening item 3), and what they serve cannot be turned against the organizer's
//! browser (item 7).

use crate::support::*;
use std::time::Duration;
use testkit::forms::{FileFixture, FormFixture};
use testkit::spawn::{Options, Registro, Spawned};

/// The path and query of the stable link in the sheet row of the (only) submission.
fn sheet_link_path(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(dir.join("sheets/delegaciones.csv")).unwrap();
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let row = r.records().next().unwrap().unwrap();
    let link = row.iter().rev().nth(1).unwrap().to_owned();
    let at = link.find("/comprobantes/").expect("a receipt link");
    link[at..].to_owned()
}

#[tokio::test]
async fn item_03_a_lost_or_corrupt_link_key_stops_the_server_and_rotation_keeps_old_links() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let folio = env.post(DELEGACIONES, &form).await.folio().unwrap();
    wait_status(&env, &folio, "completed").await;
    let link = sheet_link_path(env.dir.path());
    let Env { app, dir, .. } = env;
    drop(app);
    let key_file = dir.path().join("link-secret");
    let key = std::fs::read(&key_file).unwrap();

    for (what, content) in [("missing", None), ("empty", Some(Vec::new()))] {
        match content {
            None => std::fs::remove_file(&key_file).unwrap(),
            Some(c) => std::fs::write(&key_file, c).unwrap(),
        }
        match Registro::try_spawn(&registro_bin(), dir.path(), &Options::default()) {
            Spawned::Running(_) => panic!("{what} key: the server must not start"),
            Spawned::Exited { code, stderr } => {
                assert_ne!(code, Some(0), "{what}");
                assert!(
                    stderr.contains("link-secret") && stderr.contains("backup"),
                    "{what}: {stderr}"
                );
            }
        }
    }
    std::fs::write(&key_file, &key).unwrap();

    let rotated = admin(dir.path(), &["rotate-link-key"]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert_ne!(std::fs::read(&key_file).unwrap(), key, "a new key");
    let app = Registro::spawn(&registro_bin(), dir.path(), &Options::default());
    let c = testkit::spawn::client();
    let res = c.get(app.url(&link)).send().await.unwrap();
    assert_eq!(res.status(), 303, "the link in the sheet still opens");
    let signed = res.headers()["location"].to_str().unwrap().to_owned();
    let file = c.get(app.url(&signed)).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.bytes().await.unwrap().to_vec(),
        form.file.unwrap().bytes
    );
}

#[tokio::test]
async fn item_07_an_html_polyglot_is_refused_and_receipts_are_served_inert_and_logged() {
    let env = Env::start(Options::default());
    let mut polyglot = FormFixture::individual(&env.catalog, &key(1));
    polyglot.file = Some(FileFixture {
        filename: "recibo.pdf".into(),
        content_type: Some("application/pdf".into()),
        bytes: b"<!doctype html><!-- %PDF-1.4 --><script>alert(document.domain)</script>".to_vec(),
    });
    let refused = env.post(DELEGACIONES, &polyglot).await;
    assert!(
        refused
            .location
            .contains("code=comprobante_contenido_invalido"),
        "{refused:?}"
    );

    let form = FormFixture::individual(&env.catalog, &key(2));
    let folio = env.post(DELEGACIONES, &form).await.folio().unwrap();
    wait_status(&env, &folio, "completed").await;
    let c = testkit::spawn::client();
    let res = c
        .get(env.app.url(&sheet_link_path(env.dir.path())))
        .send()
        .await
        .unwrap();
    let signed = res.headers()["location"].to_str().unwrap().to_owned();
    let file = c.get(env.app.url(&signed)).send().await.unwrap();
    assert_eq!(file.status(), 200);
    let h = file.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"comprobante-{folio}.pdf\"").as_str()
    );
    assert!(
        env.app
            .wait_for_log(Duration::from_secs(5), |l| l["message"]
                == "receipt_downloaded"
                && l["submission_id"] == folio.as_str())
            .is_some(),
        "each download is logged with the id"
    );
}
