//! The conference catalog: committees, their delegations grouped by *tipo*, and the modality
//! rules as data.
//!
//! The older system kept two hand-edited copies (one in the API, one in the front) and hard-coded
//! which committees admit codelegations (reference/api.md §7, §10 items 1–2). Here one JSON file
//! is loaded, validated once at startup, used by the form rules, and served to the front as
//! [`Catalog::public_json`], so both sides read the same data. The served JSON also carries the
//! form's fixed values (`formulario`: allowed values, age range, limits), serialised from the
//! validator's own tables by [`crate::form::formulario_json`], for the same reason.
//!
//! Two shapes are accepted:
//! - the plain shape of the older `delegaciones.json` (committee key → flat list, or *tipo* →
//!   list); committee metadata then comes from [`DEFAULT_COMMITTEES`];
//! - `{"comites": [<metadata>], "delegaciones": {<plain shape>}}`, for a conference that ships
//!   its own committees. Metadata fields mirror the public JSON: `codigo`, `clave`, `nombre`,
//!   `nombre_largo` (default: `nombre`), `modalidades` (default: both), `tipos_solo_individual`
//!   (default: none), `etiquetas` (*tipo* → label, default: none).
//!
//! The file is read with an order-preserving JSON tree, so groups are offered in file order
//! whatever `serde_json` features the workspace enables.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Maximum characters of a delegation form value (`comite_k_pais_j`, reference/api.md §1.2).
/// A catalog name that cannot fit in `"<code>:<nombre>"` could never be chosen.
pub const MAX_FORM_VALUE_CHARS: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Individual,
    Pareja,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Pareja => "pareja",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "individual" => Some(Self::Individual),
            "pareja" => Some(Self::Pareja),
            _ => None,
        }
    }
}

/// Committee metadata as static data (the built-in table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitteeMeta {
    /// Form value ("siglas").
    pub code: &'static str,
    /// Key in the catalog JSON.
    pub key: &'static str,
    pub name: &'static str,
    /// As in the e-mails (reference/pipeline.md §5.2).
    pub long_name: &'static str,
    pub modalities: &'static [Modality],
    pub individual_only_tipos: &'static [&'static str],
    /// *tipo* → Spanish label shown on the group.
    pub labels: &'static [(&'static str, &'static str)],
}

const BOTH: &[Modality] = &[Modality::Individual, Modality::Pareja];
const INDIVIDUAL: &[Modality] = &[Modality::Individual];

/// The 11 committees the older system knows, in its catalog order (reference/api.md §7.1,
/// §7.3; long names from reference/pipeline.md §5.2).
pub const DEFAULT_COMMITTEES: &[CommitteeMeta] = &[
    CommitteeMeta {
        code: "SOCHUM",
        key: "sochum",
        name: "Tercera Comisión de la AG (Social, Cultural, Humanitario y DD.HH.)",
        long_name: "Tercera Comisión de la Asamblea General referente a lo Social, Cultural, \
                    Humanitario y de Derechos Humanos (SOCHUM)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "ONU SIDA",
        key: "onu_sida",
        name: "Programa Conjunto de las NU para el VIH-SIDA",
        long_name: "Programa Conjunto de las Naciones Unidas para el VIH-SIDA (ONU SIDA)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "ONU-Hábitat",
        key: "onu_habitat",
        name: "Programa de las NU para los Asentamientos Humanos",
        long_name: "Programa de las Naciones Unidas para los Asentamientos Humanos (ONU-Hábitat)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "CCPCJ",
        key: "ccpcj",
        name: "Comisión de Prevención del Delito y Justicia Penal de las NU",
        long_name: "Comisión de prevención del delito y Justicia Penal de las Naciones Unidas (CCPCJ)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "UNRWA",
        key: "unrwa",
        name: "Agencia de las NU para los Refugiados de Palestina en Oriente Próximo",
        long_name: "Agencia de las Naciones Unidas para los Refugiados de Palestina en Oriente \
                    Próximo (UNRWA)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "Cumbre",
        key: "cumbre_futuro",
        name: "Cumbre del Futuro",
        long_name: "Cumbre del Futuro",
        modalities: INDIVIDUAL,
        individual_only_tipos: &[],
        labels: &[
            ("activistas", "Activistas"),
            ("ongs", "Organizaciones No Gubernamentales"),
            ("agencias_onu", "Agencias de las Naciones Unidas"),
            ("jefes_estado", "Jefes de Estado"),
        ],
    },
    CommitteeMeta {
        code: "NASA",
        key: "nasa",
        name: "Administración Nacional de Aeronáutica y del Espacio",
        long_name: "Administración Nacional de Aeronáutica y del Espacio (NASA)",
        modalities: BOTH,
        individual_only_tipos: &["astronautas", "representantes_nasa"],
        labels: &[
            ("agencias_espaciales", "Agencias espaciales"),
            ("astronautas", "Astronautas"),
            ("representantes_nasa", "Representantes de la NASA"),
        ],
    },
    CommitteeMeta {
        code: "WWF",
        key: "wwf",
        name: "World Wildlife Fund for Nature",
        long_name: "World Wildlife Fund for Nature (WWF)",
        modalities: BOTH,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "Crisis",
        key: "crisis",
        name: "Crisis Futura",
        long_name: "Crisis Futura",
        modalities: INDIVIDUAL,
        individual_only_tipos: &[],
        labels: &[],
    },
    CommitteeMeta {
        code: "FIA",
        key: "fia",
        name: "Federación Internacional del Automóvil",
        long_name: "Federación Internacional del Automóvil (FIA)",
        modalities: BOTH,
        individual_only_tipos: &["pilotos"],
        labels: &[
            ("pilotos", "Pilotos"),
            ("escuderias", "Escuderías"),
            ("sponsors", "Sponsors"),
        ],
    },
    CommitteeMeta {
        code: "FHCM",
        key: "fhcm",
        name: "Federación de Alta Costura y Moda",
        long_name: "Federación de Alta Costura y Moda (FHCM)",
        modalities: BOTH,
        individual_only_tipos: &["disenadores_emergentes"],
        labels: &[
            ("casas", "Casas de Alta Costura"),
            (
                "disenadores_emergentes",
                "Diseñadoras y empresas emergentes",
            ),
            ("sindicatos", "Sindicatos"),
        ],
    },
];

