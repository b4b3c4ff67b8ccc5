//! Every string the console shows, in Italian (default) and English. One match
//! arm per text holds both languages, so a missing translation cannot compile.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    It,
    En,
}

impl Lang {
    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "it" | "ita" | "italiano" => Some(Lang::It),
            "en" | "eng" | "english" => Some(Lang::En),
            _ => None,
        }
    }
}

macro_rules! catalog {
    ($($key:ident => $it:literal, $en:literal;)+) => {
        /// A text of the interface.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum T { $($key),+ }

        impl T {
            pub const ALL: &'static [T] = &[$(T::$key),+];

            pub fn get(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((T::$key, Lang::It) => $it, (T::$key, Lang::En) => $en,)+
                }
            }
        }
    };
}

catalog! {
    TabDashboard => "Cruscotto", "Dashboard";
    TabMembers => "Iscritti", "Members";
    TabDetail => "Scheda", "Detail";
    TabAudit => "Registro", "Audit";
    ImportTitle => "Importa l'albo", "Import the roster";
    ImportPathPrompt => "File (CSV, INI-PEC o SQLite): ", "File (CSV, INI-PEC or SQLite): ";
    ImportPathKeys => "Tab completa · Invio legge il file · Esc annulla", "Tab completes · Enter reads the file · Esc cancels";
    ImportNoPath => "indicare il percorso del file", "type the file's path";
    ImportReading => "lettura e controllo del file…", "reading and checking the file…";
    ImportRowsRead => "righe lette", "rows read";
    ImportWriting => "importazione in corso (una sola transazione)…", "importing (one transaction)…";
    ImportNew => "nuovi", "new";
    ImportUpdated => "aggiornati", "updated";
    ImportUnchanged => "invariati", "unchanged";
    ImportRemoved => "usciti dall'albo", "removed from the roster";
    ImportRejected => "scartati", "rejected";
    ImportFull => "albo completo: chi manca viene segnato come uscito (p: solo aggiunte e aggiornamenti)", "full roster: members missing are marked removed (p: only add and update)";
    ImportPartial => "solo aggiunte e aggiornamenti (p: albo completo)", "only add and update (p: full roster)";
    ImportChanges => "Modifiche", "Changes";
    ImportRejects => "Righe scartate", "Rejected rows";
    ImportPreviewKeys => "Invio importa · p cambia modalità · Esc annulla", "Enter imports · p switches mode · Esc cancels";
    AuditTitle => "Registro delle attività (più recenti prima)", "Audit trail (newest first)";
    ColWhen => "Data e ora", "When";
    ColOperator => "Operatore", "Operator";
    ColKind => "Tipo", "Kind";
    ColMailbox => "Casella", "Mailbox";
    ColOutcome => "Esito", "Outcome";
    ColDetail => "Descrizione", "Detail";
    AuditFilterPrompt => "Filtra (operatore, azione, casella, data AAAA-MM-GG): ", "Filter (operator, action, mailbox, date YYYY-MM-DD): ";
    HintAudit => "/ filtra · ↑↓ scorri · Esc indietro · ? aiuto", "/ filter · ↑↓ scroll · Esc back · ? help";
    Migration => "Migrazione", "Migration";
    Password => "Password", "Password";
    Recovery => "Recupero", "Recovery";
    Roster => "Albo", "Roster";
    MigratedGauge => "Caselle migrate", "Mailboxes migrated";
    MigNotStarted => "non avviata", "not started";
    MigCompleted => "completata", "completed";
    MigFailedCredentials => "fallita: credenziali", "failed: credentials";
    MigFailed2fa => "fallita: doppio fattore", "failed: two-factor";
    PwNotSet => "non impostata", "not set";
    PwSet => "impostata", "set";
    PwResetPending => "link inviato", "link sent";
    PwLinkExpired => "link scaduto", "link expired";
    RecEmail => "con e-mail di recupero", "with recovery e-mail";
    ShortRecEmail => "e-mail", "e-mail";
    ShortRecMobile => "solo cellulare", "mobile only";
    ShortRecNone => "nessuno", "none";
    ShortMigFailedCredentials => "fallita: cred.", "failed: cred.";
    ShortMigFailed2fa => "fallita: 2FA", "failed: 2FA";
    RecMobileOnly => "solo cellulare", "mobile only";
    RecNone => "nessun contatto", "no contact";
    RecConfirmed => "confermati al primo accesso", "confirmed at first access";
    RosterMembers => "iscritti nell'albo", "members in the roster";
    RosterExternal => "PEC presso altro gestore", "PEC at another provider";
    RosterNoMailbox => "nell'albo senza casella", "in roster, no mailbox";
    RosterNoMember => "casella senza iscritto", "mailbox, no member";
    RosterRemoved => "usciti dall'albo", "left the roster";
    Mailboxes => "caselle", "mailboxes";
    ColName => "Cognome e nome", "Name";
    ColCf => "Codice fiscale", "Tax code";
    ColPec => "PEC", "PEC";
    ColMigration => "Migrazione", "Migration";
    ColPassword => "Password", "Password";
    ColRecovery => "Recupero", "Recovery";
    NoMailbox => "nessuna casella", "no mailbox";
    NotInRoster => "non nell'albo", "not in roster";
    SearchPrompt => "Cerca: ", "Search: ";
    Shown => "mostrati", "shown";
    Of => "di", "of";
    MemberData => "Iscritto", "Member";
    MailboxData => "Casella", "Mailbox";
    Timeline => "Cronologia", "Timeline";
    NoEvents => "nessun evento", "no events";
    FieldNumero => "N. iscrizione", "Registration no.";
    FieldBirth => "Nato/a il", "Born";
    FieldEnrolled => "Iscritto/a dal", "Enrolled";
    FieldServiceEmail => "E-mail di servizio", "Service e-mail";
    FieldMobile => "Cellulare", "Mobile";
    FieldProvince => "Provincia", "Province";
    FieldLinkExpires => "Link scade", "Link expires";
    FieldLastLogin => "Ultimo accesso", "Last login";
    FieldRecoveryEmail => "E-mail di recupero", "Recovery e-mail";
    FieldRecoveryMobile => "Cellulare di recupero", "Recovery mobile";
    FieldConfirmed => "Confermati", "Confirmed";
    Yes => "sì", "yes";
    No => "no", "no";
    LastSync => "Ultima sincronizzazione", "Last sync";
    NeverSynced => "mai", "never";
    SyncRunning => "sincronizzazione in corso…", "syncing…";
    SyncFailed => "sincronizzazione fallita", "sync failed";
    SyncDone => "sincronizzazione completata", "sync completed";
    Loading => "caricamento…", "loading…";
    Indexing => "ordinamento e indice di ricerca in preparazione…", "sorting and indexing for search…";
    ConfirmTitle => "Conferma", "Confirm";
    ConfirmResend => "Reinviare l'e-mail di recupero a", "Resend the recovery e-mail to";
    ConfirmResendWhere => "Il link andrà a", "The link goes to";
    ConfirmResendExpiry => "e resterà valido 24 ore.", "and stays valid for 24 hours.";
    ConfirmKeys => "[s/Invio] conferma   [n/Esc] annulla", "[y/Enter] confirm   [n/Esc] cancel";
    ResendSent => "e-mail di recupero inviata a", "recovery e-mail sent to";
    ResendExpires => "link valido fino a", "link valid until";
    ResendFailed => "reinvio non riuscito", "resend failed";
    ResendNoMailbox => "l'iscritto non ha una casella presso il gestore", "the member has no mailbox at the provider";
    ResendNoContact => "nessun contatto di recupero: serve il reset della password da parte dell'Ordine", "no recovery contact: the Ordine must reset the password";
    ResendInFlight => "invio in corso…", "sending…";
    HelpTitle => "Tasti", "Keys";
    HelpClose => "Esc o ? per chiudere", "Esc or ? to close";
    KeyUp => "su", "up";
    KeyDown => "giù", "down";
    KeyPageUp => "pagina su", "page up";
    KeyPageDown => "pagina giù", "page down";
    KeyTop => "primo", "first";
    KeyBottom => "ultimo", "last";
    KeySearch => "cerca (Invio conferma, Esc annulla)", "search (Enter keeps, Esc clears)";
    KeyPalette => "comandi (Tab completa)", "commands (Tab completes)";
    KeyOpen => "apri", "open";
    KeyResend => "reinvia l'e-mail di recupero", "resend the recovery e-mail";
    KeySync => "sincronizza ora con il gestore", "sync with the provider now";
    KeyNextScreen => "cruscotto / iscritti", "dashboard / members";
    KeyDashboard => "cruscotto", "dashboard";
    KeyMembers => "iscritti", "members";
    KeySortNext => "ordina per la colonna successiva", "sort by the next column";
    KeySortReverse => "inverti l'ordine", "reverse the order";
    KeyFilter => "filtra per stato", "filter by state";
    KeyClearFilter => "togli il filtro", "clear the filter";
    KeyMark => "seleziona / deseleziona per un'azione in blocco", "mark / unmark for a bulk action";
    KeyMarkAll => "seleziona tutti quelli mostrati", "mark everything shown";
    KeySetRecovery => "imposta i contatti di recupero (in blocco: dall'albo)", "set recovery contacts (in bulk: from the roster)";
    KeyResetPassword => "reset della password", "reset the password";
    KeyJobs => "avanzamento dell'azione in blocco", "bulk action progress";
    KeyAudit => "registro delle attività", "audit trail";
    KeyImport => "importa l'albo da un file", "import the roster from a file";
    KeyHelp => "questo aiuto", "this help";
    KeyBack => "indietro", "back";
    KeyQuit => "esci", "quit";
    HintDashboard => "1-7 liste da seguire · Tab iscritti · s sincronizza · : comandi · ? aiuto · q esci", "1-7 lists to chase · Tab members · s sync · : commands · ? help · q quit";
    HintMembers => "↑↓ muovi · / cerca · f filtra · o ordina · Invio scheda · r reinvia · ? aiuto", "↑↓ move · / search · f filter · o sort · Enter detail · r resend · ? help";
    HintDetail => "r reinvia e-mail di recupero · Esc indietro · ? aiuto", "r resend recovery e-mail · Esc back · ? help";
    ToChase => "Da seguire", "To chase";
    Cutover => "Passaggio al nuovo gestore", "Cutover to the new provider";
    CutoverNotSet => "data del passaggio non impostata (cutover nel file di configurazione)", "cutover date not set (cutover in the config file)";
    DaysLeft => "giorni rimasti", "days left";
    CutoverPast => "passaggio avvenuto", "cutover passed";
    Pace => "ritmo (ultimi 7 giorni)", "pace (last 7 days)";
    PerDay => "al giorno", "per day";
    Needed => "necessari", "needed";
    OnTrack => "al ritmo attuale si finisce in tempo", "at the current pace it finishes in time";
    OffTrack => "al ritmo attuale NON si finisce in tempo", "at the current pace it will NOT finish in time";
    MigrationsPerDay => "Migrazioni al giorno (30 giorni)", "Migrations per day (30 days)";
    FilterTitle => "Filtra per stato", "Filter by state";
    FilterKeys => "Spazio seleziona · Invio applica · Esc annulla", "Space toggles · Enter applies · Esc cancels";
    Filtered => "filtro", "filter";
    SortedBy => "ordine", "sort";
    CatNotMigrated => "non migrati", "not migrated";
    CatMigrated => "migrati", "migrated";
    CatFailedCredentials => "falliti: credenziali", "failed: credentials";
    CatFailed2fa => "falliti: doppio fattore", "failed: two-factor";
    CatLinkPending => "link in attesa", "link pending";
    CatLinkExpired => "link scaduto", "link expired";
    CatNoRecoveryContact => "senza contatto di recupero", "no recovery contact";
    CatRemoved => "usciti dall'albo", "left the roster";
    CatExternalPec => "PEC presso altro gestore", "PEC at another provider";
    CatNoMailbox => "nell'albo senza casella", "in roster, no mailbox";
    CatNoMember => "casella senza iscritto", "mailbox, no member";
    ErrorPrefix => "Errore", "Error";
    OutcomeOk => "ok", "ok";
    SkipNoMailbox => "nessuna casella presso il gestore", "no mailbox at the provider";
    SkipNoRecoveryEmail => "nessuna e-mail di recupero", "no recovery e-mail";
    SkipNoRosterContact => "nessun contatto nell'albo", "no contact in the roster";
    JobAlreadyRunning => "un'azione in blocco è già in corso (J per vederla)", "a bulk action is already running (J to see it)";
    JobResend => "Reinvio e-mail di recupero", "Resend recovery e-mail";
    JobSetRecovery => "Contatti di recupero dall'albo", "Recovery contacts from the roster";
    BulkConfirm => "Eseguire su", "Run on";
    Members_ => "iscritti", "members";
    BulkSkipped => "esclusi", "left out";
    BulkNothing => "nessun iscritto selezionato adatto a questa azione", "no marked member fits this action";
    JobDone => "fatti", "done";
    JobFailed => "falliti", "failed";
    JobRemaining => "rimanenti", "remaining";
    JobEta => "fine stimata tra", "estimated end in";
    JobPaused => "in pausa", "paused";
    JobFinished => "completato", "finished";
    JobKeys => "p pausa/riprendi · c annulla · Esc nascondi", "p pause/resume · c cancel · Esc hide";
    JobKeysDone => "r riprova i falliti · Esc chiudi", "r retry the failed · Esc close";
    JobFailures => "Falliti", "Failures";
    ResumeTitle => "Azione in blocco interrotta", "Interrupted bulk action";
    ResumeText => "Un'azione in blocco non è stata completata. Riprenderla? (le richieste già arrivate al gestore non saranno ripetute)", "A bulk action did not finish. Resume it? (requests that reached the provider will not be repeated)";
    Marked => "selezionati", "marked";
    RecoveryFormTitle => "Contatti di recupero", "Recovery contacts";
    RecoveryOld => "attuali presso il gestore", "currently at the provider";
    RecoveryKeys => "Tab cambia campo · Invio conferma · Esc annulla", "Tab next field · Enter confirm · Esc cancel";
    ConfirmRecoveryText => "Impostare i contatti di recupero di", "Set the recovery contacts of";
    PasswordFormTitle => "Reset della password", "Password reset";
    PasswordFormKeys => "Ctrl-G genera · Invio conferma · Esc annulla", "Ctrl-G generate · Enter confirm · Esc cancel";
    PasswordTemporary => "Password temporanea", "Temporary password";
    ConfirmResetText => "Reimpostare la password di", "Reset the password of";
    ConfirmResetNote => "Al prossimo accesso l'iscritto dovrà cambiarla.", "The member must change it at the next login.";
    PasswordResetDone => "password reimpostata", "password reset";
    PasswordShownTitle => "Password temporanea: mostrata una sola volta", "Temporary password: shown only once";
    PasswordShownKeys => "y copia negli appunti · Invio chiudi (non sarà più visibile)", "y copy to clipboard · Enter close (it will not be shown again)";
    Copied => "copiata negli appunti", "copied to the clipboard";
    OutcomeFailed => "non riuscito", "failed";
    CatArubaNoContact => "Aruba: senza contatto", "Aruba: no contact";
    CatArubaContactDiffers => "Aruba: contatto diverso dall'albo", "Aruba: contact differs";
    CatArubaSuspended => "Aruba: sospese o in disdetta", "Aruba: suspended or cancelling";
    CatArubaNoMailbox => "Aruba: nell'albo senza casella", "Aruba: in roster, no mailbox";
    JobArubaContacts => "Contatti presso Aruba dall'albo", "Contacts at Aruba from the roster";
    ArubaHistory => "Aruba: storico, passaggio avvenuto (nessuna azione presso Aruba)", "Aruba: history, cutover passed (no actions at Aruba)";
    ArubaAfterCutover => "dopo il passaggio i dati di Aruba sono solo storici: nessuna modifica presso Aruba", "after the cutover Aruba's data is history only: no changes at Aruba";
    ArubaConfirmNote => "Ogni titolare viene letto prima: si cambia solo ciò che differisce.", "Each owner is read first: only what differs is changed.";
    SkipNotAtAruba => "nessuna casella presso Aruba", "no mailbox at Aruba";
    SkipArubaAligned => "presso Aruba già uguali all'albo", "already as the roster at Aruba";
    ArubaDetail => "Presso Aruba", "At Aruba";
    ColArubaStatus => "Stato Aruba", "Aruba status";
    ColArubaEmail => "E-mail presso Aruba", "E-mail at Aruba";
    ColArubaMobile => "Cellulare Aruba", "Mobile at Aruba";
    HintDashboardAruba => "1-7 liste · 8 9 0 - Aruba · Tab iscritti · s sincronizza · : comandi · ? aiuto · q esci", "1-7 lists · 8 9 0 - Aruba · Tab members · s sync · : commands · ? help · q quit";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages() {
        for text in T::ALL {
            assert!(!text.get(Lang::It).is_empty(), "{text:?}");
            assert!(!text.get(Lang::En).is_empty(), "{text:?}");
        }
    }
}

