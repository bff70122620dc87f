//! The whole pipeline on `registro serve`, end to end: accept → publish → worker → sheet row +
//! e-mails, under crashes injected at every step and restarts, with duplicate and conflicting
//! posts. The promise checked: exactly one sheet row and one confirmation e-mail per accepted
//! submission, none lost, none twice, all `completed`.

use crate::support::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::forms::FormFixture;
use testkit::spawn::{Options, Registro, Spawned};

#[derive(Clone)]
struct Item {
    path: &'static str,
    form: FormFixture,
    /// Expected to be accepted (false for the conflicting posts).
    accept: bool,
}

fn plan(env_catalog: &domain::Catalog) -> Vec<Item> {
    let mut originals = Vec::new();
    for i in 0..200u32 {
        let k = key(50_000 + i);
        let (path, form) = match i % 20 {
            0..=11 => (
                DELEGACIONES,
                FormFixture::individual(env_catalog, &k).set("nombre_0", &format!("Persona{i}")),
            ),
            12..=16 => (
                DELEGACIONES,
                FormFixture::pareja(env_catalog, &k).set("nombre_0", &format!("Persona{i}")),
            ),
            _ => (FACULTY, FormFixture::faculty(&k, 4 + (i as usize % 3))),
        };
        originals.push(Item {
            path,
            form,
            accept: true,
        });
    }
    let mut items = originals.clone();
    // 20% posted twice (a double click or a network retry), after the first post.
    items.extend(originals.iter().step_by(5).cloned());
    // 5% conflicting: the same key with another payload (back button, edit, resubmit).
    items.extend(originals.iter().skip(2).step_by(20).map(|o| {
        let field = if o.path == FACULTY {
            "nombre_faculty"
        } else {
            "apellido_0"
        };
        Item {
            path: o.path,
            form: o.form.clone().set(field, "Editado"),
            accept: false,
        }
    }));
    items
}

fn csv_ids(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    let mut r = csv_reader(&text);
    r.records()
        .map(|rec| rec.unwrap().iter().next_back().unwrap().to_owned())
        .collect()
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
}

