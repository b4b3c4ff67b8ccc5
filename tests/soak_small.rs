//! The soak (`examples/soak.rs`) sized for CI: a few seconds of syncs,
//! imports, bulk resends and resumes, with processes killed at random, against
//! the simulator's latency, 5xx, late answers and 429s; then every check.

#[path = "../examples/soak.rs"]
mod soak;

use std::path::PathBuf;
use std::time::Duration;

#[test]
fn a_short_soak_passes_every_check() {
    let mut options = soak::Options::new(
        Duration::from_secs(6),
        PathBuf::from(env!("CARGO_BIN_EXE_pecdesk")),
    );
    options.members = 300;
    // Two processes at a time, as two staff or cron and a person.
    options.workers = 2;
    let report = soak::run(&options).unwrap();
    report.print();
    assert!(report.ok(), "a soak check failed (see above)");
    assert!(report.operations.values().sum::<u64>() >= 4);
}