/// The older system's committee code → catalog key rule (reference/api.md §7.1): NFD, drop
/// combining marks, lower-case, spaces and `-` → `_`, and `cumbre` → `cumbre_futuro`.
/// Lookups go through the metadata table; this is kept to check the table against the rule.
pub fn committee_key(code: &str) -> String {
    let key: String = code
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    if key == "cumbre" {
        "cumbre_futuro".to_owned()
    } else {
        key
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub nombre: String,
    pub abreviacion: String,
    pub emoji: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `None` for a flat committee.
    pub tipo: Option<String>,
    /// Spanish label of the *tipo* (the *tipo* itself when the metadata has none).
    pub label: Option<String>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committee {
    pub code: String,
    pub key: String,
    pub name: String,
    pub long_name: String,
    pub modalities: Vec<Modality>,
    pub individual_only_tipos: Vec<String>,
    pub groups: Vec<Group>,
}

impl Committee {
    pub fn allows(&self, m: Modality) -> bool {
        self.modalities.contains(&m)
    }

    /// (tipo, entry) of the entry with exactly this nombre
    pub fn find(&self, nombre: &str) -> Option<(Option<&str>, &Entry)> {
        self.groups.iter().find_map(|g| {
            g.entries
                .iter()
                .find(|e| e.nombre == nombre)
                .map(|e| (g.tipo.as_deref(), e))
        })
    }

    /// Whether a delegation of this *tipo* may be chosen in modality `m`: individual-only *tipos*
    /// are refused to codelegations.
    pub fn tipo_allowed(&self, tipo: Option<&str>, m: Modality) -> bool {
        match (m, tipo) {
            (Modality::Individual, _) | (_, None) => true,
            (Modality::Pareja, Some(t)) => !self.is_individual_only(t),
        }
    }

    fn is_individual_only(&self, tipo: &str) -> bool {
        self.individual_only_tipos.iter().any(|t| t == tipo)
    }

    /// The exact form value of an entry: `"<code>:<nombre>"`.
    pub fn form_value(&self, entry: &Entry) -> String {
        format!("{}:{}", self.code, entry.nombre)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "catalog must be a JSON object of committees, or {{\"comites\": [...], \"delegaciones\": {{...}}}}"
    )]
    NotAnObject,
    #[error("catalog has the key `{0}` twice")]
    DuplicateKey(String),
    #[error("committee `{key}`: expected a list of delegations or an object of tipo → list")]
    BadCommitteeShape { key: String },
    #[error("committee `{key}`, tipo `{tipo}` appears twice")]
    DuplicateTipo { key: String, tipo: String },
    #[error("committee `{key}`, tipo `{tipo}`: expected a list of delegations")]
    BadGroupShape { key: String, tipo: String },
    #[error("committee `{key}`, delegation #{index}: {reason}")]
    BadEntry {
        key: String,
        index: usize,
        reason: String,
    },
    #[error("committee `{0}` has no metadata (unknown committee key)")]
    UnknownCommittee(String),
    #[error("committee `{0}` has no delegations")]
    EmptyCommittee(String),
    #[error("committee `{key}`, tipo `{tipo}` has no delegations")]
    EmptyGroup { key: String, tipo: String },
    #[error("committee `{key}`: a delegation has an empty name")]
    EmptyName { key: String },
    #[error("committee `{key}`: delegation name `{nombre}` contains `:`")]
    ColonInName { key: String, nombre: String },
    #[error("committee `{key}`: delegation name `{nombre}` appears more than once")]
    DuplicateName { key: String, nombre: String },
    #[error(
        "committee `{key}`: delegation name `{nombre}` is too long for a form value \
         (`<code>:<nombre>` must fit in {max} characters)"
    )]
    NameTooLong {
        key: String,
        nombre: String,
        max: usize,
    },
    #[error("committee metadata #{index}: {reason}")]
    BadMetadata { index: usize, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    committees: Vec<Committee>,
}

