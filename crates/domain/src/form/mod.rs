//! Parsing and validation of the two registration forms (reference/api.md §1–2), with the gaps
//! of §10 closed. Input is the raw multipart content; output is either the document to store
//! plus its fingerprint, or the first rule that failed, with its reference message.
//!
//! The checks run in the reference order: declared fields (R0/F0: presence, length in
//! characters, where an over-long age answers `edad_invalida`, allowed values, e-mail syntax), the idempotency key (R1/F1), the receipt
//! (R2/F2), then the business rules of §2.1/§2.2. What the older system left unchecked is
//! checked here at the position the lead decided: delegation choices against the catalog and
//! their committee (R10/R11 in both modalities), the third delegation option, `correo_1`,
//! phones, `escuela`, and complete faculty rows with nothing beyond `numero_delegaciones`.
//! Every failure carries a stable code ([`RULES`]) and the name of the field (never its value).

use crate::catalog::{Catalog, Committee, Modality};
use crate::email;
use crate::hash::{FieldMap, payload_hash};
use crate::model::{
    ComiteChoice, DelegacionData, DelegacionOficial, FacultyData, FacultyPerson, FacultyRow,
    Participante, SubmissionData, SubmissionType,
};
use crate::receipt::{self, ReceiptError, ValidReceipt};

/// The uploaded `comprobante` part.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A multipart body as received: text fields in order (duplicates kept) and the file part.
#[derive(Debug, Clone, Default)]
pub struct RawForm {
    fields: Vec<(String, String)>,
    pub file: Option<Upload>,
}

impl RawForm {
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Last occurrence wins; the empty string counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A form that passed every rule.
#[derive(Debug, Clone)]
pub struct Validated {
    pub submission_type: SubmissionType,
    /// The trimmed explicit key, if the browser sent a usable one.
    pub explicit_key: Option<String>,
    /// Payload hash of reference/api.md §5.3 (also the fallback key).
    pub fingerprint: String,
    pub data: SubmissionData,
    pub receipt: ValidReceipt,
}

impl Validated {
    /// Explicit key, else the fingerprint.
    pub fn effective_key(&self) -> &str {
        self.explicit_key.as_deref().unwrap_or(&self.fingerprint)
    }
}

/// The first rule a form broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable machine-readable code (goes on the error redirect as `code=`).
    pub code: &'static str,
    /// The reference's Spanish message (logged as `reason`), or a new one for new rules.
    pub message: &'static str,
    /// Name of the offending field, when there is one (never its value).
    pub field: Option<String>,
}

/// Every rule's code and message, one constant per rule.
pub mod rules;

mod fields;
pub use fields::*;

use rules::Rule;

/// Every (code, message) pair a parser can return. `correo_invalido` appears twice: with
/// `Formulario inválido.` for a declared e-mail field (R0/F0) and with its own message for the
/// e-mails checked by business rules (`correo_1`, faculty rows).
pub const RULES: &[(&str, &str)] = &[
    rules::CAMPO_FALTANTE,
    rules::CAMPO_DEMASIADO_LARGO,
    rules::VALOR_NO_PERMITIDO,
    rules::LLAVE_INVALIDA,
    rules::COMPROBANTE_FALTANTE,
    rules::COMPROBANTE_VACIO,
    rules::COMPROBANTE_MUY_GRANDE,
    rules::COMPROBANTE_EXTENSION_INVALIDA,
    rules::COMPROBANTE_TIPO_INVALIDO,
    rules::COMPROBANTE_CONTENIDO_INVALIDO,
    rules::COMITE_NO_PERMITIDO_EN_CODELEGACION,
    rules::COMITE_NO_PERMITIDO_EN_MODALIDAD,
    rules::COMITES_REPETIDOS,
    rules::FALTAN_DATOS_DELEGACION_OFICIAL,
    rules::DELEGACIONES_REPETIDAS,
    rules::FALTAN_OPCIONES_DELEGACION,
    rules::EDAD_INVALIDA,
    rules::FALTAN_DATOS_CODELEGACION,
    rules::CORREO_INVALIDO,
    rules::CELULAR_INVALIDO,
    rules::FALTA_ESCUELA,
    rules::DELEGACION_INVALIDA,
    rules::DELEGACION_NO_ENCONTRADA,
    rules::DELEGACION_NO_DISPONIBLE_EN_CODELEGACION,
    rules::NUMERO_DELEGACIONES_INVALIDO,
    rules::FALTAN_DATOS_DELEGACION,
    rules::NUMERO_DELEGACIONES_NO_COINCIDE,
];

