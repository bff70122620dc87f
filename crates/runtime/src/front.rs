//! The built static front (SvelteKit's static output, `front/build`) served by `registro serve`
//! at `/`, behind the API: it is the router's fallback, so every API route, receipt link and
//! trigger route keeps precedence and only paths nothing else claims reach the files.
//!
//! - `GET`/`HEAD` only (other methods: `405`); a directory path serves its `index.html`, and
//!   without its trailing slash redirects to it (`307`, query kept); an unknown path is a
//!   `404` with the front's `404.html` (an empty `404` without one). `tower_http::services::
//!   ServeDir` resolves paths: `..`, percent-encoded or not, never leaves the directory.
//! - Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!   strict-origin-when-cross-origin` and `X-Frame-Options: DENY`; the hashed assets under
//!   `/_app/immutable/` are cached for a year, everything else (HTML above all) is
//!   `no-cache`, so a new build is picked up at once.
//! - Without a built front, `GET /` answers a small page saying how to build it, and every
//!   other path stays a plain `404`.
//!
//! Files are not logged one by one: the fallback sits outside the API's request middleware.

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// Where `npm run build` in `front/` writes the site, relative to the current directory: the
/// front `registro serve` serves when `--front-dir` is not given.
pub const DEFAULT_DIR: &str = "front/build";
/// The file that makes a directory a built front.
const INDEX: &str = "index.html";
/// The front's own not-found page, served with status 404.
const NOT_FOUND_PAGE: &str = "404.html";
/// SvelteKit's content-hashed assets: a name never changes content.
const IMMUTABLE_PREFIX: &str = "/_app/immutable/";

/// How to build the front (configuration errors and the "not built" page).
pub const BUILD_HINT: &str =
    "scripts/serve builds it, or: cd front && npm ci && npm run build (Node 20)";

const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "no-cache";

/// Whether `dir` holds a built front (its `index.html`).
pub fn is_built(dir: &Path) -> bool {
    dir.join(INDEX).is_file()
}

/// `router` with the front as its fallback: the files of `dir`, or, without one, the
/// "front not built" page at `/`.
pub fn with_front(router: Router, dir: Option<&Path>) -> Router {
    let front = match dir {
        Some(dir) => {
            let files = ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .not_found_service(ServeFile::new(dir.join(NOT_FOUND_PAGE)));
            Router::new().fallback_service(files)
        }
        None => Router::new().fallback(not_built),
    };
    router.fallback_service(front.layer(axum::middleware::from_fn(headers)))
}

