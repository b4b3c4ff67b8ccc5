//! What goes into the next INI-PEC file: for each position (a member, keyed by
//! codice fiscale) the code the registry expects, given the roster as it is
//! now and what was sent before (the ledger). The layout is the one of
//! inipec.gov.it, "Come mandare i dati": Indirizzo PEC; Nome; Cognome; Numero
//! Iscrizione; Codice Fiscale; Stato; Data Iscrizione; Data Cancellazione, with
//! Stato `1` update of a position already sent, `2` new position, `3`
//! cancellation of a member no longer in the albo.
//!
//! Choices the page leaves open (also in the README):
//! - A position is a member, keyed by codice fiscale: a member whose PEC
//!   changed gets a `1` with the new address, not a `3` for the old one and a
//!   `2` for the new (a `3` is for a member no longer in the albo).
//! - A member cancelled (`3` sent) who is back in the albo gets a `2`: the
//!   registry dropped the position.
//! - Data Iscrizione goes with `2` rows only, Data Cancellazione with `3` rows
//!   only, as the page describes them.
//! - A value the registry's `;`-separated reader could not take as it is (a
//!   `;`, a quote or a line break) or that a spreadsheet would run as a formula
//!   is not altered: the position is held back, named, and stays due.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Member;

/// The registry's Stato code of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum IniPecCode {
    /// `1`: update of a position already sent.
    Update,
    /// `2`: a new position.
    New,
    /// `3`: cancellation of a member no longer in the albo.
    Cancel,
}

impl IniPecCode {
    pub const ALL: [IniPecCode; 3] = [IniPecCode::New, IniPecCode::Update, IniPecCode::Cancel];

    /// The digit written in the file.
    pub fn digit(self) -> u8 {
        match self {
            IniPecCode::Update => 1,
            IniPecCode::New => 2,
            IniPecCode::Cancel => 3,
        }
    }

    pub fn from_digit(digit: i64) -> Option<Self> {
        match digit {
            1 => Some(IniPecCode::Update),
            2 => Some(IniPecCode::New),
            3 => Some(IniPecCode::Cancel),
            _ => None,
        }
    }

    /// What rows with the code are, in Italian (plural, for counts).
    pub fn label_it(self) -> &'static str {
        match self {
            IniPecCode::Update => "aggiornamenti",
            IniPecCode::New => "nuove posizioni",
            IniPecCode::Cancel => "cancellazioni",
        }
    }
}

/// The values of a position as last sent to INI-PEC (one row of the ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPosition {
    pub pec: String,
    pub nome: String,
    pub cognome: String,
    pub numero_iscrizione: String,
    /// The code of the last row sent: after a `3` the position is gone.
    pub code: IniPecCode,
}

impl SentPosition {
    /// Whether the registry holds the position (its last row was not a `3`).
    pub fn listed(&self) -> bool {
        self.code != IniPecCode::Cancel
    }

    /// Whether the member's values are the ones sent.
    fn same_values(&self, member: &Member) -> bool {
        self.pec == member.pec
            && self.nome == member.nome
            && self.cognome == member.cognome
            && self.numero_iscrizione == member.numero_iscrizione
    }
}

/// A member as the roster has them now.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    pub member: &'a Member,
    pub in_albo: bool,
}

/// One row of an INI-PEC file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniPecRow {
    pub code: IniPecCode,
    pub pec: String,
    pub nome: String,
    pub cognome: String,
    pub numero_iscrizione: String,
    pub codice_fiscale: String,
    pub data_iscrizione: Option<NaiveDate>,
    pub data_cancellazione: Option<NaiveDate>,
}

