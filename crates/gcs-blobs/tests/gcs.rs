//! The Cloud Storage blobs on fake-gcs-server: the `Blobs` contract suite every backend passes,
//! what an upload stores besides the bytes, listings longer than the API's page, and signed
//! receipt URLs (their shape offline, and a download through one from the emulator).
//!
//! Runs when `STORAGE_EMULATOR_HOST` is set (fake-gcs-server started with `-scheme http
//! -public-host <host:port>`, so path-style signed URLs resolve); skips otherwise, unless
//! `REGISTRO_REQUIRE_EMULATORS=1` (`.ci/run`), which makes a missing emulator a failure. Each
//! test gets a bucket of its own, so they share one emulator and run in parallel. The tests that
//! need no emulator (signing is offline, an unreachable endpoint) always run.

use domain::ports::{BlobError, Blobs};
use gcs_blobs::config::{BUCKET_VAR, EMULATOR_VAR, PROJECT_VAR};
use gcs_blobs::{DEFAULT_TTL, Disposition, GcsBlobs, GcsConfig, ReceiptUrlSigner};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::contract::{BlobsUnderTest, SAMPLE_PDF, sha256_hex};

fn emulator() -> bool {
    testkit::emulators::storage()
}

/// The settings a deployment would read, with a fresh bucket created on the emulator.
async fn fresh_bucket() -> GcsConfig {
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    let config = GcsConfig::from_lookup(|k| match k {
        BUCKET_VAR => Some(bucket.clone()),
        _ => std::env::var(k).ok(),
    })
    .expect("settings from the environment");
    let endpoint = config
        .emulator_endpoint
        .clone()
        .expect("the guard checked the emulator");
    let project = config.project.as_deref().unwrap_or("demo-registro");
    let created = reqwest::Client::new()
        .post(format!("{endpoint}/storage/v1/b?project={project}"))
        .json(&serde_json::json!({ "name": bucket }))
        .send()
        .await
        .expect("create a bucket on the emulator");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    config
}

async fn make_blobs() -> BlobsUnderTest {
    let config = fresh_bucket().await;
    BlobsUnderTest {
        blobs: Arc::new(GcsBlobs::connect(&config).await.expect("connect")),
        keep_alive: None,
    }
}

mod blobs_contract {
    testkit::blobs_contract_tests!(guard = super::emulator; super::make_blobs);
}

/// Percent-encodes an object name as one URL path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What operators verify a receipt with: the SHA-256 as custom metadata, next to the service's
/// own CRC32C, which matches the bytes'. (The content type is checked on the wire, in
/// `an_upload_is_one_create_only_request_…`: fake-gcs-server takes it from the media part's
/// `Content-Type` header, which the client library does not send, instead of the metadata,
/// where Cloud Storage reads it.)
#[tokio::test]
async fn a_stored_object_carries_its_sha256_and_a_matching_crc32c() {
    if !emulator() {
        return;
    }
    let config = fresh_bucket().await;
    let blobs = GcsBlobs::connect(&config).await.unwrap();
    let name = "uploads/faculty/T0000000000000000007.png";
    let bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR receipt";
    let sha = sha256_hex(bytes);
    blobs
        .put_new(name, bytes, "image/png", &sha.to_uppercase())
        .await
        .expect("the SHA-256 is compared without regard to case");

    let endpoint = config.emulator_endpoint.as_deref().unwrap();
    let meta: serde_json::Value = reqwest::get(format!(
        "{endpoint}/storage/v1/b/{}/o/{}",
        config.bucket,
        segment(name)
    ))
    .await
    .unwrap()
    .error_for_status()
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        meta["metadata"],
        serde_json::json!({ "sha256": sha }),
        "lowercase hex, the only custom metadata: {meta}"
    );
    assert_eq!(meta["size"], bytes.len().to_string(), "{meta}");
    use base64::Engine;
    let crc = base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(bytes).to_be_bytes());
    assert_eq!(meta["crc32c"], crc.as_str(), "{meta}");
    assert_eq!(blobs.get(name).await.unwrap(), bytes);
}

