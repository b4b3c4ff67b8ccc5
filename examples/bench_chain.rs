//! Verification speed of the audit chain.
//!
//! Fills a fresh store with at least `--events` events (default 1M: partial
//! imports of 100k-member rosters, each member an "importato" or
//! "aggiornato" event), then
//! times `Store::verify_chain`, which recomputes every hash and every digest
//! of the personal fields.
//!
//! cargo run --release --example bench_chain -- [--events 1000000] [--check]
//!
//! `--check` exits non-zero when verification takes 5 s or more.

use std::time::Instant;

use chrono::Utc;
use pecdesk::sample::generate_roster;
use pecdesk::store::{IncomingRoster, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let check = args.iter().any(|a| a == "--check");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chain.db");
    let mut store = Store::open(&path)?;
    let start = Instant::now();
    let mut seed = 1;
    while (store.event_count()? as usize) < events {
        let members = generate_roster(100_000.min(events), seed, "pec.fofi.it");
        let incoming = IncomingRoster {
            full_roster: false,
            ..IncomingRoster::full(&members)
        };
        store.upsert_members(&incoming, "bench", "bench.csv", Utc::now())?;
        seed += 1;
    }
    let filled = start.elapsed();
    drop(store);
    let store = Store::open(&path)?;
    let start = Instant::now();
    let report = store.verify_chain()?;
    let took = start.elapsed();
    assert!(report.broken.is_none(), "{:?}", report.broken);
    println!(
        "{} eventi verificati in {:.2} s ({:.0}k eventi/s); riempimento {:.2} s",
        report.checked,
        took.as_secs_f64(),
        report.checked as f64 / took.as_secs_f64() / 1000.0,
        filled.as_secs_f64()
    );
    println!("{}", report.head);
    if check && took.as_secs_f64() >= 5.0 {
        eprintln!("troppo lento: limite 5 s");
        std::process::exit(1);
    }
    Ok(())
}