impl IniPecRow {
    fn of(member: &Member, code: IniPecCode) -> Self {
        Self {
            code,
            pec: member.pec.clone(),
            nome: member.nome.clone(),
            cognome: member.cognome.clone(),
            numero_iscrizione: member.numero_iscrizione.clone(),
            codice_fiscale: member.codice_fiscale.clone(),
            data_iscrizione: (code == IniPecCode::New)
                .then_some(member.data_iscrizione)
                .flatten(),
            data_cancellazione: (code == IniPecCode::Cancel)
                .then_some(member.data_cancellazione)
                .flatten(),
        }
    }

    /// The text fields, in file order (Stato and the dates apart).
    pub fn texts(&self) -> [(&'static str, &str); 5] {
        [
            ("Indirizzo PEC", &self.pec),
            ("Nome", &self.nome),
            ("Cognome", &self.cognome),
            ("Numero Iscrizione", &self.numero_iscrizione),
            ("Codice Fiscale", &self.codice_fiscale),
        ]
    }

    /// The first field the file cannot carry as it is, with why.
    pub fn unsendable(&self) -> Option<(&'static str, Unsendable)> {
        self.texts().into_iter().find_map(|(name, value)| {
            if value.contains([';', '"', '\r', '\n']) {
                Some((name, Unsendable::Separator))
            } else if value.starts_with(['=', '+', '-', '@', '\t']) {
                Some((name, Unsendable::Formula))
            } else {
                None
            }
        })
    }
}

/// Why a value cannot go in the file as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsendable {
    /// A `;`, a quote or a line break: the registry's reader would split it.
    Separator,
    /// Starts with `=`, `+`, `-`, `@` or a tab: a spreadsheet would run it.
    Formula,
}

impl Unsendable {
    pub fn label_it(self) -> &'static str {
        match self {
            Unsendable::Separator => "contiene ; virgolette o a capo",
            Unsendable::Formula => "inizia come una formula",
        }
    }
}

/// A position that is due but cannot be written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    pub codice_fiscale: String,
    pub name: String,
    pub field: &'static str,
    pub reason: Unsendable,
}

/// What the next file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniPecPlan {
    /// In roster order.
    pub rows: Vec<IniPecRow>,
    /// Positions due that cannot be written as they are (they stay due).
    pub held_back: Vec<HeldBack>,
}

