//! Hardening of the HTTP front (issue items 4, 5, 8 and 15), against the real binary: read
//! timeouts, the whole-body limit and the shared body budget; rejections that reach a client
//! which writes its whole body before reading; part names kept out of the logs; malformed
//! parts refused. Raw TCP is used where a library client would hide the behaviour.

use crate::support::*;
use std::time::{Duration, Instant};
use testkit::forms::{FormFixture, pdf};
use testkit::spawn::Options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUNDARY: &str = "hardeningBoundary7MA4YWxkTrZu0gW";
const MIB: usize = 1024 * 1024;

fn text_part(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
            .into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

fn file_part(name: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// The form's text fields as parts (no receipt).
fn field_parts(form: &FormFixture) -> Vec<Vec<u8>> {
    form.fields
        .iter()
        .map(|(k, v)| text_part(k, v.as_bytes()))
        .collect()
}

fn body_of(parts: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out: Vec<u8> = parts.concat();
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn head(env: &Env, content_length: usize) -> String {
    format!(
        "POST {DELEGACIONES} HTTP/1.1\r\nHost: {}\r\nOrigin: {ORIGIN}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n",
        env.app.addr
    )
}

/// Like Python's `http.client`: writes the whole request, and only then reads the answer.
/// Returns the status and `Location`, or the I/O error the client saw.
async fn write_everything_then_read(env: &Env, body: &[u8]) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(env.app.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut request = head(env, body.len()).into_bytes();
    request.extend_from_slice(body);
    let exchange = async {
        s.write_all(&request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        parse_answer(&answer)
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .map_err(|_| "no answer within 60 s".to_owned())?
}

fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {:?}", &text[..text.len().min(200)]))?;
    let location = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Ok((status, location))
}

fn code_of(location: &str) -> &str {
    location
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap_or("")
}

fn valid_form(env: &Env, n: u32) -> FormFixture {
    FormFixture::individual(&env.catalog, &key(n))
}

fn receipt(bytes: &[u8]) -> Vec<u8> {
    file_part("comprobante", "comprobante.pdf", bytes)
}

// ---------------------------------------------------------------------------------------------
// Item 4: timeouts, whole-body limit, shared body budget

#[tokio::test]
async fn item_04_a_half_sent_request_header_is_closed_by_the_header_read_timeout() {
    let env = Env::start(Options::default());
    let mut s = TcpStream::connect(env.app.addr).await.unwrap();
    s.write_all(b"POST /registro/delegaciones HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after 20 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(15),
        "closed after {waited:?}, want about the 10 s header timeout"
    );
}

#[tokio::test]
async fn item_04_a_stalled_request_body_is_answered_after_the_body_idle_timeout() {
    let env = Env::start(Options::default());
    let form = valid_form(&env, 1);
    let mut parts = field_parts(&form);
    parts.push(receipt(&pdf(200_000)));
    let body = body_of(parts);
    let mut s = TcpStream::connect(env.app.addr).await.unwrap();
    s.write_all(head(&env, body.len()).as_bytes())
        .await
        .unwrap();
    // Half the body, then silence.
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(40), s.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still waiting for the body after 40 s");
    let (status, location) = parse_answer(&answer).expect("an answer");
    assert_eq!(status, 303, "{location}");
    assert_eq!(code_of(&location), "formulario_mal_formado", "{location}");
    assert!(env.logged("body_read_timeout"));
    assert_eq!(env.count("submissions"), 0);
}

#[tokio::test]
async fn item_04_a_body_larger_than_the_form_needs_is_refused_as_too_large() {
    let env = Env::start(Options::default());
    // 5 MiB receipt plus fields is what the form needs; 7 MiB of padding is not.
    let mut form = valid_form(&env, 1).file("c.pdf", Some("application/pdf"), pdf(100_000));
    let pad = "x".repeat(900_000);
    for i in 0..8 {
        form = form.push(&format!("relleno_{i}"), &pad);
    }
    let r = env.post(DELEGACIONES, &form).await;
    assert_eq!(r.status, 303);
    assert_eq!(code_of(&r.location), "cuerpo_demasiado_grande", "{r:?}");
    assert_eq!(env.count("submissions"), 0);
}

#[tokio::test]
async fn item_04_a_large_post_over_the_shared_body_budget_gets_the_busy_keep_key_page_while_small_posts_pass()
 {
    let env = Env::start(Options::default());
    // Ten uploads announcing the whole-body limit (6 MiB) stall after their first part; they
    // fill the share large bodies may use (48 of the 64 MiB budget).
    let declared = 6 * MIB;
    let mut holders = vec![];
    for _ in 0..10 {
        let mut s = TcpStream::connect(env.app.addr).await.unwrap();
        s.write_all(head(&env, declared).as_bytes()).await.unwrap();
        s.write_all(&text_part("idempotency_key", key(99).as_bytes()))
            .await
            .unwrap();
        holders.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The eleventh cannot get its share within the wait, is drained, and told to retry.
    let form = valid_form(&env, 1);
    let mut parts = field_parts(&form);
    parts.push(receipt(&pdf(5 * MIB)));
    let mut body = body_of(parts);
    body.resize(declared, b'\n');
    let (status, location) = write_everything_then_read(&env, &body)
        .await
        .expect("the busy answer reaches the client");
    assert_eq!(status, 303);
    assert_eq!(code_of(&location), "servidor_ocupado", "{location}");
    assert!(location.contains("keep_idempotency_key=1"), "{location}");
    assert!(env.logged("body_budget_exhausted"));
    // The last quarter of the budget stays open to ordinary posts meanwhile.
    let r = env.post(DELEGACIONES, &valid_form(&env, 3)).await;
    assert!(
        r.is_confirmation(),
        "a small post while the budget is full: {r:?}"
    );
    // When the stalled uploads go away their shares are returned: a normal post succeeds.
    drop(holders);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = env.post(DELEGACIONES, &valid_form(&env, 2)).await;
    assert!(r.is_confirmation(), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Item 5: every early rejection reaches a client that writes everything first

#[tokio::test]
async fn item_05_the_drained_early_rejection_seen_by_a_write_everything_first_client() {
    let env = Env::start(Options::default());
    // Each body carries megabytes after the point where it is rejected, more than the
    // socket buffers absorb, so an undrained rejection shows up as a broken pipe or reset.
    let tail = vec![b'a'; 4 * MIB];
    let small_receipt = receipt(&pdf(50_000));
    let fields = |n: u32| field_parts(&valid_form(&env, n));
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![];

    let mut p = fields(1);
    p.push(small_receipt.clone());
    p.push(receipt(&tail));
    cases.push(("a second receipt", body_of(p), "multiples_comprobantes"));

    let mut p = fields(2);
    p.push(small_receipt.clone());
    while p.len() < 1000 {
        p.push(text_part("relleno", b"x"));
    }
    p.push(text_part("relleno", &tail));
    cases.push(("1,001 parts", body_of(p), "demasiados_campos"));

    let mut p = fields(3);
    p.push(text_part("relleno", &tail));
    p.push(small_receipt.clone());
    cases.push((
        "a text part over 1 MiB",
        body_of(p),
        "campo_demasiado_largo",
    ));

    let mut p = fields(4);
    p.push(text_part("relleno", b"\xff\xfe\xfd"));
    p.push(receipt(&pdf(4 * MIB)));
    cases.push(("invalid UTF-8", body_of(p), "utf8_invalido"));

    let mut p = fields(5);
    p.push(file_part("otro_archivo", "otro.pdf", &tail));
    p.push(small_receipt.clone());
    cases.push(("an extra file part", body_of(p), "archivo_inesperado"));

    let mut p = fields(6);
    p.push(small_receipt.clone());
    p.push(text_part("relleno", &[b'b'; 900_000]));
    for _ in 0..7 {
        p.push(text_part("relleno", &[b'b'; 900_000]));
    }
    cases.push((
        "a body over the limit",
        body_of(p),
        "cuerpo_demasiado_grande",
    ));

    let mut failures = vec![];
    for (name, body, code) in cases {
        match write_everything_then_read(&env, &body).await {
            Ok((303, location)) if code_of(&location) == code => {}
            other => failures.push(format!("{name}: {other:?} (want a 303 with {code})")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(env.count("submissions"), 0);
}

// ---------------------------------------------------------------------------------------------
// Item 8: client-chosen part names never reach the logs

#[tokio::test]
async fn item_08_an_undeclared_part_name_is_logged_as_a_placeholder_with_its_length() {
    let env = Env::start(Options::default());
    // Raw, as a browser sends it (a library client might percent-encode the name).
    let name = "Juana Perez juana.perez@example.com";
    let mut parts = field_parts(&valid_form(&env, 1));
    parts.push(file_part(name, "x.pdf", &pdf(1000)));
    parts.push(receipt(&pdf(1000)));
    let (status, location) = write_everything_then_read(&env, &body_of(parts))
        .await
        .unwrap();
    assert_eq!(status, 303);
    assert_eq!(code_of(&location), "archivo_inesperado", "{location}");
    assert!(!location.contains("juana"), "{location}");
    let line = env
        .app
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "validation_failed" && l["code"] == "archivo_inesperado"
        })
        .expect("validation_failed logged");
    let want = format!("<undeclared:{}>", name.len());
    assert_eq!(line["field"], want.as_str(), "{line}");
    let logs = env.app.logs_text();
    assert!(!logs.contains("juana"), "a part name reached the logs");
    assert!(!logs.contains("Juana"), "a part name reached the logs");
}

// ---------------------------------------------------------------------------------------------
// Item 15: a part without Content-Disposition makes the body malformed

#[tokio::test]
async fn item_15_a_part_without_content_disposition_gets_the_invalid_form_page() {
    let env = Env::start(Options::default());
    let mut parts = field_parts(&valid_form(&env, 1));
    parts.push(receipt(&pdf(10_000)));
    parts.push(format!("--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nhola\r\n").into_bytes());
    let body = body_of(parts);
    let (status, location) = write_everything_then_read(&env, &body).await.unwrap();
    assert_eq!(status, 303);
    assert_eq!(code_of(&location), "formulario_mal_formado", "{location}");
    assert_eq!(env.count("submissions"), 0);
    // The same body without the nameless part is accepted: the part alone decided.
    let mut parts = field_parts(&valid_form(&env, 1));
    parts.push(receipt(&pdf(10_000)));
    let (_, location) = write_everything_then_read(&env, &body_of(parts))
        .await
        .unwrap();
    assert!(location.contains("/registro/confirmacion/"), "{location}");
}
