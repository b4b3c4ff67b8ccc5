//! What is wrong with an entry and what to do about it, for the member on the
//! phone: a pure function of the roster data, the mailbox state, the day of the
//! passage and the clock, written from the two procedures
//! (`migrazione-e-password.txt`, `accesso-e-recupero-password.txt`).
//!
//! The result is structured ([`Diagnosis`]): which case it is (a stable code),
//! the texts as catalog keys with their values, the member's numbered steps
//! and the staff's actions. [`Diagnosis::render`] turns it into Italian or
//! English through the i18n catalog; [`Diagnosis::call_script`] sets the
//! same steps out to be read aloud.

use chrono::{DateTime, NaiveDate, Utc};

use super::contact::domain_of;
use super::password::user_id_of;
use super::{MailboxState, Member, MigrationState, PasswordState};
use crate::i18n::{Lang, T, format_date, format_datetime, italian_time};

/// The migration web app (procedure "migrazione e password").
pub const MIGRATION_URL: &str = "https://migrazionepec.infocert.it/webapp/?ui=fofi";
/// The new provider's webmail, where login and recovery start.
pub const WEBMAIL_URL: &str = "https://webmail.infocert.it/legalmail/#/login";
/// The Aruba guide the migration procedure points to for two-factor.
pub const ARUBA_2FA_GUIDE: &str =
    "Guide pec.it: «Come disattivare la verifica in due passaggi da Gestione account»";

coded_enum! {
    /// Which situation an entry is in: one code per branch of the procedures.
    pub Case {
        /// A mailbox at the provider that no roster member has.
        NoMember => "no_member",
        /// The member left the albo.
        LeftAlbo => "left_albo",
        /// The member's PEC is at another provider: outside the migration.
        ExternalPec => "external_pec",
        /// In the albo, on the Ordine's domain, but the provider has no such mailbox.
        NoMailbox => "no_mailbox",
        BeforeNotMigrated => "before_not_migrated",
        BeforeFailedCredentials => "before_failed_credentials",
        BeforeFailed2fa => "before_failed_2fa",
        BeforeMigrated => "before_migrated",
        /// After the passage, with the password set: logs in with it.
        AfterLogin => "after_login",
        /// After a reset by the Ordine: temporary password, to change at login.
        AfterTemporaryPassword => "after_temporary_password",
        /// After the passage with no password yet: first setting through recovery.
        AfterFirstPassword => "after_first_password",
        AfterLinkPending => "after_link_pending",
        AfterLinkExpired => "after_link_expired",
        /// A password is needed and no recovery e-mail is on file: only the Ordine can help.
        AfterNeedsOrdineReset => "after_needs_ordine_reset",
    }
}

coded_enum! {
    /// What the staff can do from the console.
    pub StaffAction {
        Resend => "resend",
        SetRecovery => "set_recovery",
        ResetPassword => "reset_password",
        /// Fetch the provider's states again.
        Sync => "sync",
        /// Fix the roster (import an up-to-date albo).
        ImportRoster => "import_roster",
    }
}

/// A catalog text with the values of its `{placeholders}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub key: T,
    pub args: Vec<(&'static str, String)>,
    /// Placeholders whose values are catalog texts, rendered in the same language.
    pub keyed: Vec<(&'static str, T)>,
}

impl Text {
    fn new(key: T) -> Self {
        Self {
            key,
            args: Vec::new(),
            keyed: Vec::new(),
        }
    }

    fn with_text(mut self, name: &'static str, value: T) -> Self {
        self.keyed.push((name, value));
        self
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    pub fn render(&self, lang: Lang) -> String {
        let mut text = self.key.get(lang).to_string();
        for (name, value) in &self.args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        for (name, value) in &self.keyed {
            text = text.replace(&format!("{{{name}}}"), value.get(lang));
        }
        text
    }
}

/// One thing the staff can (or must not) do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAdvice {
    pub action: Option<StaffAction>,
    /// `false`: the advice is *not* to act (e.g. no reset before the passage).
    pub act: bool,
    pub text: Text,
}

/// The diagnosis of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub case: Case,
    /// The situation, in one sentence (its parts joined by "; ").
    pub situation: Vec<Text>,
    /// Why it blocks, in the procedures' terms.
    pub blocks: Vec<Text>,
    /// What the member must do, in order.
    pub steps: Vec<Text>,
    pub staff: Vec<StaffAdvice>,
    /// The provider's `must_change_password`: the next login asks for a new one.
    pub must_change_password: bool,
    /// The service address the provider writes recovery links to, masked as
    /// the recovery page shows it.
    pub service_address_masked: Option<String>,
}

