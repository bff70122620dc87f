//! The rows a submission adds to the organizers' spreadsheet (reference/pipeline.md §3), built
//! as plain values so every backend (Google Sheets, the embedded CSV files) writes the same
//! thing.
//!
//! Differences from the older system, on purpose (reference/pipeline.md §11 items 1, 11, 14;
//! DESIGN.md §6):
//! - Cells are *raw* values. A text starting with `=` is text, never a formula: adapters write
//!   [`Cell::Text`] as a literal string value (Sheets `stringValue` / RAW input).
//! - Every row ends with the submission id, so an adapter can check whether a submission's rows
//!   are already there before appending (a crash between the write and its checkpoint must not
//!   duplicate rows).
//! - The receipt column holds a stable link to an endpoint that issues a fresh short-lived URL
//!   (the caller passes it in), not a signed URL that dies after 7 days.
//! - A faculty registration still gets a tab of its own (step 3 of §3.3), but made safe by
//!   `crate::faculty_tab`: a title that cannot break a range and ends with the submission id, a
//!   sheet id derived from that id (a retry finds the tab instead of creating a second one),
//!   typed cells and a `Folio:` line carrying the id. Adapters write the tab and the two table
//!   rows together (one `batchUpdate` in Google Sheets), so no orphan tab is left behind.

use crate::faculty_tab;
use crate::model::{
    DelegacionData, FacultyData, FacultyRow, Participante, Submission, SubmissionData,
};
use chrono::{DateTime, Utc};

/// One cell of a row, typed like the Sheets `CellData` the older system wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// No value (`{}`), e.g. a missing optional field.
    Empty,
    Bool(bool),
    /// Every number the forms carry is an integer (ages, number of delegations).
    Number(i64),
    /// Literal text, never interpreted as a formula or a number.
    Text(String),
}

impl Cell {
    fn text(s: &str) -> Self {
        Self::Text(s.to_owned())
    }

    fn opt_text(s: Option<&str>) -> Self {
        s.map_or(Self::Empty, Self::text)
    }
}

/// The conference's time zone: registration dates are shown in Mérida time (UTC−6, no DST).
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::America::Merida;

pub const DELEGACIONES_TAB: &str = "delegaciones";
pub const FACULTY_TAB: &str = "faculty";
pub const FACULTY_DELEGACIONES_TAB: &str = "faculty_delegaciones";

/// Name of the last column of every tab (the idempotency key of the rows).
pub const SUBMISSION_ID_COLUMN: &str = "submission_id";

/// `DD/MM/YYYY, HH:MM:SS` in [`TIME_ZONE`], 24 h, zero-padded (reference/pipeline.md §3.1).
pub fn format_date(utc: DateTime<Utc>) -> String {
    utc.with_timezone(&TIME_ZONE)
        .format("%d/%m/%Y, %H:%M:%S")
        .to_string()
}

/// Where a group of rows goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tab {
    /// One of the staff tables ([`DELEGACIONES_TAB`], [`FACULTY_TAB`],
    /// [`FACULTY_DELEGACIONES_TAB`]): the rows are appended to its body, each ending with the
    /// submission id.
    Table(&'static str),
    /// A tab of the submission's own, created with these rows (faculty): its title and sheet
    /// id come from [`crate::faculty_tab`]; the id is in its `Folio:` line, not on every row.
    Own { title: String, sheet_id: i32 },
}

impl Tab {
    /// The table's name, or the own tab's title.
    pub fn name(&self) -> &str {
        match self {
            Self::Table(name) => name,
            Self::Own { title, .. } => title,
        }
    }
}

/// Rows to write to one tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRows {
    pub tab: Tab,
    pub rows: Vec<Vec<Cell>>,
}

