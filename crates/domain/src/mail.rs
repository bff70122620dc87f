//! The e-mails a submission sends (reference/pipeline.md §5), rendered here so every mailer
//! (Resend, the embedded `.eml` files) sends the same message.
//!
//! Differences from the older system, on purpose (reference/pipeline.md §11 items 12, 13, 29):
//! - Templates are minijinja with auto-escaping (every `*.html` template), so user text cannot
//!   inject markup; each e-mail also has a plain-text twin (`*.txt`, not escaped).
//! - An empty or missing value prints as "—", never as `None`: the environment refuses to print
//!   `none` or an undefined variable, so a template mistake fails a test instead of a message.
//! - Every submission type gets an internal notification with all the submitted data, the
//!   delegates of a faculty registration, the folio (submission id) and the receipt link.
//! - Confirmations show the folio, which the person can quote when they ask for help.
//!
//! The templates are compiled into the crate (`include_str!`), so rendering needs no files and
//! stays a pure function of its inputs. Golden files of every template live in
//! `tests/golden/` (see the tests below for how to regenerate them).

use crate::catalog::Catalog;
use crate::ids::SubmissionId;
use crate::model::{
    DelegacionData, FacultyData, Participante, Submission, SubmissionData, SubmissionType,
};
use crate::sheets::{format_date, lugar};
use crate::worker::{STEP_CONFIRMATION, STEP_INTERNAL};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior, Value};
use serde_json::{Map, Value as Json, json};
use std::fmt::Write as _;
use std::sync::OnceLock;

pub const SENDER_NAME: &str = "Secretaría de Finanzas SMMUN";
pub const SENDER_ADDRESS: &str = "secretariadefinanzas@smmun.com";
pub const CONFIRMATION_SUBJECT: &str = "¡Gracias! - SMMUN 2026: Una Nueva Historia";
pub const DEFAULT_WHATSAPP_NUMBER: &str = "529999033025";
/// What an empty or missing value prints as.
pub const EMPTY_VALUE: &str = "—";

/// The e-mails of a submission; each is one worker step with its own checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// To the registrant(s).
    Confirmation,
    /// To the organizers.
    InternalNotification,
}

impl MailKind {
    /// The worker checkpoint (step) that sends this e-mail.
    pub fn checkpoint(self) -> &'static str {
        match self {
            Self::Confirmation => STEP_CONFIRMATION,
            Self::InternalNotification => STEP_INTERNAL,
        }
    }

    fn key_part(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::InternalNotification => "internal-notification",
        }
    }
}

/// The e-mails every submission of type `t` must send, in order. Both types send both (the
/// older system sent no internal notification for delegaciones).
pub fn required_kinds(t: SubmissionType) -> &'static [MailKind] {
    match t {
        SubmissionType::Delegacion | SubmissionType::Faculty => {
            &[MailKind::Confirmation, MailKind::InternalNotification]
        }
    }
}

/// The Resend idempotency key, `<type>-<kind>/<submission_id>` (the contract of
/// reference/pipeline.md §5), e.g. `delegacion-confirmation/<id>`.
pub fn idempotency_key(t: SubmissionType, kind: MailKind, id: &SubmissionId) -> String {
    format!("{}-{}/{}", t.as_str(), kind.key_part(), id)
}

/// A rendered message, ready for a mailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub kind: MailKind,
    /// `Secretaría de Finanzas SMMUN <secretariadefinanzas@smmun.com>`.
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// Where internal notifications go.
    pub internal_recipient: String,
    /// Digits only, country code first (the `wa.me/<number>` of the contact button).
    pub whatsapp_number: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            internal_recipient: SENDER_ADDRESS.to_owned(),
            whatsapp_number: DEFAULT_WHATSAPP_NUMBER.to_owned(),
        }
    }
}

/// Why an e-mail could not be rendered. All of them fail again on retry (permanent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("the e-mail has no recipient address")]
    NoRecipient,
    #[error("the submission cannot be rendered: {0}")]
    InvalidData(&'static str),
    #[error("e-mail template failed: {0}")]
    Template(String),
}