/// Everything the diagnosis is a function of.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub member: Option<&'a Member>,
    pub in_roster: bool,
    pub mailbox: Option<&'a MailboxState>,
    pub pec_domain: &'a str,
    /// The day of the passage; unknown counts as "not yet".
    pub cutover: Option<NaiveDate>,
    pub now: DateTime<Utc>,
    /// The last reminder sent to the member, if any: staff see when it went
    /// out and what became of it.
    pub last_reminder: Option<LastReminder<'a>>,
}

/// The last reminder sent to a member and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastReminder<'a> {
    /// The template's name (`migrazione`, ...).
    pub template: &'a str,
    /// By PEC (else by e-mail).
    pub pec: bool,
    pub at: DateTime<Utc>,
    pub outcome: ReminderOutcome,
}

/// Where a reminder got to, as its state and receipts say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderOutcome {
    Queued,
    /// Its data went out without the server's reply: the operator decides.
    InDoubt,
    /// Refused by the server.
    Refused,
    /// Handed to the server (an e-mail says no more).
    Sent,
    /// The Ordine's PEC provider accepted it.
    Accepted,
    /// The member's PEC provider delivered it: the legal proof.
    Delivered,
    /// The member's provider could not deliver it (mailbox full or gone).
    NotDelivered,
}

impl ReminderOutcome {
    fn text(self) -> T {
        match self {
            ReminderOutcome::Queued => T::TrailPending,
            ReminderOutcome::InDoubt => T::TrailInDoubt,
            ReminderOutcome::Refused => T::TrailRefused,
            ReminderOutcome::Sent => T::TrailSent,
            ReminderOutcome::Accepted => T::TrailAccepted,
            ReminderOutcome::Delivered => T::TrailDelivered,
            ReminderOutcome::NotDelivered => T::TrailNotDelivered,
        }
    }

    /// From a reminder's state and the types of its receipts (daticert's
    /// `tipo`), the furthest it got.
    pub fn of<'k>(state: &str, receipts: impl IntoIterator<Item = &'k str>) -> Self {
        let kinds: Vec<&str> = receipts.into_iter().collect();
        let has = |k: &str| kinds.contains(&k);
        if has("avvenuta-consegna") {
            ReminderOutcome::Delivered
        } else if kinds.iter().any(|k| {
            matches!(
                *k,
                "non-accettazione"
                    | "errore-consegna"
                    | "preavviso-errore-consegna"
                    | "rilevazione-virus"
            )
        }) {
            ReminderOutcome::NotDelivered
        } else if has("accettazione") {
            ReminderOutcome::Accepted
        } else {
            match state {
                "pending" | "deferred" | "sending" | "cancelled" => ReminderOutcome::Queued,
                "in_doubt" => ReminderOutcome::InDoubt,
                "failed" => ReminderOutcome::Refused,
                _ => ReminderOutcome::Sent,
            }
        }
    }
}

/// Before or after the passage to the new provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before { days_left: Option<i64> },
    After,
}

fn phase(cutover: Option<NaiveDate>, now: DateTime<Utc>) -> Phase {
    let today = italian_time(now).date();
    match cutover {
        Some(day) if today >= day => Phase::After,
        Some(day) => Phase::Before {
            days_left: Some((day - today).num_days()),
        },
        None => Phase::Before { days_left: None },
    }
}

/// The staff's fixed advice before the passage: no password reset.
fn no_reset_before_passage() -> StaffAdvice {
    StaffAdvice {
        action: Some(StaffAction::ResetPassword),
        act: false,
        text: Text::new(T::DxStaffNoResetBefore),
    }
}

fn advice(action: StaffAction, key: T) -> StaffAdvice {
    StaffAdvice {
        action: Some(action),
        act: true,
        text: Text::new(key),
    }
}

fn note(key: T) -> StaffAdvice {
    StaffAdvice {
        action: None,
        act: false,
        text: Text::new(key),
    }
}

