//! Benchmark: 10,000 PEC receipts (acceptance and delivery of 5,000 reminders)
//! read over IMAP from a real Dovecot on 127.0.0.1 and matched to their
//! reminders. Target: under 10 s. Needs `dovecot` (dovecot-imapd).
//!
//! `cargo run --release --example bench_receipts`

#[path = "../tests/support/dovecot.rs"]
mod dovecot;

use std::time::Instant;

use pecdesk::mail::receipts::build::{Original, ReceiptSpec, receipt_message};
use pecdesk::mail::receipts::{ImapSettings, Kind, ReceiptSource, Security};
use pecdesk::store::Store;

const REMINDERS: usize = 5_000;

fn main() {
    let server = match dovecot::Dovecot::start() {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("benchmark skipped: {reason}");
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("store.db");
    Store::open(&db).unwrap();
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    let tx = conn.transaction().unwrap();
    let now = "2026-11-29T09:00:00Z";
    for n in 0..REMINDERS {
        tx.execute(
            "INSERT INTO members (codice_fiscale, numero_iscrizione, cognome, nome, pec, created_at, updated_at)
             VALUES (?1, ?1, 'Cognome', 'Nome', ?2, ?3, ?3)",
            rusqlite::params![format!("CF{n}"), format!("m{n}@pec.fofi.it"), now],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO reminders (member_id, channel, template, recipient, subject, message_id, state, created_at, updated_at)
             VALUES (last_insert_rowid(), 'pec', 'migrazione', ?1, 'Migrazione', ?2, 'sent', ?3, ?3)",
            rusqlite::params![format!("m{n}@pec.fofi.it"), format!("r{n}@pecdesk"), now],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let started = Instant::now();
    let mut serial = 0;
    for n in 0..REMINDERS {
        let original = Original {
            message_id: format!("r{n}@pecdesk"),
            from: dovecot::USER.into(),
            to: format!("m{n}@pec.fofi.it"),
            subject: "Migrazione della casella PEC".into(),
        };
        for kind in [Kind::Accettazione, Kind::AvvenutaConsegna] {
            serial += 1;
            server.deliver(&receipt_message(
                &original,
                &ReceiptSpec {
                    kind,
                    error: "nessuno".into(),
                    error_detail: None,
                    provider: "InfoCert S.p.A.".into(),
                    provider_domain: "pec.infocert.it".into(),
                    at: chrono::Utc::now(),
                    serial,
                },
            ));
        }
    }
    println!(
        "{} receipts delivered into Dovecot's Maildir in {:.2} s",
        serial,
        started.elapsed().as_secs_f64()
    );
    let source = ReceiptSource::Imap(ImapSettings {
        host: "127.0.0.1".into(),
        port: server.port,
        security: Security::None,
        folder: "INBOX".into(),
        user: dovecot::USER.into(),
        password: dovecot::PASSWORD.into(),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The machine may be shared: the figures mean little without its load.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average before reading: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let started = Instant::now();
    let summary = rt
        .block_on(pecdesk::mail::receipts::read(&db, &source))
        .unwrap();
    let elapsed = started.elapsed();
    println!("first read: {}", summary.describe());
    println!(
        "{} receipts read over IMAP, matched and stored in {:.2} s ({:.0}/s; target < 10 s): {}",
        summary.read,
        elapsed.as_secs_f64(),
        summary.read as f64 / elapsed.as_secs_f64(),
        if elapsed.as_secs_f64() < 10.0 {
            "OK"
        } else {
            "TOO SLOW"
        }
    );
    assert_eq!(summary.matched, 2 * REMINDERS);
    let started = Instant::now();
    let again = rt
        .block_on(pecdesk::mail::receipts::read(&db, &source))
        .unwrap();
    println!(
        "second read (nothing new): {} messages in {:.3} s",
        again.read,
        started.elapsed().as_secs_f64()
    );
}