impl Catalog {
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let Node::Obj(top) = serde_json::from_str::<Node>(text)? else {
            return Err(CatalogError::NotAnObject);
        };
        reject_duplicate_keys(&top, CatalogError::DuplicateKey)?;
        let (metas, delegations) = match extended_parts(&top) {
            Some((metas, delegations)) => (parse_metadata(metas)?, delegations),
            None => (default_metadata(), top.as_slice()),
        };

        let mut parsed = Vec::with_capacity(delegations.len());
        for (key, value) in delegations {
            if !metas.iter().any(|m| &m.key == key) {
                return Err(CatalogError::UnknownCommittee(key.clone()));
            }
            parsed.push((key, parse_groups(key, value)?));
        }

        let committees = metas
            .into_iter()
            .filter_map(|meta| {
                let (_, groups) = parsed.iter().find(|(k, _)| **k == meta.key)?;
                Some((meta, groups.clone()))
            })
            .map(|(meta, groups)| build_committee(meta, groups))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Catalog { committees })
    }

    /// The product's small example catalog (`catalog/example.json`), compiled in.
    pub fn example() -> Catalog {
        Self::from_json(EXAMPLE_JSON).expect("the bundled example catalog is valid")
    }

    /// In metadata-table order.
    pub fn committees(&self) -> &[Committee] {
        &self.committees
    }

    /// By form code, exact.
    pub fn committee(&self, code: &str) -> Option<&Committee> {
        self.committees.iter().find(|c| c.code == code)
    }

    /// Long name, or the code itself if unknown. Codes the catalog does not offer (any more)
    /// still get the built-in long name, so submissions made under another catalog (or by the
    /// older system) render as before.
    pub fn long_name(&self, code: &str) -> String {
        self.committee(code)
            .map(|c| c.long_name.clone())
            .or_else(|| {
                DEFAULT_COMMITTEES
                    .iter()
                    .find(|m| m.code == code)
                    .map(|m| m.long_name.to_owned())
            })
            .unwrap_or_else(|| code.to_owned())
    }

    /// Served at `GET /registro/catalogo`.
    pub fn public_json(&self) -> Value {
        let comites: Vec<Value> = self
            .committees
            .iter()
            .map(|c| {
                let grupos: Vec<Value> = c
                    .groups
                    .iter()
                    .map(|g| {
                        let delegaciones: Vec<Value> = g
                            .entries
                            .iter()
                            .map(|e| {
                                json!({
                                    "nombre": e.nombre,
                                    "abreviacion": e.abreviacion,
                                    "emoji": e.emoji,
                                    "valor": c.form_value(e),
                                })
                            })
                            .collect();
                        json!({
                            "tipo": g.tipo,
                            "etiqueta": g.label,
                            "solo_individual": g.tipo.as_deref().is_some_and(|t| c.is_individual_only(t)),
                            "delegaciones": delegaciones,
                        })
                    })
                    .collect();
                json!({
                    "codigo": c.code,
                    "clave": c.key,
                    "nombre": c.name,
                    "nombre_largo": c.long_name,
                    "modalidades": c.modalities.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "tipos_solo_individual": c.individual_only_tipos,
                    "grupos": grupos,
                })
            })
            .collect();
        json!({ "comites": comites, "formulario": crate::form::formulario_json() })
    }
}

/// Test support: the catalogs every catalog-dependent test runs on. The shipped example always;
/// the conference's real catalog only when `REGISTRO_TEST_CATALOG` names it (it is deployment
/// data, not part of the repository, so `.ci/run` supplies it and a fresh clone runs without it).
#[cfg(test)]
pub(crate) mod test_catalogs {
    use super::Catalog;
    use std::ffi::OsStr;
    use std::path::PathBuf;