#[tokio::test]
async fn a_listing_of_1203_objects_pages_in_name_order_without_gaps_or_repeats() {
    if !emulator() {
        return;
    }
    let config = fresh_bucket().await;
    let blobs = GcsBlobs::connect(&config).await.unwrap();
    let started = Instant::now();
    let mut names: Vec<String> = (0..1203)
        .map(|n| {
            let folder = ["delegaciones", "faculty"][n % 2];
            format!("uploads/{folder}/T{:019}.pdf", n * 7919 % 1203)
        })
        .collect();
    let sha = sha256_hex(SAMPLE_PDF);
    let mut uploads = tokio::task::JoinSet::new();
    for chunk in names.chunks(100) {
        let (blobs, chunk, sha) = (blobs.clone(), chunk.to_vec(), sha.clone());
        uploads.spawn(async move {
            for name in chunk {
                blobs
                    .put_new(&name, SAMPLE_PDF, "application/pdf", &sha)
                    .await
                    .expect("put_new");
            }
        });
    }
    while let Some(done) = uploads.join_next().await {
        done.expect("upload task");
    }
    let uploaded = started.elapsed();
    names.sort();

    // Pages of 500 through the cursor: 500, 500, 203, then nothing.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let page = blobs.list("uploads/", after.as_deref(), 500).await.unwrap();
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        assert!(page.iter().all(|b| b.size == SAMPLE_PDF.len() as u64));
        seen.extend(page.into_iter().map(|b| b.name));
    }
    assert_eq!(sizes, [500, 500, 203, 0]);
    assert_eq!(seen, names, "every object once, in name order");

    // One call past the JSON API's 1000-object page follows its page token.
    let all = blobs.list("uploads/", None, 5000).await.unwrap();
    assert_eq!(all.len(), 1203);
    assert!(all.iter().map(|b| &b.name).eq(names.iter()));

    // A prefix narrows it; the cursor still applies.
    let faculty: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("uploads/faculty/"))
        .collect();
    let page = blobs
        .list("uploads/faculty/", Some(faculty[99].as_str()), 50)
        .await
        .unwrap();
    assert!(
        page.iter()
            .map(|b| &b.name)
            .eq(faculty[100..150].iter().copied())
    );
    eprintln!(
        "1203 uploads in {uploaded:?}, listings in {:?}",
        started.elapsed() - uploaded
    );
}

/// A service-account key JSON with a fresh RSA key, as a key file holds it.
fn service_account_key(email: &str) -> serde_json::Value {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use base64::Engine;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("generate an RSA key");
    let der = AsDer::<Pkcs8V1Der>::as_der(&pair).expect("PKCS#8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    serde_json::json!({
        "type": "service_account",
        "project_id": "demo-registro",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": "http://127.0.0.1:1/token",
    })
}

const SIGNER_EMAIL: &str = "registro@demo-registro.iam.gserviceaccount.com";