impl IniPecPlan {
    /// How many rows carry `code`.
    pub fn count(&self, code: IniPecCode) -> usize {
        self.rows.iter().filter(|r| r.code == code).count()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The rows of the next file. An update (`all` false) writes `2` for
/// positions never sent (or cancelled and back), `1` for those whose sent
/// values changed, `3` for members who left the albo since they were sent;
/// unchanged positions are left out. `all` (the first load, or a full
/// resend) writes every member in the albo, `2` if the registry does not
/// hold them and `1` otherwise, and the `3`s still due.
pub fn plan<'a>(
    positions: impl IntoIterator<Item = Position<'a>>,
    ledger: &HashMap<String, SentPosition>,
    all: bool,
) -> IniPecPlan {
    let mut plan = IniPecPlan::default();
    for Position { member, in_albo } in positions {
        let sent = ledger.get(&member.codice_fiscale).filter(|s| s.listed());
        let code = match (in_albo, sent) {
            (true, None) => IniPecCode::New,
            (true, Some(sent)) if all || !sent.same_values(member) => IniPecCode::Update,
            (false, Some(_)) => IniPecCode::Cancel,
            (true, Some(_)) | (false, None) => continue,
        };
        let row = IniPecRow::of(member, code);
        match row.unsendable() {
            None => plan.rows.push(row),
            Some((field, reason)) => plan.held_back.push(HeldBack {
                codice_fiscale: member.codice_fiscale.clone(),
                name: member.full_name(),
                field,
                reason,
            }),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(cf: &str, pec: &str) -> Member {
        Member {
            numero_iscrizione: "12".into(),
            cognome: "Rossi".into(),
            nome: "Anna".into(),
            codice_fiscale: cf.into(),
            data_nascita: None,
            data_iscrizione: NaiveDate::from_ymd_opt(2010, 5, 3),
            pec: pec.into(),
            email_servizio: None,
            cellulare: None,
            provincia: None,
            data_cancellazione: None,
        }
    }

    fn sent(member: &Member, code: IniPecCode) -> SentPosition {
        SentPosition {
            pec: member.pec.clone(),
            nome: member.nome.clone(),
            cognome: member.cognome.clone(),
            numero_iscrizione: member.numero_iscrizione.clone(),
            code,
        }
    }

    fn codes(plan: &IniPecPlan) -> Vec<(&str, u8)> {
        plan.rows
            .iter()
            .map(|r| (r.codice_fiscale.as_str(), r.code.digit()))
            .collect()
    }

    #[test]
    fn each_position_gets_the_code_its_history_calls_for() {
        let unchanged = member("A", "a@pec.it");
        let mut moved = member("B", "b@pec.it");
        let new = member("C", "c@pec.it");
        let mut left = member("D", "d@pec.it");
        let never_sent_left = member("E", "e@pec.it");
        let back = member("F", "f@pec.it");
        let mut cancelled = member("G", "g@pec.it");
        let ledger: HashMap<String, SentPosition> = [
            ("A", sent(&unchanged, IniPecCode::New)),
            ("B", sent(&moved, IniPecCode::Update)),
            ("D", sent(&left, IniPecCode::New)),
            ("F", sent(&back, IniPecCode::Cancel)),
            ("G", sent(&cancelled, IniPecCode::Cancel)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        moved.pec = "b.nuova@pec.it".into();
        left.data_cancellazione = NaiveDate::from_ymd_opt(2026, 11, 2);
        cancelled.data_cancellazione = NaiveDate::from_ymd_opt(2025, 1, 1);
        let positions = [
            (&unchanged, true),
            (&moved, true),
            (&new, true),
            (&left, false),
            (&never_sent_left, false),
            (&back, true),
            (&cancelled, false),
        ];
        let positions = || {
            positions
                .iter()
                .map(|&(member, in_albo)| Position { member, in_albo })
        };
        let update = plan(positions(), &ledger, false);
        assert_eq!(codes(&update), [("B", 1), ("C", 2), ("D", 3), ("F", 2)]);
        assert_eq!(update.rows[0].pec, "b.nuova@pec.it");
        assert_eq!(update.rows[0].data_iscrizione, None, "only with a 2");
        assert_eq!(update.rows[1].data_iscrizione, new.data_iscrizione);
        assert_eq!(
            update.rows[2].data_cancellazione,
            NaiveDate::from_ymd_opt(2026, 11, 2)
        );
        assert_eq!(
            (
                update.count(IniPecCode::New),
                update.count(IniPecCode::Update)
            ),
            (2, 1)
        );
        let all = plan(positions(), &ledger, true);
        assert_eq!(
            codes(&all),
            [("A", 1), ("B", 1), ("C", 2), ("D", 3), ("F", 2)]
        );
        assert!(
            plan(positions(), &HashMap::new(), false)
                .rows
                .iter()
                .all(|r| r.code == IniPecCode::New)
        );
    }

    #[test]
    fn a_value_the_file_cannot_carry_is_held_back_not_altered() {
        let mut hostile = member("H", "h@pec.it");
        hostile.cognome = "=HYPERLINK(\"x\")".into();
        let mut semicolon = member("I", "i@pec.it");
        semicolon.nome = "Anna;Maria".into();
        let fine = member("J", "j@pec.it");
        let plan = plan(
            [&hostile, &semicolon, &fine].map(|member| Position {
                member,
                in_albo: true,
            }),
            &HashMap::new(),
            false,
        );
        assert_eq!(codes(&plan), [("J", 2)]);
        let held: Vec<(&str, &str)> = plan
            .held_back
            .iter()
            .map(|h| (h.codice_fiscale.as_str(), h.field))
            .collect();
        assert_eq!(held, [("H", "Cognome"), ("I", "Nome")]);
    }
}
