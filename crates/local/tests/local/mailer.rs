//! `FileMailer`: each e-mail becomes `<key>.eml` + `<key>.json`, idempotent per key like Resend.

use base64::Engine;
use domain::mail::{Email, MailKind};
use domain::ports::{Mailer, SideEffectError};
use local::FileMailer;
use std::collections::BTreeMap;
use std::path::Path;
use testkit::contract::submission_id;

fn email(key: &str) -> Email {
    // Long enough to need wrapped base64 lines, with non-ASCII text in every part.
    let text = format!(
        "¡Gracias por registrarte!\nFolio: {}\n{}",
        submission_id(1),
        "Línea con acentos: áéíóú ñ — ".repeat(20)
    );
    Email {
        kind: MailKind::Confirmation,
        from: "Secretaría de Finanzas SMMUN <secretariadefinanzas@smmun.com>".into(),
        to: vec!["ana@example.com".into(), "luis@example.com".into()],
        subject: "¡Gracias! - SMMUN 2026: Una Nueva Historia".into(),
        html: format!("<p>{}</p>", text.replace('\n', "<br>")),
        text,
        idempotency_key: key.into(),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A message split into its header fields and its body (RFC 5322 §2.1).
struct Parsed {
    headers: BTreeMap<String, String>,
    body: String,
}

fn parse_message(raw: &str) -> Parsed {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let mut headers = BTreeMap::new();
    for line in head.split("\r\n") {
        let (name, value) = line.split_once(':').expect("header field");
        assert!(
            headers
                .insert(name.trim().to_ascii_lowercase(), value.trim().to_owned())
                .is_none(),
            "duplicate header {name}"
        );
    }
    Parsed {
        headers,
        body: body.to_owned(),
    }
}

/// The value of a `; name="value"` parameter of a header.
fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.eq_ignore_ascii_case(name)).then(|| v.trim_matches('"').to_owned())
    })
}

fn decode_base64_body(body: &str) -> String {
    assert!(
        body.split("\r\n").all(|l| l.len() <= 76),
        "base64 lines are at most 76 characters"
    );
    let joined: String = body.split("\r\n").collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(joined.trim())
            .expect("valid base64"),
    )
    .expect("utf-8")
}

/// `=?UTF-8?B?…?=` or plain ASCII.
fn decode_header_word(value: &str) -> String {
    match value
        .strip_prefix("=?UTF-8?B?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(b64) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap(),
        None => value.to_owned(),
    }
}

#[tokio::test]
async fn sending_twice_with_the_same_key_returns_the_same_id_and_writes_one_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path()).unwrap();
    let key = format!("delegacion-confirmation/{}", submission_id(1));
    let first = mailer.send(&email(&key)).await.unwrap();
    let eml = dir
        .path()
        .join(format!("delegacion-confirmation__{}.eml", submission_id(1)));
    let written = std::fs::read(&eml).unwrap();

    let mut changed = email(&key);
    changed.text = "another body".into();
    let second = mailer.send(&changed).await.unwrap();
    assert_eq!(first, second, "the first message id comes back");
    assert!(first.starts_with("local-"), "{first}");
    assert_eq!(
        files(dir.path()).len(),
        2,
        "one .eml/.json pair, no temporary files: {:?}",
        files(dir.path())
    );
    assert_eq!(
        std::fs::read(&eml).unwrap(),
        written,
        "the first message is not rewritten"
    );

    let again = FileMailer::new(dir.path()).unwrap();
    assert_eq!(
        again.send(&email(&key)).await.unwrap(),
        first,
        "a new instance on the same directory knows it too"
    );
}

#[tokio::test]
async fn keys_with_slashes_map_to_double_underscores() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path()).unwrap();
    let id = submission_id(7);
    let key = format!("faculty-internal-notification/{id}");
    let message_id = mailer.send(&email(&key)).await.unwrap();

    let stem = format!("faculty-internal-notification__{id}");
    assert_eq!(
        files(dir.path()),
        [format!("{stem}.eml"), format!("{stem}.json")]
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{stem}.json"))).unwrap())
            .unwrap();
    assert_eq!(record["id"], message_id.as_str());
    assert_eq!(record["idempotency_key"], key.as_str());
    assert_eq!(record["eml"], format!("{stem}.eml").as_str());
    assert_eq!(
        record["to"],
        serde_json::json!(["ana@example.com", "luis@example.com"])
    );
}