fn spawn_phase(dir: &Path, failpoints: &str) -> Registro {
    let opts = Options::default().env("REGISTRO_FAILPOINTS", failpoints);
    match Registro::try_spawn(&registro_bin(), dir, &opts) {
        Spawned::Running(r) => r,
        Spawned::Exited { code, stderr } => panic!("serve exited ({code:?}): {stderr}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_submissions_survive_a_crash_at_every_step_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = testkit::forms::load_catalog(&testkit::forms::example_catalog_path());
    let items = plan(&catalog);
    let total_posts = items.len();
    let mut queue: VecDeque<Item> = items.into();
    let mut folios: BTreeMap<String, u32> = BTreeMap::new();
    let mut rotated = 0usize;
    let phases = [
        "after_upload=abort@7",
        "after_commit=abort@7",
        "after_publish=abort@9",
        "after_sheet_write=abort@9",
        "after_email_send=abort@9",
        "worker_mid_lease=abort@9",
        "",
    ];
    let mut crashes = 0;
    for (n, phase) in phases.iter().enumerate() {
        let mut app = spawn_phase(dir.path(), phase);
        let last = n == phases.len() - 1;
        'posting: while !queue.is_empty() {
            let batch: Vec<Item> = (0..8).filter_map(|_| queue.pop_front()).collect();
            let results = futures_util::future::join_all(
                batch
                    .iter()
                    .map(|it| try_post(&app, it.path, &it.form, None)),
            )
            .await;
            let mut dropped = false;
            for (item, r) in batch.into_iter().zip(results) {
                match r {
                    Ok(p) => {
                        assert_eq!(p.status, 303, "{p:?}");
                        if let Some(f) = p.folio() {
                            assert!(item.accept, "a conflicting post was accepted: {p:?}");
                            *folios.entry(f).or_default() += 1;
                        } else if p.location.contains("rotate_idempotency_key=1") {
                            assert!(!item.accept, "{p:?}");
                            rotated += 1;
                        } else {
                            // keep-key errors (the store was busy recovering): retry later.
                            assert!(p.location.contains("keep_idempotency_key=1"), "{p:?}");
                            queue.push_back(item);
                        }
                    }
                    // The server died mid-request: the browser retries with the same key.
                    Err(_) => {
                        dropped = true;
                        queue.push_front(item);
                    }
                }
            }
            if dropped {
                assert!(
                    app.wait_exit(Duration::from_secs(10)).is_some(),
                    "phase {phase}: requests dropped but the process lives"
                );
                crashes += 1;
                break 'posting;
            }
        }
        if !last {
            // Pipeline-side failpoints fire after the posts: give them time, then crash anyway.
            if app.wait_exit(Duration::from_secs(8)).is_some() {
                if queue.is_empty() || crashes < n + 1 {
                    crashes += 1;
                }
            } else {
                app.kill();
            }
        } else {
            // Final, clean run: wait until every submission is completed.
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let env_done = count_status(dir.path(), "completed");
                if env_done == 200 || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            drop(app);
        }
    }
    assert!(
        crashes >= 5,
        "the failpoints must actually have crashed the process ({crashes})"
    );

    // Every accepted submission: exactly once everywhere.
    let accepted: BTreeSet<String> = folios.keys().cloned().collect();
    assert_eq!(accepted.len(), 200, "each unique form accepted once");
    assert_eq!(rotated, 10, "each conflicting post asked for a new key");
    assert!(folios.values().sum::<u32>() as usize >= total_posts - 10);
    let db = rusqlite::Connection::open(dir.path().join("registro.sqlite3")).unwrap();
    let stored: BTreeSet<String> = db
        .prepare("SELECT id FROM submissions")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored, accepted, "nothing lost, nothing extra");
    assert_eq!(count_status(dir.path(), "completed"), 200, "all completed");

    let sheets = dir.path().join("sheets");
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    for id in csv_ids(&sheets.join("delegaciones.csv"))
        .into_iter()
        .chain(csv_ids(&sheets.join("faculty.csv")))
    {
        *rows.entry(id).or_default() += 1;
    }
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        accepted,
        "one sheet row per submission"
    );
    assert!(
        rows.values().all(|n| *n == 1),
        "no duplicate sheet row: {:?}",
        rows.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let mut delegates: BTreeMap<String, usize> = BTreeMap::new();
    for id in csv_ids(&sheets.join("faculty_delegaciones.csv")) {
        *delegates.entry(id).or_default() += 1;
    }
    for (id, n) in &delegates {
        let want: usize = db
            .query_row("SELECT json_extract(doc, '$.data.numero_delegaciones') FROM submissions WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        assert_eq!(*n, want, "faculty {id}: one row per delegate, once");
    }

    let mail: Vec<String> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    for id in &accepted {
        let confirmations = mail
            .iter()
            .filter(|n| n.contains("-confirmation__") && n.contains(id.as_str()))
            .count();
        let internal = mail
            .iter()
            .filter(|n| n.contains("-internal-notification__") && n.contains(id.as_str()))
            .count();
        assert_eq!((confirmations, internal), (1, 1), "{id}");
        // The checkpoint records the message the mailer actually wrote.
        let doc: String = db
            .query_row("SELECT doc FROM submissions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let cp = &doc["worker_checkpoints"]["resend_confirmation"];
        assert_eq!(cp["status"], "completed");
        let file = mail
            .iter()
            .find(|n| n.contains("-confirmation__") && n.contains(id.as_str()))
            .unwrap();
        let sent: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("mail").join(file)).unwrap(),
        )
        .unwrap();
        assert_eq!(cp["external_id"], sent["id"]);
    }
    assert_eq!(blob_files_in(dir.path()).len(), 200, "no orphan receipts");
}