/// Everything `sub` adds to the spreadsheet: one row in `delegaciones`, or one row in `faculty`,
/// one row per delegate in `faculty_delegaciones` and a tab of its own. The last cell of every
/// table row is the submission id. The dispatch is on the data itself, so a document can never be written with
/// the wrong layout.
pub fn rows_for(sub: &Submission, receipt_link: &str) -> Vec<SheetRows> {
    let id = sub.submission_id.as_str();
    let date = format_date(sub.created_at);
    match &sub.data {
        SubmissionData::Delegacion(d) => vec![SheetRows {
            tab: Tab::Table(DELEGACIONES_TAB),
            rows: vec![delegacion_row(d, &date, receipt_link, id)],
        }],
        SubmissionData::Faculty(f) => vec![
            SheetRows {
                tab: Tab::Table(FACULTY_TAB),
                rows: vec![faculty_row(f, &date, receipt_link, id)],
            },
            SheetRows {
                tab: Tab::Table(FACULTY_DELEGACIONES_TAB),
                rows: f
                    .delegaciones
                    .iter()
                    .map(|r| faculty_delegate_row(&f.institucion, r, id))
                    .collect(),
            },
            SheetRows {
                tab: Tab::Own {
                    title: faculty_tab::title(&f.institucion, &sub.submission_id),
                    sheet_id: faculty_tab::sheet_id(&sub.submission_id),
                },
                rows: faculty_tab::rows(f, &date, receipt_link, &sub.submission_id),
            },
        ],
    }
}

const PARTICIPANT_CELLS: usize = 11;
const COMMITTEES: usize = 3;
const OPTIONS: usize = 3;

/// The 40 cells of reference/pipeline.md §3.2, then the submission id.
fn delegacion_row(d: &DelegacionData, date: &str, receipt_link: &str, id: &str) -> Vec<Cell> {
    let mut row = Vec::with_capacity(41);
    row.push(Cell::Bool(false));
    row.push(Cell::text(date));
    row.push(Cell::Bool(d.modalidad == "pareja"));
    row.push(Cell::text(&d.delegacion_oficial.nombre));
    row.push(Cell::text(&d.delegacion_oficial.responsable));
    for i in 0..2 {
        match d.participantes.get(i) {
            Some(p) => participant_cells(&mut row, p),
            None => row.extend(std::iter::repeat_n(Cell::Empty, PARTICIPANT_CELLS)),
        }
    }
    for i in 0..COMMITTEES {
        let c = d.comites.get(i);
        row.push(Cell::opt_text(c.map(|c| c.nombre.as_str())));
        for k in 0..OPTIONS {
            let option = c.and_then(|c| c.opciones.get(k)).and_then(Option::as_deref);
            row.push(Cell::opt_text(option));
        }
    }
    row.push(Cell::text(receipt_link));
    row.push(Cell::text(id));
    row
}

fn participant_cells(row: &mut Vec<Cell>, p: &Participante) {
    row.extend([
        Cell::text(&p.nombre),
        Cell::text(&p.apellido),
        Cell::Number(p.edad),
        Cell::text(&p.celular),
        Cell::text(&p.correo),
        Cell::text(&p.pais),
        Cell::text(&p.ciudad_estado),
        Cell::text(&p.escolaridad),
        Cell::text(&p.escuela),
        Cell::text(&p.contacto_emergencia),
        Cell::opt_text(p.info_extra.as_deref()),
    ]);
}

/// The 11 cells of reference/pipeline.md §3.3 step 2, then the submission id.
fn faculty_row(f: &FacultyData, date: &str, receipt_link: &str, id: &str) -> Vec<Cell> {
    vec![
        Cell::Bool(false),
        Cell::text(date),
        Cell::text(&f.institucion),
        Cell::Number(f.numero_delegaciones),
        Cell::text(&f.faculty.nombre),
        Cell::text(&f.faculty.apellido),
        Cell::text(&f.faculty.celular),
        Cell::text(&f.faculty.correo),
        Cell::text(&f.faculty.pais),
        Cell::text(&f.faculty.ciudad_estado),
        Cell::text(receipt_link),
        Cell::text(id),
    ]
}

/// The 9 cells of reference/pipeline.md §3.3 step 4, then the submission id.
fn faculty_delegate_row(institucion: &str, r: &FacultyRow, id: &str) -> Vec<Cell> {
    vec![
        Cell::text(institucion),
        Cell::text(&r.nombre),
        Cell::text(&r.apellido),
        r.edad.map_or(Cell::Empty, Cell::Number),
        Cell::text(&r.celular),
        Cell::text(&r.correo),
        Cell::Text(lugar(&r.ciudad_estado, &r.pais)),
        Cell::text(&r.escolaridad),
        Cell::text(&r.escuela),
        Cell::text(id),
    ]
}