fn query(url: &reqwest::Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_signed_receipt_url_is_a_v4_url_with_its_expiry_disposition_and_type() {
    let config = GcsConfig::from_lookup(|k| match k {
        BUCKET_VAR => Some("smmun-comprobantes".into()),
        _ => None,
    })
    .unwrap();
    let signer =
        ReceiptUrlSigner::from_service_account_json(&config, service_account_key(SIGNER_EMAIL))
            .unwrap();
    assert_eq!(signer.ttl(), DEFAULT_TTL);
    assert_eq!(DEFAULT_TTL, Duration::from_secs(600));
    let before = chrono::Utc::now();
    let signed = signer
        .signed_get(
            "uploads/delegaciones/T0000000000000000001.pdf",
            Disposition::Attachment,
            "comprobante-T0000000000000000001.pdf",
            "application/pdf",
        )
        .await
        .unwrap();
    let url = reqwest::Url::parse(&signed).unwrap();
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some("storage.googleapis.com"));
    assert_eq!(
        url.path(),
        "/smmun-comprobantes/uploads/delegaciones/T0000000000000000001.pdf"
    );
    let q = query(&url);
    assert_eq!(q["X-Goog-Algorithm"], "GOOG4-RSA-SHA256");
    let day = before.format("%Y%m%d").to_string();
    assert_eq!(
        q["X-Goog-Credential"],
        format!("{SIGNER_EMAIL}/{day}/auto/storage/goog4_request")
    );
    let date = chrono::NaiveDateTime::parse_from_str(&q["X-Goog-Date"], "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    assert!((date - before).num_seconds().abs() <= 60, "{date}");
    assert_eq!(q["X-Goog-Expires"], "600");
    assert_eq!(q["X-Goog-SignedHeaders"], "host");
    let signature = &q["X-Goog-Signature"];
    assert_eq!(signature.len(), 512, "an RSA-2048 signature in hex");
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        q["response-content-disposition"],
        "attachment; filename=\"comprobante-T0000000000000000001.pdf\""
    );
    assert_eq!(q["response-content-type"], "application/pdf");

    // Another lifetime and an inline disposition; a lifetime V4 does not allow is refused.
    let hour = signer.clone().with_ttl(Duration::from_secs(3600)).unwrap();
    let signed = hour
        .signed_get(
            "uploads/x.png",
            Disposition::Inline,
            "recibo.png",
            "image/png",
        )
        .await
        .unwrap();
    let q = query(&reqwest::Url::parse(&signed).unwrap());
    assert_eq!(q["X-Goog-Expires"], "3600");
    assert_eq!(
        q["response-content-disposition"],
        "inline; filename=\"recibo.png\""
    );
    assert!(
        signer
            .clone()
            .with_ttl(Duration::from_secs(8 * 24 * 3600))
            .is_err()
    );
    assert!(signer.clone().with_ttl(Duration::ZERO).is_err());

    // A bad object name or content type is refused before signing, without quoting the name.
    let e = signer
        .signed_get("bad\nname", Disposition::Inline, "x", "application/pdf")
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Permanent(_)) && !e.to_string().contains("bad"));
    let e = signer
        .signed_get("uploads/x.pdf", Disposition::Inline, "x", "pdf")
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Permanent(_)), "{e:?}");
}

#[test]
fn a_malformed_service_account_key_is_refused() {
    let config = GcsConfig::from_lookup(|k| (k == BUCKET_VAR).then(|| "bucket".into())).unwrap();
    let e = ReceiptUrlSigner::from_service_account_json(&config, serde_json::json!({"x": 1}))
        .unwrap_err();
    assert!(matches!(e, gcs_blobs::GcsError::Credentials(_)), "{e:?}");
}

#[tokio::test]
async fn a_signed_url_on_the_emulator_downloads_the_receipt() {
    if !emulator() {
        return;
    }
    let config = fresh_bucket().await;
    let blobs = GcsBlobs::connect(&config).await.unwrap();
    let name = "uploads/delegaciones/T0000000000000000002.pdf";
    blobs
        .put_new(name, SAMPLE_PDF, "application/pdf", &sha256_hex(SAMPLE_PDF))
        .await
        .unwrap();
    let signer =
        ReceiptUrlSigner::from_service_account_json(&config, service_account_key(SIGNER_EMAIL))
            .unwrap();
    let signed = signer
        .signed_get(
            name,
            Disposition::Attachment,
            "comprobante.pdf",
            "application/pdf",
        )
        .await
        .unwrap();
    let endpoint = config.emulator_endpoint.as_deref().unwrap();
    assert!(
        signed.starts_with(&format!("{endpoint}/{}/", config.bucket)),
        "points at the emulator, path style: {signed}"
    );
    let response = reqwest::get(&signed).await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "is fake-gcs-server running with -public-host {}?",
        endpoint.trim_start_matches("http://")
    );
    assert_eq!(response.bytes().await.unwrap(), SAMPLE_PDF);
}