    pub const ENV: &str = "REGISTRO_TEST_CATALOG";

    /// The catalog named by `REGISTRO_TEST_CATALOG`, or `None` (said on stderr) when unset.
    pub fn real() -> Option<Catalog> {
        let Some(raw) = std::env::var_os(ENV) else {
            eprintln!("{ENV} is not set: the real-catalog variant of this test did not run");
            return None;
        };
        Some(load(&raw))
    }

    /// Loads the value of the setting (relative paths from the workspace root). Empty,
    /// unreadable or invalid: a panic naming the setting, never a silent skip.
    pub fn load(raw: &OsStr) -> Catalog {
        assert!(!raw.is_empty(), "{ENV} is set but empty");
        let shown = raw.to_string_lossy();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(raw);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{ENV}={shown} cannot be read ({}): {e}", path.display()));
        Catalog::from_json(&text)
            .unwrap_or_else(|e| panic!("{ENV}={shown} is not a valid catalog: {e}"))
    }

    /// `("example", …)`, then `("REGISTRO_TEST_CATALOG", …)` when set.
    pub fn all() -> Vec<(&'static str, Catalog)> {
        let mut v = vec![("example", Catalog::example())];
        v.extend(real().map(|c| (ENV, c)));
        v
    }
}

/// `catalog/example.json`, for `Catalog::example` and tests.
pub const EXAMPLE_JSON: &str = include_str!("../../../catalog/example.json");

/// Owned metadata: the built-in table or a conference's own `comites` list.
#[derive(Debug, Clone)]
struct Meta {
    code: String,
    key: String,
    name: String,
    long_name: String,
    modalities: Vec<Modality>,
    individual_only_tipos: Vec<String>,
    labels: Vec<(String, String)>,
}

fn default_metadata() -> Vec<Meta> {
    DEFAULT_COMMITTEES
        .iter()
        .map(|m| Meta {
            code: m.code.to_owned(),
            key: m.key.to_owned(),
            name: m.name.to_owned(),
            long_name: m.long_name.to_owned(),
            modalities: m.modalities.to_vec(),
            individual_only_tipos: m
                .individual_only_tipos
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            labels: m
                .labels
                .iter()
                .map(|(t, l)| ((*t).to_owned(), (*l).to_owned()))
                .collect(),
        })
        .collect()
}

type Pairs = [(String, Node)];

/// The extended shape is exactly `{"comites": [..], "delegaciones": {..}}`.
fn extended_parts(top: &Pairs) -> Option<(&[Node], &Pairs)> {
    if top.len() != 2 {
        return None;
    }
    let get = |name: &str| top.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    match (get("comites")?, get("delegaciones")?) {
        (Node::Arr(metas), Node::Obj(delegations)) => Some((metas, delegations)),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaJson {
    codigo: String,
    clave: String,
    nombre: String,
    #[serde(default)]
    nombre_largo: Option<String>,
    #[serde(default)]
    modalidades: Option<Vec<Modality>>,
    #[serde(default)]
    tipos_solo_individual: Vec<String>,
    #[serde(default)]
    etiquetas: std::collections::BTreeMap<String, String>,
}

fn parse_metadata(nodes: &[Node]) -> Result<Vec<Meta>, CatalogError> {
    let mut metas: Vec<Meta> = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let bad = |reason: String| CatalogError::BadMetadata { index, reason };
        let m: MetaJson =
            serde_json::from_value(node.to_value()).map_err(|e| bad(e.to_string()))?;
        if m.codigo.trim().is_empty() || m.clave.trim().is_empty() || m.nombre.trim().is_empty() {
            return Err(bad(
                "`codigo`, `clave` and `nombre` must not be empty".into()
            ));
        }
        if m.codigo.contains(':') {
            return Err(bad(format!("code `{}` contains `:`", m.codigo)));
        }
        if metas.iter().any(|o| o.code == m.codigo) {
            return Err(bad(format!("code `{}` appears twice", m.codigo)));
        }
        if metas.iter().any(|o| o.key == m.clave) {
            return Err(bad(format!("key `{}` appears twice", m.clave)));
        }
        let mut modalities = m.modalidades.unwrap_or_else(|| BOTH.to_vec());
        modalities.sort();
        modalities.dedup();
        if modalities.is_empty() {
            return Err(bad(format!("committee `{}` allows no modality", m.clave)));
        }
        metas.push(Meta {
            long_name: m.nombre_largo.unwrap_or_else(|| m.nombre.clone()),
            code: m.codigo,
            key: m.clave,
            name: m.nombre,
            modalities,
            individual_only_tipos: m.tipos_solo_individual,
            labels: m.etiquetas.into_iter().collect(),
        });
    }
    Ok(metas)
}

fn parse_groups(key: &str, value: &Node) -> Result<Vec<Group>, CatalogError> {
    match value {
        Node::Arr(items) => Ok(vec![Group {
            tipo: None,
            label: None,
            entries: parse_entries(key, items)?,
        }]),
        Node::Obj(tipos) => {
            reject_duplicate_keys(tipos, |tipo| CatalogError::DuplicateTipo {
                key: key.to_owned(),
                tipo,
            })?;
            tipos
                .iter()
                .map(|(tipo, items)| {
                    let Node::Arr(items) = items else {
                        return Err(CatalogError::BadGroupShape {
                            key: key.to_owned(),
                            tipo: tipo.clone(),
                        });
                    };
                    Ok(Group {
                        tipo: Some(tipo.clone()),
                        label: None,
                        entries: parse_entries(key, items)?,
                    })
                })
                .collect()
        }
        _ => Err(CatalogError::BadCommitteeShape {
            key: key.to_owned(),
        }),
    }
}

fn parse_entries(key: &str, items: &[Node]) -> Result<Vec<Entry>, CatalogError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<Entry>(item.to_value()).map_err(|e| CatalogError::BadEntry {
                key: key.to_owned(),
                index,
                reason: e.to_string(),
            })
        })
        .collect()
}

