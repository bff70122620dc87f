//! Composition root shared by the binaries: typed configuration validated at startup, JSON
//! telemetry for Cloud Logging, the choice of which adapters fill the ports, and the built
//! static front `registro serve` serves at `/` (`front`). Only this crate
//! knows which backend runs; the api sees `Arc<dyn Port>`.

pub mod admin;
pub mod cloud;
pub mod config;
pub mod embedded;
pub mod front;
pub mod links;
pub mod pipeline;
pub mod telemetry;
pub mod triggers;