fn reject(rule: Rule, field: &str) -> Rejection {
    Rejection {
        code: rule.0,
        message: rule.1,
        field: Some(field.to_owned()),
    }
}

impl From<ReceiptError> for Rejection {
    fn from(e: ReceiptError) -> Self {
        Rejection {
            code: e.code(),
            message: e.message(),
            field: Some(FILE_FIELD.to_owned()),
        }
    }
}
/// R0 / F0 for `idempotency_key` and the declared fields. Returns the fingerprint field map:
/// raw values, `None` when absent, e-mails normalised.
fn check_declared(
    form: &RawForm,
    declared: &'static [Declared],
    catalog: Option<&Catalog>,
) -> Result<FieldMap<'static>, Rejection> {
    if form.get(KEY_FIELD).is_some_and(|k| chars(k) > MAX_KEY) {
        return Err(reject(rules::CAMPO_DEMASIADO_LARGO, KEY_FIELD));
    }
    let mut fields = FieldMap::new();
    for d in declared {
        let Some(value) = form.get(d.name) else {
            if d.required {
                return Err(reject(rules::CAMPO_FALTANTE, d.name));
            }
            fields.insert(d.name, None);
            continue;
        };
        if d.max.is_some_and(|max| chars(value) > max) {
            return Err(reject(too_long_rule(d.check), d.name));
        }
        let value = match d.check {
            Check::Text | Check::Age => value.to_owned(),
            Check::OneOf(allowed) if allowed.contains(&value) => value.to_owned(),
            Check::Committee if catalog.is_some_and(|c| c.committee(value).is_some()) => {
                value.to_owned()
            }
            Check::OneOf(_) | Check::Committee => {
                return Err(reject(rules::VALOR_NO_PERMITIDO, d.name));
            }
            Check::Email => {
                email::normalize(value).map_err(|_| reject(rules::CAMPO_CORREO_INVALIDO, d.name))?
            }
        };
        fields.insert(d.name, Some(value));
    }
    Ok(fields)
}

/// The rule an over-long declared field breaks: for an age, the age rule (`17a` is an invalid
/// age, not a long text), at the same position, so no other rule's order changes.
fn too_long_rule(check: Check) -> Rule {
    match check {
        Check::Age => rules::EDAD_INVALIDA,
        _ => rules::CAMPO_DEMASIADO_LARGO,
    }
}

/// R1 / F1 (reference/api.md §5.1): absent or blank → no explicit key (fallback mode).
fn check_key(form: &RawForm) -> Result<Option<String>, Rejection> {
    let Some(key) = form.get(KEY_FIELD).map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let ok = key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(Some(key.to_owned()))
    } else {
        Err(reject(rules::LLAVE_INVALIDA, KEY_FIELD))
    }
}

/// R2 / F2.
fn check_receipt(form: &RawForm) -> Result<ValidReceipt, Rejection> {
    let upload = form.file.as_ref().ok_or(ReceiptError::Missing)?;
    Ok(receipt::validate(
        upload.filename.as_deref(),
        upload.content_type.as_deref(),
        &upload.bytes,
    )?)
}