/// `"<ciudad_estado>, <pais>"` as the older system wrote it; a missing part is left out
/// instead of leaving a dangling comma.
pub(crate) fn lugar(ciudad_estado: &str, pais: &str) -> String {
    match (ciudad_estado.trim().is_empty(), pais.trim().is_empty()) {
        (false, false) => format!("{ciudad_estado}, {pais}"),
        (false, true) => ciudad_estado.to_owned(),
        (true, false) => pais.to_owned(),
        (true, true) => String::new(),
    }
}

const DELEGACIONES_HEADER: &[&str] = &[
    "Revisado",
    "Fecha de inscripción",
    "Codelegación",
    "Delegación oficial",
    "Responsable de la delegación oficial",
    "Nombre 1",
    "Apellido 1",
    "Edad 1",
    "Celular 1",
    "Correo 1",
    "País 1",
    "Ciudad/Estado 1",
    "Escolaridad 1",
    "Escuela 1",
    "Contacto de emergencia 1",
    "Información extra 1",
    "Nombre 2",
    "Apellido 2",
    "Edad 2",
    "Celular 2",
    "Correo 2",
    "País 2",
    "Ciudad/Estado 2",
    "Escolaridad 2",
    "Escuela 2",
    "Contacto de emergencia 2",
    "Información extra 2",
    "Comité 1",
    "Comité 1 - Opción 1",
    "Comité 1 - Opción 2",
    "Comité 1 - Opción 3",
    "Comité 2",
    "Comité 2 - Opción 1",
    "Comité 2 - Opción 2",
    "Comité 2 - Opción 3",
    "Comité 3",
    "Comité 3 - Opción 1",
    "Comité 3 - Opción 2",
    "Comité 3 - Opción 3",
    "Comprobante de pago",
    SUBMISSION_ID_COLUMN,
];

const FACULTY_HEADER: &[&str] = &[
    "Revisado",
    "Fecha de inscripción",
    "Institución",
    "Número de delegaciones",
    "Nombre",
    "Apellido",
    "Celular",
    "Correo",
    "País",
    "Ciudad/Estado",
    "Comprobante de pago",
    SUBMISSION_ID_COLUMN,
];

const FACULTY_DELEGACIONES_HEADER: &[&str] = &[
    "Institución",
    "Nombre",
    "Apellido",
    "Edad",
    "Celular",
    "Correo",
    "Lugar de residencia",
    "Escolaridad",
    "Escuela",
    SUBMISSION_ID_COLUMN,
];

/// Column headers of a tab (Spanish, for the first row or a CSV file); the last one is always
/// [`SUBMISSION_ID_COLUMN`]. Empty for an unknown tab.
pub fn header(tab: &str) -> Vec<&'static str> {
    match tab {
        DELEGACIONES_TAB => DELEGACIONES_HEADER.to_vec(),
        FACULTY_TAB => FACULTY_HEADER.to_vec(),
        FACULTY_DELEGACIONES_TAB => FACULTY_DELEGACIONES_HEADER.to_vec(),
        _ => Vec::new(),
    }
}

