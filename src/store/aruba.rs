//! The old provider's side as last seen: each mailbox of the Ordine's domain
//! at Aruba with its status and its owner's contacts, and the Aruba sync runs.
//! A sync lists the whole domain (the API has no "changed since"), so each
//! successful run replaces the table in one transaction, logging what changed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::events::{EventKind, NewEvent, Outcome, append};
use super::{Result, Store, parse_ts, ts};
use crate::domain::aruba::{ArubaMailbox, ArubaStatus};
use crate::domain::contact::{mask_email, mask_mobile};

pub const MIGRATION: &str = r#"
    CREATE TABLE aruba_mailboxes (
        address        TEXT PRIMARY KEY,
        status         TEXT NOT NULL,        -- Aruba's code: CERTIFICATO, SOSPESO, ...
        owner_id       INTEGER,              -- Aruba's owner id, for the contact change
        contact_email  TEXT,                 -- the owner's contact e-mail, lower case
        contact_mobile TEXT,                 -- the owner's mobile, E.164 when readable
        synced_at      TEXT NOT NULL
    );

    CREATE TABLE aruba_sync_runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        ok          INTEGER NOT NULL,
        mailboxes   INTEGER NOT NULL,
        changes     INTEGER NOT NULL,
        error       TEXT
    );
"#;

/// What one Aruba sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArubaSyncOutcome {
    pub mailboxes: usize,
    pub new: usize,
    pub changed: usize,
    pub gone: usize,
}

impl ArubaSyncOutcome {
    pub fn describe(&self) -> String {
        format!(
            "{} caselle presso Aruba ({} nuove, {} cambiate, {} non più presenti)",
            self.mailboxes, self.new, self.changed, self.gone
        )
    }
}

/// The last Aruba sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArubaSyncRun {
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    pub mailboxes: i64,
    pub error: Option<String>,
}

