//! Members of the roster, and the joined view of roster and mailboxes that the
//! console shows.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::events::{EventKind, NewEvent, append};
use super::{Result, Store, parse_opt_date, ts};
use crate::domain::{MailboxState, Member};

/// What an upsert of roster rows did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberUpsert {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// One line of the console: a roster member with their mailbox, a member with
/// no mailbox at the provider, or a mailbox with no member in the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub member_id: Option<i64>,
    pub member: Option<Member>,
    /// False when the member left the roster (kept with their history).
    pub in_roster: bool,
    pub mailbox: Option<MailboxState>,
}

impl RosterEntry {
    /// The PEC address this entry is about.
    pub fn address(&self) -> &str {
        self.mailbox
            .as_ref()
            .map(|m| m.address.as_str())
            .or(self.member.as_ref().map(|m| m.pec.as_str()))
            .unwrap_or_default()
    }
}

fn date_text(date: Option<NaiveDate>) -> Option<String> {
    date.map(|d| d.format("%Y-%m-%d").to_string())
}

/// Names of the fields that differ, in Italian, as the event log words them.
fn changed_fields(old: &Member, new: &Member) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut check = |differs: bool, name| {
        if differs {
            fields.push(name)
        }
    };
    check(
        old.numero_iscrizione != new.numero_iscrizione,
        "numero iscrizione",
    );
    check(old.cognome != new.cognome, "cognome");
    check(old.nome != new.nome, "nome");
    check(old.data_nascita != new.data_nascita, "data di nascita");
    check(
        old.data_iscrizione != new.data_iscrizione,
        "data iscrizione",
    );
    check(old.pec != new.pec, "PEC");
    check(
        old.email_servizio != new.email_servizio,
        "e-mail di servizio",
    );
    check(old.cellulare != new.cellulare, "cellulare");
    check(old.provincia != new.provincia, "provincia");
    fields
}

const MEMBER_COLUMNS: &str = "id, numero_iscrizione, cognome, nome, codice_fiscale, data_nascita, \
     data_iscrizione, pec, email_servizio, cellulare, provincia, in_roster";

struct RawMember {
    id: i64,
    fields: [Option<String>; 10],
    in_roster: bool,
}

fn raw_member(row: &rusqlite::Row<'_>, offset: usize) -> rusqlite::Result<RawMember> {
    let mut fields: [Option<String>; 10] = Default::default();
    for (i, field) in fields.iter_mut().enumerate() {
        *field = row.get(offset + 1 + i)?;
    }
    Ok(RawMember {
        id: row.get(offset)?,
        fields,
        in_roster: row.get(offset + 11)?,
    })
}

impl RawMember {
    fn into_member(self) -> Result<(i64, Member, bool)> {
        let [
            numero,
            cognome,
            nome,
            cf,
            nascita,
            iscrizione,
            pec,
            email,
            cell,
            provincia,
        ] = self.fields;
        let member = Member {
            numero_iscrizione: numero.unwrap_or_default(),
            cognome: cognome.unwrap_or_default(),
            nome: nome.unwrap_or_default(),
            codice_fiscale: cf.unwrap_or_default(),
            data_nascita: parse_opt_date(nascita)?,
            data_iscrizione: parse_opt_date(iscrizione)?,
            pec: pec.unwrap_or_default(),
            email_servizio: email,
            cellulare: cell,
            provincia,
        };
        Ok((self.id, member, self.in_roster))
    }
}

