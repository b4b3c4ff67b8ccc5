//! Tables of the reminders sent to members (e-mail and PEC) and of the PEC
//! receipts that answer them. Sending (`reminders`) and reading receipts
//! (`receipts`) are separate pieces of work that meet at the Message-ID:
//! a receipt's `X-Riferimento-Message-ID` names the reminder it answers.

pub const MIGRATION: &str = r#"
    CREATE TABLE reminders (
        id          INTEGER PRIMARY KEY,
        job_id      INTEGER REFERENCES jobs(id),
        position    INTEGER,
        member_id   INTEGER REFERENCES members(id),
        channel     TEXT NOT NULL,            -- email | pec
        template    TEXT NOT NULL,            -- migrazione, credenziali, ...
        recipient   TEXT NOT NULL,
        subject     TEXT NOT NULL,
        message_id  TEXT NOT NULL UNIQUE,     -- without angle brackets
        state       TEXT NOT NULL,            -- pending | in_doubt | sent | failed
        smtp_reply  TEXT,                     -- the server's last words, never the body
        created_at  TEXT NOT NULL,
        sent_at     TEXT,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX reminders_member ON reminders(member_id, created_at);
    CREATE INDEX reminders_job ON reminders(job_id, position);

    CREATE TABLE receipts (
        id           INTEGER PRIMARY KEY,
        reminder_id  INTEGER REFERENCES reminders(id),  -- NULL: matched nothing
        message_id   TEXT NOT NULL,           -- the original's, from X-Riferimento-Message-ID
        kind         TEXT NOT NULL,           -- daticert tipo: accettazione, avvenuta-consegna, errore-consegna, ...
        at           TEXT,                    -- daticert's date and time, UTC
        provider_id  TEXT,                    -- daticert's identificativo
        recipient    TEXT,
        error        TEXT,                    -- daticert's errore / errore-esteso when not "nessuno"
        source_key   TEXT NOT NULL UNIQUE,    -- where it was read (IMAP uidvalidity:uid, Maildir name): never stored twice
        file         TEXT,                    -- the kept original message, 0600, in the data directory
        received_at  TEXT NOT NULL
    );
    CREATE INDEX receipts_reminder ON receipts(reminder_id);
    CREATE INDEX receipts_message ON receipts(message_id);
"#;
