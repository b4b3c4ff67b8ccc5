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
    FieldLeft => "Uscito/a dall'albo il", "Left the albo on";
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
    HintDetail => "r reinvia e-mail di recupero · d testo da leggere · Esc indietro · ? aiuto", "r resend recovery e-mail · d call script · Esc back · ? help";
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
    // The diagnosis of a member on the phone (src/domain/diagnosis.rs), from
    // the two procedures; `{name}` placeholders are filled by the diagnosis.
    DxSitNoMember => "la casella {pec} non corrisponde a nessun iscritto dell'albo", "the mailbox {pec} matches no member of the roster";
    DxWhyNoMember => "senza un iscritto non si può verificare chi chiama né a chi appartiene la casella", "with no member the caller and the mailbox's owner cannot be checked";
    DxStepAskIdentity => "Ci comunichi codice fiscale e numero d'iscrizione, così verifichiamo la sua posizione nell'albo", "Give us your codice fiscale and registration number, so we can check your position in the roster";
    DxStaffCheckRoster => "verificare l'albo e, se serve, importarne uno aggiornato", "check the roster and, if needed, import an up-to-date one";
    DxStaffNoActionUnknown => "non agire sulla casella finché non si sa di chi è", "do not act on the mailbox until its owner is known";
    DxSitLeftAlbo => "non è più iscritto all'albo", "is no longer in the roster";
    DxSitMailboxStill => "la casella {pec} esiste ancora presso il gestore", "the mailbox {pec} still exists at the provider";
    DxWhyLeftAlbo => "la casella PEC dell'Ordine spetta agli iscritti: la posizione va chiarita con la segreteria", "the Ordine's PEC mailbox is for members: the position must be cleared with the secretariat";
    DxStepSecretariat => "Si rivolga alla segreteria dell'Ordine per la sua iscrizione all'albo", "Contact the Ordine's secretariat about your registration";
    DxStaffNoActionLeft => "non inviare link né reimpostare la password finché la segreteria non ha verificato l'iscrizione", "send no link and reset no password until the secretariat has checked the registration";
    DxSitExternal => "la PEC {pec} è presso un altro gestore ({domain}): fuori dalla migrazione", "the PEC {pec} is at another provider ({domain}): outside the migration";
    DxWhyExternal => "la migrazione riguarda solo le caselle {domain}", "the migration only concerns {domain} mailboxes";
    DxStepOwnProvider => "Per l'accesso alla PEC si rivolga al suo gestore ({domain})", "For access to your PEC, contact your provider ({domain})";
    DxStaffNothingExternal => "nessuna azione da qui: la casella non è gestita dall'Ordine", "nothing to do from here: the Ordine does not manage the mailbox";
    DxSitNoMailbox => "è nell'albo ma il gestore non ha la casella {pec}", "is in the roster but the provider has no mailbox {pec}";
    DxWhyNoMailbox => "senza casella presso il gestore non c'è migrazione né recupero password possibile", "with no mailbox at the provider neither migration nor password recovery is possible";
    DxStepWaitOrdine => "Attenda che l'Ordine verifichi l'indirizzo PEC con il gestore: la ricontatteremo", "Wait for the Ordine to check the PEC address with the provider: we will call you back";
    DxStaffSyncFirst => "sincronizzare: la casella potrebbe essere stata creata da poco", "sync: the mailbox may have been created recently";
    DxStaffCheckPec => "controllare l'indirizzo PEC nell'albo (un errore di battitura?) e correggerlo con un nuovo import", "check the PEC address in the roster (a typo?) and fix it with a new import";
    DxCutoverUnknown => "data del passaggio al nuovo gestore non impostata", "date of the passage to the new provider not set";
    DxCutoverToday => "il passaggio al nuovo gestore è oggi ({date})", "the passage to the new provider is today ({date})";
    DxDayLeft => "manca 1 giorno al passaggio ({date})", "1 day left to the passage ({date})";
    DxDaysLeft => "mancano {days} giorni al passaggio ({date})", "{days} days left to the passage ({date})";
    DxSitNotMigrated => "non ha ancora migrato", "has not migrated yet";
    DxSitFailedCredentials => "la migrazione non è riuscita il {at}: «credenziali non valide»", "the migration failed on {at}: \"credenziali non valide\" (invalid credentials)";
    DxSitFailed2fa => "la migrazione non è riuscita il {at}: verifica in due passaggi attiva su Aruba", "the migration failed on {at}: two-step verification on at Aruba";
    DxSitMigrated => "ha migrato il {at}", "migrated on {at}";
    DxWhyCredentials => "la procedura controlla indirizzo e password della casella Aruba: se uno dei due è sbagliato risponde «credenziali non valide»", "the procedure checks the Aruba mailbox's address and password: if either is wrong it answers \"credenziali non valide\"";
    DxWhy2fa => "con la verifica in due passaggi attiva su Aruba la procedura di migrazione non riesce ad accedere: va disattivata prima", "with two-step verification on at Aruba the migration cannot log in: it must be switched off first";
    DxWhyWaitPassage => "la nuova password vale solo dopo il passaggio: fino ad allora si usa quella attuale di Aruba", "the new password works only after the passage: until then the current Aruba password is used";
    DxWhyNoChangeBefore => "fino al passaggio nessuna password può essere cambiata (né quella Aruba né quella nuova)", "until the passage no password may be changed (neither the Aruba one nor the new one)";
    DxWhyLinkBefore => "un link di recupero serve solo dopo il passaggio: prima nessuna password può cambiare", "a recovery link is of use only after the passage: before it no password may change";
    DxWhyNoRecoveryLater => "nessuna informazione di recupero sulla casella: dopo il passaggio, se dimentica la password, solo l'Ordine potrà reimpostarla", "no recovery information on the mailbox: after the passage, if the password is forgotten, only the Ordine can reset it";
    DxWhyMobileOnlyLater => "sulla casella c'è solo il cellulare ({mobile}): dopo il passaggio il link di recupero non avrà un'e-mail a cui arrivare", "the mailbox has only the mobile ({mobile}): after the passage the recovery link will have no e-mail to go to";
    DxStep2faOff => "Disattivi la verifica in due passaggi della casella Aruba ({guide})", "Switch off two-step verification on the Aruba mailbox ({guide})";
    DxStep2faIfOn => "Se usa la verifica in due passaggi su Aruba, la disattivi prima ({guide})", "If you use two-step verification at Aruba, switch it off first ({guide})";
    DxStepOpenMigration => "Apra, da un browser aggiornato e non in modalità compatibilità, {url}", "Open {url} in an up-to-date browser, not in compatibility mode";
    DxStepMigrationLogin => "Entri con l'indirizzo completo {pec} e la password che usa oggi per la PEC Aruba", "Log in with the full address {pec} and the password you use today for the Aruba PEC";
    DxStepMigrationLoginCheck => "Entri di nuovo controllando l'indirizzo completo {pec} e la password che usa oggi per la PEC Aruba", "Log in again, checking the full address {pec} and the password you use today for the Aruba PEC";
    DxStepNewPassword => "Scelga la password della nuova casella InfoCert: almeno 8 caratteri, una maiuscola e una minuscola, un numero, un carattere speciale (es. ? ! / ; @), non più di due caratteri uguali di seguito, senza il nome della casella ({user}); la scriva due volte", "Choose the new InfoCert mailbox's password: at least 8 characters, an upper-case and a lower-case letter, a digit, a special character (e.g. ? ! / ; @), no more than two identical characters in a row, without the mailbox name ({user}); type it twice";
    DxStepContinue => "Clicchi «Continua»: i messaggi vengono importati nella nuova casella", "Click \"Continua\": the messages are imported into the new mailbox";
    DxStepKeepAruba => "Fino al passaggio ({date}) continui a usare la password attuale e non modifichi nessuna password", "Until the passage ({date}) keep using the current password and change no password";
    DxStepAfterPassageLogin => "Dopo il passaggio entri da {url} con l'indirizzo completo {pec} e la password scelta alla migrazione", "After the passage log in at {url} with the full address {pec} and the password chosen at migration";
    DxStaffNoResetBefore => "non reimpostare la password prima del passaggio: il gestore lo rifiuta e l'iscritto usa ancora la password Aruba", "do not reset the password before the passage: the provider refuses it and the member still uses the Aruba password";
    DxStaffSetRecoveryNow => "impostare ora un contatto di recupero (e-mail di servizio dall'albo)", "set a recovery contact now (service e-mail from the roster)";
    DxStaffNoArubaReset => "la password Aruba non si reimposta da qui: se l'iscritto non la ricorda, deve recuperarla con Aruba", "the Aruba password cannot be reset from here: a member who forgot it must recover it with Aruba";
    DxSitAfterNotMigrated => "non ha migrato prima del passaggio ({date})", "did not migrate before the passage ({date})";
    DxSitAfterFailedCredentials => "la migrazione non era riuscita («credenziali non valide») e il passaggio è avvenuto ({date})", "the migration had failed (\"credenziali non valide\") and the passage happened ({date})";
    DxSitAfterFailed2fa => "la migrazione non era riuscita (verifica in due passaggi) e il passaggio è avvenuto ({date})", "the migration had failed (two-step verification) and the passage happened ({date})";
    DxSitAfterMigrated => "ha migrato; il passaggio è avvenuto ({date})", "migrated; the passage happened ({date})";
    DxSitTemporary => "l'Ordine ha reimpostato la password: al prossimo accesso va cambiata", "the Ordine reset the password: it must be changed at the next login";
    DxWhyTemporary => "la password temporanea vale solo per il primo accesso, poi il gestore chiede di sceglierne una nuova", "the temporary password is only for the first login, then the provider asks for a new one";
    DxStepOpenWebmail => "Apra {url}", "Open {url}";
    DxStepLoginTemporary => "Entri con il nome completo della casella {pec} e la password temporanea comunicata dall'Ordine", "Log in with the full mailbox name {pec} and the temporary password the Ordine gave you";
    DxStepChangeTemporary => "Quando le viene chiesto, scelga la nuova password: almeno 8 caratteri, una maiuscola e una minuscola, un numero, un carattere speciale (es. ? ! / ; @), non più di due caratteri uguali di seguito, senza il nome della casella ({user})", "When asked, choose the new password: at least 8 characters, an upper-case and a lower-case letter, a digit, a special character (e.g. ? ! / ; @), no more than two identical characters in a row, without the mailbox name ({user})";
    DxStaffTemporaryLost => "la password temporanea non è conservata: se l'iscritto l'ha persa, se ne genera un'altra", "the temporary password is not kept: if the member lost it, generate another";
    DxStaffResetAgain => "reimpostare di nuovo la password se quella temporanea è andata persa", "reset the password again if the temporary one was lost";
    DxSitPasswordSet => "la password della nuova casella è impostata", "the new mailbox's password is set";
    DxStepLoginFull => "Entri con il nome completo della casella {pec} e la password scelta alla migrazione (o all'ultimo recupero)", "Log in with the full mailbox name {pec} and the password chosen at migration (or at the last recovery)";
    DxStepIfForgotten => "Se non ricorda la password, segua il recupero:", "If you do not remember the password, recover it:";
    DxStepIfForgottenOrdine => "Se non ricorda la password, il recupero non è possibile senza informazioni di recupero: lo dica all'Ordine, che la reimposterà", "If you do not remember the password, recovery is impossible without recovery information: tell the Ordine, which will reset it";
    DxStaffResendIfAsked => "reinviare l'e-mail di recupero, se l'iscritto non riesce ad avviare il recupero da sé", "resend the recovery e-mail if the member cannot start the recovery alone";
    DxWhyNoRecovery => "nessuna informazione di recupero sulla casella: «Non riesco ad accedere» dà errore e solo l'Ordine può reimpostare la password", "no recovery information on the mailbox: \"Non riesco ad accedere\" shows an error and only the Ordine can reset the password";
    DxStaffResetIfForgotten => "reimpostare la password se l'iscritto non la ricorda", "reset the password if the member does not remember it";
    DxStaffSetRecovery => "impostare i contatti di recupero (e-mail di servizio e cellulare dall'albo)", "set the recovery contacts (service e-mail and mobile from the roster)";
    DxSitLinkPending => "il link di recupero è stato inviato il {sent} a {masked}, valido fino al {expires}", "the recovery link was sent on {sent} to {masked}, valid until {expires}";
    DxWhyLinkPending => "il link è attivo 24 ore: fino al {expires} basta usarlo", "the link is active for 24 hours: until {expires} it only needs to be used";
    DxStepFindMessage => "Cerchi nella casella {masked} (la sua e-mail ordinaria, anche nella posta indesiderata) il messaggio di InfoCert e clicchi il link entro il {expires}", "Look in the mailbox {masked} (your ordinary e-mail, spam folder too) for InfoCert's message and click the link before {expires}";
    DxStaffNoResendPending => "non reinviare mentre il link è valido, se l'iscritto può ancora usarlo", "do not resend while the link is valid, if the member can still use it";
    DxStaffResendIfLost => "reinviare solo se il messaggio non è arrivato (controllare con l'iscritto l'indirizzo mascherato)", "resend only if the message did not arrive (check the masked address with the member)";
    DxSitLinkExpired => "il link di recupero è scaduto il {expires}", "the recovery link expired on {expires}";
    DxWhyLinkExpired => "il link è attivo 24 ore; trascorse quelle, l'operazione va ripetuta", "the link is active for 24 hours; after that the operation must be repeated";
    DxStaffResendExpired => "reinviare l'e-mail di recupero (il nuovo link dura 24 ore)", "resend the recovery e-mail (the new link lasts 24 hours)";
    DxSitNoPassword => "la nuova casella non ha ancora una password utilizzabile", "the new mailbox has no usable password yet";
    DxWhyFirstPassword => "chi non ha migrato imposta la prima password con la procedura «Non riesco ad accedere»", "who did not migrate sets the first password with the \"Non riesco ad accedere\" procedure";
    DxWhyNoPasswordMigrated => "il gestore non ha una password per la casella: va impostata con la procedura «Non riesco ad accedere»", "the provider has no password for the mailbox: it must be set with the \"Non riesco ad accedere\" procedure";
    DxWhyMobileOnly => "sulla casella c'è solo il cellulare ({mobile}): il link di recupero non ha un'e-mail a cui arrivare, quindi serve l'Ordine", "the mailbox has only the mobile ({mobile}): the recovery link has no e-mail to go to, so the Ordine is needed";
    DxStepWaitTemporary => "Riceverà dall'Ordine una password temporanea (ora, per telefono)", "You will get a temporary password from the Ordine (now, by phone)";
    DxStaffResetNow => "reimpostare la password e comunicare quella temporanea (mostrata una volta sola)", "reset the password and give the temporary one (shown only once)";
    DxStepOpenWebmailRecover => "Apra {url} e clicchi «Non riesco ad accedere»", "Open {url} and click \"Non riesco ad accedere\"";
    DxStepUserId => "In «UserID o nome casella» scriva {pec}, spunti «Non sono un robot» e clicchi «AVANTI»", "In \"UserID o nome casella\" type {pec}, tick \"Non sono un robot\" and click \"AVANTI\"";
    DxStepChooseEmail => "Scelga di ricevere il messaggio nella casella {masked} (la sua e-mail ordinaria) e clicchi «Avanti»", "Choose to receive the message in the mailbox {masked} (your ordinary e-mail) and click \"Avanti\"";
    DxStepOpenLink => "Apra il messaggio di InfoCert arrivato a {masked} (anche nella posta indesiderata) e clicchi il link entro 24 ore", "Open InfoCert's message in {masked} (spam folder too) and click the link within 24 hours";
    DxStepSetNewPassword => "Nella pagina del link scriva il nome completo della casella {pec} e la nuova password due volte (almeno 8 caratteri, una maiuscola e una minuscola, un numero, un carattere speciale come ? ! / ; @, non più di due caratteri uguali di seguito, senza {user}); clicchi «Salva»", "On the link's page type the full mailbox name {pec} and the new password twice (at least 8 characters, an upper-case and a lower-case letter, a digit, a special character such as ? ! / ; @, no more than two identical characters in a row, without {user}); click \"Salva\"";
    DxStepBackToLogin => "Clicchi «Torna alla schermata di accesso» ed entri con la nuova password", "Click \"Torna alla schermata di accesso\" and log in with the new password";
    DxStepConfirmRecovery => "Al primo accesso confermi le opzioni di recupero: almeno un numero di cellulare o un indirizzo e-mail", "At the first login confirm the recovery options: at least a mobile number or an e-mail address";
    DxScriptHello => "Buongiorno, parlo con {name}?", "Good morning, am I speaking with {name}?";
    DxScriptHelloUnknown => "Buongiorno, mi dice nome, cognome e codice fiscale?", "Good morning, may I have your name and codice fiscale?";
    DxScriptSteps => "Ecco cosa deve fare:", "This is what to do:";
    DxScriptClose => "Se qualcosa non va, ci richiami: siamo la segreteria dell'Ordine.", "If anything goes wrong, call us back: we are the Ordine's secretariat.";
    DxWhatToDo => "Cosa fare", "What to do";
    DxWhy => "Perché", "Why";
    DxMemberSteps => "L'iscritto deve", "The member must";
    DxStaffCan => "L'Ordine può", "The Ordine can";
    DxDoNot => "non", "do not";
    DxMustChange => "cambio password al prossimo accesso", "password change at next login";
    DxCallScript => "Testo per la telefonata", "Call script";
    DxScriptKeys => "y copia negli appunti · ↑↓ scorri · Esc chiudi", "y copy to the clipboard · ↑↓ scroll · Esc close";
    DxCopied => "testo copiato negli appunti", "text copied to the clipboard";
    DxWhoNone => "nessun iscritto trovato", "no member found";
    DxWhoMany => "iscritti trovati: il primo è il più probabile (Invio apre la scheda)", "members found: the first is the likeliest (Enter opens the detail)";
    DxWhoMore => "altri non mostrati: affinare la ricerca; trovati in tutto", "more not shown: narrow the search; found in all";
    SyncSkipped => "sincronizzazione saltata: è in corso un pecdesk sync da riga di comando su questo archivio; si riprova al prossimo giro", "sync skipped: a command-line pecdesk sync is running on this store; retried at the next round";
    DxKeyCallScript => "testo per la telefonata (y lo copia)", "call script (y copies it)";
    CatArubaNoContact => "Aruba: senza contatto", "Aruba: no contact";
    CatArubaContactDiffers => "Aruba: contatto diverso dall'albo", "Aruba: contact differs";
    CatArubaSuspended => "Aruba: sospese o in disdetta", "Aruba: suspended or cancelling";
    CatArubaNoMailbox => "Aruba: nell'albo senza casella", "Aruba: in roster, no mailbox";
    JobArubaContacts => "Contatti presso Aruba dall'albo", "Contacts at Aruba from the roster";
    JobReminder => "Solleciti agli iscritti", "Reminders to members";
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
    // Reminders and PEC receipts (issue 13, console side).
    CatPecUndelivered => "sollecito PEC non consegnato", "reminder PEC not delivered";
    ReceiptsTitle => "ricevute PEC", "PEC receipts";
    ReceiptsNew => "nuove", "new";
    ReceiptsNotDelivered => "mancate consegne", "not delivered";
    ReceiptsUnmatched => "senza sollecito", "matching no reminder";
    ReceiptsMalformed => "non valide", "malformed";
    ReceiptsFailed => "lettura delle ricevute PEC non riuscita (si riprova)", "reading the PEC receipts failed (will retry)";
    ReceiptsNotConfigured => "nessuna casella PEC da cui leggere le ricevute ([pec] imap_host o maildir)", "no PEC mailbox to read receipts from ([pec] imap_host or maildir)";
    ReceiptsReading => "lettura ricevute…", "reading receipts…";
    NotRemindedFilter => "non sollecitati da", "not reminded for";
    Days => "giorni", "days";
    RemindersLast => "solleciti", "reminders";
    RemindersSent => "inviati", "sent";
    RemindersDelivered => "consegnate", "delivered";
    RemindersNotDelivered => "non consegnate", "not delivered";
    RemindersMigratedSince => "poi migrati", "since migrated";
    TrailReminder => "sollecito", "reminder";
    TrailVia => "via", "by";
    TrailEmail => "e-mail", "e-mail";
    TrailPending => "in coda", "queued";
    TrailInDoubt => "in dubbio (decidere se reinviare)", "in doubt (decide whether to resend)";
    TrailRefused => "rifiutato dal server", "refused by the server";
    TrailSent => "inviato", "sent";
    TrailDeferred => "rinviato dal server, si riprova", "deferred by the server, will retry";
    TrailCancelled => "annullato", "cancelled";
    TrailAccepted => "accettato", "accepted";
    TrailDelivered => "consegnato", "delivered";
    TrailTakenOver => "preso in carico", "taken over";
    TrailNotAccepted => "non accettato", "not accepted";
    TrailDeliveryWarning => "preavviso di mancata consegna", "delivery warning";
    TrailVirus => "virus rilevato", "virus found";
    TrailNotDelivered => "non consegnato", "not delivered";
    DxStaffReminded => "sollecitato via {channel} il {date} («{template}»): {outcome}", "reminded by {channel} on {date} («{template}»): {outcome}";
    DxStaffReminderBounced => "il sollecito via {channel} del {date} («{template}») non è stato consegnato: casella piena o inesistente, usare l'e-mail di servizio o il telefono", "the {channel} reminder of {date} («{template}») was not delivered: mailbox full or gone, use the service e-mail or the phone";
    KeyRemind => "sollecito via e-mail o PEC", "remind by e-mail or PEC";
    RemindNarrowFirst => "sollecito: aprire una lista da seguire, filtrare o selezionare gli iscritti", "reminder: open a to-chase list, filter or mark members first";
    RemindNobody => "nessun iscritto da sollecitare", "no member to remind";
    RemindQueued => "sollecito messo in coda", "reminder queued";
    RemindTitle => "Sollecito agli iscritti", "Remind members";
    RemindTemplate => "Modello", "Template";
    RemindChannel => "Canale", "Channel";
    RemindChooseKeys => "↑↓ modello · Tab canale · Invio anteprima · Esc annulla", "↑↓ template · Tab channel · Enter preview · Esc cancels";
    RemindPreparing => "preparazione dei messaggi…", "preparing the messages…";
    RemindWillGet => "lo riceveranno", "will get it";
    RemindLeftOut => "esclusi", "left out";
    RemindTime => "tempo previsto al ritmo del canale", "time the channel's pace implies";
    RemindPerMinute => "al minuto", "a minute";
    RemindUnlimited => "senza limite", "unlimited";
    RemindToday => "oggi ne possono partire", "may go today";
    RemindFirst => "Primo messaggio, come lo leggerà l'iscritto", "First message, as the member will read it";
    RemindConfirmKeys => "Invio avvia il sollecito · ↑↓ scorre · Esc annulla", "Enter starts the campaign · ↑↓ scrolls · Esc cancels";
    RemindFailed => "Impossibile preparare il sollecito", "The campaign cannot be prepared";
    InDoubtTitle => "Solleciti in dubbio", "Reminders in doubt";
    InDoubtNone => "nessun sollecito in dubbio", "no reminder in doubt";
    InDoubtSettled => "chiariti dalle ricevute PEC", "settled by PEC receipts";
    InDoubtExplain => "Il messaggio è partito ma il server non ha risposto: forse l'iscritto l'ha ricevuto. Decidere:", "The message went out but the server did not answer: the member may have it. Decide:";
    InDoubtKeys => "Spazio seleziona · s reinvia · m segna come inviato · Esc chiudi", "Space marks · s send again · m mark as sent · Esc closes";
    RemindedRecently => "sollecitati di recente", "reminded recently";
    MessageFrom => "Da", "From";
    MessageTo => "A", "To";
    MessageSubject => "Oggetto", "Subject";
    HelpNotReminded => "non sollecitati da N giorni (:notreminded N)", "not reminded for N days (:notreminded N)";
    HelpReceipts => "legge ora le ricevute PEC", "reads the PEC receipts now";
    NeedsProviderApi => "serve l'API del gestore: questo Ordine lavora con i report (provider = \"report\"); reinvii, contatti di recupero e reset vanno chiesti al gestore", "this needs the provider's API: this Ordine works from reports (provider = \"report\"); ask the provider for resends, recovery contacts and resets";
    ReportModeSyncHint => "nessuna sincronizzazione: questo Ordine lavora con i report del gestore; caricarne uno con :sync report FILE (o pecdesk sync --report FILE)", "no sync: this Ordine works from the provider's reports; load one with :sync report FILE (or pecdesk sync --report FILE)";
    LastReport => "Ultimo report", "Last report";
    NoReport => "nessuno (:sync report FILE)", "none (:sync report FILE)";
    ReportTitle => "Carica un report del gestore", "Load a provider's report";
    ReportPathPrompt => "Report (CSV o foglio di calcolo): ", "Report (CSV or workbook): ";
    ReportStatesAt => "Stati al", "States as of";
    ReportAsOfColumn => "dalla colonna del report", "from the report's column";
    ReportAsOfGiven => "da --as-of", "from --as-of";
    ReportAsOfFileTime => "dalla data di modifica del file", "from the file's modification time";
    ReportMailboxes => "caselle nel report", "mailboxes in the report";
    ReportNewMailboxes => "nuove", "new";
    ReportChanges => "cambi di stato", "state changes";
    ReportGone => "non più presso il gestore", "no longer at the provider";
    ReportOlderSkipped => "lasciate (stato in archivio più recente)", "left alone (newer state stored)";
    ReportComplete => "report completo: le caselle del dominio assenti sono tolte (p: solo quelle elencate)", "complete report: the domain's mailboxes missing from it are removed (p: only those listed)";
    ReportPartial => "solo le caselle elencate (p: report completo)", "only the mailboxes listed (p: complete report)";
    ReportPreviewKeys => "Invio carica · p cambia modalità · Esc annulla", "Enter loads · p switches mode · Esc cancels";
    ReportLoaded => "Report caricato", "Report loaded";
    ReportRejectedRows => "righe scartate", "rejected rows";
    IniPecTitle => "File INI-PEC", "INI-PEC file";
    IniPecPlanning => "confronto dell'albo con quanto già inviato…", "comparing the roster with what was sent…";
    IniPecWriting => "scrittura del file e registrazione dell'invio…", "writing the file and recording it…";
    IniPecUpdate => "aggiornamento dall'ultimo file inviato", "update since the last file sent";
    IniPecAll => "tutte le posizioni dell'albo (primo invio)", "every position in the roster (first load)";
    IniPecCodeNew => "nuove posizioni", "new positions";
    IniPecCodeUpdate => "aggiornamenti", "updates";
    IniPecCodeCancel => "cancellazioni (con data)", "cancellations (with date)";
    IniPecHeldBack => "posizioni non inviabili così come sono (restano da inviare)", "positions that cannot be sent as they are (still due)";
    IniPecKeys => "Invio scrive il file · Esc annulla", "Enter writes the file · Esc cancels";
    IniPecSeparator => "contiene ; virgolette o a capo", "holds a ;, a quote or a line break";
    IniPecFormula => "inizia come una formula", "starts like a formula";
    IniPecNothing => "INI-PEC: nessuna variazione da inviare, nessun file scritto", "INI-PEC: nothing to send, no file written";
    KeySyncReportMode => "come caricare un report del gestore (:sync report FILE)", "how to load a provider's report (:sync report FILE)";
    KeyNeedsApiReportMode => "non disponibile: serve l'API del gestore (questo Ordine lavora con i report)", "not available: needs the provider's API (this Ordine works from reports)";
    HintDashboardReport => "1-7 liste da seguire · Tab iscritti · :sync report FILE carica un report · ? aiuto · q esci", "1-7 lists to chase · Tab members · :sync report FILE loads a report · ? help · q quit";
    HintDashboardArubaReport => "1-7 liste · 8 9 0 - Aruba · Tab iscritti · :sync report FILE · ? aiuto · q esci", "1-7 lists · 8 9 0 - Aruba · Tab members · :sync report FILE · ? help · q quit";
    HintMembersReport => "↑↓ muovi · / cerca · f filtra · o ordina · Invio scheda · m sollecita · ? aiuto", "↑↓ move · / search · f filter · o sort · Enter detail · m remind · ? help";
    HintDetailReport => "d testo da leggere · Esc indietro · ? aiuto", "d call script · Esc back · ? help";
    CountsAsOf => "cifre del", "figures as of";
    CountsRecounting => "ricalcolo in corso…", "recounting…";
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