/// Renders the e-mail `kind` of `sub`. `receipt_link` is the stable link to the receipt (shown
/// only in the internal notification); an empty string means "no link".
pub fn render(
    sub: &Submission,
    kind: MailKind,
    catalog: &Catalog,
    settings: &MailSettings,
    receipt_link: &str,
) -> Result<Email, MailError> {
    let id = &sub.submission_id;
    let mut ctx = Map::new();
    ctx.insert("folio".into(), json!(id.as_str()));
    ctx.insert("fecha".into(), json!(format_date(sub.created_at)));
    ctx.insert("comprobante".into(), json!(receipt_link.trim()));

    let (template, to, internal_subject) = match (&sub.data, sub.submission_type) {
        (SubmissionData::Delegacion(d), SubmissionType::Delegacion) => {
            let pareja = delegacion_vars(&mut ctx, d, catalog, settings, id)?;
            let (tipo, tipo_texto, subject) = if pareja {
                let (p1, p2) = (&d.participantes[0], &d.participantes[1]);
                let subject = format!(
                    "CODELEGACIÓN: {} {} y {} {}",
                    p1.nombre, p1.apellido, p2.nombre, p2.apellido
                );
                ("codelegacion", "Codelegación", subject)
            } else {
                let p = &d.participantes[0];
                let subject = format!("DELEGACIÓN: {} {}", p.nombre, p.apellido);
                ("delegacion", "Delegación individual", subject)
            };
            ctx.insert("tipo".into(), json!(tipo));
            ctx.insert("tipo_texto".into(), json!(tipo_texto));
            let to = recipients(d.participantes.iter().map(|p| p.correo.as_str()));
            (tipo, to, subject)
        }
        (SubmissionData::Faculty(f), SubmissionType::Faculty) => {
            faculty_vars(&mut ctx, f, settings);
            ctx.insert("tipo".into(), json!("faculty"));
            ctx.insert("tipo_texto".into(), json!("Faculty"));
            let subject = format!("FACULTY: {} {}", f.faculty.nombre, f.faculty.apellido);
            let to = recipients([f.faculty.correo.as_str()]);
            ("faculty", to, subject)
        }
        _ => return Err(MailError::InvalidData("the type does not match the data")),
    };

    let (template, to, subject) = match kind {
        MailKind::Confirmation => (template, to, CONFIRMATION_SUBJECT.to_owned()),
        MailKind::InternalNotification => (
            "interna",
            recipients([settings.internal_recipient.as_str()]),
            one_line(&internal_subject),
        ),
    };
    if to.is_empty() {
        return Err(MailError::NoRecipient);
    }
    ctx.insert("asunto".into(), json!(subject));

    let ctx = Value::from_serialize(Json::Object(ctx));
    Ok(Email {
        kind,
        from: format!("{SENDER_NAME} <{SENDER_ADDRESS}>"),
        to,
        subject,
        html: render_template(&format!("{template}.html"), &ctx)?,
        text: render_template(&format!("{template}.txt"), &ctx)?,
        idempotency_key: idempotency_key(sub.submission_type, kind, id),
    })
}