pub fn diagnose(facts: &Facts<'_>) -> Diagnosis {
    let mut d = diagnose_state(facts);
    if let (Some(reminder), Some(_)) = (facts.last_reminder, facts.member) {
        let channel = if reminder.pec { "PEC" } else { "e-mail" };
        let text = |key: T| {
            Text::new(key)
                .with("channel", channel)
                .with("date", format_date(italian_time(reminder.at).date()))
                .with("template", reminder.template)
        };
        let not_delivered = reminder.outcome == ReminderOutcome::NotDelivered;
        d.staff.push(StaffAdvice {
            action: None,
            act: true,
            text: text(if not_delivered {
                T::DxStaffReminderBounced
            } else {
                T::DxStaffReminded
            })
            .with_text("outcome", reminder.outcome.text()),
        });
    }
    d
}

/// The diagnosis from the roster and the mailbox, before reminders.
fn diagnose_state(facts: &Facts<'_>) -> Diagnosis {
    let mut d = Diagnosis {
        case: Case::NoMember,
        situation: Vec::new(),
        blocks: Vec::new(),
        steps: Vec::new(),
        staff: Vec::new(),
        must_change_password: facts.mailbox.is_some_and(|m| m.must_change_password),
        service_address_masked: facts.mailbox.and_then(|m| m.recovery.email_masked.clone()),
    };
    let Some(member) = facts.member else {
        let address = facts.mailbox.map(|m| m.address.as_str()).unwrap_or("");
        d.case = Case::NoMember;
        d.situation
            .push(Text::new(T::DxSitNoMember).with("pec", address));
        d.blocks.push(Text::new(T::DxWhyNoMember));
        d.steps.push(Text::new(T::DxStepAskIdentity));
        d.staff
            .push(advice(StaffAction::ImportRoster, T::DxStaffCheckRoster));
        d.staff.push(note(T::DxStaffNoActionUnknown));
        return d;
    };
    if !facts.in_roster {
        d.case = Case::LeftAlbo;
        d.situation.push(Text::new(T::DxSitLeftAlbo));
        if facts.mailbox.is_some() {
            d.situation
                .push(Text::new(T::DxSitMailboxStill).with("pec", &member.pec));
        }
        d.blocks.push(Text::new(T::DxWhyLeftAlbo));
        d.steps.push(Text::new(T::DxStepSecretariat));
        d.staff
            .push(advice(StaffAction::ImportRoster, T::DxStaffCheckRoster));
        d.staff.push(note(T::DxStaffNoActionLeft));
        return d;
    }
    if !member.pec_on_domain(facts.pec_domain) {
        d.case = Case::ExternalPec;
        d.situation.push(
            Text::new(T::DxSitExternal)
                .with("pec", &member.pec)
                .with("domain", domain_of(&member.pec)),
        );
        d.blocks
            .push(Text::new(T::DxWhyExternal).with("domain", facts.pec_domain));
        d.steps
            .push(Text::new(T::DxStepOwnProvider).with("domain", domain_of(&member.pec)));
        d.staff.push(note(T::DxStaffNothingExternal));
        return d;
    }
    let Some(mailbox) = facts.mailbox else {
        d.case = Case::NoMailbox;
        d.situation
            .push(Text::new(T::DxSitNoMailbox).with("pec", &member.pec));
        d.blocks.push(Text::new(T::DxWhyNoMailbox));
        d.steps.push(Text::new(T::DxStepWaitOrdine));
        d.staff.push(advice(StaffAction::Sync, T::DxStaffSyncFirst));
        d.staff
            .push(advice(StaffAction::ImportRoster, T::DxStaffCheckPec));
        return d;
    };
    let phase = phase(facts.cutover, facts.now);
    match phase {
        Phase::Before { days_left } => before(&mut d, member, mailbox, facts, days_left),
        Phase::After => after(&mut d, member, mailbox, facts),
    }
    d
}

fn days_text(days_left: Option<i64>, cutover: Option<NaiveDate>) -> Text {
    let date = cutover.map(format_date).unwrap_or_default();
    match days_left {
        None => Text::new(T::DxCutoverUnknown),
        Some(0) => Text::new(T::DxCutoverToday).with("date", date),
        Some(1) => Text::new(T::DxDayLeft).with("date", date),
        Some(n) => Text::new(T::DxDaysLeft)
            .with("days", n.to_string())
            .with("date", date),
    }
}

fn user_id(member: &Member) -> String {
    user_id_of(&member.pec)
}

