//! Form fixtures: valid delegaciones and faculty forms built from any catalog (the shipped
//! example or the real conference catalog named by `REGISTRO_TEST_CATALOG`), with helpers to
//! break them one field at a time.

use domain::catalog::{Catalog, Committee, Modality};
use domain::form::{RawForm, Upload};
use std::path::PathBuf;

/// The setting naming the conference's real catalog for tests. It is deployment data (supplied
/// to a server through `REGISTRO_CATALOG`), not part of the repository: `.ci/run` sets it, a
/// fresh clone runs without it.
pub const TEST_CATALOG_ENV: &str = "REGISTRO_TEST_CATALOG";

/// The catalog `REGISTRO_TEST_CATALOG` names (relative paths from the workspace root), checked
/// to be readable and valid. Unset: `None`, said on stderr so a skipped variant never passes
/// silently. Set but empty, unreadable or invalid: a panic naming the setting.
pub fn real_catalog_path() -> Option<PathBuf> {
    let Some(raw) = std::env::var_os(TEST_CATALOG_ENV) else {
        eprintln!(
            "{TEST_CATALOG_ENV} is not set: the real-catalog variant of this test did not run"
        );
        return None;
    };
    assert!(!raw.is_empty(), "{TEST_CATALOG_ENV} is set but empty");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(&raw);
    let shown = raw.to_string_lossy();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{TEST_CATALOG_ENV}={shown} cannot be read ({}): {e}",
            path.display()
        )
    });
    if let Err(e) = Catalog::from_json(&text) {
        panic!("{TEST_CATALOG_ENV}={shown} is not a valid catalog: {e}");
    }
    Some(path)
}

/// The catalogs catalog-dependent tests run on: the shipped example always, then the real one
/// when `REGISTRO_TEST_CATALOG` is set.
pub fn test_catalog_paths() -> Vec<PathBuf> {
    let mut v = vec![example_catalog_path()];
    v.extend(real_catalog_path());
    v
}

/// Path of the example catalog shipped with the product.
pub fn example_catalog_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../catalog/example.json")
}

pub fn load_catalog(path: &std::path::Path) -> Catalog {
    Catalog::from_json(&std::fs::read_to_string(path).expect("read catalog"))
        .expect("valid catalog")
}

/// A minimal well-formed PDF padded with a comment to `size` bytes.
pub fn pdf(size: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%".to_vec();
    let tail = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    while v.len() + tail.len() < size {
        v.push(b'x');
    }
    v.extend_from_slice(tail);
    v
}

pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[derive(Debug, Clone)]
pub struct FileFixture {
    pub filename: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A form as a browser would post it: ordered text fields and an optional receipt.
#[derive(Debug, Clone)]
pub struct FormFixture {
    pub fields: Vec<(String, String)>,
    pub file: Option<FileFixture>,
}

fn usable(c: &Committee, m: Modality) -> Vec<String> {
    c.groups
        .iter()
        .filter(|g| c.tipo_allowed(g.tipo.as_deref(), m))
        .flat_map(|g| g.entries.iter().map(|e| format!("{}:{}", c.code, e.nombre)))
        .collect()
}

/// Three distinct committees that allow `m`, each with three distinct usable delegations.
pub fn committee_choices(catalog: &Catalog, m: Modality) -> Vec<(String, [String; 3])> {
    catalog
        .committees()
        .iter()
        .filter(|c| c.allows(m))
        .filter_map(|c| {
            let opts = usable(c, m);
            (opts.len() >= 3).then(|| {
                (
                    c.code.clone(),
                    [opts[0].clone(), opts[1].clone(), opts[2].clone()],
                )
            })
        })
        .take(3)
        .collect()
}

fn participant(i: usize, seed: &str) -> Vec<(String, String)> {
    [
        ("nombre", format!("Nombre{seed}")),
        ("apellido", format!("Apellido{seed}")),
        ("edad", "17".to_owned()),
        ("celular", "+529991234567".to_owned()),
        ("correo", format!("persona{i}.{seed}@example.com")),
        ("pais", "México".to_owned()),
        ("ciudad_estado", "Mérida, Yucatán".to_owned()),
        ("escolaridad", "Preparatoria".to_owned()),
        ("escuela", "Colegio Ejemplo".to_owned()),
        ("nombre_contacto", "Contacto Ejemplo".to_owned()),
        ("celular_contacto", "+529997654321".to_owned()),
        ("relacion_contacto", "Madre".to_owned()),
        ("info_extra", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{k}_{i}"), v))
    .collect()
}

impl FormFixture {
    /// A valid individual delegation, with `key` as its idempotency key.
    pub fn individual(catalog: &Catalog, key: &str) -> Self {
        Self::delegacion(catalog, key, Modality::Individual)
    }

    /// A valid codelegation.
    pub fn pareja(catalog: &Catalog, key: &str) -> Self {
        Self::delegacion(catalog, key, Modality::Pareja)
    }

    fn delegacion(catalog: &Catalog, key: &str, m: Modality) -> Self {
        let seed = if key.len() > 8 { &key[..8] } else { key };
        let mut f = vec![
            ("idempotency_key".to_owned(), key.to_owned()),
            ("modalidad".to_owned(), m.as_str().to_owned()),
            ("delegacion_oficial".to_owned(), "no".to_owned()),
        ];
        f.extend(participant(0, seed));
        if m == Modality::Pareja {
            f.extend(participant(1, &format!("{seed}b")));
        }
        let choices = committee_choices(catalog, m);
        assert_eq!(
            choices.len(),
            3,
            "catalog needs three usable committees for {m:?}"
        );
        for (k, (code, opts)) in choices.iter().enumerate() {
            f.push((format!("comite_{k}"), code.clone()));
            for (j, o) in opts.iter().enumerate() {
                f.push((format!("comite_{k}_pais_{j}"), o.clone()));
            }
        }
        f.push(("aceptar_reglamento".to_owned(), "on".to_owned()));
        Self {
            fields: f,
            file: Some(FileFixture {
                filename: "recibo.pdf".into(),
                content_type: Some("application/pdf".into()),
                bytes: pdf(2048),
            }),
        }
    }

    /// A valid faculty registration with `n` complete delegate rows.
    pub fn faculty(key: &str, n: usize) -> Self {
        let mut f = vec![
            ("idempotency_key".to_owned(), key.to_owned()),
            ("nombre_faculty".to_owned(), "Laura".to_owned()),
            ("apellido_faculty".to_owned(), "Gómez".to_owned()),
            ("celular_faculty".to_owned(), "+529991112233".to_owned()),
            (
                "correo_faculty".to_owned(),
                format!("faculty.{key}@example.com"),
            ),
            ("pais_faculty".to_owned(), "México".to_owned()),
            (
                "ciudad_estado_faculty".to_owned(),
                "Mérida, Yucatán".to_owned(),
            ),
            (
                "institucion_delegacion_oficial".to_owned(),
                "Escuela Modelo".to_owned(),
            ),
            ("numero_delegaciones".to_owned(), n.to_string()),
        ];
        for i in 0..n {
            for (k, v) in [
                ("nombre", format!("Delegado{i}")),
                ("apellido", format!("Apellido{i}")),
                ("edad", "16".to_owned()),
                ("celular", "+529990001122".to_owned()),
                ("correo", format!("d{i}.{key}@example.com")),
                ("pais", "México".to_owned()),
                ("ciudad_estado", "Mérida".to_owned()),
                ("escolaridad", "Preparatoria".to_owned()),
                ("escuela", "Escuela Modelo".to_owned()),
            ] {
                f.push((format!("{k}_d{i}"), v));
            }
        }
        f.push(("aceptar_reglamento".to_owned(), "on".to_owned()));
        Self {
            fields: f,
            file: Some(FileFixture {
                filename: "recibo.png".into(),
                content_type: Some("image/png".into()),
                bytes: PNG.to_vec(),
            }),
        }
    }

    /// Replaces every occurrence of `name` (or appends it).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    /// Appends a duplicate occurrence (the last one wins on the server).
    pub fn push(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn file(mut self, filename: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Self {
        self.file = Some(FileFixture {
            filename: filename.to_owned(),
            content_type: content_type.map(str::to_owned),
            bytes,
        });
        self
    }

    pub fn no_file(mut self) -> Self {
        self.file = None;
        self
    }

    pub fn to_multipart(&self) -> reqwest::multipart::Form {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in &self.fields {
            form = form.text(k.clone(), v.clone());
        }
        if let Some(f) = &self.file {
            let mut part =
                reqwest::multipart::Part::bytes(f.bytes.clone()).file_name(f.filename.clone());
            if let Some(ct) = &f.content_type {
                part = part.mime_str(ct).expect("valid mime");
            }
            form = form.part("comprobante", part);
        }
        form
    }

    /// The body as raw `multipart/form-data` bytes with `boundary` (no recursion, so it copes
    /// with thousands of parts), for `Content-Type: multipart/form-data; boundary=<boundary>`.
    pub fn to_multipart_bytes(&self, boundary: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.fields {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                    .as_bytes(),
            );
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(f) = &self.file {
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"comprobante\"; filename=\"{}\"\r\n",
                    f.filename
                )
                .as_bytes(),
            );
            if let Some(ct) = &f.content_type {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&f.bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    pub fn to_raw_form(&self) -> RawForm {
        let mut raw = RawForm::default();
        for (k, v) in &self.fields {
            raw.push(k.clone(), v.clone());
        }
        raw.file = self.file.as_ref().map(|f| Upload {
            filename: Some(f.filename.clone()),
            content_type: f.content_type.clone(),
            bytes: f.bytes.clone(),
        });
        raw
    }
}
