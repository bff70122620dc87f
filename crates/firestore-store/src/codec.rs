//! Domain documents ⇄ Firestore documents, through their serde JSON shape.
//!
//! The domain models serialize to the field names the older system writes (`domain::model`);
//! this module turns that JSON into Firestore values and back. Times are the one thing JSON
//! cannot say: the older system stores them as Firestore timestamps, TTL policies only act on
//! timestamps, and range queries compare like types, so the fields named in
//! [`TIMESTAMP_FIELDS`] are written as timestamps (and read back as RFC 3339 text for serde).
//! Firestore keeps microseconds; the store truncates its clock to that precision so what it
//! writes is what it reads back.

use chrono::{DateTime, SecondsFormat, Utc};
use firestore::gcloud_sdk::google::firestore::v1::{ArrayValue, Document, MapValue, Value, value};
use firestore::gcloud_sdk::prost_types::Timestamp;
use serde_json::{Map, Number, Value as Json};
use std::collections::HashMap;

/// Every field of the models that holds a time (at any depth: checkpoints are nested maps).
pub const TIMESTAMP_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "expires_at",
    "started_at",
    "completed_at",
    "worker_lease_expires_at",
    "worker_started_at",
    "publish_started_at",
    "publish_lease_expires_at",
];

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("document is not a JSON object")]
    NotAnObject,
    #[error("field {0} holds a time that Firestore cannot store")]
    BadTime(String),
    #[error("cannot encode the document: {0}")]
    Encode(serde_json::Error),
    #[error("cannot decode the document: {0}")]
    Decode(serde_json::Error),
}

/// The Firestore fields of a model.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<HashMap<String, Value>, CodecError> {
    match serde_json::to_value(value).map_err(CodecError::Encode)? {
        Json::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let v = encode_value(&k, v)?;
                Ok((k, v))
            })
            .collect(),
        _ => Err(CodecError::NotAnObject),
    }
}

/// A model from a Firestore document (fields the model does not know are ignored).
pub fn decode<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, CodecError> {
    let map: Map<String, Json> = doc
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), decode_value(v)))
        .collect();
    serde_json::from_value(Json::Object(map)).map_err(CodecError::Decode)
}

fn encode_value(key: &str, v: Json) -> Result<Value, CodecError> {
    use value::ValueType as T;
    let t = match v {
        Json::Null => T::NullValue(0),
        Json::Bool(b) => T::BooleanValue(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => T::IntegerValue(i),
            None => T::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) if TIMESTAMP_FIELDS.contains(&key) => {
            let t = DateTime::parse_from_rfc3339(&s)
                .map_err(|_| CodecError::BadTime(key.to_owned()))?
                .with_timezone(&Utc);
            T::TimestampValue(Timestamp {
                seconds: t.timestamp(),
                // Firestore rejects sub-microsecond precision on some paths; keep what it keeps.
                nanos: i32::try_from(t.timestamp_subsec_micros() * 1000)
                    .map_err(|_| CodecError::BadTime(key.to_owned()))?,
            })
        }
        Json::String(s) => T::StringValue(s),
        Json::Array(items) => T::ArrayValue(ArrayValue {
            values: items
                .into_iter()
                .map(|item| encode_value(key, item))
                .collect::<Result<_, _>>()?,
        }),
        Json::Object(map) => T::MapValue(MapValue {
            fields: map
                .into_iter()
                .map(|(k, v)| {
                    let v = encode_value(&k, v)?;
                    Ok((k, v))
                })
                .collect::<Result<_, _>>()?,
        }),
    };
    Ok(Value {
        value_type: Some(t),
    })
}

fn decode_value(v: &Value) -> Json {
    use value::ValueType as T;
    match &v.value_type {
        None | Some(T::NullValue(_)) => Json::Null,
        Some(T::BooleanValue(b)) => Json::Bool(*b),
        Some(T::IntegerValue(i)) => Json::Number((*i).into()),
        Some(T::DoubleValue(d)) => Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Some(T::TimestampValue(t)) => {
            let nanos = u32::try_from(t.nanos).unwrap_or(0);
            DateTime::from_timestamp(t.seconds, nanos).map_or(Json::Null, |t| {
                Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            })
        }
        Some(T::StringValue(s)) | Some(T::ReferenceValue(s)) => Json::String(s.clone()),
        Some(T::BytesValue(b)) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
        Some(T::GeoPointValue(p)) => {
            serde_json::json!({"latitude": p.latitude, "longitude": p.longitude})
        }
        Some(T::ArrayValue(a)) => Json::Array(a.values.iter().map(decode_value).collect()),
        Some(T::MapValue(m)) => Json::Object(
            m.fields
                .iter()
                .map(|(k, v)| (k.clone(), decode_value(v)))
                .collect(),
        ),
        // Firestore's newer vector and pipeline value kinds: never written by either system.
        #[allow(unreachable_patterns)]
        Some(_) => Json::Null,
    }
}

/// The status field of a submission document, without decoding the rest.
pub fn string_field<'a>(doc: &'a Document, field: &str) -> Option<&'a str> {
    match doc.fields.get(field)?.value_type.as_ref()? {
        value::ValueType::StringValue(s) => Some(s),
        _ => None,
    }
}