/// The migration procedure's steps, `two_factor_first` when that is what failed.
fn migration_steps(d: &mut Diagnosis, member: &Member, facts: &Facts<'_>, case: Case) {
    if case == Case::BeforeFailed2fa {
        d.steps
            .push(Text::new(T::DxStep2faOff).with("guide", ARUBA_2FA_GUIDE));
    }
    d.steps
        .push(Text::new(T::DxStepOpenMigration).with("url", MIGRATION_URL));
    if case != Case::BeforeFailed2fa {
        d.steps
            .push(Text::new(T::DxStep2faIfOn).with("guide", ARUBA_2FA_GUIDE));
    }
    let login = if case == Case::BeforeFailedCredentials {
        T::DxStepMigrationLoginCheck
    } else {
        T::DxStepMigrationLogin
    };
    d.steps.push(Text::new(login).with("pec", &member.pec));
    d.steps
        .push(Text::new(T::DxStepNewPassword).with("user", user_id(member)));
    d.steps.push(Text::new(T::DxStepContinue));
    let date = facts.cutover.map(format_date).unwrap_or_default();
    d.steps
        .push(Text::new(T::DxStepKeepAruba).with("date", date));
}

fn before(
    d: &mut Diagnosis,
    member: &Member,
    mailbox: &MailboxState,
    facts: &Facts<'_>,
    days_left: Option<i64>,
) {
    let days = days_text(days_left, facts.cutover);
    let (case, situation, why) = match mailbox.migration {
        MigrationState::NotStarted => (Case::BeforeNotMigrated, T::DxSitNotMigrated, None),
        MigrationState::FailedCredentials => (
            Case::BeforeFailedCredentials,
            T::DxSitFailedCredentials,
            Some(T::DxWhyCredentials),
        ),
        MigrationState::FailedTwoFactor => {
            (Case::BeforeFailed2fa, T::DxSitFailed2fa, Some(T::DxWhy2fa))
        }
        MigrationState::Completed => (Case::BeforeMigrated, T::DxSitMigrated, None),
    };
    d.case = case;
    d.situation
        .push(Text::new(situation).with("at", when(mailbox.migration_at)));
    d.situation.push(days);
    if let Some(why) = why {
        d.blocks.push(Text::new(why));
    }
    if case == Case::BeforeMigrated {
        d.blocks.push(Text::new(T::DxWhyWaitPassage));
        d.steps.push(
            Text::new(T::DxStepKeepAruba)
                .with("date", facts.cutover.map(format_date).unwrap_or_default()),
        );
        d.steps.push(
            Text::new(T::DxStepAfterPassageLogin)
                .with("url", WEBMAIL_URL)
                .with("pec", &member.pec),
        );
    } else {
        migration_steps(d, member, facts, case);
    }
    d.blocks.push(Text::new(T::DxWhyNoChangeBefore));
    if matches!(
        mailbox.password_at(facts.now),
        PasswordState::ResetPending | PasswordState::LinkExpired
    ) {
        d.blocks.push(Text::new(T::DxWhyLinkBefore));
    }
    if mailbox.recovery.is_empty() {
        d.blocks.push(Text::new(T::DxWhyNoRecoveryLater));
        d.staff
            .push(advice(StaffAction::SetRecovery, T::DxStaffSetRecoveryNow));
    } else if !mailbox.can_receive_recovery_email() {
        d.blocks.push(Text::new(T::DxWhyMobileOnlyLater).with(
            "mobile",
            mailbox.recovery.mobile_masked.clone().unwrap_or_default(),
        ));
        d.staff
            .push(advice(StaffAction::SetRecovery, T::DxStaffSetRecoveryNow));
    }
    if case == Case::BeforeFailedCredentials {
        d.staff.push(note(T::DxStaffNoArubaReset));
    }
    d.staff.push(no_reset_before_passage());
}

fn recovery_steps(d: &mut Diagnosis, member: &Member, masked: &str) {
    d.steps
        .push(Text::new(T::DxStepOpenWebmailRecover).with("url", WEBMAIL_URL));
    d.steps
        .push(Text::new(T::DxStepUserId).with("pec", &member.pec));
    d.steps
        .push(Text::new(T::DxStepChooseEmail).with("masked", masked));
    d.steps
        .push(Text::new(T::DxStepOpenLink).with("masked", masked));
    link_to_login_steps(d, member);
}

