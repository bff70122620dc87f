//! Every failure of a call to Cloud Storage, classified once into the port's [`BlobError`].
//!
//! What a retry may fix is `Unavailable`: timeouts, connection failures, 408, 429, 5xx, and
//! retries the client library gave up on. What will fail again until someone changes the
//! deployment is `Permanent`: 400 (the request is wrong), 401 and 403 (the service account
//! lacks a role on the bucket, or its credentials are broken), a missing bucket. The callers
//! turn the statuses that mean something to the port (404, 412) into `NotFound` and
//! `AlreadyExists` before asking here.
//!
//! Messages carry the operation, the HTTP status and our own words, never the service's or the
//! client library's text: both quote the object name (`No such object: bucket/name`, the
//! request URL, `checksum mismatch when uploading <name>`), and names of the older system can
//! hold personal data.

use domain::ports::BlobError;
use google_cloud_auth::errors::CredentialsError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_storage::error::ReadError;

/// A non-success HTTP status of operation `op`.
pub(crate) fn from_status(op: &str, status: u16) -> BlobError {
    match status {
        408 | 429 | 500..=599 => BlobError::Unavailable(format!("gcs {op}: HTTP {status}")),
        401 | 403 => BlobError::Permanent(format!(
            "gcs {op}: HTTP {status} (the service account lacks a role on the bucket, or its \
             credentials are not accepted)"
        )),
        404 => BlobError::Permanent(format!("gcs {op}: HTTP 404 (the bucket does not exist)")),
        _ => BlobError::Permanent(format!("gcs {op}: HTTP {status}")),
    }
}

/// An error of the client library (`google_cloud_storage::Error`, which is gax's).
pub(crate) fn from_storage(op: &str, e: &google_cloud_storage::Error) -> BlobError {
    if let Some(status) = e.http_status_code() {
        return from_status(op, status);
    }
    if e.is_authentication() {
        return match find::<CredentialsError>(e) {
            Some(c) if c.is_transient() => {
                BlobError::Unavailable(format!("gcs {op}: access token temporarily unavailable"))
            }
            // The credentials' own text names files and accounts, never objects.
            Some(c) => BlobError::Permanent(format!("gcs {op}: cannot authenticate: {c}")),
            None => BlobError::Permanent(format!("gcs {op}: cannot authenticate")),
        };
    }
    if find::<ReadError>(e).is_some() {
        // A checksum or length mismatch while reading: the bytes were damaged on the way.
        return BlobError::Unavailable(format!(
            "gcs {op}: the bytes read failed their integrity check"
        ));
    }
    let unavailable = |what: &str| BlobError::Unavailable(format!("gcs {op}: {what}"));
    if e.is_timeout() {
        return unavailable("timed out");
    }
    if e.is_exhausted() {
        return unavailable("gave up after retrying");
    }
    if e.is_connect() {
        return unavailable("cannot connect");
    }
    if e.is_io() || e.is_transport() {
        return unavailable("the connection failed");
    }
    if e.is_deserialization() {
        return unavailable("unreadable response");
    }
    if let Some(status) = e.status() {
        return match status.code {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal => unavailable(&format!("status {:?}", status.code)),
            code => BlobError::Permanent(format!("gcs {op}: status {code:?}")),
        };
    }
    if e.is_binding() {
        return BlobError::Permanent(format!("gcs {op}: invalid request"));
    }
    BlobError::Permanent(format!("gcs {op}: failed"))
}

/// A request of ours (the JSON API) that got no response. reqwest's own text holds the URL,
/// which holds the object name: only its kind goes into the message.
pub(crate) fn from_reqwest(op: &str, e: &reqwest::Error) -> BlobError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() {
        return BlobError::Permanent(format!("gcs {op}: unreadable response"));
    } else {
        "the request failed"
    };
    BlobError::Unavailable(format!("gcs {op}: {what}"))
}

/// The first error of type `T` in `e`'s source chain (`e` included).
pub(crate) fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_worth_retrying_are_unavailable_and_the_rest_permanent() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(from_status("read", status), BlobError::Unavailable(_)),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 409, 411, 413] {
            assert!(
                matches!(from_status("read", status), BlobError::Permanent(_)),
                "{status}"
            );
        }
        let m = from_status("list", 403).to_string();
        assert!(m.contains("list") && m.contains("403"), "{m}");
    }

    #[test]
    fn client_library_errors_are_classified_by_kind() {
        let http = google_cloud_storage::Error::http(
            503,
            http::HeaderMap::new(),
            bytes::Bytes::from_static(b"No such object: b/uploads/secret-name.pdf"),
        );
        let e = from_storage("read", &http);
        assert!(matches!(e, BlobError::Unavailable(_)), "{e:?}");
        assert!(!e.to_string().contains("secret-name"), "{e}");

        let timeout = google_cloud_storage::Error::timeout("uploads/secret-name.pdf");
        let e = from_storage("upload", &timeout);
        assert!(matches!(e, BlobError::Unavailable(_)), "{e:?}");
        assert!(!e.to_string().contains("secret-name"), "{e}");

        let io = google_cloud_storage::Error::io("broken pipe");
        assert!(matches!(
            from_storage("upload", &io),
            BlobError::Unavailable(_)
        ));

        let binding = google_cloud_storage::Error::binding("malformed bucket name");
        assert!(matches!(
            from_storage("upload", &binding),
            BlobError::Permanent(_)
        ));

        let read = google_cloud_storage::Error::deser(ReadError::ShortRead(3));
        assert!(matches!(
            from_storage("read", &read),
            BlobError::Unavailable(_)
        ));
    }
}
