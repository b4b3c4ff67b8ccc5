//! The demo's mail, with no network: reminders go to a local outbox (one
//! `.eml` file per message), and simulated PEC providers answer each PEC
//! message with receipts in a local Maildir, which the console reads as it
//! reads the Ordine's IMAP inbox.

use std::path::{Path, PathBuf};

use super::receipts::provider_sim::PecProviderSim;

/// The demo Ordine's PEC address (the sender of reminders by PEC).
pub const PEC_FROM: &str = "segreteria@pec.ordine-demo.it";
/// The demo Ordine's ordinary address (the sender of reminders by e-mail).
pub const EMAIL_FROM: &str = "segreteria@ordine-demo.it";

/// Where the demo's messages and receipts are.
#[derive(Debug, Clone)]
pub struct DemoMail {
    /// One `.eml` per message sent, e-mail and PEC.
    pub outbox: PathBuf,
    /// The receipts the simulated providers send back.
    pub maildir: PathBuf,
}

/// Creates the outbox and the Maildir under `dir` and starts the simulated
/// PEC providers on the current tokio runtime (they stop with it).
pub fn start(dir: &Path) -> std::io::Result<DemoMail> {
    let mail = DemoMail {
        outbox: dir.join("outbox"),
        maildir: dir.join("Maildir"),
    };
    std::fs::create_dir_all(&mail.outbox)?;
    let sim = PecProviderSim::new(&mail.outbox, &mail.maildir, PEC_FROM)?;
    tokio::spawn(sim.run());
    Ok(mail)
}