/// Italian civil time (CET/CEST) of an instant: the Ordine works in Italy even
/// when its server runs on UTC. EU rule: summer time from the last Sunday of
/// March to the last Sunday of October, switching at 01:00 UTC.
pub fn italian_time(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
    let last_sunday = |month: u32| {
        let first_next = if month == 12 {
            NaiveDate::from_ymd_opt(at.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(at.year(), month + 1, 1)
        }
        .expect("valid date");
        let mut day = first_next.pred_opt().expect("valid date");
        while day.weekday() != Weekday::Sun {
            day = day.pred_opt().expect("valid date");
        }
        day.and_hms_opt(1, 0, 0).expect("valid time").and_utc()
    };
    let summer = at >= last_sunday(3) && at < last_sunday(10);
    (at + TimeDelta::hours(if summer { 2 } else { 1 })).naive_utc()
}

/// `dd/mm/yyyy HH:MM`, Italian time.
pub fn format_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    italian_time(at).format("%d/%m/%Y %H:%M").to_string()
}

/// `dd/mm/yyyy`.
pub fn format_date(date: chrono::NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn italian_time_follows_summer_time() {
        let winter = chrono::Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let summer = chrono::Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(format_datetime(winter), "15/01/2026 13:00");
        assert_eq!(format_datetime(summer), "15/07/2026 14:00");
        // 2026-03-29 is the last Sunday of March: the switch is at 01:00 UTC.
        let before = chrono::Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap();
        let after = chrono::Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap();
        assert_eq!(format_datetime(before), "29/03/2026 01:59");
        assert_eq!(format_datetime(after), "29/03/2026 03:00");
    }
}