/// A time as the Firestore value a query compares with.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_micros() * 1000).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::model::{Checkpoint, IdempotencyRecord, OutboxRow, OutboxStatus};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn doc(fields: HashMap<String, Value>) -> Document {
        Document {
            fields,
            ..Document::default()
        }
    }

    fn is_timestamp(v: &Value) -> bool {
        matches!(v.value_type, Some(value::ValueType::TimestampValue(_)))
    }

    #[test]
    fn an_outbox_row_round_trips_with_its_times_as_timestamps_and_nulls_kept() {
        let row = OutboxRow {
            submission_id: domain::SubmissionId::parse("AbCdEfGhIjKlMnOpQrSt").unwrap(),
            submission_type: domain::SubmissionType::Faculty,
            request_id: "r".into(),
            status: OutboxStatus::Publishing,
            created_at: at("2026-03-01T12:00:00Z"),
            updated_at: at("2026-03-01T12:00:01.123456Z"),
            publish_started_at: Some(at("2026-03-01T12:00:01.123456Z")),
            publish_lease_expires_at: Some(at("2026-03-01T12:01:01Z")),
            publisher_request_id: Some("owner".into()),
            last_error: None,
            attempt_count: 3,
            expires_at: None,
            traceparent: None,
        };
        let fields = encode(&row).unwrap();
        for f in [
            "created_at",
            "updated_at",
            "publish_started_at",
            "publish_lease_expires_at",
        ] {
            assert!(is_timestamp(&fields[f]), "{f} is a timestamp");
        }
        assert_eq!(
            fields["last_error"].value_type,
            Some(value::ValueType::NullValue(0)),
            "null, as the older system writes it"
        );
        assert_eq!(
            fields["attempt_count"].value_type,
            Some(value::ValueType::IntegerValue(3))
        );
        let back: OutboxRow = decode(&doc(fields)).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn nested_checkpoint_times_are_timestamps_too() {
        let mut fields = HashMap::new();
        let cp = Checkpoint {
            status: "completed".into(),
            started_at: Some(at("2026-03-01T12:00:00Z")),
            completed_at: Some(at("2026-03-01T12:00:02Z")),
            ..Checkpoint::default()
        };
        fields.insert(
            "worker_checkpoints".to_owned(),
            encode_value(
                "worker_checkpoints",
                serde_json::json!({ "sheets": serde_json::to_value(&cp).unwrap() }),
            )
            .unwrap(),
        );
        let Some(value::ValueType::MapValue(m)) = &fields["worker_checkpoints"].value_type else {
            panic!("a map")
        };
        let Some(value::ValueType::MapValue(sheets)) = &m.fields["sheets"].value_type else {
            panic!("a map")
        };
        assert!(is_timestamp(&sheets.fields["started_at"]));
        assert!(is_timestamp(&sheets.fields["completed_at"]));
    }

    #[test]
    fn a_record_of_the_older_system_without_optional_fields_decodes() {
        let mut fields = HashMap::new();
        for (k, v) in [
            ("submission_type", "delegacion"),
            ("idempotency_key", "k"),
            ("payload_hash", "h"),
            ("request_id", "r"),
            ("status", "claimed"),
        ] {
            fields.insert(
                k.to_owned(),
                Value {
                    value_type: Some(value::ValueType::StringValue(v.into())),
                },
            );
        }
        fields.insert(
            "created_at".into(),
            Value {
                value_type: Some(value::ValueType::TimestampValue(timestamp(at(
                    "2026-03-01T12:00:00Z",
                )))),
            },
        );
        fields.insert(
            "submission_id".into(),
            Value {
                value_type: Some(value::ValueType::NullValue(0)),
            },
        );
        let r: IdempotencyRecord = decode(&doc(fields)).unwrap();
        assert_eq!(r.submission_id, None);
        assert_eq!(r.updated_at, None);
        assert_eq!(r.created_at, at("2026-03-01T12:00:00Z"));
    }

    /// Every time the models hold must be in TIMESTAMP_FIELDS: any string value that parses as
    /// RFC 3339 under another key would be stored as text, and TTLs and queries would miss it.
    #[test]
    fn no_time_of_the_models_is_left_as_text() {
        fn walk(key: &str, v: &Json, found: &mut Vec<String>) {
            match v {
                Json::String(s)
                    if DateTime::parse_from_rfc3339(s).is_ok()
                        && !TIMESTAMP_FIELDS.contains(&key) =>
                {
                    found.push(key.to_owned());
                }
                Json::Array(items) => items.iter().for_each(|i| walk(key, i, found)),
                Json::Object(m) => m.iter().for_each(|(k, v)| walk(k, v, found)),
                _ => {}
            }
        }
        let t = at("2026-03-01T12:00:00Z");
        let mut sub = testkit::contract::sample_submission(
            &testkit::contract::submission_id(1),
            domain::SubmissionType::Delegacion,
        );
        sub.created_at = t;
        sub.updated_at = t;
        sub.worker.worker_lease_expires_at = Some(t);
        sub.worker.worker_started_at = Some(t);
        sub.worker.worker_checkpoints.insert(
            "sheets".into(),
            Checkpoint {
                status: "completed".into(),
                started_at: Some(t),
                completed_at: Some(t),
                updated_at: Some(t),
                ..Checkpoint::default()
            },
        );
        let mut row = OutboxRow::for_new_submission(&sub);
        row.publish_started_at = Some(t);
        row.publish_lease_expires_at = Some(t);
        row.expires_at = Some(t);
        let mut found = Vec::new();
        walk("", &serde_json::to_value(&sub).unwrap(), &mut found);
        walk("", &serde_json::to_value(&row).unwrap(), &mut found);
        assert!(found.is_empty(), "times stored as text: {found:?}");
    }
}
