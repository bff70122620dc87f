//! The tab of its own that the organizers' Google Sheet gets for each faculty registration
//! (reference/pipeline.md §3.3 step 3), made safe (its §11 items 1 and 11).
//!
//! The older system titled the tab `"<institución>_<unix seconds>"` and wrote it with
//! `USER_ENTERED` into the unquoted range `<title>!A:A`, so a quote, a `!`, an A1-looking name,
//! an over-long or a duplicate title failed the submission, a retry created a second tab, and
//! cells starting with `=` became formulas. Here:
//! - the title is built from the institution with the characters that break ranges or that
//!   spreadsheet programs refuse removed, cut to fit Sheets' 100-character limit, and ended
//!   with the submission id, so it is unique per submission and the same on every retry;
//! - the tab's sheet id is derived from the submission id too, so a retry finds the tab it
//!   created (an adapter creates tab and rows in one `batchUpdate`);
//! - the cells are the typed [`Cell`]s every other row uses, written RAW;
//! - one more line than the reference, `Folio:` with the submission id, says which
//!   registration the tab belongs to.

use crate::SubmissionId;
use crate::model::FacultyData;
use crate::sheets::{Cell, lugar};

/// Sheets refuses longer tab titles. Counted in UTF-16 units, as Sheets counts them.
pub const MAX_TITLE_UNITS: usize = 100;

/// Characters never kept in a title: `'` and `!` break A1 ranges, the rest are refused by
/// spreadsheet programs when the document is exported (`[]*?:/\`).
const REMOVED: &[char] = &['\'', '!', '[', ']', '*', '?', ':', '/', '\\'];

/// `"<institución, cleaned>_<submission id>"`, at most [`MAX_TITLE_UNITS`] UTF-16 units.
/// Removed characters and runs of whitespace or control characters become one space; leading
/// and trailing spaces and dots go. An institution with nothing left gives `faculty_<id>`.
pub fn title(institucion: &str, id: &SubmissionId) -> String {
    let mut cleaned = String::new();
    let mut gap = false;
    for c in institucion.chars() {
        if c.is_whitespace() || c.is_control() || REMOVED.contains(&c) {
            gap = true;
            continue;
        }
        if gap && !cleaned.is_empty() {
            cleaned.push(' ');
        }
        gap = false;
        cleaned.push(c);
    }
    let suffix = format!("_{id}");
    let budget = MAX_TITLE_UNITS - suffix.encode_utf16().count();
    let mut units = 0;
    let mut name = String::new();
    for c in cleaned.chars() {
        units += c.len_utf16();
        if units > budget {
            break;
        }
        name.push(c);
    }
    let name = name.trim_matches(|c: char| c == ' ' || c == '.');
    let name = if name.is_empty() { "faculty" } else { name };
    format!("{name}{suffix}")
}

/// The tab's sheet id: a positive 31-bit number derived from the submission id (FNV-1a), never
/// 0 (the id of a spreadsheet's first tab).
pub fn sheet_id(id: &SubmissionId) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    match i32::try_from(h & 0x7fff_ffff) {
        Ok(0) | Err(_) => 1,
        Ok(n) => n,
    }
}

