//! The payment receipt (`comprobante`): what is accepted, how it is recognised, where it is
//! stored. The older system trusted the client's file name and MIME type and accepted empty
//! files; here the content itself must look like the type it claims (magic bytes).

use crate::SubmissionId;
use crate::model::SubmissionType;
use sha2::{Digest, Sha256};

/// 5 MiB, as in the older system.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Png,
    Jpeg,
    Webp,
    /// HEIC and HEIF share one container format (ISOBMFF with a HEIF brand).
    Heif,
}

/// Allowed (extension → kind, accepted MIME values). The empty and octet-stream MIME values
/// for HEIC/HEIF are the mobile/Windows fallback of the older system, kept on purpose.
const TABLE: &[(&str, Kind, &[&str])] = &[
    (".pdf", Kind::Pdf, &["application/pdf"]),
    (".png", Kind::Png, &["image/png"]),
    (
        ".jpg",
        Kind::Jpeg,
        &["image/jpeg", "image/jpg", "image/pjpeg"],
    ),
    (
        ".jpeg",
        Kind::Jpeg,
        &["image/jpeg", "image/jpg", "image/pjpeg"],
    ),
    (".webp", Kind::Webp, &["image/webp"]),
    (
        ".heic",
        Kind::Heif,
        &[
            "",
            "application/octet-stream",
            "image/heic",
            "image/heif",
            "image/heic-sequence",
        ],
    ),
    (
        ".heif",
        Kind::Heif,
        &[
            "",
            "application/octet-stream",
            "image/heif",
            "image/heic",
            "image/heif-sequence",
        ],
    ),
];

/// The accepted extensions (lower-case, with their dot) and, for each, the MIME values it may
/// be sent with, in the order of the check's table. An empty MIME value means "sent without a
/// type" (accepted for HEIC/HEIF only). Served to the front as `formulario.comprobante.tipos`.
pub fn accepted_types() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    TABLE
        .iter()
        .map(|(extension, _, mimes)| (*extension, *mimes))
}

/// Why a receipt was refused. Every variant is logged with the reference message
/// `Imagen inválida.` except `Missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptError {
    Missing,
    Empty,
    TooLarge,
    UnknownExtension,
    MimeMismatch,
    ContentMismatch,
}

impl ReceiptError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "No se envió la imagen.",
            _ => "Imagen inválida.",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "comprobante_faltante",
            Self::Empty => "comprobante_vacio",
            Self::TooLarge => "comprobante_muy_grande",
            Self::UnknownExtension => "comprobante_extension_invalida",
            Self::MimeMismatch => "comprobante_tipo_invalido",
            Self::ContentMismatch => "comprobante_contenido_invalido",
        }
    }
}

/// A receipt that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidReceipt {
    /// Lower-case, with its dot (`.pdf`).
    pub extension: String,
    /// Normalised MIME type as sent (lower-case, no parameters); may be empty for HEIC/HEIF.
    pub content_type: String,
    pub kind: Kind,
    pub size: usize,
    pub sha256: String,
}

impl ValidReceipt {
    /// The content type to store the object with: the sniffed type, never client input.
    pub fn stored_content_type(&self) -> &'static str {
        match (self.kind, self.extension.as_str()) {
            (Kind::Pdf, _) => "application/pdf",
            (Kind::Png, _) => "image/png",
            (Kind::Jpeg, _) => "image/jpeg",
            (Kind::Webp, _) => "image/webp",
            (Kind::Heif, ".heic") => "image/heic",
            (Kind::Heif, _) => "image/heif",
        }
    }
}

/// Last suffix of the client file name, lower-cased, as Python's `PurePosixPath(name).suffix`.
pub fn extension_of(filename: &str) -> String {
    let name = filename.rsplit('/').next().unwrap_or("");
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => name[i..].to_lowercase(),
        _ => String::new(),
    }
}

/// `Content-Type` lower-cased, parameters removed, trimmed.
pub fn normalize_mime(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase()
}

