//! The built front served by `registro serve` at `/` (runtime's `front`): its pages, headers and
//! redirects, the API keeping precedence, same-origin redirects of form posts, the `GET` on the
//! form endpoints, and the two ways of having no front (a bad `--front-dir` stops the server;
//! no build at all gets the "not built" page).

use crate::support::*;
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::path::Path;
use testkit::forms::FormFixture;
use testkit::spawn::{Options, Registro, Spawned};

/// What `npm run build` leaves in `front/build`, in small.
const FAKE_BUILD: &[(&str, &str)] = &[
    ("index.html", "<!doctype html><p>inicio</p>"),
    ("registro/index.html", "<!doctype html><p>registro</p>"),
    (
        "registro/delegaciones/index.html",
        "<!doctype html><p>delegaciones</p>",
    ),
    (
        "registro/faculty/index.html",
        "<!doctype html><p>faculty</p>",
    ),
    ("registro/error/index.html", "<!doctype html><p>error</p>"),
    ("_app/immutable/x.js", "export const x = 1;"),
    ("_app/version.json", "{\"version\":\"1\"}"),
    ("404.html", "<!doctype html><p>no existe</p>"),
];

fn write_build(dir: &Path) {
    for (file, text) in FAKE_BUILD {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A server with the fake build as `--front-dir`, a file beside the build (which must stay
/// out of reach), and the directory holding both.
fn start_with_front() -> (Env, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let build = root.path().join("build");
    write_build(&build);
    std::fs::write(root.path().join("secreto.txt"), "secreto").unwrap();
    let env = Env::start(
        Options::default()
            .arg("--front-dir")
            .arg(build.to_str().unwrap()),
    );
    (env, root)
}

/// One raw HTTP/1.1 GET with the target exactly as given (an HTTP client would normalise
/// `..` and `%2e%2e` away before sending): the status code and the body.
fn raw_get(app: &Registro, target: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        app.addr
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_built_front_is_served_at_the_root_with_its_pages_redirects_and_404_page() {
    let (env, _root) = start_with_front();
    let c = testkit::spawn::client();
    for (path, body) in [
        ("/", "<p>inicio</p>"),
        ("/registro/", "<p>registro</p>"),
        ("/registro/delegaciones/", "<p>delegaciones</p>"),
        ("/registro/faculty/", "<p>faculty</p>"),
        ("/registro/error/", "<p>error</p>"),
        (
            "/registro/error/?code=edad_invalida&form=delegaciones",
            "<p>error</p>",
        ),
        ("/_app/immutable/x.js", "export const x = 1;"),
        ("/_app/version.json", "{\"version\":\"1\"}"),
    ] {
        let res = c.get(env.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let text = res.text().await.unwrap();
        assert!(text.ends_with(body), "{path}: {text}");
    }
    let res = c.get(env.app.url("/")).send().await.unwrap();
    assert!(header(&res, "content-type").starts_with("text/html"));

    // A directory without its trailing slash goes to the slash form, query kept.
    let res = c
        .get(env.app.url("/registro/error?code=x&form=faculty"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        header(&res, "location"),
        "/registro/error/?code=x&form=faculty"
    );

    // Unknown paths: the front's 404 page, with status 404.
    for path in ["/nada", "/registro/nada/", "/_app/immutable/borrado.js"] {
        let res = c.get(env.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.text().await.unwrap(), "<!doctype html><p>no existe</p>");
    }
    // Only GET and HEAD read files.
    let res = c.head(env.app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = c
        .post(env.app.url("/registro/error/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Files are not logged one by one (the API's request lines are).
    assert!(env.logged("front_served"));
    let logs = env.app.logs_text();
    assert!(!logs.contains("front_not_built"));
    assert!(!logs.contains("/_app/immutable/x.js"), "{logs}");
}

#[tokio::test]
async fn front_answers_carry_the_security_headers_and_only_hashed_assets_are_cached() {
    let (env, _root) = start_with_front();
    let c = testkit::spawn::client();
    for (path, cache) in [
        (
            "/_app/immutable/x.js",
            "public, max-age=31536000, immutable",
        ),
        ("/", "no-cache"),
        ("/registro/error/", "no-cache"),
        ("/registro/error", "no-cache"),
        ("/_app/version.json", "no-cache"),
        ("/_app/immutable/borrado.js", "no-cache"),
        ("/nada", "no-cache"),
    ] {
        let res = c.get(env.app.url(path)).send().await.unwrap();
        assert_eq!(header(&res, "cache-control"), cache, "{path}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            header(&res, "referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{path}");
    }
}

#[tokio::test]
async fn no_path_reaches_a_file_outside_the_front_directory() {
    let (env, root) = start_with_front();
    assert!(root.path().join("secreto.txt").is_file());
    assert_eq!(
        raw_get(&env.app, "/index.html").0,
        200,
        "the raw client works"
    );
    for target in [
        "/../secreto.txt",
        "/registro/../../secreto.txt",
        "/%2e%2e/secreto.txt",
        "/%2E%2E/secreto.txt",
        "/registro/%2e%2e/%2e%2e/secreto.txt",
        "/%2e%2e%2fsecreto.txt",
        "/..%2fsecreto.txt",
        "/_app/immutable/..%2f..%2f..%2fsecreto.txt",
    ] {
        let (status, body) = raw_get(&env.app, target);
        assert!(
            status == 404 || status == 400,
            "{target}: {status} {body:?}"
        );
        assert!(!body.contains("secreto"), "{target}: {body:?}");
    }
}

#[tokio::test]
async fn the_api_keeps_its_routes_next_to_the_front() {
    let (env, _root) = start_with_front();
    let c = testkit::spawn::client();
    let res = c
        .get(env.app.url("/registro/catalogo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type").starts_with("application/json"));
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v, env.catalog.public_json());
    let res = c.get(env.app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
    // A receipt link is the links router's, not a file of the front.
    let res = c
        .get(env.app.url("/comprobantes/FA5qj0aE0yv0ohSnnLHt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The trigger routes too (a loopback caller gets in).
    let res = c.post(env.app.url("/sweep")).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    // A browser landing on a form endpoint goes to the form page of this same host.
    for (path, page) in [
        (DELEGACIONES, "/registro/delegaciones/"),
        (FACULTY, "/registro/faculty/"),
    ] {
        let res = c.get(env.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(header(&res, "location"), page);
        let res = c.put(env.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn a_form_posted_from_the_served_front_is_sent_back_to_the_same_origin() {
    let (env, _root) = start_with_front();
    let here = env.app.base_url.clone();
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("modalidad");
    let c = testkit::spawn::client();
    for (origin, referer) in [
        (Some(here.as_str()), None),
        (None, Some(format!("{here}/registro/delegaciones/"))),
    ] {
        let mut req = c
            .post(env.app.url(DELEGACIONES))
            .multipart(form.to_multipart());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = &referer {
            req = req.header("referer", r);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let location = header(&res, "location");
        assert!(
            location.starts_with(&format!("{here}/registro/error/")),
            "{origin:?} {referer:?} → {location}"
        );
    }
    // A foreign origin still gets the configured front.
    let res = c
        .post(env.app.url(DELEGACIONES))
        .header("origin", "https://evil.example")
        .multipart(form.to_multipart())
        .send()
        .await
        .unwrap();
    let location = header(&res, "location");
    assert!(
        location.starts_with("http://localhost:8080/registro/error/"),
        "{location}"
    );
}

#[tokio::test]
async fn a_named_front_directory_without_index_html_stops_the_server() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let named = empty.path().to_str().unwrap();
    for opts in [
        Options::default().arg("--front-dir").arg(named),
        Options::default().env("REGISTRO_FRONT_DIR", named),
        Options::default()
            .arg("--front-dir")
            .arg("/nonexistent/front/build"),
    ] {
        match Registro::try_spawn(&registro_bin(), data.path(), &opts) {
            Spawned::Running(_) => panic!("a front without index.html must not start: {opts:?}"),
            Spawned::Exited { code, stderr } => {
                assert_eq!(code, Some(2), "{stderr}");
                assert!(stderr.contains("REGISTRO_FRONT_DIR"), "{stderr}");
                assert!(stderr.contains("--front-dir"), "{stderr}");
                assert!(stderr.contains("index.html"), "{stderr}");
            }
        }
    }
}

#[tokio::test]
async fn without_a_built_front_the_root_says_how_to_build_it() {
    // The server runs in its data directory, which has no front/build.
    let env = Env::start(Options::default());
    let c = testkit::spawn::client();
    let res = c.get(env.app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let page = res.text().await.unwrap();
    for needle in [
        "no está construido",
        "not built",
        "scripts/serve",
        "cd front &amp;&amp; npm ci &amp;&amp; npm run build",
        "Node 20",
    ] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    for path in [
        "/registro/error/",
        "/index.html",
        "/_app/immutable/x.js",
        "/nada",
    ] {
        let res = c.get(env.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.text().await.unwrap(), "", "{path}");
    }
    // Logged once, as a warning.
    assert!(env.logged("front_not_built"));
    let warnings: Vec<_> = env
        .app
        .logs()
        .into_iter()
        .filter(|l| l["message"] == "front_not_built")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["severity"], "WARNING");

    // Without a front here, the form endpoints' GET and the posts go to the configured front.
    let res = c.get(env.app.url(DELEGACIONES)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        header(&res, "location"),
        "http://localhost:8080/registro/delegaciones/"
    );
    let form = FormFixture::individual(&env.catalog, &key(1)).remove("modalidad");
    let res = c
        .post(env.app.url(DELEGACIONES))
        .header("origin", &env.app.base_url)
        .multipart(form.to_multipart())
        .send()
        .await
        .unwrap();
    let location = header(&res, "location");
    assert!(
        location.starts_with("http://localhost:8080/registro/error/"),
        "{location}"
    );
}

#[tokio::test]
async fn the_default_front_build_under_the_current_directory_is_served() {
    let cwd = tempfile::tempdir().unwrap();
    write_build(&cwd.path().join("front/build"));
    let env = Env::start(Options::default().cwd(cwd.path()));
    let c = testkit::spawn::client();
    let res = c.get(env.app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "<!doctype html><p>inicio</p>");
    let res = c.get(env.app.url(FACULTY)).send().await.unwrap();
    assert_eq!(header(&res, "location"), "/registro/faculty/");
    assert!(env.logged("front_served"));
}