/// The log's words for what changed at Aruba (contacts masked).
fn describe(old: &ArubaMailbox, new: &ArubaMailbox) -> Vec<String> {
    let mut changes = Vec::new();
    if old.status != new.status {
        changes.push(format!(
            "stato {} → {}",
            old.status.label_it(),
            new.status.label_it()
        ));
    }
    let shown = |v: &Option<String>, mask: fn(&str) -> String| {
        v.as_deref().map(mask).unwrap_or_else(|| "nessuna".into())
    };
    if old.contact_email != new.contact_email {
        changes.push(format!(
            "e-mail {} → {}",
            shown(&old.contact_email, mask_email),
            shown(&new.contact_email, mask_email)
        ));
    }
    if old.contact_mobile != new.contact_mobile {
        changes.push(format!(
            "cellulare {} → {}",
            shown(&old.contact_mobile, mask_mobile),
            shown(&new.contact_mobile, mask_mobile)
        ));
    }
    changes
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArubaMailbox> {
    Ok(ArubaMailbox {
        address: r.get(0)?,
        status: ArubaStatus::from_code(&r.get::<_, String>(1)?),
        owner_id: r.get(2)?,
        contact_email: r.get(3)?,
        contact_mobile: r.get(4)?,
    })
}

impl Store {
    /// Every mailbox last seen at Aruba.
    pub fn aruba_mailboxes(&self) -> Result<Vec<ArubaMailbox>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT address, status, owner_id, contact_email, contact_mobile
                 FROM aruba_mailboxes ORDER BY address",
            )
            .map_err(self.err())?;
        let rows = stmt.query_map([], read_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    pub fn aruba_mailbox(&self, address: &str) -> Result<Option<ArubaMailbox>> {
        self.conn
            .query_row(
                "SELECT address, status, owner_id, contact_email, contact_mobile
                 FROM aruba_mailboxes WHERE address = ?1",
                [address.to_lowercase()],
                read_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// Replaces what is known of Aruba with a complete listing, logging each
    /// change and the run, in one transaction.
    pub fn apply_aruba_sync(
        &mut self,
        mailboxes: &[ArubaMailbox],
        operator: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> Result<ArubaSyncOutcome> {
        let to_err = super::sql_error(&self.path);
        let old: HashMap<String, ArubaMailbox> = self
            .aruba_mailboxes()?
            .into_iter()
            .map(|m| (m.address.clone(), m))
            .collect();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let mut outcome = ArubaSyncOutcome {
            mailboxes: mailboxes.len(),
            ..Default::default()
        };
        {
            tx.execute("DELETE FROM aruba_mailboxes", [])
                .map_err(&to_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO aruba_mailboxes
                     (address, status, owner_id, contact_email, contact_mobile, synced_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&to_err)?;
            let at = ts(finished_at);
            for m in mailboxes {
                insert
                    .execute(params![
                        m.address,
                        m.status.code(),
                        m.owner_id,
                        m.contact_email,
                        m.contact_mobile,
                        at
                    ])
                    .map_err(&to_err)?;
                let changes = match old.get(&m.address) {
                    None => {
                        outcome.new += 1;
                        continue;
                    }
                    Some(before) => describe(before, m),
                };
                if changes.is_empty() {
                    continue;
                }
                outcome.changed += 1;
                append(
                    &tx,
                    &NewEvent {
                        at: finished_at,
                        operator: operator.to_string(),
                        kind: EventKind::StateChanged,
                        member_id: None,
                        mailbox: Some(m.address.clone()),
                        detail: format!("presso Aruba: {}", changes.join(", ")),
                        outcome: None,
                    },
                )
                .map_err(&to_err)?;
            }
        }
        let listed: std::collections::HashSet<&str> =
            mailboxes.iter().map(|m| m.address.as_str()).collect();
        outcome.gone = old.keys().filter(|a| !listed.contains(a.as_str())).count();
        record_run(&tx, operator, started_at, finished_at, &outcome, None).map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(outcome)
    }

    pub fn record_aruba_sync_failure(
        &mut self,
        operator: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        record_run(
            &tx,
            operator,
            started_at,
            finished_at,
            &ArubaSyncOutcome::default(),
            Some(error),
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)
    }

    /// The last Aruba sync, successful or not.
    pub fn last_aruba_sync(&self) -> Result<Option<ArubaSyncRun>> {
        let raw = self
            .conn
            .query_row(
                "SELECT finished_at, ok, mailboxes, error FROM aruba_sync_runs
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        raw.map(|(at, ok, mailboxes, error)| {
            Ok(ArubaSyncRun {
                finished_at: parse_ts(&at)?,
                ok,
                mailboxes,
                error,
            })
        })
        .transpose()
    }

    /// Whether a complete Aruba listing was ever stored: only then does "no
    /// mailbox at Aruba" mean anything.
    pub fn aruba_synced(&self) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM aruba_sync_runs WHERE ok = 1)",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }
}

/// The contacts an Aruba change set, written to the stored copy so the
/// console shows them before the next sync.
pub(crate) fn write_contacts(
    conn: &rusqlite::Connection,
    address: &str,
    email: Option<&str>,
    mobile: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE aruba_mailboxes SET contact_email = COALESCE(?2, contact_email),
         contact_mobile = COALESCE(?3, contact_mobile) WHERE address = ?1",
        params![address, email, mobile],
    )?;
    Ok(())
}

fn record_run(
    conn: &rusqlite::Connection,
    operator: &str,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    outcome: &ArubaSyncOutcome,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let (detail, result) = match error {
        None => (
            format!("sincronizzazione Aruba: {}", outcome.describe()),
            Outcome::Ok,
        ),
        Some(e) => (
            format!("sincronizzazione Aruba fallita: {e}"),
            Outcome::Failed,
        ),
    };
    append(
        conn,
        &NewEvent {
            at: finished_at,
            operator: operator.to_string(),
            kind: EventKind::Sync,
            member_id: None,
            mailbox: None,
            detail,
            outcome: Some(result),
        },
    )?;
    conn.execute(
        "INSERT INTO aruba_sync_runs (started_at, finished_at, ok, mailboxes, changes, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            ts(started_at),
            ts(finished_at),
            error.is_none(),
            outcome.mailboxes as i64,
            (outcome.new + outcome.changed + outcome.gone) as i64,
            error
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(address: &str, status: &str, email: Option<&str>) -> ArubaMailbox {
        ArubaMailbox {
            address: address.into(),
            status: ArubaStatus::from_code(status),
            owner_id: Some(1),
            contact_email: email.map(str::to_string),
            contact_mobile: None,
        }
    }

    #[test]
    fn a_sync_replaces_the_copy_and_logs_what_changed_masked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        assert!(!store.aruba_synced().unwrap());
        let now = Utc::now();
        let first = [
            mailbox("a@pec.fofi.it", "CERTIFICATO", Some("anna@libero.it")),
            mailbox("b@pec.fofi.it", "CERTIFICATO", None),
        ];
        let outcome = store.apply_aruba_sync(&first, "op", now, now).unwrap();
        assert_eq!((outcome.mailboxes, outcome.new, outcome.changed), (2, 2, 0));
        assert!(store.aruba_synced().unwrap());
        let second = [mailbox("a@pec.fofi.it", "SOSPESO", Some("altro@libero.it"))];
        let outcome = store.apply_aruba_sync(&second, "op", now, now).unwrap();
        assert_eq!((outcome.new, outcome.changed, outcome.gone), (0, 1, 1));
        assert_eq!(store.aruba_mailboxes().unwrap(), second);
        let timeline = store.timeline(None, Some("a@pec.fofi.it")).unwrap();
        let change = &timeline[0].detail;
        assert!(change.contains("certificata → sospesa"), "{change}");
        assert!(
            !change.contains("altro@libero.it") && change.contains("*****ro@l"),
            "{change}"
        );
        store
            .record_aruba_sync_failure("op", now, now, "Aruba non raggiungibile")
            .unwrap();
        let run = store.last_aruba_sync().unwrap().unwrap();
        assert!(!run.ok && run.error.unwrap().contains("non raggiungibile"));
        assert_eq!(
            store.aruba_mailboxes().unwrap(),
            second,
            "a failure changes nothing"
        );
    }
}