/// Hand-built submissions shared by the sheet and e-mail tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::model::*;
    use crate::{SubmissionId, SubmissionStatus, SubmissionType};
    use chrono::{DateTime, Utc};

    pub const INDIVIDUAL_ID: &str = "IndividuaL0123456789";
    pub const PAREJA_ID: &str = "PArejaAbCdEfGhIjKlMn";
    pub const FACULTY_ID: &str = "FAcultyZyXwVuTsRqPo1";
    pub const LINK: &str = "https://registro.smmun.com/comprobantes/X";

    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn submission(id: &str, t: SubmissionType, data: SubmissionData) -> Submission {
        let now = at("2026-05-01T02:30:05Z");
        Submission {
            submission_id: SubmissionId::parse(id).unwrap(),
            submission_type: t,
            status: SubmissionStatus::Processing,
            created_at: now,
            updated_at: now,
            file_path: format!("uploads/{}/{id}.pdf", t.form_name()),
            request_id: "req-1".into(),
            idempotency_key: "key-1".into(),
            data,
            receipt: None,
            worker: WorkerFields::default(),
        }
    }

    pub fn ana() -> Participante {
        Participante {
            nombre: "Ana".into(),
            apellido: "Pérez".into(),
            edad: 17,
            celular: "+529991234567".into(),
            correo: "ana@example.com".into(),
            pais: "México".into(),
            ciudad_estado: "Mérida, Yucatán".into(),
            escolaridad: "Preparatoria".into(),
            escuela: "Colegio Peninsular".into(),
            contacto_emergencia: "Rosa Pérez (Madre): 9997654321".into(),
            info_extra: None,
        }
    }

    pub fn luis() -> Participante {
        Participante {
            nombre: "Luis".into(),
            apellido: "Gómez".into(),
            edad: 19,
            celular: "9990001122".into(),
            correo: "luis@example.com".into(),
            pais: "México".into(),
            ciudad_estado: "Campeche".into(),
            escolaridad: "Universidad".into(),
            escuela: "No aplica".into(),
            contacto_emergencia: "Juan Gómez (Padre): 9993334455".into(),
            info_extra: Some("Vegetariano".into()),
        }
    }

    fn comite(code: &str, opciones: [Option<&str>; 3]) -> ComiteChoice {
        ComiteChoice {
            nombre: code.into(),
            opciones: opciones.iter().map(|o| o.map(str::to_owned)).collect(),
        }
    }

    pub fn individual() -> Submission {
        submission(
            INDIVIDUAL_ID,
            SubmissionType::Delegacion,
            SubmissionData::Delegacion(DelegacionData {
                modalidad: "individual".into(),
                delegacion_oficial: DelegacionOficial {
                    is_oficial: true,
                    nombre: "Colegio Peninsular".into(),
                    responsable: "Marta Ruiz".into(),
                },
                participantes: vec![ana()],
                comites: vec![
                    comite("SOCHUM", [Some("Islandia"), Some("Jamaica"), None]),
                    comite(
                        "ONU-Hábitat",
                        [Some("Reino de Suecia"), Some("República de Ghana"), None],
                    ),
                    comite("FIA", [Some("Lando Norris"), None, None]),
                ],
            }),
        )
    }

    pub fn pareja() -> Submission {
        submission(
            PAREJA_ID,
            SubmissionType::Delegacion,
            SubmissionData::Delegacion(DelegacionData {
                modalidad: "pareja".into(),
                delegacion_oficial: DelegacionOficial {
                    is_oficial: false,
                    nombre: "No aplica".into(),
                    responsable: "No aplica".into(),
                },
                participantes: vec![ana(), luis()],
                comites: vec![
                    comite("CCPCJ", [Some("Japón"), Some("Kenia"), Some("Chile")]),
                    comite("Crisis", [Some("Secretaría de Energía"), None, None]),
                    comite("Comité Nuevo", [Some("Francia"), Some("Italia"), None]),
                ],
            }),
        )
    }

    pub fn delegate(nombre: &str, apellido: &str, edad: Option<i64>) -> FacultyRow {
        FacultyRow {
            nombre: nombre.into(),
            apellido: apellido.into(),
            edad,
            celular: "9991112233".into(),
            correo: format!("{}@example.com", apellido.to_lowercase()),
            pais: "México".into(),
            ciudad_estado: "Mérida".into(),
            escolaridad: "Secundaria".into(),
            escuela: "Instituto Patria".into(),
        }
    }

    pub fn faculty() -> Submission {
        submission(
            FACULTY_ID,
            SubmissionType::Faculty,
            SubmissionData::Faculty(FacultyData {
                institucion: "Instituto Patria".into(),
                faculty: FacultyPerson {
                    nombre: "Carmen".into(),
                    apellido: "Díaz".into(),
                    celular: "9995556677".into(),
                    correo: "carmen@example.com".into(),
                    ciudad_estado: "Mérida, Yucatán".into(),
                    pais: "México".into(),
                },
                numero_delegaciones: 4,
                delegaciones: vec![
                    delegate("Sofía", "Canul", Some(14)),
                    delegate("Diego", "May", Some(15)),
                    FacultyRow {
                        pais: String::new(),
                        ..delegate("Elena", "Chan", None)
                    },
                    delegate("Iván", "Pech", Some(16)),
                ],
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::model::SubmissionData;

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    fn ana_cells() -> Vec<Cell> {
        vec![
            t("Ana"),
            t("Pérez"),
            Cell::Number(17),
            t("+529991234567"),
            t("ana@example.com"),
            t("México"),
            t("Mérida, Yucatán"),
            t("Preparatoria"),
            t("Colegio Peninsular"),
            t("Rosa Pérez (Madre): 9997654321"),
            Cell::Empty,
        ]
    }

    #[test]
    fn an_individual_delegation_is_one_row_of_the_forty_reference_cells_plus_the_id() {
        let rows = rows_for(&individual(), LINK);
        let mut want = vec![
            Cell::Bool(false),
            t("30/04/2026, 20:30:05"),
            Cell::Bool(false),
            t("Colegio Peninsular"),
            t("Marta Ruiz"),
        ];
        want.extend(ana_cells());
        want.extend(vec![Cell::Empty; 11]);
        want.extend([
            t("SOCHUM"),
            t("Islandia"),
            t("Jamaica"),
            Cell::Empty,
            t("ONU-Hábitat"),
            t("Reino de Suecia"),
            t("República de Ghana"),
            Cell::Empty,
            t("FIA"),
            t("Lando Norris"),
            Cell::Empty,
            Cell::Empty,
            t(LINK),
            t(INDIVIDUAL_ID),
        ]);
        assert_eq!(
            rows,
            vec![SheetRows {
                tab: Tab::Table(DELEGACIONES_TAB),
                rows: vec![want]
            }]
        );
        assert_eq!(rows[0].rows[0].len(), 41);
    }

    #[test]
    fn a_codelegation_row_fills_both_participants() {
        let rows = rows_for(&pareja(), LINK);
        let mut want = vec![
            Cell::Bool(false),
            t("30/04/2026, 20:30:05"),
            Cell::Bool(true),
            t("No aplica"),
            t("No aplica"),
        ];
        want.extend(ana_cells());
        want.extend([
            t("Luis"),
            t("Gómez"),
            Cell::Number(19),
            t("9990001122"),
            t("luis@example.com"),
            t("México"),
            t("Campeche"),
            t("Universidad"),
            t("No aplica"),
            t("Juan Gómez (Padre): 9993334455"),
            t("Vegetariano"),
        ]);
        want.extend([
            t("CCPCJ"),
            t("Japón"),
            t("Kenia"),
            t("Chile"),
            t("Crisis"),
            t("Secretaría de Energía"),
            Cell::Empty,
            Cell::Empty,
            t("Comité Nuevo"),
            t("Francia"),
            t("Italia"),
            Cell::Empty,
            t(LINK),
            t(PAREJA_ID),
        ]);
        assert_eq!(
            rows,
            vec![SheetRows {
                tab: Tab::Table(DELEGACIONES_TAB),
                rows: vec![want]
            }]
        );
    }

    #[test]
    fn a_faculty_registration_is_one_general_row_one_row_per_delegate_and_its_own_tab() {
        let rows = rows_for(&faculty(), LINK);
        let delegate = |n: &str, a: &str, edad: Cell, correo: &str, lugar: &str| {
            vec![
                t("Instituto Patria"),
                t(n),
                t(a),
                edad,
                t("9991112233"),
                t(correo),
                t(lugar),
                t("Secundaria"),
                t("Instituto Patria"),
                t(FACULTY_ID),
            ]
        };
        assert_eq!(
            rows[..2],
            vec![
                SheetRows {
                    tab: Tab::Table(FACULTY_TAB),
                    rows: vec![vec![
                        Cell::Bool(false),
                        t("30/04/2026, 20:30:05"),
                        t("Instituto Patria"),
                        Cell::Number(4),
                        t("Carmen"),
                        t("Díaz"),
                        t("9995556677"),
                        t("carmen@example.com"),
                        t("México"),
                        t("Mérida, Yucatán"),
                        t(LINK),
                        t(FACULTY_ID),
                    ]]
                },
                SheetRows {
                    tab: Tab::Table(FACULTY_DELEGACIONES_TAB),
                    rows: vec![
                        delegate(
                            "Sofía",
                            "Canul",
                            Cell::Number(14),
                            "canul@example.com",
                            "Mérida, México"
                        ),
                        delegate(
                            "Diego",
                            "May",
                            Cell::Number(15),
                            "may@example.com",
                            "Mérida, México"
                        ),
                        delegate("Elena", "Chan", Cell::Empty, "chan@example.com", "Mérida"),
                        delegate(
                            "Iván",
                            "Pech",
                            Cell::Number(16),
                            "pech@example.com",
                            "Mérida, México"
                        ),
                    ]
                },
            ]
        );
        let SubmissionData::Faculty(f) = &faculty().data else {
            unreachable!()
        };
        let id = faculty().submission_id;
        assert_eq!(
            rows[2],
            SheetRows {
                tab: Tab::Own {
                    title: crate::faculty_tab::title("Instituto Patria", &id),
                    sheet_id: crate::faculty_tab::sheet_id(&id),
                },
                rows: crate::faculty_tab::rows(f, "30/04/2026, 20:30:05", LINK, &id),
            }
        );
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn every_row_is_as_wide_as_its_header_and_ends_with_the_submission_id() {
        for sub in [individual(), pareja(), faculty()] {
            for group in rows_for(&sub, LINK) {
                let Tab::Table(name) = group.tab else {
                    continue;
                };
                let header = header(name);
                assert_eq!(header.last(), Some(&SUBMISSION_ID_COLUMN));
                for row in &group.rows {
                    assert_eq!(row.len(), header.len(), "{name}");
                    assert_eq!(row.last(), Some(&t(sub.submission_id.as_str())));
                }
            }
        }
        assert_eq!(header(DELEGACIONES_TAB).len(), 41);
        assert_eq!(header(FACULTY_TAB).len(), 12);
        assert_eq!(header(FACULTY_DELEGACIONES_TAB).len(), 10);
        assert!(header("otra").is_empty());
    }

    #[test]
    fn dates_are_printed_in_merida_time_zero_padded_and_24_hour() {
        for (utc, want) in [
            ("2026-05-01T02:30:05Z", "30/04/2026, 20:30:05"),
            ("2026-01-01T05:59:59Z", "31/12/2025, 23:59:59"),
            ("2026-01-01T06:00:00Z", "01/01/2026, 00:00:00"),
            // Summer: no daylight saving time in Mérida, still UTC−6.
            ("2026-07-15T18:04:09Z", "15/07/2026, 12:04:09"),
            ("2026-03-09T21:07:00.999Z", "09/03/2026, 15:07:00"),
        ] {
            assert_eq!(format_date(at(utc)), want, "{utc}");
        }
    }

    #[test]
    fn formula_like_text_stays_verbatim_text() {
        let mut sub = individual();
        let SubmissionData::Delegacion(d) = &mut sub.data else {
            unreachable!()
        };
        d.participantes[0].nombre = "=HYPERLINK(\"http://x\";\"y\")".into();
        d.participantes[0].celular = "+52 999".into();
        d.participantes[0].info_extra = Some("=1+1".into());
        let row = &rows_for(&sub, "=IMPORTXML(A1)")[0].rows[0];
        assert_eq!(row[5], t("=HYPERLINK(\"http://x\";\"y\")"));
        assert_eq!(row[8], t("+52 999"));
        assert_eq!(row[15], t("=1+1"));
        assert_eq!(row[39], t("=IMPORTXML(A1)"));
    }

    #[test]
    fn missing_committees_and_options_become_empty_cells() {
        let mut sub = individual();
        let SubmissionData::Delegacion(d) = &mut sub.data else {
            unreachable!()
        };
        d.comites.truncate(1);
        d.comites[0].opciones.truncate(1);
        let row = &rows_for(&sub, LINK)[0].rows[0];
        assert_eq!(row.len(), 41);
        assert_eq!(
            row[27..31],
            [t("SOCHUM"), t("Islandia"), Cell::Empty, Cell::Empty]
        );
        assert!(row[31..39].iter().all(|c| *c == Cell::Empty));
    }

    #[test]
    fn a_place_without_one_part_has_no_dangling_comma() {
        assert_eq!(lugar("Mérida", "México"), "Mérida, México");
        assert_eq!(lugar("Mérida", ""), "Mérida");
        assert_eq!(lugar(" ", "México"), "México");
        assert_eq!(lugar("", ""), "");
    }
}
