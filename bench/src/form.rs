//! The delegaciones form as a browser posts it (reference/api.md §1.2), and the PDF receipt.
//!
//! Bodies are rebuilt for every request (a `reqwest::multipart::Form` is consumed when sent), but
//! the receipt is built once and leaked so every request borrows the same `'static` bytes instead
//! of copying 100 KB.

use crate::catalog::Pick;
use reqwest::multipart::{Form, Part};

/// One `delegaciones` submission: the text fields in browser DOM order. The receipt goes between
/// the committee fields and `aceptar_reglamento`, as in the browser.
#[derive(Clone, Debug)]
pub struct Submission {
    fields: Vec<(&'static str, String)>,
}

const NOMBRES: [&str; 8] = [
    "Ana",
    "José",
    "María Fernanda",
    "Luis",
    "Sofía",
    "Diego",
    "Valeria",
    "Íñigo",
];
const APELLIDOS: [&str; 8] = [
    "Pérez",
    "Gómez",
    "Hernández",
    "Canul",
    "Pech",
    "Martínez",
    "López",
    "Díaz",
];
const COMITE_FIELDS: [[&str; 4]; 3] = [
    [
        "comite_0",
        "comite_0_pais_0",
        "comite_0_pais_1",
        "comite_0_pais_2",
    ],
    [
        "comite_1",
        "comite_1_pais_0",
        "comite_1_pais_1",
        "comite_1_pais_2",
    ],
    [
        "comite_2",
        "comite_2_pais_0",
        "comite_2_pais_1",
        "comite_2_pais_2",
    ],
];

impl Submission {
    /// A valid individual registration with a fresh 32-hex key (what the browser generates).
    /// `seq` varies names, e-mail and the delegation choices so payloads differ.
    pub fn valid(pick: &Pick, seq: u64) -> Self {
        let key = uuid::Uuid::new_v4().simple().to_string();
        let i = seq as usize;
        let nombre = NOMBRES[i % NOMBRES.len()];
        let apellido = APELLIDOS[(i / NOMBRES.len()) % APELLIDOS.len()];
        let mut fields: Vec<(&'static str, String)> = vec![
            ("idempotency_key", key),
            ("modalidad", "individual".into()),
            ("delegacion_oficial", "no".into()),
            ("nombre_0", nombre.into()),
            ("apellido_0", format!("{apellido} Prueba")),
            ("edad_0", "17".into()),
            ("celular_0", "+529991234567".into()),
            ("correo_0", format!("bench.{seq}@example.com")),
            ("pais_0", "México".into()),
            ("ciudad_estado_0", "Mérida, Yucatán".into()),
            ("escolaridad_0", "Preparatoria".into()),
            ("escuela_0", "Preparatoria Bench".into()),
            ("nombre_contacto_0", "Contacto Prueba".into()),
            ("celular_contacto_0", "+529997654321".into()),
            ("relacion_contacto_0", "Madre".into()),
            ("info_extra_0", String::new()),
        ];
        for (k, comite) in pick.comites.iter().enumerate() {
            let n = comite.valores.len();
            fields.push((COMITE_FIELDS[k][0], comite.codigo.clone()));
            for j in 0..3 {
                // Three consecutive entries (mod n) are distinct because n >= 3.
                let valor = &comite.valores[(i + j) % n];
                fields.push((COMITE_FIELDS[k][j + 1], valor.clone()));
            }
        }
        Self { fields }
    }

    /// A form the server must refuse with the plain error page: age out of range (rule R7).
    pub fn invalid(pick: &Pick, seq: u64) -> Self {
        let mut s = Self::valid(pick, seq);
        s.set("edad_0", "99");
        s
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.fields {
            if *n == name {
                *v = value.to_string();
            }
        }
    }

    /// The same form as raw `multipart/form-data` bytes with `boundary` (for clients that
    /// write the body themselves, e.g. the slow uploads).
    pub fn to_raw_body(&self, boundary: &str, receipt: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(receipt.len() + 4096);
        let text = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        };
        for (name, value) in &self.fields {
            text(&mut out, name, value);
        }
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"comprobante\"; filename=\"recibo.pdf\"\r\nContent-Type: application/pdf\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(receipt);
        out.extend_from_slice(b"\r\n");
        text(&mut out, "aceptar_reglamento", "on");
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    /// The multipart body, rebuilt per request; `receipt` is shared, never copied.
    pub fn to_form(&self, receipt: &'static [u8]) -> Form {
        let mut form = Form::new();
        for (name, value) in &self.fields {
            form = form.text(*name, value.clone());
        }
        let part = Part::bytes(receipt)
            .file_name("recibo.pdf")
            .mime_str("application/pdf")
            .expect("static MIME type parses");
        form.part("comprobante", part)
            .text("aceptar_reglamento", "on")
    }
}

/// A minimal, structurally valid one-page PDF of exactly `size` bytes: catalog, pages, page and a
/// content stream made of PDF comment lines (ignored by readers) to pad to the size, with a
/// correct xref table. Starts with `%PDF-` so magic-byte sniffing accepts it.
pub fn pdf_receipt(size: usize) -> Vec<u8> {
    // Fixed-width /Length so the overhead does not depend on the padding length.
    let build = |padding: &[u8]| -> Vec<u8> {
        let mut out: Vec<u8> = Vec::with_capacity(size + 1024);
        let mut offsets = Vec::new();
        out.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
        let objects: [Vec<u8>; 3] = [
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_vec(),
        ];
        for (n, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", n + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        offsets.push(out.len());
        out.extend_from_slice(
            format!("4 0 obj\n<< /Length {:010} >>\nstream\n", padding.len()).as_bytes(),
        );
        out.extend_from_slice(padding);
        out.extend_from_slice(b"endstream\nendobj\n");
        let xref = out.len();
        out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
        for off in &offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref:010}\n%%EOF\n")
                .as_bytes(),
        );
        out
    };
    let overhead = build(&[]).len();
    let pad_len = size.saturating_sub(overhead);
    let pdf = build(&comment_padding(pad_len));
    debug_assert!(size < overhead || pdf.len() == size);
    pdf
}

/// `len` bytes of `% …\n` comment lines with varied content.
fn comment_padding(len: usize) -> Vec<u8> {
    const LINE: usize = 80;
    let mut out = Vec::with_capacity(len);
    let mut n: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < len {
        let remaining = len - out.len();
        if remaining == 1 {
            out.push(b'\n');
            break;
        }
        let line = remaining.min(LINE);
        out.push(b'%');
        for _ in 0..line - 2 {
            // xorshift: cheap, deterministic filler that does not compress to nothing.
            n ^= n << 13;
            n ^= n >> 7;
            n ^= n << 17;
            out.push(
                b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    [(n % 62) as usize],
            );
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_has_the_requested_size_and_pdf_shape() {
        for size in [1024, 100 * 1024, 100 * 1024 + 1] {
            let pdf = pdf_receipt(size);
            assert_eq!(pdf.len(), size);
            assert!(pdf.starts_with(b"%PDF-"));
            assert!(pdf.ends_with(b"%%EOF\n"));
        }
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let pdf = pdf_receipt(4096);
        let find = |needle: &[u8]| pdf.windows(needle.len()).position(|w| w == needle).unwrap();
        let xref = find(b"xref\n");
        let sx = find(b"startxref\n") + 10;
        let startxref: usize = std::str::from_utf8(&pdf[sx..sx + 10])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(startxref, xref);
        let table = std::str::from_utf8(&pdf[xref..]).unwrap();
        for (i, line) in table.lines().skip(3).take(4).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }
}
