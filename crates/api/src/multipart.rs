//! Streaming multipart reader with hard limits.
//!
//! The older system buffered whole bodies and checked the file size afterwards. Here the body
//! is read as a stream: text parts are capped at 1 MiB each (Starlette's default), the field
//! count at 1,000, the receipt at 5 MiB (the rest of an oversized receipt is drained, not
//! stored, so the browser still gets its redirect), and the whole body at a configured cap.

use domain::form::{RawForm, Rejection, Upload};
use domain::receipt;
use futures_util::TryStreamExt;
use http::HeaderMap;

pub const MAX_TEXT_PART: u64 = 1024 * 1024;
pub const MAX_FIELDS: usize = 1000;
pub const FILE_FIELD: &str = "comprobante";

fn reject(code: &'static str, message: &'static str, field: Option<&str>) -> Rejection {
    Rejection {
        code,
        message,
        field: field.map(str::to_owned),
    }
}

fn malformed() -> Rejection {
    reject("formulario_mal_formado", "Formulario inválido.", None)
}

/// Reads a `multipart/form-data` body into a [`RawForm`].
pub async fn read_form(
    headers: &HeaderMap,
    body: axum::body::Body,
    max_body_bytes: u64,
) -> Result<RawForm, Rejection> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(malformed)?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_body_bytes)
            .per_field(MAX_TEXT_PART)
            // The receipt's own cap is enforced below so the excess can be drained.
            .for_field(FILE_FIELD, max_body_bytes),
    );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);

    let mut form = RawForm::default();
    let mut file_too_large = false;
    let mut parts = 0usize;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(map_multer(e)),
        };
        parts += 1;
        if parts > MAX_FIELDS {
            return Err(reject("demasiados_campos", "Formulario inválido.", None));
        }
        let name = field.name().unwrap_or("").to_owned();
        if field.file_name().is_some() || name == FILE_FIELD {
            if name != FILE_FIELD {
                return Err(reject(
                    "archivo_inesperado",
                    "Formulario inválido.",
                    Some(&name),
                ));
            }
            if form.file.is_some() || file_too_large {
                return Err(reject(
                    "multiples_comprobantes",
                    "Imagen inválida.",
                    Some(FILE_FIELD),
                ));
            }
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(|m| m.to_string());
            let mut bytes = Vec::new();
            let mut stream = field;
            while let Some(chunk) = stream.try_next().await.map_err(map_multer)? {
                if bytes.len() + chunk.len() > receipt::MAX_BYTES {
                    file_too_large = true;
                    bytes = Vec::new();
                    // Keep draining so the client can read our answer.
                    while stream.try_next().await.map_err(map_multer)?.is_some() {}
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            if !file_too_large {
                form.file = Some(Upload {
                    filename,
                    content_type,
                    bytes,
                });
            }
        } else {
            let bytes = field.bytes().await.map_err(map_multer)?;
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| reject("utf8_invalido", "Formulario inválido.", Some(&name)))?;
            form.push(name, value);
        }
    }
    if file_too_large {
        return Err(Rejection {
            code: receipt::ReceiptError::TooLarge.code(),
            message: receipt::ReceiptError::TooLarge.message(),
            field: Some(FILE_FIELD.to_owned()),
        });
    }
    Ok(form)
}

fn map_multer(e: multer::Error) -> Rejection {
    match e {
        multer::Error::StreamSizeExceeded { .. } => {
            reject("cuerpo_demasiado_grande", "Formulario inválido.", None)
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => reject(
            "campo_demasiado_largo",
            "Formulario inválido.",
            field_name.as_deref(),
        ),
        _ => malformed(),
    }
}

/// Reads and discards up to `limit` bytes of a body we will not use.
pub async fn drain(body: axum::body::Body, limit: u64) {
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    while let Ok(Some(chunk)) = stream.try_next().await {
        seen += chunk.len() as u64;
        if seen > limit {
            break;
        }
    }
}
