//! pecdesk: the operations console for an Ordine's PEC mailbox migration.
//!
//! Layers, from the inside out: [`domain`] (no I/O), [`store`] (SQLite),
//! [`import`] (roster files), [`provider`] (the HTTP contract's client and
//! simulator, and Aruba's), [`sync`], [`aruba`] and [`services`] (the work
//! behind the console),
//! [`app`] (state and update), [`tui`] (terminal), [`cli`].

#[macro_use]
mod macros;

pub mod app;
pub mod aruba;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod headless;
pub mod i18n;
pub mod identity;
pub mod import;
pub mod lock;
pub mod logging;
pub mod mail;
pub mod memory;
pub mod privacy;
pub mod provider;
pub mod queue;
pub mod report;
pub mod sample;
pub mod services;
pub mod store;
pub mod sync;
pub mod tui;
pub mod who;
