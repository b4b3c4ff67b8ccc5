//! Aruba, the old provider: its published partner API (OpenAPI 3 files in the
//! public repository `shellrent/arubapec-api`, folder `openapi/`), the client
//! pecdesk uses and a simulator that serves it on loopback. The part used is
//! copied in `assets/aruba-api.json`.

pub mod api;
pub mod client;
pub mod sim;

pub use client::{ArubaClient, ArubaConfig, ArubaError};
