//! The payload fingerprint of reference/api.md §5.3, byte-for-byte.
//!
//! It must match the older system exactly: fallback keys (no explicit key) *are* this hash, and
//! conflicts are detected by comparing it, across the cut-over when both systems share a database.
//! The older system hashes `json.dumps(obj, sort_keys=True, ensure_ascii=False)` with Python's
//! default separators `", "` and `": "`; this module reproduces that serialization.

use crate::model::{FacultyRow, SubmissionType};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;

/// SHA-256 (lower-case hex) of the canonical payload.
///
/// `fields` holds every declared form field except `idempotency_key`, with the value that passed
/// validation (`None` for absent/empty optional fields). `faculty_rows` is `Some` for faculty.
pub fn payload_hash(
    submission_type: SubmissionType,
    fields: &BTreeMap<&str, Option<String>>,
    file_sha256: &str,
    faculty_rows: Option<&[FacultyRow]>,
) -> String {
    let mut obj = Map::new();
    obj.insert(
        "submission_type".into(),
        Value::from(submission_type.as_str()),
    );
    obj.insert(
        "fields".into(),
        Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        v.clone().map_or(Value::Null, Value::String),
                    )
                })
                .collect(),
        ),
    );
    let mut file = Map::new();
    file.insert("hash".into(), Value::from(file_sha256));
    obj.insert("file".into(), Value::Object(file));
    if let Some(rows) = faculty_rows {
        let rows = serde_json::to_value(rows).expect("rows serialize");
        let mut extra = Map::new();
        extra.insert("delegaciones".into(), rows);
        obj.insert("extra".into(), Value::Object(extra));
    }
    hex::encode(Sha256::digest(python_json(&Value::Object(obj))))
}

/// `json.dumps(v, sort_keys=True, ensure_ascii=False)` as UTF-8 bytes.
pub fn python_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    serde::Serialize::serialize(&SortedKeys(v), &mut ser)
        .expect("in-memory serialization cannot fail");
    out
}

/// Serializes a value with every object's keys in code-point order, which is what Python's
/// `sort_keys` does for `str` keys (UTF-8 byte order is code-point order). The order is made
/// here rather than taken from `serde_json::Map`: that map keeps insertion order as soon as any
/// crate in the build turns on serde_json's `preserve_order` feature.
struct SortedKeys<'a>(&'a Value);

impl serde::Serialize for SortedKeys<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, &SortedKeys(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&SortedKeys(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Python's default separators. String escaping is already identical: both escape `"`, `\`,
/// and control characters below U+0020 (`\n`, `\r`, `\t`, `\b`, `\f` by name, others as
/// lower-case `\u00xx`) and leave everything else, DEL and non-ASCII included, literal.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// Keeps the key order stable for callers that build the field map by hand.
pub type FieldMap<'a> = BTreeMap<&'a str, Option<String>>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialization_matches_python_json_dumps() {
        // Expected strings produced by CPython 3.11:
        // json.dumps(v, sort_keys=True, ensure_ascii=False)
        let v = json!({"b": [1, null, "x"], "a": {"é": "ñ\"\\\n\u{1}\u{7f}", "A": true}});
        let got = String::from_utf8(python_json(&v)).unwrap();
        assert_eq!(
            got,
            "{\"a\": {\"A\": true, \"é\": \"ñ\\\"\\\\\\n\\u0001\u{7f}\"}, \"b\": [1, null, \"x\"]}"
        );
    }

    #[test]
    fn empty_containers_have_no_separators() {
        assert_eq!(
            python_json(&json!({"a": [], "b": {}})),
            b"{\"a\": [], \"b\": {}}"
        );
    }

    /// Golden values computed with CPython 3.11 from the reference algorithm:
    /// hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    #[test]
    fn faculty_payload_hash_matches_the_reference_implementation() {
        let mut fields = FieldMap::new();
        for (k, v) in [
            ("institucion_delegacion_oficial", "Escuela Modelo"),
            ("nombre_faculty", "José"),
            ("apellido_faculty", "Pérez"),
            ("celular_faculty", "+529991234567"),
            ("correo_faculty", "jose@example.com"),
            ("ciudad_estado_faculty", "Mérida, Yucatán"),
            ("pais_faculty", "México"),
            ("numero_delegaciones", "4"),
        ] {
            fields.insert(k, Some(v.to_owned()));
        }
        fields.insert("comprobante", None);
        fields.remove("comprobante");
        let rows: Vec<FacultyRow> = (0..4)
            .map(|i| FacultyRow {
                nombre: format!("N{i}"),
                apellido: format!("A{i}"),
                edad: Some(15 + i),
                celular: "+529990000000".into(),
                correo: format!("d{i}@example.com"),
                pais: "México".into(),
                ciudad_estado: "Mérida".into(),
                escolaridad: "Preparatoria".into(),
                escuela: "No aplica".into(),
            })
            .collect();
        let h = payload_hash(
            SubmissionType::Faculty,
            &fields,
            &"0".repeat(64),
            Some(&rows),
        );
        assert_eq!(h, GOLDEN_FACULTY);
    }

    const GOLDEN_FACULTY: &str = "67dbeb1bc6a0664328be93291161df234ab11041bc8c1fbf8378f5451a7fc108";
}
