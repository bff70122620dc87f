//! The declared fields of both forms as data (names, required, limits, allowed values) and the
//! small value checks shared by the rules. The validator, the catalog endpoint and the docs
//! all read these tables, so a limit is stated once.

use crate::receipt;
use serde_json::{Value, json};
use std::ops::RangeInclusive;
use std::sync::LazyLock;

pub const KEY_FIELD: &str = "idempotency_key";
pub const FILE_FIELD: &str = "comprobante";
/// Maximum length in characters of `idempotency_key`.
pub const MAX_KEY: usize = 128;
pub(super) const NO_APLICA: &str = "No aplica";
/// The one escolaridad that needs no `escuela`.
pub const NO_ESTUDIO: &str = "No estudio";

pub const ESCOLARIDADES: &[&str] = &[
    "Secundaria",
    "Preparatoria",
    "Universidad",
    "Egresado",
    NO_ESTUDIO,
];
/// Values of `modalidad`.
pub const MODALIDADES: &[&str] = &["individual", "pareja"];
/// Values of `delegacion_oficial`.
pub const SI_NO: &[&str] = &["si", "no"];

/// What a declared field must look like (R0/F0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Text,
    OneOf(&'static [&'static str]),
    /// Validated and normalised as an e-mail address.
    Email,
    /// A committee code of the catalog.
    Committee,
    /// An age: a value over the length limit is an invalid age (`edad_invalida`), not a
    /// too-long field; the range is checked by the age rule ([`EDADES`]).
    Age,
}

/// A declared form field of reference/api.md §1.2 / §1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    pub required: bool,
    /// Maximum length in characters.
    pub max: Option<usize>,
    pub check: Check,
}

const fn field(name: &'static str, required: bool, max: usize, check: Check) -> Declared {
    Declared {
        name,
        required,
        max: Some(max),
        check,
    }
}

const fn choice(name: &'static str, check: Check) -> Declared {
    Declared {
        name,
        required: true,
        max: None,
        check,
    }
}

const REQ: bool = true;
const OPT: bool = false;
const TEXT: usize = 150;
const PHONE: usize = 30;
const AGE: usize = 2;

/// The 42 declared fields of `POST /registro/delegaciones` (without `idempotency_key` and the
/// file), in the order R0 checks them. Exactly these enter the fingerprint.
pub const DELEGACIONES_FIELDS: &[Declared] = &[
    choice("modalidad", Check::OneOf(MODALIDADES)),
    choice("delegacion_oficial", Check::OneOf(SI_NO)),
    field("nombre_delegacion_oficial", OPT, TEXT, Check::Text),
    field("responsable_delegacion_oficial", OPT, TEXT, Check::Text),
    field("nombre_0", REQ, TEXT, Check::Text),
    field("apellido_0", REQ, TEXT, Check::Text),
    field("edad_0", REQ, AGE, Check::Age),
    field("celular_0", REQ, PHONE, Check::Text),
    field("correo_0", REQ, TEXT, Check::Email),
    field("pais_0", REQ, TEXT, Check::Text),
    field("ciudad_estado_0", REQ, TEXT, Check::Text),
    field("escolaridad_0", REQ, TEXT, Check::OneOf(ESCOLARIDADES)),
    field("escuela_0", OPT, TEXT, Check::Text),
    field("nombre_contacto_0", REQ, TEXT, Check::Text),
    field("celular_contacto_0", REQ, PHONE, Check::Text),
    field("relacion_contacto_0", REQ, TEXT, Check::Text),
    field("info_extra_0", OPT, TEXT, Check::Text),
    field("nombre_1", OPT, TEXT, Check::Text),
    field("apellido_1", OPT, TEXT, Check::Text),
    field("edad_1", OPT, AGE, Check::Age),
    field("celular_1", OPT, PHONE, Check::Text),
    // "email OR string" in the reference: checked as an e-mail only in `pareja` (a business rule).
    field("correo_1", OPT, TEXT, Check::Text),
    field("pais_1", OPT, TEXT, Check::Text),
    field("ciudad_estado_1", OPT, TEXT, Check::Text),
    field("escolaridad_1", OPT, TEXT, Check::OneOf(ESCOLARIDADES)),
    field("escuela_1", OPT, TEXT, Check::Text),
    field("nombre_contacto_1", OPT, TEXT, Check::Text),
    field("celular_contacto_1", OPT, PHONE, Check::Text),
    field("relacion_contacto_1", OPT, TEXT, Check::Text),
    field("info_extra_1", OPT, TEXT, Check::Text),
    choice("comite_0", Check::Committee),
    field("comite_0_pais_0", REQ, TEXT, Check::Text),
    field("comite_0_pais_1", REQ, TEXT, Check::Text),
    field("comite_0_pais_2", OPT, TEXT, Check::Text),
    choice("comite_1", Check::Committee),
    field("comite_1_pais_0", REQ, TEXT, Check::Text),
    field("comite_1_pais_1", REQ, TEXT, Check::Text),
    field("comite_1_pais_2", OPT, TEXT, Check::Text),
    choice("comite_2", Check::Committee),
    field("comite_2_pais_0", REQ, TEXT, Check::Text),
    field("comite_2_pais_1", REQ, TEXT, Check::Text),
    field("comite_2_pais_2", OPT, TEXT, Check::Text),
];

