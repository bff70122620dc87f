//! The Google Cloud deployment: the three Cloud Run services (`registro-api`,
//! `registro-outbox`, `registro-worker`) composed from the same libraries as `registro serve`,
//! on Firestore, Cloud Storage and Pub/Sub.

pub mod oidc;
pub mod services;
pub mod settings;