/// Fills the variables of reference/pipeline.md §5.2 for a delegation; returns whether it is a
/// codelegation.
fn delegacion_vars(
    ctx: &mut Map<String, Json>,
    d: &DelegacionData,
    catalog: &Catalog,
    settings: &MailSettings,
    id: &SubmissionId,
) -> Result<bool, MailError> {
    let pareja = d.modalidad == "pareja";
    let first = d
        .participantes
        .first()
        .ok_or(MailError::InvalidData("a delegation without participants"))?;
    let second = d.participantes.get(1);
    if pareja && second.is_none() {
        return Err(MailError::InvalidData(
            "a codelegation with one participant",
        ));
    }
    let oficial = &d.delegacion_oficial;
    let vars = [
        ("codelegacion", json!(pareja)),
        (
            "tipo_delegacion",
            json!(if pareja {
                "Codelegación"
            } else {
                "Delegación individual"
            }),
        ),
        (
            "do_texto",
            json!(if oficial.is_oficial {
                shown(&oficial.nombre)
            } else {
                "No".into()
            }),
        ),
        (
            "responsable_do",
            json!(if oficial.is_oficial {
                shown(&oficial.responsable)
            } else {
                "No aplica".into()
            }),
        ),
    ];
    ctx.extend(vars.into_iter().map(|(k, v)| (k.to_owned(), v)));
    participant_vars(ctx, first, "");
    if pareja && let Some(p) = second {
        participant_vars(ctx, p, "_co");
    }
    for n in 1..=3 {
        let comite = d.comites.get(n - 1);
        let largo = comite.map_or_else(String::new, |c| catalog.long_name(&c.nombre));
        ctx.insert(
            format!("comite_{n}"),
            json!(shown(comite.map_or("", |c| &c.nombre))),
        );
        ctx.insert(format!("comite_{n}_largo"), json!(shown(&largo)));
        for k in 1..=3 {
            let opcion = comite
                .and_then(|c| c.opciones.get(k - 1))
                .and_then(Option::as_deref);
            ctx.insert(
                format!("comite_{n}_opcion_{k}"),
                json!(shown(opcion.unwrap_or(""))),
            );
        }
    }

    let message = match second.filter(|_| pareja) {
        Some(p2) => format!(
            "¡Hola! Somos {} y {} (folio {id}) y tenemos dudas sobre nuestro registro a SMMUN 2026:",
            full_name(first),
            full_name(p2)
        ),
        None => format!(
            "¡Hola! Soy {} (folio {id}) y tengo dudas sobre mi registro a SMMUN 2026:",
            full_name(first)
        ),
    };
    let topics =
        "\n☐ Modalidad\n☐ Delegación oficial\n☐ Datos personales\n☐ Comités/países\n☐ Pago";
    let url = format!(
        "{}?text={}",
        whatsapp_base(settings),
        percent_encode(&format!("{message}{topics}"))
    );
    ctx.insert("whatsapp_url".into(), json!(url));
    Ok(pareja)
}

fn participant_vars(ctx: &mut Map<String, Json>, p: &Participante, suffix: &str) {
    let vars = [
        ("nombre", json!(shown(&p.nombre))),
        ("apellido", json!(shown(&p.apellido))),
        ("nombre_completo", json!(shown(&full_name(p)))),
        ("edad", json!(p.edad)),
        ("celular", json!(shown(&p.celular))),
        ("correo", json!(shown(&p.correo))),
        ("pais", json!(shown(&p.pais))),
        ("ciudad_estado", json!(shown(&p.ciudad_estado))),
        (
            "lugar_residencia",
            json!(shown(&lugar(&p.ciudad_estado, &p.pais))),
        ),
        ("escolaridad", json!(shown(&p.escolaridad))),
        ("escuela", json!(shown(&p.escuela))),
        ("contacto_emergencia", json!(shown(&p.contacto_emergencia))),
        (
            "info_extra",
            json!(shown(p.info_extra.as_deref().unwrap_or(""))),
        ),
    ];
    ctx.extend(vars.into_iter().map(|(k, v)| (format!("{k}{suffix}"), v)));
}