/// `POST /registro/delegaciones`: every rule of reference/api.md §2.1 in order, plus the
/// decided gap closures; the first failure is returned.
pub fn parse_delegaciones(form: &RawForm, catalog: &Catalog) -> Result<Validated, Rejection> {
    let mut fields = check_declared(form, DELEGACIONES_FIELDS, Some(catalog))?;
    let explicit_key = check_key(form)?;
    let receipt = check_receipt(form)?;

    let raw = |name: &str| form.get(name);
    let val = |name: &str| form.get(name).unwrap_or_default();
    let modality = Modality::parse(val("modalidad"))
        .ok_or_else(|| reject(rules::VALOR_NO_PERMITIDO, "modalidad"))?;
    let pareja = modality == Modality::Pareja;
    let participants: &[usize] = if pareja { &[0, 1] } else { &[0] };

    const COMITE: [&str; 3] = ["comite_0", "comite_1", "comite_2"];
    let pais = |k: usize, j: usize| format!("comite_{k}_pais_{j}");
    let mut committees: Vec<&Committee> = Vec::with_capacity(3);
    for name in COMITE {
        let c = catalog
            .committee(val(name))
            .ok_or_else(|| reject(rules::VALOR_NO_PERMITIDO, name))?;
        committees.push(c);
    }

    // R3: the committee must admit the modality (data, not a hard-coded list).
    for (k, c) in committees.iter().enumerate() {
        if !c.allows(modality) {
            let rule = if pareja {
                rules::COMITE_NO_PERMITIDO_EN_CODELEGACION
            } else {
                rules::COMITE_NO_PERMITIDO_EN_MODALIDAD
            };
            return Err(reject(rule, COMITE[k]));
        }
    }
    // R4
    for k in 1..3 {
        if (0..k).any(|j| committees[j].code == committees[k].code) {
            return Err(reject(rules::COMITES_REPETIDOS, COMITE[k]));
        }
    }
    // R5
    if val("delegacion_oficial") == "si" {
        for name in [
            "nombre_delegacion_oficial",
            "responsable_delegacion_oficial",
        ] {
            if blank(raw(name)) {
                return Err(reject(rules::FALTAN_DATOS_DELEGACION_OFICIAL, name));
            }
        }
    }
    // R6 (raw strings, as the reference compares them)
    for k in 0..3 {
        let values: Vec<Option<&str>> = (0..3).map(|j| raw(&pais(k, j))).collect();
        for j in 1..3 {
            if values[j].is_some() && values[..j].contains(&values[j]) {
                return Err(reject(rules::DELEGACIONES_REPETIDAS, &pais(k, j)));
            }
        }
    }
    // The third option is required, as in the front.
    for k in 0..3 {
        let name = pais(k, 2);
        if raw(&name).is_none() {
            return Err(reject(rules::FALTAN_OPCIONES_DELEGACION, &name));
        }
    }
    // R7, R8
    let mut ages = [0i64; 2];
    for &i in participants {
        let name = format!("edad_{i}");
        ages[i] = raw(&name)
            .and_then(parse_age)
            .ok_or_else(|| reject(rules::EDAD_INVALIDA, &name))?;
    }
    // R9
    if pareja {
        for prefix in CODELEGACION_REQUIRED {
            let name = format!("{prefix}_1");
            if blank(raw(&name)) {
                return Err(reject(rules::FALTAN_DATOS_CODELEGACION, &name));
            }
        }
        let correo = email::normalize(val("correo_1"))
            .map_err(|_| reject(rules::CORREO_INVALIDO, "correo_1"))?;
        fields.insert("correo_1", Some(correo));
    }
    for &i in participants {
        for prefix in ["celular", "celular_contacto"] {
            let name = format!("{prefix}_{i}");
            if !valid_phone(val(&name)) {
                return Err(reject(rules::CELULAR_INVALIDO, &name));
            }
        }
    }
    for &i in participants {
        let name = format!("escuela_{i}");
        if val(&format!("escolaridad_{i}")) != NO_ESTUDIO && blank(raw(&name)) {
            return Err(reject(rules::FALTA_ESCUELA, &name));
        }
    }
    // R10: "<comite_k>:<name>" with a name of that committee, in both modalities.
    let mut picks: Vec<Vec<(Option<&str>, &str)>> = vec![Vec::new(); 3];
    for (k, c) in committees.iter().enumerate() {
        for j in 0..3 {
            let name = pais(k, j);
            let (prefix, nombre) = val(&name)
                .split_once(':')
                .ok_or_else(|| reject(rules::DELEGACION_INVALIDA, &name))?;
            if prefix != c.code {
                return Err(reject(rules::DELEGACION_INVALIDA, &name));
            }
            let (tipo, entry) = c
                .find(nombre)
                .ok_or_else(|| reject(rules::DELEGACION_NO_ENCONTRADA, &name))?;
            picks[k].push((tipo, entry.nombre.as_str()));
        }
    }
    // R11
    for (k, c) in committees.iter().enumerate() {
        for (j, (tipo, _)) in picks[k].iter().enumerate() {
            if !c.tipo_allowed(*tipo, modality) {
                return Err(reject(
                    rules::DELEGACION_NO_DISPONIBLE_EN_CODELEGACION,
                    &pais(k, j),
                ));
            }
        }
    }

    let participantes = participants
        .iter()
        .map(|&i| {
            let f = |p: &str| val(&format!("{p}_{i}")).to_owned();
            let correo = fields
                .get(format!("correo_{i}").as_str())
                .cloned()
                .flatten()
                .unwrap_or_default();
            Participante {
                nombre: f("nombre"),
                apellido: f("apellido"),
                edad: ages[i],
                celular: f("celular"),
                correo,
                pais: f("pais"),
                ciudad_estado: f("ciudad_estado"),
                escolaridad: f("escolaridad"),
                escuela: raw(&format!("escuela_{i}")).unwrap_or(NO_APLICA).to_owned(),
                contacto_emergencia: format!(
                    "{} ({}): {}",
                    f("nombre_contacto"),
                    f("relacion_contacto"),
                    f("celular_contacto")
                ),
                info_extra: raw(&format!("info_extra_{i}")).map(str::to_owned),
            }
        })
        .collect();
    let data = DelegacionData {
        modalidad: modality.as_str().to_owned(),
        delegacion_oficial: DelegacionOficial {
            is_oficial: val("delegacion_oficial") == "si",
            nombre: raw("nombre_delegacion_oficial")
                .unwrap_or(NO_APLICA)
                .to_owned(),
            responsable: raw("responsable_delegacion_oficial")
                .unwrap_or(NO_APLICA)
                .to_owned(),
        },
        participantes,
        comites: committees
            .iter()
            .zip(&picks)
            .map(|(c, picks)| ComiteChoice {
                nombre: c.code.clone(),
                opciones: picks.iter().map(|(_, n)| Some((*n).to_owned())).collect(),
            })
            .collect(),
    };
    let fingerprint = payload_hash(SubmissionType::Delegacion, &fields, &receipt.sha256, None);
    Ok(Validated {
        submission_type: SubmissionType::Delegacion,
        explicit_key,
        fingerprint,
        data: SubmissionData::Delegacion(data),
        receipt,
    })
}