#[tokio::test]
async fn an_unreachable_storage_is_unavailable_and_errors_never_name_the_object() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = GcsConfig::from_lookup(|k| match k {
        BUCKET_VAR => Some("bucket".into()),
        EMULATOR_VAR => Some(closed.to_string()),
        PROJECT_VAR => Some("demo-registro".into()),
        _ => None,
    })
    .unwrap();
    let blobs = GcsBlobs::connect(&config)
        .await
        .unwrap()
        .with_retry_time_limit(Duration::from_millis(500));
    let name = "uploads/older system/Ana García Núñez.pdf";
    let results = [
        blobs
            .put_new(name, SAMPLE_PDF, "application/pdf", &sha256_hex(SAMPLE_PDF))
            .await
            .map(drop),
        blobs.get(name).await.map(drop),
        blobs.delete(name).await,
        blobs
            .list("uploads/older system/", Some(name), 10)
            .await
            .map(drop),
    ];
    for result in results {
        let e = result.unwrap_err();
        assert!(matches!(e, BlobError::Unavailable(_)), "{e:?}");
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains("García") && !text.contains("older"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// On the wire: a stand-in for Cloud Storage's JSON API that records each request, answers an
// upload with the object it describes (its CRC32C computed from the bytes received, as the
// service does), and answers every request with `fail` when set, with an error body that
// quotes the object name as Cloud Storage's do.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct WireFake {
    endpoint: String,
    requests: Arc<std::sync::Mutex<Vec<Recorded>>>,
    fail: Arc<std::sync::atomic::AtomicU16>,
}

impl WireFake {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let fail = Arc::new(std::sync::atomic::AtomicU16::new(0));
        let (r, f) = (Arc::clone(&requests), Arc::clone(&fail));
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (r, f) = (Arc::clone(&r), Arc::clone(&f));
                tokio::spawn(async move {
                    let _ = serve_connection(conn, r, f).await;
                });
            }
        });
        Self {
            endpoint,
            requests,
            fail,
        }
    }

    fn fail_with(&self, status: u16) {
        self.fail.store(status, std::sync::atomic::Ordering::SeqCst);
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    async fn blobs(&self) -> GcsBlobs {
        let config = GcsConfig::from_lookup(|k| match k {
            BUCKET_VAR => Some("bucket".into()),
            EMULATOR_VAR => Some(self.endpoint.clone()),
            _ => None,
        })
        .unwrap();
        GcsBlobs::connect(&config).await.unwrap()
    }
}

/// HTTP/1.1 requests on one connection, until the client closes it.
async fn serve_connection(
    conn: tokio::net::TcpStream,
    requests: Arc<std::sync::Mutex<Vec<Recorded>>>,
    fail: Arc<std::sync::atomic::AtomicU16>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut conn = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            conn.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                conn.read_line(&mut size).await?;
                let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                conn.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            conn.read_exact(&mut body).await?;
        }
        let recorded = Recorded {
            method,
            target,
            headers,
            body,
        };
        requests.lock().unwrap().push(recorded.clone());
        let (status, answer) = answer(&recorded, fail.load(std::sync::atomic::Ordering::SeqCst));
        let answer = answer.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        conn.get_mut().write_all(answer.as_bytes()).await?;
    }
}

fn answer(request: &Recorded, fail: u16) -> (u16, serde_json::Value) {
    if fail != 0 {
        return (
            fail,
            serde_json::json!({"error": {
                "code": fail,
                "message": "No such object: bucket/uploads/older system/Ana García Núñez.pdf",
                "errors": [{"message": "uploads/older system/Ana García Núñez.pdf"}],
            }}),
        );
    }
    let Some((metadata, media)) = multipart(request) else {
        return (
            400,
            serde_json::json!({"error": {"code": 400, "message": "not an upload"}}),
        );
    };
    let crc = crc32c::crc32c(&media);
    use base64::Engine;
    let mut object = metadata.clone();
    object["bucket"] = "bucket".into();
    object["generation"] = "7".into();
    object["metageneration"] = "1".into();
    object["size"] = media.len().to_string().into();
    object["crc32c"] = base64::engine::general_purpose::STANDARD
        .encode(crc.to_be_bytes())
        .into();
    object["timeCreated"] = "2026-12-05T08:46:18.322292Z".into();
    (200, object)
}