/// The security and cache headers of every answer of the front.
async fn headers(req: Request, next: Next) -> Response {
    let immutable = req.uri().path().starts_with(IMMUTABLE_PREFIX);
    let mut res = next.run(req).await;
    let status = res.status();
    // A missing asset's 404 must not be cached for a year.
    let cache = if immutable && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
        CACHE_IMMUTABLE
    } else {
        CACHE_REVALIDATE
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

const NOT_BUILT_PAGE: &str = concat!(
    "<!doctype html>\n",
    "<html lang=\"es\">\n",
    "<head><meta charset=\"utf-8\"><title>registro: front sin construir / front not built</title></head>\n",
    "<body>\n",
    "<h1>El front no está construido</h1>\n",
    "<p>Este servidor atiende la API, pero no encontró las páginas del formulario ",
    "(<code>front/build/index.html</code>). Para construirlas: <code>scripts/serve</code> ",
    "las construye y arranca el servidor, o <code>cd front &amp;&amp; npm ci &amp;&amp; npm run build</code> ",
    "(se necesita Node 20) y reinicia <code>registro serve</code> desde la raíz del repositorio ",
    "(o indica otra carpeta con <code>--front-dir</code>).</p>\n",
    "<h1>The front is not built</h1>\n",
    "<p>This server answers the API, but found no form pages ",
    "(<code>front/build/index.html</code>). To build them: <code>scripts/serve</code> builds ",
    "them and starts the server, or <code>cd front &amp;&amp; npm ci &amp;&amp; npm run build</code> ",
    "(Node 20 needed) and restart <code>registro serve</code> from the repository root ",
    "(or name another directory with <code>--front-dir</code>).</p>\n",
    "</body>\n",
    "</html>\n",
);

/// Without a built front: the page saying so at `/`, a plain 404 anywhere else.
async fn not_built(method: Method, uri: http::Uri) -> Response {
    if uri.path() != "/" || !(method == Method::GET || method == Method::HEAD) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; base-uri 'none'; form-action 'none'",
            ),
        ],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A fake build: the pages, one hashed asset, the 404 page.
    fn built() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (file, text) in [
            ("index.html", "<p>inicio</p>"),
            ("registro/error/index.html", "<p>error</p>"),
            ("_app/immutable/x.js", "export {}"),
            ("_app/version.json", "{\"version\":\"1\"}"),
            ("404.html", "<p>no existe</p>"),
        ] {
            std::fs::create_dir_all(p.join(file).parent().unwrap()).unwrap();
            std::fs::write(p.join(file), text).unwrap();
        }
        dir
    }

    /// An API route next to the front, to check it keeps precedence.
    fn app(dir: Option<&Path>) -> Router {
        let api = Router::new().route(
            "/registro/catalogo",
            axum::routing::get(|| async { "catalogo" }),
        );
        with_front(api, dir)
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, http::HeaderMap, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn the_build_is_served_with_its_index_pages_redirects_and_404_page() {
        let dir = built();
        let app = app(Some(dir.path()));
        let cases = [
            ("GET", "/", StatusCode::OK, "<p>inicio</p>"),
            ("HEAD", "/", StatusCode::OK, ""),
            ("GET", "/registro/error/", StatusCode::OK, "<p>error</p>"),
            (
                "GET",
                "/registro/error/?code=x",
                StatusCode::OK,
                "<p>error</p>",
            ),
            ("GET", "/_app/immutable/x.js", StatusCode::OK, "export {}"),
            ("GET", "/registro/catalogo", StatusCode::OK, "catalogo"),
            ("GET", "/nada", StatusCode::NOT_FOUND, "<p>no existe</p>"),
            (
                "GET",
                "/_app/immutable/y.js",
                StatusCode::NOT_FOUND,
                "<p>no existe</p>",
            ),
            ("POST", "/", StatusCode::METHOD_NOT_ALLOWED, ""),
            (
                "DELETE",
                "/registro/error/",
                StatusCode::METHOD_NOT_ALLOWED,
                "",
            ),
        ];
        for (method, uri, status, body) in cases {
            let (s, _, b) = call(&app, method, uri).await;
            assert_eq!((s, b.as_str()), (status, body), "{method} {uri}");
        }
        let (s, h, _) = call(&app, "GET", "/registro/error?code=x").await;
        assert_eq!(s, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(h[header::LOCATION], "/registro/error/?code=x");
        let (_, h, _) = call(&app, "GET", "/").await;
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_everything_else_revalidates() {
        let dir = built();
        let app = app(Some(dir.path()));
        for (uri, cache) in [
            ("/_app/immutable/x.js", CACHE_IMMUTABLE),
            ("/", CACHE_REVALIDATE),
            ("/registro/error/", CACHE_REVALIDATE),
            ("/registro/error", CACHE_REVALIDATE),
            ("/_app/version.json", CACHE_REVALIDATE),
            ("/_app/immutable/missing.js", CACHE_REVALIDATE),
            ("/nada", CACHE_REVALIDATE),
        ] {
            let (_, h, _) = call(&app, "GET", uri).await;
            assert_eq!(h[header::CACHE_CONTROL], cache, "{uri}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
            assert_eq!(
                h[header::REFERRER_POLICY],
                "strict-origin-when-cross-origin",
                "{uri}"
            );
            assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        }
        // The API's own answers are not the front's: no front headers added to them.
        let (_, h, _) = call(&app, "GET", "/registro/catalogo").await;
        assert!(h.get(header::X_FRAME_OPTIONS).is_none());
    }

    #[tokio::test]
    async fn paths_never_leave_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let front = root.path().join("build");
        std::fs::create_dir_all(front.join("registro")).unwrap();
        std::fs::write(front.join("index.html"), "<p>inicio</p>").unwrap();
        std::fs::write(root.path().join("secreto.txt"), "secreto").unwrap();
        let app = app(Some(&front));
        for uri in [
            "/../secreto.txt",
            "/registro/../../secreto.txt",
            "/%2e%2e/secreto.txt",
            "/registro/%2E%2E/%2e%2e/secreto.txt",
            "/..%2fsecreto.txt",
            "/%2e%2e%2fsecreto.txt",
            "/registro/..%5c..%5csecreto.txt",
        ] {
            let (s, _, b) = call(&app, "GET", uri).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
            assert!(!b.contains("secreto"), "{uri}");
        }
    }

    #[tokio::test]
    async fn without_a_build_only_the_root_says_so() {
        let app = app(None);
        let (s, h, b) = call(&app, "GET", "/").await;
        assert_eq!(s, StatusCode::OK);
        assert!(b.contains("cd front &amp;&amp; npm ci &amp;&amp; npm run build"));
        assert!(b.contains("scripts/serve") && b.contains("Node 20"));
        assert!(b.contains("no está construido") && b.contains("not built"));
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], CACHE_REVALIDATE);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        for (method, uri) in [
            ("GET", "/registro/error/"),
            ("GET", "/index.html"),
            ("GET", "/_app/immutable/x.js"),
            ("POST", "/"),
        ] {
            let (s, _, b) = call(&app, method, uri).await;
            assert_eq!(
                (s, b.as_str()),
                (StatusCode::NOT_FOUND, ""),
                "{method} {uri}"
            );
        }
        let (s, _, b) = call(&app, "GET", "/registro/catalogo").await;
        assert_eq!((s, b.as_str()), (StatusCode::OK, "catalogo"));
    }

    #[test]
    fn a_directory_is_built_when_it_holds_index_html() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_built(dir.path()));
        assert!(!is_built(&dir.path().join("nope")));
        std::fs::write(dir.path().join("index.html"), "").unwrap();
        assert!(is_built(dir.path()));
    }
}
