//! The dashboard's figures from the store: over loaded entries, or counted
//! by SQLite itself so the first screen needs no member in memory.

use chrono::{DateTime, Utc};

use super::RosterEntry;
use crate::domain::Summary;

/// The figures over loaded entries.
pub fn summarize(entries: &[RosterEntry], pec_domain: &str, now: DateTime<Utc>) -> Summary {
    Summary::compute(
        entries
            .iter()
            .map(|e| (e.member.as_ref(), e.in_roster, e.mailbox.as_ref())),
        pec_domain,
        now,
    )
}