/// An instant as the texts show it (Italian time), or nothing.
fn when(at: Option<DateTime<Utc>>) -> String {
    at.map(format_datetime).unwrap_or_default()
}

/// Logging in with the Ordine's temporary password, then choosing one's own.
fn temporary_password_steps(d: &mut Diagnosis, member: &Member) {
    d.steps
        .push(Text::new(T::DxStepOpenWebmail).with("url", WEBMAIL_URL));
    d.steps
        .push(Text::new(T::DxStepLoginTemporary).with("pec", &member.pec));
    d.steps
        .push(Text::new(T::DxStepChangeTemporary).with("user", user_id(member)));
}

/// From the recovery link's page to the first access.
fn link_to_login_steps(d: &mut Diagnosis, member: &Member) {
    d.steps.push(
        Text::new(T::DxStepSetNewPassword)
            .with("pec", &member.pec)
            .with("user", user_id(member)),
    );
    d.steps.push(Text::new(T::DxStepBackToLogin));
}

fn after(d: &mut Diagnosis, member: &Member, mailbox: &MailboxState, facts: &Facts<'_>) {
    let date = facts.cutover.map(format_date).unwrap_or_default();
    let password = mailbox.password_at(facts.now);
    let masked = mailbox.recovery.email_masked.clone();
    let migration_said = match mailbox.migration {
        MigrationState::NotStarted => T::DxSitAfterNotMigrated,
        MigrationState::FailedCredentials => T::DxSitAfterFailedCredentials,
        MigrationState::FailedTwoFactor => T::DxSitAfterFailed2fa,
        MigrationState::Completed => T::DxSitAfterMigrated,
    };
    d.situation
        .push(Text::new(migration_said).with("date", date));
    let can_recover = masked.is_some();
    match (password, mailbox.must_change_password) {
        (PasswordState::Set, true) => {
            d.case = Case::AfterTemporaryPassword;
            d.situation.push(Text::new(T::DxSitTemporary));
            d.blocks.push(Text::new(T::DxWhyTemporary));
            temporary_password_steps(d, member);
            d.staff.push(note(T::DxStaffTemporaryLost));
            d.staff
                .push(advice(StaffAction::ResetPassword, T::DxStaffResetAgain));
        }
        (PasswordState::Set, false) => {
            d.case = Case::AfterLogin;
            d.situation.push(Text::new(T::DxSitPasswordSet));
            d.steps
                .push(Text::new(T::DxStepOpenWebmail).with("url", WEBMAIL_URL));
            d.steps
                .push(Text::new(T::DxStepLoginFull).with("pec", &member.pec));
            if let Some(masked) = &masked {
                d.steps.push(Text::new(T::DxStepIfForgotten));
                recovery_steps(d, member, masked);
                d.staff
                    .push(advice(StaffAction::Resend, T::DxStaffResendIfAsked));
            } else {
                d.blocks.push(Text::new(T::DxWhyNoRecovery));
                d.steps.push(Text::new(T::DxStepIfForgottenOrdine));
                d.staff.push(advice(
                    StaffAction::ResetPassword,
                    T::DxStaffResetIfForgotten,
                ));
                d.staff
                    .push(advice(StaffAction::SetRecovery, T::DxStaffSetRecovery));
            }
        }
        (PasswordState::ResetPending, _) if can_recover => {
            d.case = Case::AfterLinkPending;
            let sent = when(mailbox.link_sent_at);
            let expires = when(mailbox.link_expires_at);
            let masked = masked.clone().unwrap_or_default();
            d.situation.push(
                Text::new(T::DxSitLinkPending)
                    .with("sent", sent)
                    .with("masked", &masked)
                    .with("expires", &expires),
            );
            d.blocks
                .push(Text::new(T::DxWhyLinkPending).with("expires", &expires));
            d.steps.push(
                Text::new(T::DxStepFindMessage)
                    .with("masked", &masked)
                    .with("expires", &expires),
            );
            link_to_login_steps(d, member);
            d.staff.push(note(T::DxStaffNoResendPending));
            d.staff
                .push(advice(StaffAction::Resend, T::DxStaffResendIfLost));
        }
        (PasswordState::LinkExpired, _) if can_recover => {
            d.case = Case::AfterLinkExpired;
            let expires = when(mailbox.link_expires_at);
            d.situation
                .push(Text::new(T::DxSitLinkExpired).with("expires", &expires));
            d.blocks.push(Text::new(T::DxWhyLinkExpired));
            recovery_steps(d, member, masked.as_deref().unwrap_or_default());
            d.staff
                .push(advice(StaffAction::Resend, T::DxStaffResendExpired));
        }
        (PasswordState::NotSet, _) if can_recover => {
            d.case = Case::AfterFirstPassword;
            d.situation.push(Text::new(T::DxSitNoPassword));
            d.blocks.push(Text::new(
                if mailbox.migration == MigrationState::Completed {
                    T::DxWhyNoPasswordMigrated
                } else {
                    T::DxWhyFirstPassword
                },
            ));
            recovery_steps(d, member, masked.as_deref().unwrap_or_default());
            d.staff
                .push(advice(StaffAction::Resend, T::DxStaffResendIfAsked));
        }
        // A password is needed and the provider has no e-mail to send a link to.
        (_, _) => {
            d.case = Case::AfterNeedsOrdineReset;
            d.situation.push(Text::new(T::DxSitNoPassword));
            match &mailbox.recovery.mobile_masked {
                Some(mobile) if mailbox.recovery.email_masked.is_none() => d
                    .blocks
                    .push(Text::new(T::DxWhyMobileOnly).with("mobile", mobile)),
                _ => d.blocks.push(Text::new(T::DxWhyNoRecovery)),
            }
            d.steps.push(Text::new(T::DxStepWaitTemporary));
            temporary_password_steps(d, member);
            d.staff
                .push(advice(StaffAction::ResetPassword, T::DxStaffResetNow));
            d.staff
                .push(advice(StaffAction::SetRecovery, T::DxStaffSetRecovery));
        }
    }
    if !mailbox.recovery.confirmed || d.case == Case::AfterNeedsOrdineReset {
        d.steps.push(Text::new(T::DxStepConfirmRecovery));
    }
}

