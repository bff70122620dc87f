//! E-mail address normalisation, approximating what the older system got from Pydantic's
//! `EmailStr` (`email-validator`, no deliverability check; reference/api.md §2.3).
//!
//! The normalised address is what is stored and what enters the payload fingerprint, so two
//! spellings of one address (`Ana <Ana@EXAMPLE.com>`, `Ana@example.com`) are one payload.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

const MAX_LOCAL_BYTES: usize = 64;
const MAX_LABEL: usize = 63;
const MAX_TOTAL: usize = 254;

/// Special-use domains `email-validator` refuses for globally deliverable addresses.
const SPECIAL_USE: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("the address is empty")]
    Empty,
    #[error("the address has no @ or more than one")]
    At,
    #[error("the part before the @ is not valid")]
    LocalPart,
    #[error("the part after the @ is not a valid domain")]
    Domain,
    #[error("the address is too long")]
    TooLong,
}

/// Trims, reduces `Display Name <addr>` to `addr`, validates, and returns `local@domain` with
/// the local part's case kept and the domain lower-cased (Unicode form, UTS #46-mapped).
pub fn normalize(input: &str) -> Result<String, InvalidEmail> {
    let addr = strip_display_name(input.trim()).trim();
    if addr.is_empty() {
        return Err(InvalidEmail::Empty);
    }
    let (local, domain) = addr.rsplit_once('@').ok_or(InvalidEmail::At)?;
    let local = check_local(local)?;
    let domain = check_domain(domain)?;
    let out = format!("{local}@{domain}");
    if out.len() > MAX_TOTAL {
        return Err(InvalidEmail::TooLong);
    }
    Ok(out)
}

/// Pydantic's "pretty e-mail" form: an optional display name (words of `\w` and the atext
/// specials separated by spaces, or a double-quoted string) followed by `<addr>`.
fn strip_display_name(s: &str) -> &str {
    let Some(body) = s.strip_suffix('>') else {
        return s;
    };
    let (name, rest) = if let Some(quoted) = body.strip_prefix('"') {
        // Greedy like the regex: the name ends at the last `"` that is followed by `\s*<`.
        let Some(end) = quoted
            .match_indices('"')
            .map(|(i, _)| i)
            .rfind(|i| quoted[i + 1..].trim_start().starts_with('<'))
        else {
            return s;
        };
        if end == 0 {
            return s;
        }
        (None, quoted[end + 1..].trim_start())
    } else {
        let Some(lt) = body.find('<') else {
            return s;
        };
        (Some(body[..lt].trim_end()), &body[lt..])
    };
    if let Some(name) = name
        && !name.is_empty()
        && !name.split_whitespace().all(|w| w.chars().all(is_name_char))
    {
        return s;
    }
    match rest.strip_prefix('<') {
        Some(addr) if !addr.is_empty() => addr,
        _ => s,
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || "!#$%&'*+-/=?^`{|}~".contains(c)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+/=?^_`{|}~-".contains(c)
        || (!c.is_ascii() && (c.is_alphanumeric() || is_combining_mark(c)))
}

fn check_local(local: &str) -> Result<String, InvalidEmail> {
    // email-validator stores internationalised local parts in NFC.
    let local: String = if local.is_ascii() {
        local.to_owned()
    } else {
        local.nfc().collect()
    };
    let ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_BYTES
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if ok {
        Ok(local)
    } else {
        Err(InvalidEmail::LocalPart)
    }
}

fn check_domain(domain: &str) -> Result<String, InvalidEmail> {
    if domain.is_empty() || domain.ends_with('.') || domain.starts_with('.') {
        return Err(InvalidEmail::Domain);
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| InvalidEmail::Domain)?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let ldh = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(ldh) {
        return Err(InvalidEmail::Domain);
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidEmail::Domain);
    }
    if SPECIAL_USE.contains(&tld) {
        return Err(InvalidEmail::Domain);
    }
    let (unicode, result) = idna::domain_to_unicode(&ascii);
    result.map_err(|_| InvalidEmail::Domain)?;
    Ok(unicode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_normalize_like_pydantic() {
        for (input, want) in [
            ("  Ana <Ana.Perez@EXAMPLE.COM> ", "Ana.Perez@example.com"),
            ("ana@example.com", "ana@example.com"),
            ("Ana.Perez@Example.Com", "Ana.Perez@example.com"),
            ("<ana@example.com>", "ana@example.com"),
            ("Ana María Pérez <ana@example.com>", "ana@example.com"),
            ("\"Pérez, Ana\" <ana@example.com>", "ana@example.com"),
            ("user+tag@sub.example.co.mx", "user+tag@sub.example.co.mx"),
            ("o'brien@example.ie", "o'brien@example.ie"),
            (
                "x!#$%&'*+/=?^_`{|}~-y@example.com",
                "x!#$%&'*+/=?^_`{|}~-y@example.com",
            ),
            ("josé@example.com", "josé@example.com"),
            ("jose\u{301}@example.com", "josé@example.com"),
            ("ana@BÜCHER.de", "ana@bücher.de"),
            ("ana@xn--bcher-kva.de", "ana@bücher.de"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn invalid_addresses_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "a".repeat(64));
        let long_total = format!("a@{}.com", vec!["a".repeat(60); 5].join("."));
        for (input, why) in [
            ("", InvalidEmail::Empty),
            ("   ", InvalidEmail::Empty),
            ("ana", InvalidEmail::At),
            ("ana.example.com", InvalidEmail::At),
            ("@example.com", InvalidEmail::LocalPart),
            ("a@b@example.com", InvalidEmail::LocalPart),
            (".ana@example.com", InvalidEmail::LocalPart),
            ("ana.@example.com", InvalidEmail::LocalPart),
            ("an..a@example.com", InvalidEmail::LocalPart),
            ("an a@example.com", InvalidEmail::LocalPart),
            ("\"an a\"@example.com", InvalidEmail::LocalPart),
            ("ana(x)@example.com", InvalidEmail::LocalPart),
            (long_local.as_str(), InvalidEmail::LocalPart),
            ("ana@", InvalidEmail::Domain),
            ("ana@localhost", InvalidEmail::Domain),
            ("ana@example", InvalidEmail::Domain),
            ("ana@example.com.", InvalidEmail::Domain),
            ("ana@.example.com", InvalidEmail::Domain),
            ("ana@exa..mple.com", InvalidEmail::Domain),
            ("ana@exa_mple.com", InvalidEmail::Domain),
            ("ana@-example.com", InvalidEmail::Domain),
            ("ana@example-.com", InvalidEmail::Domain),
            ("ana@example.123", InvalidEmail::Domain),
            ("ana@1.2.3.4", InvalidEmail::Domain),
            ("ana@[127.0.0.1]", InvalidEmail::Domain),
            ("ana@example.test", InvalidEmail::Domain),
            ("ana@foo.localhost", InvalidEmail::Domain),
            ("ana@exa mple.com", InvalidEmail::Domain),
            (long_label.as_str(), InvalidEmail::Domain),
            (long_total.as_str(), InvalidEmail::TooLong),
            ("Ana <ana@example.com", InvalidEmail::LocalPart),
            ("Ana <>", InvalidEmail::At),
            ("Ana, Pérez <ana@example.com>", InvalidEmail::LocalPart),
        ] {
            assert_eq!(normalize(input), Err(why), "{input:?}");
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for input in [
            "  Ana <Ana.Perez@EXAMPLE.COM> ",
            "ana@BÜCHER.de",
            "jose\u{301}@x.mx",
        ] {
            let once = normalize(input).unwrap();
            assert_eq!(normalize(&once).unwrap(), once);
        }
    }
}