fn count_status(dir: &Path, status: &str) -> usize {
    let db = rusqlite::Connection::open(dir.join("registro.sqlite3")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM submissions WHERE status = ?1",
        [status],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

#[tokio::test]
async fn a_mailer_that_fails_for_a_while_ends_with_the_email_sent() {
    let env = Env::start(Options::default().env("REGISTRO_FAILPOINTS", "mailer_send=error*4"));
    let r = env
        .post(
            DELEGACIONES,
            &FormFixture::individual(&env.catalog, &key(1)),
        )
        .await;
    let folio = r.folio().expect("accepted");
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.submission_doc(&folio)["status"] != "completed" {
        assert!(
            Instant::now() < deadline,
            "not completed: {}",
            env.submission_doc(&folio)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doc = env.submission_doc(&folio);
    assert!(
        doc["worker_attempt_count"].as_i64().unwrap() >= 3,
        "retried: {doc}"
    );
    // Lines arrive in order: once the success line is in, every failure line is too.
    assert!(env.logged("submission_terminal_success"));
    let failures = env
        .app
        .logs()
        .iter()
        .filter(|l| l["message"] == "worker_checkpoint_failed")
        .count();
    assert_eq!(failures, 4);
    assert!(
        env.dir
            .path()
            .join(format!("mail/delegacion-confirmation__{folio}.json"))
            .exists()
    );
    assert_eq!(
        csv_ids(&env.dir.path().join("sheets/delegaciones.csv")),
        vec![folio]
    );
}

#[tokio::test]
async fn a_submission_that_exhausts_its_attempts_fails_and_admin_retry_finishes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = testkit::forms::load_catalog(&testkit::forms::example_catalog_path());
    let env = Env::start_in(
        dir,
        Options::default()
            .env("REGISTRO_FAILPOINTS", "mailer_send=error*100")
            .arg("--worker-max-attempts")
            .arg("3"),
    );
    let folio = env
        .post(DELEGACIONES, &FormFixture::individual(&catalog, &key(1)))
        .await
        .folio()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.submission_doc(&folio)["status"] != "failed" {
        assert!(
            Instant::now() < deadline,
            "never failed: {}",
            env.submission_doc(&folio)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doc = env.submission_doc(&folio);
    assert_eq!(doc["worker_attempt_count"], 3);
    assert_eq!(doc["worker_checkpoints"]["sheets"]["status"], "completed");
    assert_eq!(
        doc["worker_checkpoints"]["resend_confirmation"]["status"],
        "failed"
    );
    assert!(doc["error_message"].as_str().unwrap().contains("injected"));
    let Env { app, dir, .. } = env;
    drop(app);

    // The outage is over: restart, and the operator re-drives it while the server runs.
    let app = Registro::spawn(&registro_bin(), dir.path(), &Options::default());
    let admin = |args: &[&str]| {
        std::process::Command::new(registro_bin())
            .arg("admin")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let failed = admin(&["list", "--status", "failed", "--json"]);
    assert!(failed.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(listed[0]["submission_id"], folio.as_str());
    assert_eq!(listed[0]["status"], "failed");
    assert!(listed[0]["created_at"].is_string() && listed[0]["type"] == "delegacion");
    let retried = admin(&["retry", &folio]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(String::from_utf8_lossy(&retried.stdout).contains("resend_confirmation"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = admin(&["show", &folio]);
        let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        if v["submission"]["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "not completed after retry: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        csv_ids(&dir.path().join("sheets/delegaciones.csv")),
        vec![folio.clone()],
        "the sheet row is not repeated"
    );
    assert!(
        dir.path()
            .join(format!("mail/delegacion-confirmation__{folio}.json"))
            .exists()
    );
    let not_failed = admin(&["retry", &folio]);
    assert!(
        !not_failed.status.success(),
        "only failed submissions can be retried"
    );
    let export = admin(&["export", "--csv"]);
    assert!(export.status.success());
    let text = String::from_utf8(export.stdout).unwrap();
    assert!(text.lines().count() == 2 && text.contains(&folio) && text.contains("completed"));
    drop(app);
}

#[tokio::test]
async fn the_sheet_links_to_a_stable_receipt_url_that_hands_out_a_short_lived_signed_one() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(1));
    let sent = form.file.clone().unwrap().bytes;
    let folio = env.post(DELEGACIONES, &form).await.folio().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.submission_doc(&folio)["status"] != "completed" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The sheet row's last cell before the id is the stable link.
    let text = std::fs::read_to_string(env.dir.path().join("sheets/delegaciones.csv")).unwrap();
    let mut r = csv_reader(&text);
    let row = r.records().next().unwrap().unwrap();
    let link = row.iter().rev().nth(1).unwrap().to_owned();
    assert!(
        link.starts_with(&env.app.url(&format!("/comprobantes/{folio}?k="))),
        "{link}"
    );

    let c = testkit::spawn::client();
    let res = c.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let signed = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        signed.starts_with(&format!("/comprobantes/{folio}/archivo?exp="))
            && signed.contains("&sig=")
    );
    let file = c.get(env.app.url(&signed)).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.unwrap().to_vec(), sent);

    let tampered = signed.replacen("sig=", "sig=00", 1);
    assert_eq!(
        c.get(env.app.url(&tampered)).send().await.unwrap().status(),
        403
    );
    let other = signed.replace(&folio, "AAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        c.get(env.app.url(&other)).send().await.unwrap().status(),
        403
    );
    // The folio alone (which the attendee sees) opens nothing, nor does a wrong key.
    let bare = env.app.url(&format!("/comprobantes/{folio}"));
    assert_eq!(c.get(&bare).send().await.unwrap().status(), 403);
    let wrong_key = link.replacen("?k=", "?k=00", 1);
    assert_eq!(c.get(&wrong_key).send().await.unwrap().status(), 403);
}