fn faculty_vars(ctx: &mut Map<String, Json>, f: &FacultyData, settings: &MailSettings) {
    let p = &f.faculty;
    let vars = [
        (
            "institucion_delegacion_oficial",
            json!(shown(&f.institucion)),
        ),
        ("numero_delegaciones", json!(f.numero_delegaciones)),
        ("nombre_faculty", json!(shown(&p.nombre))),
        ("apellido_faculty", json!(shown(&p.apellido))),
        (
            "nombre_completo_faculty",
            json!(shown(&join_name(&p.nombre, &p.apellido))),
        ),
        ("celular_faculty", json!(shown(&p.celular))),
        ("correo_faculty", json!(shown(&p.correo))),
        ("ciudad_estado_faculty", json!(shown(&p.ciudad_estado))),
        ("pais_faculty", json!(shown(&p.pais))),
        (
            "lugar_residencia_faculty",
            json!(shown(&lugar(&p.ciudad_estado, &p.pais))),
        ),
        ("whatsapp_url", json!(whatsapp_base(settings))),
    ];
    ctx.extend(vars.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let delegaciones: Vec<Json> = f
        .delegaciones
        .iter()
        .map(|r| {
            json!({
                "nombre_completo": shown(&join_name(&r.nombre, &r.apellido)),
                "edad": r.edad.map_or_else(|| EMPTY_VALUE.to_owned(), |e| e.to_string()),
                "celular": shown(&r.celular),
                "correo": shown(&r.correo),
                "lugar_residencia": shown(&lugar(&r.ciudad_estado, &r.pais)),
                "escolaridad": shown(&r.escolaridad),
                "escuela": shown(&r.escuela),
            })
        })
        .collect();
    ctx.insert("delegaciones".into(), Json::Array(delegaciones));
}

/// The value, or [`EMPTY_VALUE`] when it is blank.
fn shown(s: &str) -> String {
    if s.trim().is_empty() {
        EMPTY_VALUE.to_owned()
    } else {
        s.to_owned()
    }
}

fn full_name(p: &Participante) -> String {
    join_name(&p.nombre, &p.apellido)
}

fn join_name(nombre: &str, apellido: &str) -> String {
    format!("{} {}", nombre.trim(), apellido.trim())
        .trim()
        .to_owned()
}

/// Non-blank addresses, trimmed, without repeats (case-insensitive).
fn recipients<'a>(addresses: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in addresses
        .into_iter()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_owned());
        }
    }
    out
}

/// A header value on one line: control characters (CR/LF included) become spaces and runs of
/// whitespace collapse, so user text cannot add headers to the message.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn whatsapp_base(settings: &MailSettings) -> String {
    let digits: String = settings
        .whatsapp_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("https://wa.me/{digits}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Every template, compiled into the crate. `.html` names are auto-escaped, `.txt` are not.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("base.txt", include_str!("../templates/base.txt")),
    ("_macros.html", include_str!("../templates/_macros.html")),
    ("_macros.txt", include_str!("../templates/_macros.txt")),
    (
        "_delegacion.html",
        include_str!("../templates/_delegacion.html"),
    ),
    (
        "_delegacion.txt",
        include_str!("../templates/_delegacion.txt"),
    ),
    ("_faculty.html", include_str!("../templates/_faculty.html")),
    ("_faculty.txt", include_str!("../templates/_faculty.txt")),
    (
        "delegacion.html",
        include_str!("../templates/delegacion.html"),
    ),
    (
        "delegacion.txt",
        include_str!("../templates/delegacion.txt"),
    ),
    (
        "codelegacion.html",
        include_str!("../templates/codelegacion.html"),
    ),
    (
        "codelegacion.txt",
        include_str!("../templates/codelegacion.txt"),
    ),
    ("faculty.html", include_str!("../templates/faculty.html")),
    ("faculty.txt", include_str!("../templates/faculty.txt")),
    ("interna.html", include_str!("../templates/interna.html")),
    ("interna.txt", include_str!("../templates/interna.txt")),
];

fn environment() -> Result<&'static Environment<'static>, MailError> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_formatter(formatter);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("{e:#}"))?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(|e| MailError::Template(e.clone()))
}

fn render_template(name: &str, ctx: &Value) -> Result<String, MailError> {
    environment()?
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| MailError::Template(format!("{e:#}")))
}

