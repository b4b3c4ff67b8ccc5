//! The provider contract (`assets/provider-api.yaml`): its wire types, the
//! HTTP client pecdesk uses, and the simulator that serves it on loopback;
//! [`aruba`]: the old provider's published partner API, client and simulator.

pub mod api;
pub mod aruba;
pub mod client;
pub mod sim;

pub use client::{ClientConfig, Credentials, Listing, ProviderClient, ProviderError};
