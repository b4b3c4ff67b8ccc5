//! The demo's PEC providers: they watch a local outbox (one `.eml` file per
//! message, as the outbox transport writes them) and answer each PEC message
//! as the Ordine's provider and the member's would, with an acceptance
//! receipt at once and, a moment later, a delivery receipt (or, for a few
//! members, a non-delivery: mailbox full or unknown), written into a local
//! Maildir that pecdesk reads as it reads the IMAP inbox. E-mail messages
//! (any other sender) get no receipts, as in life. No network.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use mail_parser::MessageParser;

use super::Kind;
use super::build::{Original, ReceiptSpec, receipt_message};

/// How long the member's provider takes to deliver, after acceptance.
const DELIVERY_DELAY: Duration = Duration::from_secs(2);
/// How often the outbox is looked at.
const POLL: Duration = Duration::from_millis(500);

/// The simulated providers' state: what they answered already and what
/// waits for its delivery receipt.
#[derive(Debug)]
pub struct PecProviderSim {
    outbox: PathBuf,
    maildir: PathBuf,
    /// The Ordine's PEC address: messages from it are PEC.
    pec_from: String,
    answered: HashSet<PathBuf>,
    waiting: Vec<(std::time::Instant, Original)>,
    serial: u64,
}

impl PecProviderSim {
    pub fn new(outbox: &Path, maildir: &Path, pec_from: &str) -> std::io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub))?;
        }
        Ok(Self {
            outbox: outbox.to_path_buf(),
            maildir: maildir.to_path_buf(),
            pec_from: pec_from.trim().to_ascii_lowercase(),
            answered: HashSet::new(),
            waiting: Vec::new(),
            serial: 0,
        })
    }

    /// Runs until the task is dropped, looking at the outbox twice a second.
    pub async fn run(mut self) {
        loop {
            let now = std::time::Instant::now();
            let step = tokio::task::spawn_blocking(move || {
                if let Err(error) = self.step(now) {
                    tracing::warn!(%error, "gestore PEC simulato");
                }
                self
            })
            .await;
            match step {
                Ok(sim) => self = sim,
                Err(_) => return,
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One look: acceptances for the new PEC messages, deliveries for those
    /// accepted long enough ago. Returns how many receipts were written.
    pub fn step(&mut self, now: std::time::Instant) -> std::io::Result<usize> {
        let mut written = 0;
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.outbox) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                // `.eml.tmp`: a message still being written.
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .filter(|p| !self.answered.contains(p))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path)?;
            self.answered.insert(path);
            let Some(original) = self.original(&bytes) else {
                continue;
            };
            self.write(&original, Kind::Accettazione)?;
            written += 1;
            self.waiting.push((now + DELIVERY_DELAY, original));
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.waiting = later;
        for (_, original) in due {
            let kind = if undeliverable(&original.to) {
                Kind::ErroreConsegna
            } else {
                Kind::AvvenutaConsegna
            };
            self.write(&original, kind)?;
            written += 1;
        }
        Ok(written)
    }

    /// The PEC message a file holds, if it is one of the Ordine's PEC.
    fn original(&self, bytes: &[u8]) -> Option<Original> {
        let message = MessageParser::default().parse(bytes)?;
        let from = message.from()?.first()?.address()?.to_ascii_lowercase();
        if from != self.pec_from {
            return None;
        }
        let to = message.to()?.first()?.address()?.to_string();
        Some(Original {
            message_id: message.message_id()?.to_string(),
            from,
            to,
            subject: message.subject().unwrap_or_default().to_string(),
        })
    }

    /// One receipt into `new/`, through `tmp/` as Maildir wants.
    fn write(&mut self, original: &Original, kind: Kind) -> std::io::Result<()> {
        self.serial += 1;
        let (error, detail) = match kind {
            Kind::ErroreConsegna => (
                "no-dest".to_string(),
                Some("5.2.2 casella piena o inesistente".to_string()),
            ),
            _ => ("nessuno".to_string(), None),
        };
        let (provider, domain) = match kind {
            // The acceptance comes from the Ordine's provider, the rest
            // from the member's.
            Kind::Accettazione => ("Aruba PEC S.p.A.", "arubapec.it"),
            _ => ("InfoCert S.p.A.", "pec.infocert.it"),
        };
        let bytes = receipt_message(
            original,
            &ReceiptSpec {
                kind,
                error,
                error_detail: detail,
                provider: provider.into(),
                provider_domain: domain.into(),
                at: Utc::now(),
                serial: self.serial,
            },
        );
        let name = format!(
            "{}.{}_{}.pecdesk-demo",
            Utc::now().timestamp(),
            std::process::id(),
            self.serial
        );
        let tmp = self.maildir.join("tmp").join(&name);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.maildir.join("new").join(&name))
    }
}

/// About one member in twelve has a full or vanished mailbox: always the
/// same ones, so the demo tells the same story each time.
fn undeliverable(address: &str) -> bool {
    let hash = address
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    hash % 12 == 5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, to: &str, id: &str) -> String {
        format!(
            "From: Ordine <{from}>\r\nTo: {to}\r\nSubject: Migrazione della casella PEC\r\nMessage-ID: <{id}>\r\nDate: Sun, 29 Nov 2026 10:24:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGentile iscritto, ...\r\n"
        )
    }

    #[test]
    fn pec_messages_are_answered_with_acceptance_then_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let (outbox, maildir) = (dir.path().join("outbox"), dir.path().join("Maildir"));
        std::fs::create_dir_all(&outbox).unwrap();
        let pec = "segreteria@pec.ordine.it";
        std::fs::write(
            outbox.join("a.eml"),
            message(pec, "mario.rossi@pec.fofi.it", "r1@pecdesk"),
        )
        .unwrap();
        std::fs::write(
            outbox.join("b.eml"),
            message("info@ordine.it", "mario@gmail.com", "r2@pecdesk"),
        )
        .unwrap();
        std::fs::write(outbox.join("c.eml.tmp"), "half").unwrap();
        let mut sim = PecProviderSim::new(&outbox, &maildir, pec).unwrap();
        let start = std::time::Instant::now();
        assert_eq!(sim.step(start).unwrap(), 1, "acceptance of the PEC only");
        assert_eq!(sim.step(start).unwrap(), 0, "nothing twice");
        assert_eq!(sim.step(start + DELIVERY_DELAY).unwrap(), 1, "delivery");
        let mut receipts: Vec<super::super::Receipt> = std::fs::read_dir(maildir.join("new"))
            .unwrap()
            .map(|e| {
                let bytes = std::fs::read(e.unwrap().path()).unwrap();
                super::super::parse_message(&bytes).unwrap().unwrap()
            })
            .collect();
        receipts.sort_by_key(|r| r.kind.code());
        assert_eq!(receipts.len(), 2);
        assert!(receipts.iter().all(|r| r.message_id == "r1@pecdesk"));
        let kinds: Vec<Kind> = receipts.iter().map(|r| r.kind).collect();
        assert!(kinds.contains(&Kind::Accettazione));
        assert!(kinds.contains(&Kind::AvvenutaConsegna) || kinds.contains(&Kind::ErroreConsegna));
    }

    #[test]
    fn a_few_members_get_a_non_delivery() {
        let undelivered = (0..1200)
            .filter(|n| undeliverable(&format!("iscritto{n}@pec.fofi.it")))
            .count();
        assert!((50..150).contains(&undelivered), "{undelivered}");
    }
}
