//! The front's unit tests (`front/src/lib/*.test.ts`) run on what `GET /registro/catalogo`
//! serves for the example catalog, kept as `front/src/lib/testdata/catalogo.json` so they need
//! no server. This test keeps that file equal to the served JSON: a change to the catalog or to
//! `formulario` fails here until the file is regenerated with
//! `UPDATE_GOLDEN=1 cargo test -p domain --test front_catalog` (review the diff, then rerun the
//! front's tests).

use domain::Catalog;
use std::path::Path;

#[test]
fn the_fronts_test_catalog_is_what_the_api_serves() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../front/src/lib/testdata/catalogo.json");
    let served = Catalog::example().public_json();
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(&served).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let kept: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        kept == served,
        "{} differs from the served catalog; run `UPDATE_GOLDEN=1 cargo test -p domain --test \
         front_catalog`, review the diff and rerun the front's tests",
        path.display()
    );
}