#[tokio::test]
async fn the_eml_is_multipart_alternative_with_both_parts_in_base64() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path()).unwrap();
    let key = format!("delegacion-confirmation/{}", submission_id(1));
    let sent = email(&key);
    let message_id = mailer.send(&sent).await.unwrap();
    let raw = std::fs::read_to_string(
        dir.path()
            .join(format!("delegacion-confirmation__{}.eml", submission_id(1))),
    )
    .unwrap();
    assert!(
        raw.split("\r\n").all(|l| l.len() <= 998) && !raw.replace("\r\n", "").contains('\n'),
        "CRLF line endings, no over-long lines"
    );

    let message = parse_message(&raw);
    let h = &message.headers;
    assert_eq!(h["mime-version"], "1.0");
    assert_eq!(h["to"], "ana@example.com, luis@example.com");
    assert_eq!(decode_header_word(&h["subject"]), sent.subject);
    let (name, addr) = h["from"].split_once(" <").unwrap();
    assert_eq!(decode_header_word(name), "Secretaría de Finanzas SMMUN");
    assert_eq!(addr, "secretariadefinanzas@smmun.com>");
    assert_eq!(h["x-idempotency-key"], key);
    assert!(h["message-id"].contains(&message_id));
    assert!(
        chrono::DateTime::parse_from_rfc2822(&h["date"]).is_ok(),
        "{}",
        h["date"]
    );
    let content_type = &h["content-type"];
    assert!(
        content_type.starts_with("multipart/alternative;"),
        "{content_type}"
    );
    let boundary = parameter(content_type, "boundary").expect("boundary");

    let delimiter = format!("--{boundary}");
    let (preamble, rest) = message.body.split_once(&delimiter).expect("first part");
    assert_eq!(preamble, "");
    let (parts, epilogue) = rest
        .split_once(&format!("\r\n{delimiter}--"))
        .expect("closing delimiter");
    assert_eq!(epilogue, "\r\n");
    let parts: Vec<Parsed> = parts
        .split(&format!("\r\n{delimiter}"))
        .map(|p| parse_message(p.strip_prefix("\r\n").expect("CRLF after delimiter")))
        .collect();
    assert_eq!(parts.len(), 2, "text and HTML");
    for (part, mime, want) in [
        (&parts[0], "text/plain", &sent.text),
        (&parts[1], "text/html", &sent.html),
    ] {
        assert_eq!(
            part.headers["content-type"],
            format!("{mime}; charset=utf-8")
        );
        assert_eq!(part.headers["content-transfer-encoding"], "base64");
        assert_eq!(&decode_base64_body(&part.body), want, "{mime}");
    }
}

#[tokio::test]
async fn an_invalid_key_is_a_permanent_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path()).unwrap();
    for key in [
        "",
        "../escape",
        "a b",
        "dot.dot",
        "delegacion-confirmation/../../x",
        "ñ",
        "back\\slash",
    ] {
        match mailer.send(&email(key)).await {
            Err(SideEffectError::Permanent(_)) => {}
            other => panic!("{key:?}: expected a permanent error, got {other:?}"),
        }
    }
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn a_record_left_without_its_message_by_a_crash_gets_the_message_back_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path()).unwrap();
    let message = email("delegacion-confirmation/AAAAAAAAAAAAAAAAAAAA");
    let id = mailer.send(&message).await.unwrap();
    let stem = message.idempotency_key.replace('/', "__");
    let eml = dir.path().join(format!("{stem}.eml"));
    let first = std::fs::read_to_string(&eml).unwrap();
    std::fs::remove_file(&eml).unwrap();
    assert_eq!(
        mailer.send(&message).await.unwrap(),
        id,
        "still the first message id"
    );
    assert_eq!(
        std::fs::read_to_string(&eml).unwrap(),
        first,
        "the same message, restored"
    );
}
