//! Versioned schema migrations. Each entry moves the store one version up; the
//! version lives in `PRAGMA user_version`. Never edit a released migration:
//! append a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: roster, mailbox states, append-only event log, sync runs.
    r#"
    CREATE TABLE members (
        id                INTEGER PRIMARY KEY,
        codice_fiscale    TEXT NOT NULL UNIQUE,
        numero_iscrizione TEXT NOT NULL,
        cognome           TEXT NOT NULL,
        nome              TEXT NOT NULL,
        data_nascita      TEXT,
        data_iscrizione   TEXT,
        pec               TEXT NOT NULL,
        email_servizio    TEXT,
        cellulare         TEXT,
        provincia         TEXT,
        in_roster         INTEGER NOT NULL DEFAULT 1,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL
    );
    CREATE INDEX members_pec ON members(pec);

    CREATE TABLE mailboxes (
        address                TEXT PRIMARY KEY,
        migration_state        TEXT NOT NULL,
        migration_at           TEXT,
        password_state         TEXT NOT NULL,
        link_sent_at           TEXT,
        link_expires_at        TEXT,
        recovery_email_masked  TEXT,
        recovery_mobile_masked TEXT,
        recovery_confirmed     INTEGER NOT NULL,
        last_login_at          TEXT,
        provider_updated_at    TEXT NOT NULL,
        synced_at              TEXT NOT NULL
    );

    CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        TEXT NOT NULL,
        operator  TEXT NOT NULL,
        kind      TEXT NOT NULL,
        member_id INTEGER REFERENCES members(id) ON DELETE RESTRICT,
        mailbox   TEXT,
        detail    TEXT NOT NULL,
        outcome   TEXT
    );
    CREATE INDEX events_mailbox ON events(mailbox, id);
    CREATE INDEX events_member ON events(member_id, id);
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

    CREATE TABLE sync_runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        ok          INTEGER NOT NULL,
        mailboxes   INTEGER NOT NULL,
        changes     INTEGER NOT NULL,
        error       TEXT
    );
    "#,
    // 2: incremental sync. A successful run records the provider's clock at
    // its start (minus a safety margin) as the next run's `updated_since`, and
    // whether it listed everything (only such a run may find mailboxes gone).
    r#"
    ALTER TABLE sync_runs ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE sync_runs ADD COLUMN watermark TEXT;
    "#,
    // The action queue: bulk jobs and their items, with idempotency keys.
    super::jobs::MIGRATION,
    // Reminders sent to members and the PEC receipts that answer them.
    super::mail_schema::MIGRATION,
    // Whether the member must change the password at the next login (the
    // contract's `must_change_password`, set by the Ordine's reset).
    "ALTER TABLE mailboxes ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;",
    // The old provider's side: Aruba's mailboxes and owners' contacts, and its sync runs.
    super::aruba::MIGRATION,
    // Where each IMAP folder of PEC receipts was read up to.
    super::receipts::MIGRATION,
    // The audit chain: OS account, digest of the personal fields, hash; keys.
    super::chain::MIGRATION,
    // Which sync runs were reports, and the date of their states.
    super::sync::REPORT_RUNS_MIGRATION,
    // The day a member left the albo, and the INI-PEC ledger.
    super::inipec::MIGRATION,
    // An INI-PEC file between its writing and its record (kill -9 between them).
    super::inipec::STAGED_MIGRATION,
    // The files of each Maildir of receipts already read.
    super::receipts::MAILDIR_MIGRATION,
    // The dashboard's counts kept with what they were counted from.
    super::summary::MIGRATION,
    // The codice fiscale's unique index named, so that a first import can
    // drop it and build it once at the end (members rebuilt without the
    // inline UNIQUE, SQLite's 12-step procedure; foreign keys checked after).
    super::roster::NAMED_UNIQUE_MIGRATION,
    // The few members out of the roster or erased, indexed for the counts.
    super::summary::APART_MIGRATION,
    // Members' "importato" events found through their member, not indexed
    // by address (a first import sorted every PEC twice).
    super::events::MAILBOX_INDEX_MIGRATION,
    // What the counts need of each mailbox, indexed in address order.
    super::summary::MAILBOX_FACTS_MIGRATION,
];
