//! Object names: which ones Cloud Storage accepts, and how they go into a JSON API URL.
//!
//! Names are checked here rather than sent for the service to refuse, so a bad name is a
//! `Permanent` error without a round trip. The error never quotes the name: object names of the
//! older system could carry personal data, so no message or log line of this crate holds one.

use domain::ports::BlobError;

/// Cloud Storage's limit on an object name, in bytes of UTF-8.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// Cloud Storage's rules for an object name: 1 to 1024 bytes, not `.` or `..`, not under
/// `.well-known/acme-challenge/`; no control characters either (the service refuses carriage
/// returns and line feeds and advises against the rest, and none belongs in a receipt name).
pub(crate) fn check(name: &str) -> Result<(), BlobError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.starts_with(".well-known/acme-challenge/")
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(BlobError::Permanent("invalid object name".into()))
    }
}

/// A listing prefix: any text a name could start with.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.len() <= MAX_NAME_BYTES && !prefix.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(BlobError::Permanent("invalid listing prefix".into()))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an object name is ONE
/// path segment (`/` becomes `%2F`, as the JSON API requires) and a query value keeps its `+`,
/// `&` and spaces (`%20`, never `+`).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_path_segment() {
        let cases = [
            (
                "uploads/delegaciones/T0000000000000000001.pdf",
                "uploads%2Fdelegaciones%2FT0000000000000000001.pdf",
            ),
            ("a b+c&d=e?f#g", "a%20b%2Bc%26d%3De%3Ff%23g"),
            ("Comprobante Núñez.pdf", "Comprobante%20N%C3%BA%C3%B1ez.pdf"),
            ("~-._AZaz09", "~-._AZaz09"),
            ("%2F", "%252F"),
            ("", ""),
        ];
        for (name, encoded) in cases {
            assert_eq!(encode(name), encoded, "{name}");
        }
    }

    #[test]
    fn names_cloud_storage_accepts_pass() {
        for name in [
            "uploads/faculty/T0000000000000000001.jpg",
            "x",
            "older system/Pérez García - comprobante (1).pdf",
            ".hidden",
            "a/../b",
            &"n".repeat(MAX_NAME_BYTES),
        ] {
            assert!(check(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_cloud_storage_refuses_fail_without_quoting_the_name() {
        for name in [
            "",
            ".",
            "..",
            ".well-known/acme-challenge/token",
            "line\nfeed",
            "carriage\rreturn",
            "nul\0",
            "tab\there",
            &"n".repeat(MAX_NAME_BYTES + 1),
            &"ñ".repeat(MAX_NAME_BYTES / 2 + 1),
        ] {
            match check(name) {
                Err(BlobError::Permanent(m)) => {
                    assert!(name.is_empty() || !m.contains(name), "{m}")
                }
                other => panic!("{name:?}: {other:?}"),
            }
        }
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("uploads/").is_ok());
        assert!(check_prefix("up\nloads/").is_err());
    }
}
