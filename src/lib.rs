//! pecdesk: the operations console for an Ordine's PEC mailbox migration.
//!
//! Layers, from the inside out: [`domain`] (no I/O), [`store`] (SQLite),
//! [`import`] (roster files), [`provider`] (the HTTP contract's client and
//! simulator), [`app`] (state and update), [`tui`] (terminal), [`cli`].

pub mod domain;
pub mod sample;
pub mod store;