/// `POST /registro/faculty`: reference/api.md §2.2 in order, with complete rows required.
pub fn parse_faculty(form: &RawForm) -> Result<Validated, Rejection> {
    let fields = check_declared(form, FACULTY_FIELDS, None)?;
    let explicit_key = check_key(form)?;
    let receipt = check_receipt(form)?;

    let val = |name: &str| form.get(name).unwrap_or_default();
    // F3
    let numero = val("numero_delegaciones");
    let n: usize = Some(numero)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .filter(|n| *n >= MIN_DELEGACIONES)
        .ok_or_else(|| reject(rules::NUMERO_DELEGACIONES_INVALIDO, "numero_delegaciones"))?;
    if !valid_phone(val("celular_faculty")) {
        return Err(reject(rules::CELULAR_INVALIDO, "celular_faculty"));
    }
    // F4: rows 0..N-1; a row with no field at all is missing, any other must be complete.
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(row) = parse_row(form, i)? {
            rows.push(row);
        }
    }
    // F5
    if rows.len() != n {
        return Err(reject(
            rules::NUMERO_DELEGACIONES_NO_COINCIDE,
            "numero_delegaciones",
        ));
    }
    if let Some(name) = form
        .fields
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| row_index(name).is_some_and(|i| i >= n) && form.get(name).is_some())
    {
        return Err(reject(rules::NUMERO_DELEGACIONES_NO_COINCIDE, name));
    }

    let data = FacultyData {
        institucion: val("institucion_delegacion_oficial").to_owned(),
        faculty: FacultyPerson {
            nombre: val("nombre_faculty").to_owned(),
            apellido: val("apellido_faculty").to_owned(),
            celular: val("celular_faculty").to_owned(),
            correo: fields
                .get("correo_faculty")
                .cloned()
                .flatten()
                .unwrap_or_default(),
            ciudad_estado: val("ciudad_estado_faculty").to_owned(),
            pais: val("pais_faculty").to_owned(),
        },
        numero_delegaciones: n as i64,
        delegaciones: rows,
    };
    let fingerprint = payload_hash(
        SubmissionType::Faculty,
        &fields,
        &receipt.sha256,
        Some(&data.delegaciones),
    );
    Ok(Validated {
        submission_type: SubmissionType::Faculty,
        explicit_key,
        fingerprint,
        data: SubmissionData::Faculty(data),
        receipt,
    })
}