/// Recognises the file from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Kind::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Kind::Webp);
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && is_heif_brand(&bytes[8..12]) {
        return Some(Kind::Heif);
    }
    // The signature at offset 0, as every real PDF writer (banks' statements, phone scanners,
    // print-to-PDF) emits it. Readers tolerate junk before it, but accepting that would let an
    // HTML page with `%PDF-` in a comment pass as a PDF (a polyglot).
    if bytes.starts_with(b"%PDF-") {
        return Some(Kind::Pdf);
    }
    None
}

fn is_heif_brand(brand: &[u8]) -> bool {
    matches!(
        brand,
        b"heic"
            | b"heix"
            | b"hevc"
            | b"hevx"
            | b"heim"
            | b"heis"
            | b"hevm"
            | b"hevs"
            | b"mif1"
            | b"msf1"
    )
}

/// Applies every receipt rule, in the order of the reference (extension, size, MIME), then the
/// checks it lacked (empty file, content).
pub fn validate(
    filename: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ValidReceipt, ReceiptError> {
    let extension = extension_of(filename.unwrap_or(""));
    let mime = normalize_mime(content_type);
    let Some((_, kind, mimes)) = TABLE.iter().find(|(ext, _, _)| *ext == extension) else {
        return Err(ReceiptError::UnknownExtension);
    };
    if bytes.len() > MAX_BYTES {
        return Err(ReceiptError::TooLarge);
    }
    if !mimes.contains(&mime.as_str()) {
        return Err(ReceiptError::MimeMismatch);
    }
    if bytes.is_empty() {
        return Err(ReceiptError::Empty);
    }
    if sniff(bytes) != Some(*kind) {
        return Err(ReceiptError::ContentMismatch);
    }
    Ok(ValidReceipt {
        extension,
        content_type: mime,
        kind: *kind,
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// `uploads/<delegaciones|faculty>/<submission_id><ext>`: no personal data in object names.
pub fn object_name(submission_type: SubmissionType, id: &SubmissionId, extension: &str) -> String {
    format!(
        "uploads/{}/{}{}",
        submission_type.form_name(),
        id,
        extension
    )
}

/// The submission id an object name belongs to, for the orphan sweeper.
pub fn submission_id_of(object_name: &str) -> Option<SubmissionId> {
    let file = object_name.strip_prefix("uploads/")?.split('/').nth(1)?;
    let stem = file.split('.').next()?;
    SubmissionId::parse(stem).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";
    const HEIC: &[u8] = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";

    #[test]
    fn extension_follows_python_suffix_rules() {
        for (name, ext) in [
            ("IMG.HEIC", ".heic"),
            ("a.tar.PDF", ".pdf"),
            (".bashrc", ""),
            ("noext", ""),
            ("trailing.", ""),
            ("dir.d/file", ""),
            ("dir/file.png", ".png"),
        ] {
            assert_eq!(extension_of(name), ext, "{name}");
        }
    }

    #[test]
    fn mime_is_lowercased_without_parameters() {
        assert_eq!(normalize_mime(Some(" Image/PNG ; charset=x")), "image/png");
        assert_eq!(normalize_mime(None), "");
    }

    #[test]
    fn receipt_table() {
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a [u8],
            Result<Kind, ReceiptError>,
        );
        let big = {
            let mut v = PDF.to_vec();
            v.resize(MAX_BYTES + 1, b' ');
            v
        };
        let exact = {
            let mut v = PDF.to_vec();
            v.resize(MAX_BYTES, b' ');
            v
        };
        let cases: Vec<Case> = vec![
            (
                "pdf",
                Some("r.pdf"),
                Some("application/pdf"),
                PDF,
                Ok(Kind::Pdf),
            ),
            ("png", Some("r.png"), Some("image/png"), PNG, Ok(Kind::Png)),
            (
                "jpg as pjpeg",
                Some("r.JPG"),
                Some("image/pjpeg"),
                JPG,
                Ok(Kind::Jpeg),
            ),
            (
                "jpeg",
                Some("r.jpeg"),
                Some("image/jpeg"),
                JPG,
                Ok(Kind::Jpeg),
            ),
            (
                "webp",
                Some("r.webp"),
                Some("image/webp"),
                WEBP,
                Ok(Kind::Webp),
            ),
            (
                "heic with no type (mobile fallback)",
                Some("r.heic"),
                None,
                HEIC,
                Ok(Kind::Heif),
            ),
            (
                "heic as octet-stream",
                Some("r.HEIC"),
                Some("application/octet-stream"),
                HEIC,
                Ok(Kind::Heif),
            ),
            (
                "heif as image/heic",
                Some("r.heif"),
                Some("image/heic"),
                HEIC,
                Ok(Kind::Heif),
            ),
            (
                "exactly 5 MiB",
                Some("r.pdf"),
                Some("application/pdf"),
                &exact,
                Ok(Kind::Pdf),
            ),
            (
                "missing name",
                None,
                Some("application/pdf"),
                PDF,
                Err(ReceiptError::UnknownExtension),
            ),
            (
                "unknown extension",
                Some("r.gif"),
                Some("image/gif"),
                b"GIF89a",
                Err(ReceiptError::UnknownExtension),
            ),
            (
                "over 5 MiB",
                Some("r.pdf"),
                Some("application/pdf"),
                &big,
                Err(ReceiptError::TooLarge),
            ),
            (
                "mime of another type",
                Some("r.pdf"),
                Some("image/png"),
                PDF,
                Err(ReceiptError::MimeMismatch),
            ),
            (
                "octet-stream only for heic",
                Some("r.png"),
                Some("application/octet-stream"),
                PNG,
                Err(ReceiptError::MimeMismatch),
            ),
            (
                "empty file",
                Some("r.pdf"),
                Some("application/pdf"),
                b"",
                Err(ReceiptError::Empty),
            ),
            (
                "a PDF named .png",
                Some("r.png"),
                Some("image/png"),
                PDF,
                Err(ReceiptError::ContentMismatch),
            ),
            (
                "text named .pdf",
                Some("r.pdf"),
                Some("application/pdf"),
                b"hello",
                Err(ReceiptError::ContentMismatch),
            ),
            (
                "mp4 named .heic",
                Some("r.heic"),
                None,
                b"\0\0\0\x18ftypisom\0\0\0\0",
                Err(ReceiptError::ContentMismatch),
            ),
        ];
        for (name, file, mime, bytes, want) in cases {
            assert_eq!(validate(file, mime, bytes).map(|r| r.kind), want, "{name}");
        }
    }

    #[test]
    fn object_names_carry_only_the_submission_id() {
        let id = SubmissionId::parse("FA5qj0aE0yv0ohSnnLHt").unwrap();
        let name = object_name(SubmissionType::Faculty, &id, ".png");
        assert_eq!(name, "uploads/faculty/FA5qj0aE0yv0ohSnnLHt.png");
        assert_eq!(submission_id_of(&name), Some(id.clone()));
        assert_eq!(
            submission_id_of(&object_name(SubmissionType::Delegacion, &id, ".pdf")),
            Some(id)
        );
        assert_eq!(
            submission_id_of("uploads/faculty/FACULTY_Escuela Modelo_x.png"),
            None
        );
    }

    #[test]
    fn item_07_a_pdf_signature_counts_only_at_offset_zero() {
        let html = b"<!doctype html><!-- %PDF-1.4 --><script>alert(1)</script>";
        assert_eq!(sniff(html), None, "an HTML polyglot is no PDF");
        let mut prefixed = b"\n\n".to_vec();
        prefixed.extend_from_slice(PDF);
        assert_eq!(sniff(&prefixed), None);
        assert_eq!(sniff(PDF), Some(Kind::Pdf));
        assert_eq!(
            validate(Some("r.pdf"), Some("application/pdf"), html).map(|r| r.kind),
            Err(ReceiptError::ContentMismatch)
        );
    }
}