impl Store {
    /// Adds new members and updates changed ones (keyed by codice fiscale) in one
    /// transaction, logging an event for each. Either all rows go in or none.
    pub fn upsert_members(
        &mut self,
        members: &[Member],
        operator: &str,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<MemberUpsert> {
        let to_err = super::sql_error(&self.path);
        let existing: HashMap<String, (i64, Member, bool)> = self
            .all_members()?
            .into_iter()
            .map(|(id, m, in_roster)| (m.codice_fiscale.clone(), (id, m, in_roster)))
            .collect();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let mut outcome = MemberUpsert::default();
        let now = ts(at);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO members (numero_iscrizione, cognome, nome, codice_fiscale,
                     data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia,
                     in_roster, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11)",
                )
                .map_err(&to_err)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE members SET numero_iscrizione = ?1, cognome = ?2, nome = ?3,
                     data_nascita = ?5, data_iscrizione = ?6, pec = ?7, email_servizio = ?8,
                     cellulare = ?9, provincia = ?10, in_roster = 1, updated_at = ?11
                     WHERE codice_fiscale = ?4",
                )
                .map_err(&to_err)?;
            for member in members {
                let values = params![
                    member.numero_iscrizione,
                    member.cognome,
                    member.nome,
                    member.codice_fiscale,
                    date_text(member.data_nascita),
                    date_text(member.data_iscrizione),
                    member.pec,
                    member.email_servizio,
                    member.cellulare,
                    member.provincia,
                    now,
                ];
                let event = match existing.get(&member.codice_fiscale) {
                    None => {
                        insert.execute(values).map_err(&to_err)?;
                        outcome.new += 1;
                        Some((
                            tx.last_insert_rowid(),
                            EventKind::Imported,
                            format!("importato da {source}"),
                        ))
                    }
                    Some((id, old, in_roster)) => {
                        let mut fields = changed_fields(old, member);
                        if !in_roster {
                            fields.insert(0, "rientrato nell'albo");
                        }
                        if fields.is_empty() {
                            outcome.unchanged += 1;
                            None
                        } else {
                            update.execute(values).map_err(&to_err)?;
                            outcome.updated += 1;
                            Some((
                                *id,
                                EventKind::RosterUpdated,
                                format!("aggiornato da {source}: {}", fields.join(", ")),
                            ))
                        }
                    }
                };
                if let Some((member_id, kind, detail)) = event {
                    append(
                        &tx,
                        &NewEvent {
                            at,
                            operator: operator.to_string(),
                            kind,
                            member_id: Some(member_id),
                            mailbox: Some(member.pec.clone()),
                            detail,
                            outcome: None,
                        },
                    )
                    .map_err(&to_err)?;
                }
            }
        }
        tx.commit().map_err(&to_err)?;
        Ok(outcome)
    }

    /// Every member with their id and whether they are in the roster.
    pub fn all_members(&self) -> Result<Vec<(i64, Member, bool)>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM members ORDER BY id"))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |row| raw_member(row, 0))
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err()).and_then(RawMember::into_member))
            .collect()
    }

    pub fn member_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM members", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// The console's view: every member with their mailbox (if any), then every
    /// mailbox with no member.
    pub fn roster_entries(&self) -> Result<Vec<RosterEntry>> {
        let mailboxes = self.mailbox_states()?;
        let mut by_address: HashMap<String, MailboxState> = mailboxes
            .into_iter()
            .map(|m| (m.address.clone(), m))
            .collect();
        let mut entries: Vec<RosterEntry> = self
            .all_members()?
            .into_iter()
            .map(|(id, member, in_roster)| {
                let mailbox = by_address.remove(&member.pec);
                RosterEntry {
                    member_id: Some(id),
                    member: Some(member),
                    in_roster,
                    mailbox,
                }
            })
            .collect();
        let mut orphans: Vec<MailboxState> = by_address.into_values().collect();
        orphans.sort_by(|a, b| a.address.cmp(&b.address));
        entries.extend(orphans.into_iter().map(|mailbox| RosterEntry {
            member_id: None,
            member: None,
            in_roster: false,
            mailbox: Some(mailbox),
        }));
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::generate_roster;

    #[test]
    fn upsert_adds_updates_and_never_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let mut members = generate_roster(20, 3, "pec.fofi.it");
        let first = store
            .upsert_members(&members, "anna", "albo.csv", Utc::now())
            .unwrap();
        assert_eq!(first.new, 20);
        members[0].email_servizio = Some("nuova@libero.it".into());
        let second = store
            .upsert_members(&members, "anna", "albo.csv", Utc::now())
            .unwrap();
        assert_eq!(
            second,
            MemberUpsert {
                new: 0,
                updated: 1,
                unchanged: 19
            }
        );
        assert_eq!(store.member_count().unwrap(), 20);
        let (id, stored, _) = store.all_members().unwrap().remove(0);
        assert_eq!(stored, members[0]);
        let timeline = store.timeline(Some(id), None).unwrap();
        assert_eq!(timeline.len(), 2);
        assert!(timeline[0].detail.contains("e-mail di servizio"));
    }
}