/// Row `i` of a faculty form: `None` when none of its fields was sent.
fn parse_row(form: &RawForm, i: usize) -> Result<Option<FacultyRow>, Rejection> {
    let name = |p: &str| format!("{p}_d{i}");
    let raw = |p: &str| form.get(&name(p));
    let val = |p: &str| raw(p).unwrap_or_default();
    if ROW_FIELDS.iter().all(|(p, _)| raw(p).is_none()) {
        return Ok(None);
    }
    // Lengths first, as R0 comes before every other rule on declared fields.
    for (p, max) in ROW_FIELDS {
        if chars(val(p)) > *max {
            let check = if *p == "edad" {
                Check::Age
            } else {
                Check::Text
            };
            return Err(reject(too_long_rule(check), &name(p)));
        }
    }
    for (p, _) in ROW_FIELDS.iter().filter(|(p, _)| *p != "escuela") {
        if blank(raw(p)) {
            return Err(reject(rules::FALTAN_DATOS_DELEGACION, &name(p)));
        }
    }
    let edad = parse_age(val("edad")).ok_or_else(|| reject(rules::EDAD_INVALIDA, &name("edad")))?;
    if !valid_phone(val("celular")) {
        return Err(reject(rules::CELULAR_INVALIDO, &name("celular")));
    }
    let correo = email::normalize(val("correo"))
        .map_err(|_| reject(rules::CORREO_INVALIDO, &name("correo")))?;
    if !ESCOLARIDADES.contains(&val("escolaridad")) {
        return Err(reject(rules::VALOR_NO_PERMITIDO, &name("escolaridad")));
    }
    if val("escolaridad") != NO_ESTUDIO && blank(raw("escuela")) {
        return Err(reject(rules::FALTA_ESCUELA, &name("escuela")));
    }
    Ok(Some(FacultyRow {
        nombre: val("nombre").to_owned(),
        apellido: val("apellido").to_owned(),
        edad: Some(edad),
        celular: val("celular").to_owned(),
        correo,
        pais: val("pais").to_owned(),
        ciudad_estado: val("ciudad_estado").to_owned(),
        escolaridad: val("escolaridad").to_owned(),
        escuela: raw("escuela").unwrap_or(NO_APLICA).to_owned(),
    }))
}

/// Whether `name` is a field either form declares: its declared fields, the idempotency key, the
/// receipt, or a faculty row field `<campo>_d<i>` (`i` below 100: `numero_delegaciones` has two
/// digits). Only such names may appear in logs and redirects: any other part name is
/// client-chosen text and may carry personal data.
pub fn is_declared_field(name: &str) -> bool {
    name == KEY_FIELD
        || name == FILE_FIELD
        || DELEGACIONES_FIELDS.iter().any(|d| d.name == name)
        || FACULTY_FIELDS.iter().any(|d| d.name == name)
        || row_index(name).is_some_and(|i| i < 100)
}

/// The row index of a `<row field>_d{i}` name (`i` in canonical decimal; indices too large to
/// represent count as beyond any N).
fn row_index(name: &str) -> Option<usize> {
    ROW_FIELDS.iter().find_map(|(p, _)| {
        let digits = name.strip_prefix(p)?.strip_prefix("_d")?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        canonical.then(|| digits.parse().unwrap_or(usize::MAX))
    })
}

#[cfg(test)]
mod tests;