fn build_committee(meta: Meta, mut groups: Vec<Group>) -> Result<Committee, CatalogError> {
    let key = meta.key.clone();
    if groups.iter().all(|g| g.entries.is_empty()) {
        return Err(CatalogError::EmptyCommittee(key));
    }
    let mut seen = BTreeSet::new();
    for group in &mut groups {
        if let Some(tipo) = &group.tipo {
            if group.entries.is_empty() {
                return Err(CatalogError::EmptyGroup {
                    key,
                    tipo: tipo.clone(),
                });
            }
            let label = meta
                .labels
                .iter()
                .find(|(t, _)| t == tipo)
                .map_or(tipo.as_str(), |(_, l)| l.as_str());
            group.label = Some(label.to_owned());
        }
        for entry in &group.entries {
            let nombre = &entry.nombre;
            if nombre.trim().is_empty() {
                return Err(CatalogError::EmptyName { key });
            }
            if nombre.contains(':') {
                return Err(CatalogError::ColonInName {
                    key,
                    nombre: nombre.clone(),
                });
            }
            if meta.code.chars().count() + 1 + nombre.chars().count() > MAX_FORM_VALUE_CHARS {
                return Err(CatalogError::NameTooLong {
                    key,
                    nombre: nombre.clone(),
                    max: MAX_FORM_VALUE_CHARS,
                });
            }
            if !seen.insert(nombre.as_str()) {
                return Err(CatalogError::DuplicateName {
                    key,
                    nombre: nombre.clone(),
                });
            }
        }
    }
    Ok(Committee {
        code: meta.code,
        key: meta.key,
        name: meta.name,
        long_name: meta.long_name,
        modalities: meta.modalities,
        individual_only_tipos: meta.individual_only_tipos,
        groups,
    })
}

fn reject_duplicate_keys(
    pairs: &[(String, Node)],
    err: impl FnOnce(String) -> CatalogError,
) -> Result<(), CatalogError> {
    let mut seen = BTreeSet::new();
    match pairs.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        Some((k, _)) => Err(err(k.clone())),
        None => Ok(()),
    }
}