/// The 8 declared fields of `POST /registro/faculty` (without `idempotency_key` and the file).
pub const FACULTY_FIELDS: &[Declared] = &[
    field("institucion_delegacion_oficial", REQ, TEXT, Check::Text),
    field("nombre_faculty", REQ, TEXT, Check::Text),
    field("apellido_faculty", REQ, TEXT, Check::Text),
    field("celular_faculty", REQ, PHONE, Check::Text),
    field("correo_faculty", REQ, TEXT, Check::Email),
    field("ciudad_estado_faculty", REQ, TEXT, Check::Text),
    field("pais_faculty", REQ, TEXT, Check::Text),
    field("numero_delegaciones", REQ, 2, Check::Text),
];

/// The fields of faculty row `i` are `<prefix>_d{i}`; all but `escuela` are required. Caps as
/// for the same fields of the delegaciones form.
pub const ROW_FIELDS: &[(&str, usize)] = &[
    ("nombre", TEXT),
    ("apellido", TEXT),
    ("edad", AGE),
    ("celular", PHONE),
    ("correo", TEXT),
    ("pais", TEXT),
    ("ciudad_estado", TEXT),
    ("escolaridad", TEXT),
    ("escuela", TEXT),
];

/// Fewest delegations a faculty advisor may register (`numero_delegaciones`).
pub const MIN_DELEGACIONES: usize = 4;

/// Participant `i` fields R9 requires in `pareja` (reference order).
pub(super) const CODELEGACION_REQUIRED: &[&str] = &[
    "nombre",
    "apellido",
    "edad",
    "celular",
    "correo",
    "pais",
    "ciudad_estado",
    "escolaridad",
    "nombre_contacto",
    "celular_contacto",
    "relacion_contacto",
];

pub(super) fn blank(v: Option<&str>) -> bool {
    v.is_none_or(|s| s.trim().is_empty())
}

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The ages the age rule accepts (R7/R8, faculty rows).
pub const EDADES: RangeInclusive<i64> = 11..=26;

/// ASCII digits only, 1–2 characters, in [`EDADES`].
pub(super) fn parse_age(s: &str) -> Option<i64> {
    let ok = (1..=AGE).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let age: i64 = if ok { s.parse().ok()? } else { return None };
    EDADES.contains(&age).then_some(age)
}

/// Fewest digits of a phone number (`celular*` fields), counted after the separators and the
/// prefix are removed.
pub const PHONE_MIN_DIGITS: usize = 7;
/// Most digits of a phone number.
pub const PHONE_MAX_DIGITS: usize = 15;
/// The punctuation a phone number may carry anywhere; whitespace ([`char::is_whitespace`])
/// counts as a separator too.
pub const PHONE_SEPARATORS: &str = "-.()";
/// The one character a phone number may start with (after the separators are removed).
pub const PHONE_PREFIX: char = '+';