/// A diagnosis in one language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    pub case: &'static str,
    pub situation: String,
    pub blocks: Vec<String>,
    pub steps: Vec<String>,
    pub staff: Vec<RenderedAdvice>,
    pub must_change_password: bool,
    pub service_address_masked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedAdvice {
    /// The action's code, when the advice is about one.
    pub action: Option<&'static str>,
    /// `false`: the advice is not to act.
    pub act: bool,
    pub text: String,
}

impl Diagnosis {
    /// Whether the diagnosis is about a member's own mailbox (not an orphan,
    /// a member who left, or a PEC elsewhere).
    pub fn member_involved(&self) -> bool {
        !matches!(
            self.case,
            Case::NoMember | Case::LeftAlbo | Case::ExternalPec | Case::NoMailbox
        )
    }

    pub fn render(&self, lang: Lang) -> Rendered {
        let all = |texts: &[Text]| texts.iter().map(|t| t.render(lang)).collect::<Vec<_>>();
        Rendered {
            case: self.case.code(),
            situation: all(&self.situation).join("; "),
            blocks: all(&self.blocks),
            steps: all(&self.steps),
            staff: self
                .staff
                .iter()
                .map(|a| RenderedAdvice {
                    action: a.action.map(StaffAction::code),
                    act: a.act,
                    text: a.text.render(lang),
                })
                .collect(),
            must_change_password: self.must_change_password,
            service_address_masked: self.service_address_masked.clone(),
        }
    }

    /// The steps set out to be read aloud to the member, ready to paste into a
    /// written reply too: no staff-only advice in it.
    pub fn call_script(&self, lang: Lang, name: Option<&str>) -> String {
        let r = self.render(lang);
        let mut out = String::new();
        let line = |out: &mut String, text: &str| {
            out.push_str(text);
            out.push('\n');
        };
        match name {
            Some(name) => line(
                &mut out,
                &T::DxScriptHello.get(lang).replace("{name}", name),
            ),
            None => line(&mut out, T::DxScriptHelloUnknown.get(lang)),
        }
        line(&mut out, &format!("{}.", capitalise(&r.situation)));
        for block in &r.blocks {
            line(&mut out, &format!("{}.", capitalise(block)));
        }
        if !r.steps.is_empty() {
            out.push('\n');
            line(&mut out, T::DxScriptSteps.get(lang));
            for (i, step) in r.steps.iter().enumerate() {
                line(&mut out, &format!("{}. {step}", i + 1));
            }
        }
        out.push('\n');
        line(&mut out, T::DxScriptClose.get(lang));
        out
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