/// The tab's rows, as the reference lays them out, with the `Folio:` line added.
pub fn rows(f: &FacultyData, date: &str, receipt_link: &str, id: &SubmissionId) -> Vec<Vec<Cell>> {
    let t = |s: &str| Cell::Text(s.to_owned());
    let p = &f.faculty;
    let mut rows = vec![
        vec![t(&f.institucion)],
        vec![
            t("Nombre:"),
            Cell::Text(format!("{} {}", p.nombre, p.apellido)),
        ],
        vec![t("Celular:"), t(&p.celular)],
        vec![t("Correo:"), t(&p.correo)],
        vec![
            t("Lugar de residencia:"),
            Cell::Text(lugar(&p.ciudad_estado, &p.pais)),
        ],
        vec![
            t("Número de delegaciones:"),
            Cell::Number(f.numero_delegaciones),
        ],
        vec![t("Fecha de inscripción"), t(date)],
        vec![t("Comprobante de pago:"), t(receipt_link)],
        vec![t("Folio:"), t(id.as_str())],
        vec![],
        [
            "Nombre",
            "Apellido",
            "Edad",
            "Celular",
            "Correo",
            "Lugar de residencia",
            "Escolaridad",
            "Escuela",
        ]
        .iter()
        .map(|h| t(h))
        .collect(),
    ];
    rows.extend(f.delegaciones.iter().map(|r| {
        vec![
            t(&r.nombre),
            t(&r.apellido),
            r.edad.map_or(Cell::Empty, Cell::Number),
            t(&r.celular),
            t(&r.correo),
            Cell::Text(lugar(&r.ciudad_estado, &r.pais)),
            t(&r.escolaridad),
            t(&r.escuela),
        ]
    }));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SubmissionData;
    use crate::sheets::fixtures::{FACULTY_ID, LINK, faculty};
    use proptest::prelude::*;

    fn id() -> SubmissionId {
        SubmissionId::parse(FACULTY_ID).unwrap()
    }

    #[test]
    fn titles_drop_what_breaks_ranges_and_end_with_the_id() {
        let long = "Á".repeat(120);
        let cut = format!("{}_{FACULTY_ID}", "Á".repeat(79));
        for (institucion, want) in [
            ("Instituto Patria", "Instituto Patria_FAcultyZyXwVuTsRqPo1"),
            ("O'Higgins!", "O Higgins_FAcultyZyXwVuTsRqPo1"),
            ("Sheet1!A1:B2", "Sheet1 A1 B2_FAcultyZyXwVuTsRqPo1"),
            (
                "  Colegio\t\n[Mérida] *?/\\ ",
                "Colegio Mérida_FAcultyZyXwVuTsRqPo1",
            ),
            ("...", "faculty_FAcultyZyXwVuTsRqPo1"),
            ("''!!", "faculty_FAcultyZyXwVuTsRqPo1"),
            ("", "faculty_FAcultyZyXwVuTsRqPo1"),
            (long.as_str(), cut.as_str()),
        ] {
            assert_eq!(title(institucion, &id()), want, "{institucion:?}");
        }
    }

    #[test]
    fn a_title_is_cut_on_utf16_units_without_splitting_a_character() {
        // Each emoji is two UTF-16 units: 39 of them fit in the 79 units left for the name.
        let t = title(&"😀".repeat(60), &id());
        assert_eq!(t, format!("{}_{FACULTY_ID}", "😀".repeat(39)));
        assert!(t.encode_utf16().count() <= MAX_TITLE_UNITS);
    }

    #[test]
    fn the_sheet_id_is_stable_positive_and_differs_between_submissions() {
        let a = sheet_id(&id());
        assert_eq!(a, sheet_id(&id()));
        assert!(a > 0);
        let b = sheet_id(&SubmissionId::parse("FAcultyZyXwVuTsRqPo2").unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn the_tab_has_the_reference_layout_plus_the_folio() {
        let sub = faculty();
        let SubmissionData::Faculty(f) = &sub.data else {
            panic!("fixture is a faculty registration")
        };
        let rows = rows(f, "30/04/2026, 20:30:05", LINK, &id());
        let t = |s: &str| Cell::Text(s.to_owned());
        assert_eq!(rows[0], vec![t("Instituto Patria")]);
        assert_eq!(rows[1], vec![t("Nombre:"), t("Carmen Díaz")]);
        assert_eq!(
            rows[4],
            vec![t("Lugar de residencia:"), t("Mérida, Yucatán, México")]
        );
        assert_eq!(rows[5], vec![t("Número de delegaciones:"), Cell::Number(4)]);
        assert_eq!(
            rows[6],
            vec![t("Fecha de inscripción"), t("30/04/2026, 20:30:05")]
        );
        assert_eq!(rows[7], vec![t("Comprobante de pago:"), t(LINK)]);
        assert_eq!(rows[8], vec![t("Folio:"), t(FACULTY_ID)]);
        assert!(rows[9].is_empty());
        assert_eq!(rows[10].len(), 8);
        assert_eq!(rows.len(), 11 + f.delegaciones.len());
        // The delegate without a country gets no dangling comma, and no age stays empty.
        assert_eq!(rows[13][2], Cell::Empty);
        assert_eq!(rows[13][5], t("Mérida"));
        assert_eq!(rows[11][2], Cell::Number(14));
    }

    proptest! {
        #[test]
        fn every_title_fits_has_no_range_breaking_character_and_keeps_the_id(
            institucion in "\\PC{0,150}|[\\x00-\\x7f]{0,150}",
        ) {
            let t = title(&institucion, &id());
            prop_assert!(t.encode_utf16().count() <= MAX_TITLE_UNITS);
            let suffix = format!("_{FACULTY_ID}");
            prop_assert!(t.ends_with(&suffix));
            let name = &t[..t.len() - suffix.len()];
            prop_assert!(!name.is_empty());
            prop_assert!(!name.contains(REMOVED));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert!(!name.starts_with([' ', '.']) && !name.ends_with([' ', '.']));
            prop_assert!(!name.contains("  "));
        }
    }
}