/// A JSON value whose objects keep their keys in document order (and keep duplicates, so they
/// can be reported instead of silently collapsed).
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl Node {
    fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Num(n) => Value::Number(n.clone()),
            Node::Str(s) => Value::String(s.clone()),
            Node::Arr(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Obj(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Node::Null, Node::Num))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    pairs.push((k, v));
                }
                Ok(Node::Obj(pairs))
            }
        }

        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_catalogs;

    #[test]
    fn the_default_table_follows_the_code_to_key_rule() {
        for m in DEFAULT_COMMITTEES {
            assert_eq!(committee_key(m.code), m.key, "{}", m.code);
        }
        assert_eq!(DEFAULT_COMMITTEES.len(), 11);
    }

    #[test]
    fn the_default_table_labels_every_tipo_of_every_test_catalog() {
        for (name, cat) in test_catalogs::all() {
            for c in cat.committees() {
                let meta = DEFAULT_COMMITTEES.iter().find(|m| m.key == c.key).unwrap();
                for tipo in c.groups.iter().filter_map(|g| g.tipo.as_ref()) {
                    assert!(
                        meta.labels.iter().any(|(t, _)| t == tipo),
                        "{name}: {} {tipo}",
                        c.key
                    );
                }
                for t in &c.individual_only_tipos {
                    let offered = c.groups.iter().any(|g| g.tipo.as_deref() == Some(t));
                    assert!(offered, "{name}: {} {t}", c.key);
                }
            }
        }
    }

    #[test]
    fn every_test_catalog_loads_in_table_order_and_refuses_individual_only_tipos_to_pairs() {
        for (name, cat) in test_catalogs::all() {
            let order: Vec<usize> = cat
                .committees()
                .iter()
                .map(|c| {
                    DEFAULT_COMMITTEES
                        .iter()
                        .position(|m| m.key == c.key)
                        .unwrap()
                })
                .collect();
            assert!(order.is_sorted(), "{name}: {order:?}");
            for c in cat.committees() {
                for g in &c.groups {
                    let only = g.tipo.as_deref().is_some_and(|t| c.is_individual_only(t));
                    assert_eq!(
                        c.tipo_allowed(g.tipo.as_deref(), Modality::Pareja),
                        !only,
                        "{name}: {} {:?}",
                        c.key,
                        g.tipo
                    );
                    assert!(c.tipo_allowed(g.tipo.as_deref(), Modality::Individual));
                    for e in &g.entries {
                        let (tipo, found) = c.find(&e.nombre).unwrap();
                        assert_eq!((tipo, found), (g.tipo.as_deref(), e), "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn item_10_the_example_catalog_has_every_shape_the_real_one_has() {
        let cat = Catalog::example();
        // Plain lists, in committees open to both modalities.
        let sochum = cat.committee("SOCHUM").unwrap();
        assert_eq!(sochum.groups.len(), 1);
        assert_eq!(sochum.groups[0].tipo, None);
        assert!(sochum.allows(Modality::Pareja) && sochum.tipo_allowed(None, Modality::Pareja));
        assert_eq!(sochum.find("Islandia").unwrap().0, None);
        assert!(sochum.find("islandia").is_none(), "exact match only");
        // A plain list in an individual-only committee.
        let crisis = cat.committee("Crisis").unwrap();
        assert_eq!(crisis.groups[0].tipo, None);
        assert!(!crisis.allows(Modality::Pareja) && crisis.allows(Modality::Individual));
        // Typed groups in an individual-only committee.
        let cumbre = cat.committee("Cumbre").unwrap();
        assert!(cumbre.groups.len() > 1 && !cumbre.allows(Modality::Pareja));
        // Typed groups in file order, labelled, with one individual-only tipo.
        let fia = cat.committee("FIA").unwrap();
        let tipos: Vec<_> = fia.groups.iter().map(|g| g.tipo.as_deref()).collect();
        assert_eq!(
            tipos,
            [Some("pilotos"), Some("escuderias"), Some("sponsors")],
            "file order"
        );
        assert_eq!(fia.groups[1].label.as_deref(), Some("Escuderías"));
        let (tipo, e) = fia.find("Lando Norris").unwrap();
        assert_eq!(
            (tipo, e.abreviacion.as_str()),
            (Some("pilotos"), "lando norris")
        );
        assert!(!fia.tipo_allowed(tipo, Modality::Pareja));
        assert!(fia.tipo_allowed(tipo, Modality::Individual));
        assert!(fia.tipo_allowed(Some("escuderias"), Modality::Pareja));
        // Several individual-only tipos in one committee, beside one open to pairs.
        let nasa = cat.committee("NASA").unwrap();
        assert_eq!(
            nasa.individual_only_tipos,
            ["astronautas", "representantes_nasa"]
        );
        let open: Vec<_> = nasa
            .groups
            .iter()
            .filter(|g| nasa.tipo_allowed(g.tipo.as_deref(), Modality::Pareja))
            .map(|g| g.tipo.as_deref())
            .collect();
        assert_eq!(open, [Some("agencias_espaciales")]);
        assert!(cat.committee("onu-hábitat").is_none(), "codes are exact");
    }

    #[test]
    fn item_10_a_test_catalog_setting_that_points_at_nothing_fails_loudly() {
        let err = std::panic::catch_unwind(|| test_catalogs::load("no/such/catalog.json".as_ref()))
            .expect_err("a missing file must not pass silently");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("REGISTRO_TEST_CATALOG=no/such/catalog.json cannot be read"),
            "{msg}"
        );
        let err = std::panic::catch_unwind(|| test_catalogs::load("".as_ref())).unwrap_err();
        assert!(
            err.downcast_ref::<String>()
                .unwrap()
                .contains("set but empty")
        );
        let example = test_catalogs::load("catalog/example.json".as_ref());
        assert_eq!(
            example,
            Catalog::example(),
            "relative to the workspace root"
        );
    }

    #[test]
    fn the_example_catalog_offers_six_committees() {
        let cat = Catalog::example();
        let keys: Vec<_> = cat.committees().iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sochum",
                "onu_habitat",
                "cumbre_futuro",
                "nasa",
                "crisis",
                "fia"
            ],
            "metadata-table order, not file order"
        );
        for c in cat.committees() {
            for e in c.groups.iter().flat_map(|g| &g.entries) {
                assert!(!e.emoji.is_empty());
                assert!(
                    e.abreviacion
                        .chars()
                        .all(|ch| ch.is_ascii() && !ch.is_ascii_uppercase()),
                    "{}",
                    e.abreviacion
                );
            }
        }
    }

    #[test]
    fn long_names_come_from_the_catalog_then_the_table_then_the_code() {
        let cat = Catalog::example();
        assert_eq!(
            cat.long_name("ONU-Hábitat"),
            "Programa de las Naciones Unidas para los Asentamientos Humanos (ONU-Hábitat)"
        );
        assert_eq!(
            cat.long_name("SOCHUM"),
            "Tercera Comisión de la Asamblea General referente a lo Social, Cultural, Humanitario y de Derechos Humanos (SOCHUM)"
        );
        assert_eq!(
            cat.long_name("UNRWA"),
            "Agencia de las Naciones Unidas para los Refugiados de Palestina en Oriente Próximo (UNRWA)"
        );
        assert_eq!(
            cat.long_name("NASA"),
            "Administración Nacional de Aeronáutica y del Espacio (NASA)"
        );
        assert_eq!(cat.long_name("XYZ"), "XYZ");
    }

    #[test]
    fn public_json_has_the_exact_shape_the_front_reads() {
        let v = Catalog::example().public_json();
        let sochum = &v["comites"][0];
        assert_eq!(sochum["codigo"], "SOCHUM");
        assert_eq!(sochum["clave"], "sochum");
        assert_eq!(sochum["modalidades"], json!(["individual", "pareja"]));
        assert_eq!(sochum["tipos_solo_individual"], json!([]));
        let g = &sochum["grupos"][0];
        assert_eq!(g["tipo"], Value::Null);
        assert_eq!(g["etiqueta"], Value::Null);
        assert_eq!(g["solo_individual"], false);
        assert_eq!(
            g["delegaciones"][0],
            json!({"nombre": "Islandia", "abreviacion": "islandia", "emoji": "🇮🇸", "valor": "SOCHUM:Islandia"})
        );
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&v), ["comites", "formulario"]);
        assert_eq!(v["formulario"], crate::form::formulario_json());
        assert_eq!(
            keys(sochum),
            [
                "clave",
                "codigo",
                "grupos",
                "modalidades",
                "nombre",
                "nombre_largo",
                "tipos_solo_individual"
            ]
        );
        assert_eq!(
            keys(g),
            ["delegaciones", "etiqueta", "solo_individual", "tipo"]
        );
        let fia = v["comites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["codigo"] == "FIA")
            .unwrap();
        assert_eq!(fia["tipos_solo_individual"], json!(["pilotos"]));
        assert_eq!(fia["grupos"][0]["tipo"], "pilotos");
        assert_eq!(fia["grupos"][0]["etiqueta"], "Pilotos");
        assert_eq!(fia["grupos"][0]["solo_individual"], true);
        assert_eq!(fia["grupos"][1]["solo_individual"], false);
        let cumbre = v["comites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["codigo"] == "Cumbre")
            .unwrap();
        assert_eq!(cumbre["modalidades"], json!(["individual"]));
        assert_eq!(
            cumbre["grupos"][1]["delegaciones"][0]["valor"],
            "Cumbre:Presidente Gabriel Boric (República de Chile)"
        );
    }

    #[test]
    fn the_extended_shape_carries_its_own_committees() {
        let text = r#"{
            "comites": [
                {"codigo": "DISEC", "clave": "disec", "nombre": "Primera Comisión",
                 "modalidades": ["pareja", "individual"],
                 "tipos_solo_individual": ["expertos"],
                 "etiquetas": {"paises": "Países"}},
                {"codigo": "Sin datos", "clave": "sin_datos", "nombre": "No ofrecido"}
            ],
            "delegaciones": {
                "disec": {"paises": [{"nombre": "Chile", "abreviacion": "chile", "emoji": "🇨🇱"}],
                          "expertos": [{"nombre": "Ana", "abreviacion": "ana", "emoji": "🧑"}]}
            }
        }"#;
        let cat = Catalog::from_json(text).unwrap();
        assert_eq!(
            cat.committees().len(),
            1,
            "metadata without delegations is dropped"
        );
        let c = cat.committee("DISEC").unwrap();
        assert_eq!(c.long_name, "Primera Comisión");
        assert_eq!(c.modalities, [Modality::Individual, Modality::Pareja]);
        assert_eq!(c.groups[0].label.as_deref(), Some("Países"));
        assert_eq!(
            c.groups[1].label.as_deref(),
            Some("expertos"),
            "tipo as its own label"
        );
        assert!(!c.tipo_allowed(Some("expertos"), Modality::Pareja));
        assert!(
            cat.committee("SOCHUM").is_none(),
            "no default table in the extended shape"
        );
    }

    #[test]
    fn invalid_catalogs_are_refused_with_a_message_naming_the_culprit() {
        let e = |n: &str| format!(r#"{{"nombre": "{n}", "abreviacion": "x", "emoji": "x"}}"#);
        let long = "a".repeat(144);
        let cases: Vec<(&str, String, &str)> = vec![
            ("not json", "{".into(), "not valid JSON"),
            ("not an object", "[]".into(), "must be a JSON object"),
            (
                "unknown committee",
                format!(r#"{{"disec": [{}]}}"#, e("A")),
                "`disec`",
            ),
            (
                "empty committee",
                r#"{"sochum": []}"#.into(),
                "`sochum` has no delegations",
            ),
            (
                "empty grouped committee",
                r#"{"fia": {}}"#.into(),
                "`fia` has no delegations",
            ),
            (
                "empty group",
                format!(r#"{{"fia": {{"pilotos": [{}], "sponsors": []}}}}"#, e("A")),
                "tipo `sponsors` has no delegations",
            ),
            (
                "colon in a name",
                format!(r#"{{"sochum": [{}]}}"#, e("Chile: norte")),
                "`Chile: norte` contains `:`",
            ),
            (
                "duplicate in a committee",
                format!(r#"{{"sochum": [{}, {}]}}"#, e("Chile"), e("Chile")),
                "`Chile` appears more than once",
            ),
            (
                "duplicate across tipos",
                format!(
                    r#"{{"fia": {{"pilotos": [{}], "sponsors": [{}]}}}}"#,
                    e("X"),
                    e("X")
                ),
                "committee `fia`: delegation name `X` appears more than once",
            ),
            (
                "empty name",
                format!(r#"{{"sochum": [{}]}}"#, e(" ")),
                "`sochum`: a delegation has an empty name",
            ),
            (
                "name too long for the form",
                format!(r#"{{"sochum": [{}]}}"#, e(&long)),
                "too long",
            ),
            (
                "entry without emoji",
                r#"{"sochum": [{"nombre": "A", "abreviacion": "a"}]}"#.into(),
                "committee `sochum`, delegation #0: missing field `emoji`",
            ),
            (
                "committee as a string",
                r#"{"sochum": "x"}"#.into(),
                "committee `sochum`: expected",
            ),
            (
                "duplicate committee key",
                format!(r#"{{"sochum": [{}], "sochum": [{}]}}"#, e("A"), e("B")),
                "`sochum` twice",
            ),
            (
                "bad metadata",
                format!(
                    r#"{{"comites": [{{"codigo": "A:B", "clave": "a", "nombre": "A"}}], "delegaciones": {{"a": [{}]}}}}"#,
                    e("X")
                ),
                "metadata #0: code `A:B` contains `:`",
            ),
            (
                "metadata without modalities",
                format!(
                    r#"{{"comites": [{{"codigo": "A", "clave": "a", "nombre": "A", "modalidades": []}}], "delegaciones": {{"a": [{}]}}}}"#,
                    e("X")
                ),
                "allows no modality",
            ),
        ];
        for (name, text, want) in cases {
            let err = Catalog::from_json(&text).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        // At the limit, a name fits.
        let fits = "a".repeat(143);
        assert!(Catalog::from_json(&format!(r#"{{"sochum": [{}]}}"#, e(&fits))).is_ok());
    }

    #[test]
    fn modality_round_trips() {
        for m in [Modality::Individual, Modality::Pareja] {
            assert_eq!(Modality::parse(m.as_str()), Some(m));
        }
        assert_eq!(Modality::parse("Pareja"), None);
    }
}
