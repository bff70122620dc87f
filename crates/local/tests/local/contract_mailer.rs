//! `FileMailer` against the `Mailer` contract of `testkit::contract`. Faults go through
//! `FaultyMailer`; what was delivered is read back from the `.json` records and their `.eml`.

use domain::ports::Mailer;
use local::FileMailer;
use std::path::Path;
use std::sync::Arc;
use testkit::contract::{DeliveredMail, FaultyMailer, MailerUnderTest};

/// Whether the `.eml` has a non-empty `mime` part.
fn has_part(eml: &str, mime: &str) -> bool {
    let head =
        format!("Content-Type: {mime}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    eml.split_once(&head)
        .and_then(|(_, rest)| rest.split_once("\r\n--"))
        .is_some_and(|(body, _)| !body.trim().is_empty())
}

/// Every message recorded in `dir`: a `.json` record is written last, so it means "sent".
fn delivered(dir: &Path) -> Vec<DeliveredMail> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("mail dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("record")).expect("JSON record");
        let text = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
        let eml = std::fs::read_to_string(dir.join(text("eml"))).unwrap_or_default();
        out.push(DeliveredMail {
            idempotency_key: record["idempotency_key"].as_str().map(str::to_owned),
            id: text("id"),
            to: record["to"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            subject: text("subject"),
            has_text: has_part(&eml, "text/plain"),
            has_html: has_part(&eml, "text/html"),
        });
    }
    out
}

async fn make_mailer() -> MailerUnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail_dir = dir.path().join(local::MAIL_DIR);
    let mailer = FileMailer::new(&mail_dir).expect("open mailer");
    let faulty = FaultyMailer::new(Arc::new(mailer) as Arc<dyn Mailer>);
    MailerUnderTest {
        fail_next: faulty.fail_next_hook(),
        mailer: faulty,
        delivered: Box::new(move || {
            let dir = mail_dir.clone();
            Box::pin(async move { delivered(&dir) })
        }),
        keep_alive: Some(Box::new(dir)),
    }
}

testkit::mailer_contract_tests!(make_mailer);