/// Like minijinja's default, but refuses to print `none`, and escapes HTML without turning
/// `/` into `&#x2f;` (every attribute is double-quoted, so `&<>"'` suffice; entity-encoded
/// URLs in links look like obfuscation to spam filters).
fn formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_none() || value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "a template printed a missing value",
        ));
    }
    if matches!(state.auto_escape(), AutoEscape::Html)
        && !value.is_safe()
        && let Some(s) = value.as_str()
    {
        for c in s.chars() {
            match c {
                '&' => out.write_str("&amp;")?,
                '<' => out.write_str("&lt;")?,
                '>' => out.write_str("&gt;")?,
                '"' => out.write_str("&quot;")?,
                '\'' => out.write_str("&#x27;")?,
                c => out.write_char(c)?,
            }
        }
        return Ok(());
    }
    minijinja::escape_formatter(out, state, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheets::fixtures::{self, LINK};

    fn all() -> Vec<(&'static str, Submission)> {
        vec![
            ("delegacion", fixtures::individual()),
            ("codelegacion", fixtures::pareja()),
            ("faculty", fixtures::faculty()),
        ]
    }

    fn rendered(sub: &Submission, kind: MailKind) -> Email {
        render(
            sub,
            kind,
            &Catalog::example(),
            &MailSettings::default(),
            LINK,
        )
        .unwrap()
    }

    /// Golden files: `tests/golden/<template>_<kind>.{html,txt}`. After a deliberate template
    /// change, regenerate them with `UPDATE_GOLDEN=1 cargo test -p domain mail::` and review
    /// the diff before committing.
    #[test]
    fn every_email_matches_its_golden_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
        let mut mismatches = Vec::new();
        for (name, sub) in all() {
            for (kind, kind_name) in [
                (MailKind::Confirmation, "confirmation"),
                (MailKind::InternalNotification, "internal"),
            ] {
                let email = rendered(&sub, kind);
                for (ext, body) in [("html", &email.html), ("txt", &email.text)] {
                    let path = dir.join(format!("{name}_{kind_name}.{ext}"));
                    if update {
                        std::fs::create_dir_all(&dir).unwrap();
                        std::fs::write(&path, body).unwrap();
                    } else {
                        let want = std::fs::read_to_string(&path).unwrap_or_default();
                        if want != *body {
                            mismatches.push(path.display().to_string());
                        }
                    }
                }
            }
        }
        assert!(
            mismatches.is_empty(),
            "rendered e-mails differ from {mismatches:?}; if the change is intended, run \
             `UPDATE_GOLDEN=1 cargo test -p domain mail::` and review the diff"
        );
    }

    #[test]
    fn confirmations_go_to_the_registrants_and_notifications_to_the_organizers() {
        let cases = [
            (
                fixtures::individual(),
                vec!["ana@example.com"],
                "DELEGACIÓN: Ana Pérez",
                "delegacion",
            ),
            (
                fixtures::pareja(),
                vec!["ana@example.com", "luis@example.com"],
                "CODELEGACIÓN: Ana Pérez y Luis Gómez",
                "delegacion",
            ),
            (
                fixtures::faculty(),
                vec!["carmen@example.com"],
                "FACULTY: Carmen Díaz",
                "faculty",
            ),
        ];
        for (sub, to, internal_subject, prefix) in cases {
            let id = sub.submission_id.as_str();
            let c = rendered(&sub, MailKind::Confirmation);
            assert_eq!(
                c.from,
                "Secretaría de Finanzas SMMUN <secretariadefinanzas@smmun.com>"
            );
            assert_eq!(c.to, to);
            assert_eq!(c.subject, CONFIRMATION_SUBJECT);
            assert_eq!(c.idempotency_key, format!("{prefix}-confirmation/{id}"));
            assert_eq!(c.kind.checkpoint(), "resend_confirmation");

            let i = rendered(&sub, MailKind::InternalNotification);
            assert_eq!(i.from, c.from);
            assert_eq!(i.to, ["secretariadefinanzas@smmun.com"]);
            assert_eq!(i.subject, internal_subject);
            assert_eq!(
                i.idempotency_key,
                format!("{prefix}-internal-notification/{id}")
            );
            assert_eq!(i.kind.checkpoint(), "resend_internal_notification");
            for body in [&i.html, &i.text] {
                assert!(body.contains(id), "the folio is in the notification");
                assert!(
                    body.contains(LINK),
                    "the receipt link is in the notification"
                );
            }
        }
    }

    #[test]
    fn every_idempotency_key_is_kind_slash_submission_id() {
        let valid = |k: &str| {
            let Some((kind, id)) = k.split_once('/') else {
                return false;
            };
            !kind.is_empty()
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                && id.len() == 20
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        let mut keys = Vec::new();
        for (_, sub) in all() {
            for kind in required_kinds(sub.submission_type) {
                keys.push(rendered(&sub, *kind).idempotency_key);
            }
        }
        assert_eq!(keys.len(), 6);
        for k in &keys {
            assert!(valid(k), "{k}");
        }
        assert!(!valid("delegacion-confirmation/short"));
        assert!(!valid("Delegacion/AAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn both_types_require_a_confirmation_and_an_internal_notification() {
        for t in [SubmissionType::Delegacion, SubmissionType::Faculty] {
            assert_eq!(
                required_kinds(t),
                [MailKind::Confirmation, MailKind::InternalNotification]
            );
            let steps: Vec<_> = required_kinds(t).iter().map(|k| k.checkpoint()).collect();
            assert!(crate::worker::required_steps(t).ends_with(&steps));
        }
    }

    const HOSTILE: &str = "<script>alert(1)</script> & \"x\"";
    const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;";

    fn hostile(mut sub: Submission) -> Submission {
        match &mut sub.data {
            SubmissionData::Delegacion(d) => {
                for p in &mut d.participantes {
                    p.nombre = HOSTILE.into();
                    p.info_extra = Some(HOSTILE.into());
                }
                d.comites[0].opciones[0] = Some(HOSTILE.into());
            }
            SubmissionData::Faculty(f) => {
                f.institucion = HOSTILE.into();
                f.faculty.nombre = HOSTILE.into();
                f.delegaciones[0].nombre = HOSTILE.into();
            }
        }
        sub
    }

    #[test]
    fn user_text_is_escaped_in_html_and_verbatim_in_text() {
        for (name, sub) in all() {
            let sub = hostile(sub);
            for kind in required_kinds(sub.submission_type) {
                let e = rendered(&sub, *kind);
                assert!(!e.html.contains("<script"), "{name} {kind:?}");
                assert!(e.html.contains(HOSTILE_ESCAPED), "{name} {kind:?}");
                assert!(e.text.contains(HOSTILE), "{name} {kind:?}");
                assert!(!e.text.contains("&lt;"), "{name} {kind:?}");
            }
            // The subject is a header, not HTML: it keeps the text as typed.
            let i = rendered(&sub, MailKind::InternalNotification);
            assert!(i.subject.contains(HOSTILE), "{name}");
        }
    }

    #[test]
    fn missing_values_print_as_a_dash_never_as_none() {
        for (name, sub) in all() {
            for kind in required_kinds(sub.submission_type) {
                let e = rendered(&sub, *kind);
                assert!(!e.html.contains("None"), "{name} {kind:?}");
                // (The HTML has `text-decoration:none` in its styles; the text has no styles.)
                assert!(!e.text.to_lowercase().contains("none"), "{name} {kind:?}");
                assert!(!e.text.contains("undefined"), "{name} {kind:?}");
            }
        }
        // The individual fixture has no info_extra and no third options.
        let e = rendered(&fixtures::individual(), MailKind::Confirmation);
        assert!(e.text.contains("Información extra: —"));
        assert!(e.text.contains("Tercera opción: —"));
    }

    #[test]
    fn committees_show_their_long_names_and_unknown_codes_as_typed() {
        let e = rendered(&fixtures::pareja(), MailKind::Confirmation);
        assert!(e.text.contains(
            "Comité: Comisión de prevención del delito y Justicia Penal de las Naciones Unidas (CCPCJ)"
        ));
        assert!(e.text.contains("Comité: Crisis Futura"));
        assert!(e.text.contains("Comité: Comité Nuevo"));
    }

    #[test]
    fn the_contact_button_prefills_an_encoded_whatsapp_message() {
        let e = rendered(&fixtures::individual(), MailKind::Confirmation);
        let url = format!(
            "https://wa.me/529999033025?text={}",
            percent_encode(&format!(
                "¡Hola! Soy Ana Pérez (folio {}) y tengo dudas sobre mi registro a SMMUN 2026:\n\
                 ☐ Modalidad\n☐ Delegación oficial\n☐ Datos personales\n☐ Comités/países\n☐ Pago",
                fixtures::INDIVIDUAL_ID
            ))
        );
        assert!(e.html.contains(&format!("href=\"{url}\"")));
        assert!(e.text.contains(&url));
        assert_eq!(percent_encode("a b/ñ~"), "a%20b%2F%C3%B1~");
        let f = rendered(&fixtures::faculty(), MailKind::Confirmation);
        assert!(f.html.contains("href=\"https://wa.me/529999033025\""));
    }

    #[test]
    fn the_faculty_notification_lists_every_delegate() {
        let e = rendered(&fixtures::faculty(), MailKind::InternalNotification);
        for name in ["Sofía Canul", "Diego May", "Elena Chan", "Iván Pech"] {
            assert!(e.html.contains(name) && e.text.contains(name), "{name}");
        }
        assert!(e.text.contains("DELEGACIONES (4)"));
        // The confirmation to the advisor does not carry the list.
        let c = rendered(&fixtures::faculty(), MailKind::Confirmation);
        assert!(!c.text.contains("Sofía Canul"));
        assert!(!c.text.contains(LINK));
    }

    #[test]
    fn recipients_are_the_non_empty_distinct_addresses() {
        let mut sub = fixtures::pareja();
        let SubmissionData::Delegacion(d) = &mut sub.data else {
            unreachable!()
        };
        d.participantes[1].correo = " ANA@example.com ".into();
        assert_eq!(
            rendered(&sub, MailKind::Confirmation).to,
            ["ana@example.com"]
        );

        let SubmissionData::Delegacion(d) = &mut sub.data else {
            unreachable!()
        };
        d.participantes[0].correo = String::new();
        d.participantes[1].correo = "  ".into();
        let err = render(
            &sub,
            MailKind::Confirmation,
            &Catalog::example(),
            &MailSettings::default(),
            LINK,
        );
        assert_eq!(err, Err(MailError::NoRecipient));
    }

    #[test]
    fn inconsistent_submissions_are_refused_not_rendered_half() {
        let catalog = Catalog::example();
        let settings = MailSettings::default();
        let mut sub = fixtures::pareja();
        let SubmissionData::Delegacion(d) = &mut sub.data else {
            unreachable!()
        };
        d.participantes.truncate(1);
        let err = render(&sub, MailKind::Confirmation, &catalog, &settings, LINK);
        assert!(matches!(err, Err(MailError::InvalidData(_))));

        let mut sub = fixtures::faculty();
        sub.submission_type = SubmissionType::Delegacion;
        let err = render(&sub, MailKind::Confirmation, &catalog, &settings, LINK);
        assert!(matches!(err, Err(MailError::InvalidData(_))));
    }

    #[test]
    fn subjects_cannot_carry_line_breaks() {
        let mut sub = fixtures::faculty();
        let SubmissionData::Faculty(f) = &mut sub.data else {
            unreachable!()
        };
        f.faculty.nombre = "Carmen\r\nBcc: x@example.com".into();
        let e = rendered(&sub, MailKind::InternalNotification);
        assert_eq!(e.subject, "FACULTY: Carmen Bcc: x@example.com Díaz");
    }

    #[test]
    fn without_a_receipt_link_the_notification_says_so() {
        let e = render(
            &fixtures::individual(),
            MailKind::InternalNotification,
            &Catalog::example(),
            &MailSettings::default(),
            "",
        )
        .unwrap();
        assert!(e.text.contains("Comprobante de pago: —"));
        assert!(!e.html.contains("Ver comprobante de pago"));
    }
}