/// The metadata part (JSON) and the media part of a `multipart/related` upload.
fn multipart(request: &Recorded) -> Option<(serde_json::Value, Vec<u8>)> {
    let boundary = request.header("content-type")?.split("boundary=").nth(1)?;
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let body = &request.body;
    let mut parts = Vec::new();
    let mut rest = &body[..];
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        parts.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    // parts[0] is the preamble; each part is "\r\n<headers>\r\n\r\n<content>\r\n".
    let content = |part: &[u8]| {
        let start = find(part, b"\r\n\r\n")? + 4;
        Some(part[start..part.len().checked_sub(2)?].to_vec())
    };
    let metadata = serde_json::from_slice(&content(parts.get(1)?)?).ok()?;
    Some((metadata, content(parts.get(2)?)?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn an_upload_is_one_create_only_request_with_its_type_sha256_and_crc32c_up_front() {
    let fake = WireFake::start().await;
    let blobs = fake.blobs().await;
    let name = "uploads/delegaciones/T0000000000000000003.pdf";
    let sha = sha256_hex(SAMPLE_PDF);
    blobs
        .put_new(name, SAMPLE_PDF, "application/pdf", &sha)
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let upload = &requests[0];
    assert_eq!(upload.method, "POST");
    let url = reqwest::Url::parse(&format!("{}{}", fake.endpoint, upload.target)).unwrap();
    assert_eq!(url.path(), "/upload/storage/v1/b/bucket/o");
    let q = query(&url);
    assert_eq!(q["uploadType"], "multipart", "one request, not resumable");
    assert_eq!(q["ifGenerationMatch"], "0", "create-only");
    assert_eq!(q["name"], name);
    assert_eq!(
        upload.header("authorization"),
        None,
        "no credentials on the emulator"
    );

    let (metadata, media) = multipart(upload).expect("a multipart upload");
    assert_eq!(media, SAMPLE_PDF);
    assert_eq!(metadata["contentType"], "application/pdf", "{metadata}");
    assert_eq!(metadata["metadata"]["sha256"], sha.as_str(), "{metadata}");
    use base64::Engine;
    let crc =
        base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(SAMPLE_PDF).to_be_bytes());
    assert_eq!(
        metadata["crc32c"],
        crc.as_str(),
        "the checksum travels with the upload, so Cloud Storage verifies it: {metadata}"
    );

    // A SHA-256 that does not match the bytes sends nothing.
    let e = blobs
        .put_new(name, SAMPLE_PDF, "application/pdf", &sha256_hex(b"other"))
        .await
        .unwrap_err();
    assert!(matches!(e, BlobError::Permanent(_)), "{e:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn service_errors_are_classified_and_never_quote_the_object_name() {
    let fake = WireFake::start().await;
    let blobs = fake.blobs().await.with_retry_time_limit(Duration::ZERO);
    let name = "uploads/older system/Ana García Núñez.pdf";
    let sha = sha256_hex(SAMPLE_PDF);

    #[derive(Debug, PartialEq)]
    enum Class {
        Done,
        AlreadyExists,
        NotFound,
        Unavailable,
        Permanent,
    }
    fn class<T>(r: Result<T, BlobError>) -> Class {
        match r {
            Ok(_) => Class::Done,
            Err(BlobError::AlreadyExists) => Class::AlreadyExists,
            Err(BlobError::NotFound) => Class::NotFound,
            Err(BlobError::Unavailable(m)) | Err(BlobError::Permanent(m))
                if m.contains("García") || m.contains("older") =>
            {
                panic!("the message quotes the object: {m}")
            }
            Err(BlobError::Unavailable(_)) => Class::Unavailable,
            Err(BlobError::Permanent(_)) => Class::Permanent,
        }
    }
    use Class::*;
    // status: put_new, get, delete, list
    let table = [
        (412, [AlreadyExists, Permanent, Done, Permanent]),
        (404, [Permanent, NotFound, Done, Permanent]),
        (400, [Permanent, Permanent, Permanent, Permanent]),
        (401, [Permanent, Permanent, Permanent, Permanent]),
        (403, [Permanent, Permanent, Permanent, Permanent]),
        (408, [Unavailable, Unavailable, Unavailable, Unavailable]),
        (429, [Unavailable, Unavailable, Unavailable, Unavailable]),
        (500, [Unavailable, Unavailable, Unavailable, Unavailable]),
        (503, [Unavailable, Unavailable, Unavailable, Unavailable]),
    ];
    for (status, expected) in table {
        fake.fail_with(status);
        let got = [
            class(
                blobs
                    .put_new(name, SAMPLE_PDF, "application/pdf", &sha)
                    .await,
            ),
            class(blobs.get(name).await),
            class(blobs.delete(name).await),
            class(blobs.list("uploads/", Some(name), 10).await),
        ];
        assert_eq!(got, expected, "HTTP {status}");
    }
}