fn is_phone_separator(c: char) -> bool {
    c.is_whitespace() || PHONE_SEPARATORS.contains(c)
}

/// Every character [`char::is_whitespace`] accepts (Unicode `White_Space`), in code point
/// order: the whitespace `valid_phone` ignores, spelled out for the front (whose `\s` is a
/// slightly different set).
pub fn phone_whitespace() -> &'static str {
    static ALL: LazyLock<String> = LazyLock::new(|| {
        (char::MIN..=char::MAX)
            .filter(|c| c.is_whitespace())
            .collect()
    });
    &ALL
}

/// After removing whitespace and [`PHONE_SEPARATORS`]: an optional [`PHONE_PREFIX`] then
/// [`PHONE_MIN_DIGITS`]–[`PHONE_MAX_DIGITS`] ASCII digits.
pub(super) fn valid_phone(s: &str) -> bool {
    let cleaned: String = s.chars().filter(|c| !is_phone_separator(*c)).collect();
    let digits = cleaned.strip_prefix(PHONE_PREFIX).unwrap_or(&cleaned);
    (PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The form's fixed values, served as `formulario` in `GET /registro/catalogo`: allowed
/// values, the age range, the faculty minimum, the receipt types, the phone rule and every
/// field's limit, read from the very tables and constants the validator uses, so a front
/// needs no hand-kept copy.
pub fn formulario_json() -> Value {
    let rows: Vec<Value> = ROW_FIELDS
        .iter()
        .map(|(prefix, max)| {
            // A row field is checked as the same field of the delegaciones form.
            let check = DELEGACIONES_FIELDS
                .iter()
                .find(|d| d.name.strip_suffix("_0") == Some(prefix))
                .map_or(Check::Text, |d| d.check);
            json!({
                "nombre": format!("{prefix}_d{{i}}"),
                "requerido": *prefix != "escuela",
                "max": max,
                "tipo": check_kind(check),
                "valores": check_values(check),
            })
        })
        .collect();
    json!({
        "modalidades": MODALIDADES,
        "si_no": SI_NO,
        "escolaridades": ESCOLARIDADES,
        "escolaridad_sin_escuela": NO_ESTUDIO,
        "edad": { "min": EDADES.start(), "max": EDADES.end() },
        "min_delegaciones": MIN_DELEGACIONES,
        "idempotency_key": { "campo": KEY_FIELD, "max": MAX_KEY },
        "comprobante": {
            "campo": FILE_FIELD,
            "max_bytes": receipt::MAX_BYTES,
            "tipos": receipt::accepted_types()
                .map(|(extension, mime)| json!({ "extension": extension, "mime": mime }))
                .collect::<Vec<_>>(),
        },
        "celular": {
            "min_digitos": PHONE_MIN_DIGITS,
            "max_digitos": PHONE_MAX_DIGITS,
            "separadores": PHONE_SEPARATORS,
            "espacios": phone_whitespace(),
            "prefijo": PHONE_PREFIX.to_string(),
        },
        "campos": {
            "delegaciones": DELEGACIONES_FIELDS.iter().map(declared_json).collect::<Vec<_>>(),
            "faculty": FACULTY_FIELDS.iter().map(declared_json).collect::<Vec<_>>(),
            "faculty_fila": rows,
        },
    })
}

fn declared_json(d: &Declared) -> Value {
    json!({
        "nombre": d.name,
        "requerido": d.required,
        "max": d.max,
        "tipo": check_kind(d.check),
        "valores": check_values(d.check),
    })
}

fn check_kind(check: Check) -> &'static str {
    match check {
        Check::Text => "texto",
        Check::OneOf(_) => "opcion",
        Check::Email => "correo",
        Check::Committee => "comite",
        Check::Age => "edad",
    }
}

fn check_values(check: Check) -> Value {
    match check {
        Check::OneOf(values) => json!(values),
        _ => Value::Null,
    }
}
