//! The console's state and its transitions, free of terminal and I/O:
//! `update(&mut State, Action) -> Vec<Effect>`; the runtime performs the effects
//! and feeds their results back as actions.

pub mod actions;
mod command;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod import_flow;
mod index;
pub mod inipec_flow;
pub mod outreach;
mod palette;
mod phone;
pub mod remind;
pub mod report_mode;
pub mod search;
mod table;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tui_input::{Input, InputRequest};

use crate::domain::Category;
pub use crate::domain::summary::{
    Forecast, HISTORY_DAYS, PACE_DAYS, Settings, Summary, migration_index, password_index,
};
use crate::i18n::{Lang, T};
use crate::provider::api::ResendResponse;
use crate::queue::Control;
use crate::store::{
    Event, Job, JobCounts, JobKind, NewJobItem, RosterEntry, RosterRow, RosterRows, SyncRun,
};
pub use actions::{JobView, Secret};
pub use command::{CHASE, CHASE_ARUBA, Command};
pub use index::{IndexRequest, SortRequest, Sorted, TableIndex};
pub use palette::PALETTE_COMMANDS;
pub use report_mode::needs_provider_api;
pub use table::{Sort, SortColumn};

/// What the roster and sync look like, as loaded from the store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub entries: RosterRows,
    pub last_sync: Option<SyncRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Members,
    Detail,
    /// The audit trail: every action and change, newest first.
    Audit,
}

#[derive(Debug, Clone)]
pub enum Modal {
    Help,
    /// "Resend the recovery e-mail to this entry?"
    ConfirmResend {
        entry: usize,
    },
    /// The state filter being edited: cursor over `Category::ALL`, and the choice.
    Filter {
        cursor: usize,
        chosen: BTreeSet<Category>,
    },
    /// "Run this action on these marked members?", with those it does not fit.
    ConfirmBulk {
        kind: JobKind,
        targets: Vec<usize>,
        skipped: Vec<(usize, T)>,
    },
    /// The running (or last) job's progress and summary.
    Job,
    /// Jobs left unfinished by an earlier run, offered for resumption.
    Resume {
        jobs: Vec<Job>,
    },
    RecoveryForm(actions::RecoveryForm),
    PasswordForm(actions::PasswordForm),
    ConfirmRecovery {
        entry: usize,
        email: Option<String>,
        mobile: Option<String>,
    },
    ConfirmReset {
        entry: usize,
        password: Secret,
    },
    /// Importing a roster file: path, preview, confirmation.
    Import(import_flow::ImportStep),
    /// The INI-PEC update: counts per Stato code, then the file on confirmation.
    IniPec(inipec_flow::IniPecStep),
    /// The temporary password, shown once.
    PasswordShown {
        address: String,
        password: Secret,
    },
    /// The call script of an entry, scrolled by `scroll` lines.
    CallScript {
        entry: usize,
        scroll: u16,
    },
    /// A reminder campaign being prepared, or reminders in doubt.
    Remind(remind::RemindStep),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// Everything the console shows; drawing is a function of this.
#[derive(Debug)]
pub struct State {
    pub lang: Lang,
    pub pec_domain: String,
    pub ordine: String,
    pub cutover: Option<NaiveDate>,
    pub now: DateTime<Utc>,
    pub screen: Screen,
    pub modal: Option<Modal>,
    pub loaded: bool,
    /// Shared with the thread that builds their [`TableIndex`].
    pub entries: Arc<RosterRows>,
    /// Counts the loads, so that an index built for an older one is dropped.
    generation: u64,
    pub summary: Summary,
    /// The store's own counts, shown by the dashboard until the entries are in.
    counts: Option<crate::domain::DashboardCounts>,
    /// Between the first load and its first counts: the entries are asked
    /// for when those come (see [`State::first_load`]).
    entries_wait_for_counts: bool,
    /// When `counts` are the store's earlier ones, kept before a write since:
    /// the moment they were counted at, shown until the exact ones arrive.
    counts_as_of: Option<DateTime<Utc>>,
    /// Counts search keystrokes; a scan for an older one stops.
    keystrokes: search::Keystrokes,
    /// The keystroke whose matches are being found off the UI thread: the
    /// table shows the previous ones until they come.
    search_under_way: Option<u64>,
    /// [`search::BACKGROUND_FROM`], lowered by tests.
    pub(crate) background_search_from: usize,
    /// The table shows the latest keystroke's best matches ranked, the
    /// others after them unranked, while they are ranked off the UI thread.
    search_ranking: bool,
    /// Per entry, a bit per `Category::ALL` position.
    categories: Vec<u16>,
    /// The table's order and search index; None while being built after a load.
    index: Option<TableIndex>,
    /// A reload waiting for its index, shown when the index is in.
    pending: Option<PendingLoad>,
    pub sort: Sort,
    /// Categories the table is limited to (any of them); empty: no filter.
    pub filter: BTreeSet<Category>,
    /// Indices into `entries` that search and filter let through, in display order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub selected: usize,
    /// First visible row of the table; kept by the view so scrolling is stable.
    pub table_offset: std::cell::Cell<usize>,
    /// Rows the table showed last time (for paging).
    pub page_rows: std::cell::Cell<usize>,
    pub search: Input,
    pub searching: bool,
    /// The `:` command line, while open.
    pub palette: Option<Input>,
    /// The timeline of the entry open in the detail, with the entry it is for.
    pub timeline: Option<(usize, Vec<Event>)>,
    pub last_sync: Option<SyncRun>,
    pub sync_running: bool,
    /// Mailboxes received so far by the running sync, and how many it expects.
    pub sync_progress: Option<(usize, Option<u64>)>,
    /// Addresses with a single action in flight.
    pub in_flight: HashSet<String>,
    /// Addresses marked for a bulk action.
    pub marked: HashSet<String>,
    /// The bulk job running or last run in this session.
    pub job: Option<JobView>,
    /// The audit screen's events (newest first), filter and cursor.
    pub audit: Vec<Event>,
    pub audit_filter: Input,
    pub audit_selected: usize,
    pub status: Option<(Level, String)>,
    pub quit: bool,
    /// Reminders sent, their receipts, and the reading of receipts.
    pub outreach: outreach::OutreachState,
    /// `provider = "report"`: no API; states come from report files.
    pub report_mode: bool,
    /// The last report stored, for the header in report mode.
    pub last_report: Option<crate::store::ReportRun>,
    /// The entry the detail or an action is about, in full, with its index.
    detail: Option<(usize, Box<RosterEntry>)>,
}

/// What the user or the background asks for.
#[derive(Debug, Clone)]
pub enum Action {
    Command(Command),
    /// Select the row at this position of the visible list (mouse click).
    SelectRow(usize),
    SearchEdit(InputRequest),
    SearchDone,
    PaletteEdit(InputRequest),
    PaletteComplete,
    PaletteRun,
    SetFilter(BTreeSet<Category>),
    SetSort(Sort),
    SetLang(Lang),
    /// Export what the table's filter selects to a file.
    Export {
        path: std::path::PathBuf,
        format: crate::export::ExportFormat,
    },
    Exported(Result<String, String>),
    /// The INI-PEC export and its results.
    IniPec(inipec_flow::IniPecAction),
    /// Open the import (with a path: straight to its preview).
    Import {
        path: Option<String>,
        kind: import_flow::ImportKind,
    },
    ImportProgress {
        rows: usize,
    },
    ImportPreviewed {
        request: import_flow::RosterRequest,
        result: Result<(Box<crate::import::ImportPlan>, String), String>,
    },
    ImportDone(Result<String, String>),
    /// Up/down and toggle inside a list modal (the filter).
    ModalMove(isize),
    ModalToggle,
    /// Typing in a form's field; next field; generate a password.
    FormEdit(InputRequest),
    FormNextField,
    FormGenerate,
    JobPause,
    JobCancel,
    JobRetry,
    /// Copy the shown temporary password to the clipboard.
    Copy,
    Confirm,
    Cancel,
    Tick(DateTime<Utc>),
    // Results of effects.
    Loaded(Result<Snapshot, String>),
    /// The table's order and search index, built for a load.
    Indexed(Box<TableIndex>),
    /// The dashboard's figures, counted by the store before the entries load.
    /// With the last sync, for the header.
    Counted(Result<Box<(crate::domain::DashboardCounts, Option<SyncRun>)>, String>),
    /// The store's earlier counts (something was written since), with the
    /// moment they were counted at: shown, saying so, until `Counted`.
    CountedEarlier(
        Box<(
            crate::domain::DashboardCounts,
            Option<SyncRun>,
            DateTime<Utc>,
        )>,
    ),
    /// A search keystroke's matches, found off the UI thread.
    Searched(Box<search::SearchResult>),
    SyncFinished(Result<String, String>),
    TimelineLoaded {
        entry: usize,
        events: Vec<Event>,
    },
    ResendFinished {
        address: String,
        result: Result<ResendResponse, String>,
    },
    /// A single action other than resend ended; `Ok` carries the log's words.
    ActionFinished {
        address: String,
        result: Result<String, String>,
    },
    PasswordResetFinished {
        address: String,
        result: Result<Secret, String>,
    },
    JobStarted(Result<Job, String>),
    JobProgress {
        job_id: i64,
        counts: JobCounts,
    },
    JobFinished {
        job_id: i64,
        result: Result<JobCounts, String>,
        failures: Vec<(String, String)>,
    },
    Unfinished(Vec<Job>),
    AuditLoaded(Vec<Event>),
    SyncProgress {
        fetched: usize,
        total: Option<u64>,
    },
    /// `:who QUERY`: search, and open the detail when one entry matches.
    Who(String),
    /// The background sync skipped its round: another process (a headless
    /// `pecdesk sync`) holds the sync lock; the lock's message.
    SyncSkipped(String),
    /// What the store says of reminders and receipts.
    OutreachLoaded(Box<crate::store::Outreach>),
    /// The reminders, with their receipts, of the entry open in the detail.
    TrailLoaded {
        entry: usize,
        trail: Vec<crate::store::ReminderTrail>,
    },
    /// A reading of the PEC receipts ended.
    ReceiptsRead(Result<outreach::ReceiptsRead, String>),
    /// Show only members not reminded for N days (None: all).
    NotRemindedFor(Option<u16>),
    /// Read the PEC receipts now.
    ReadReceipts,
    /// A campaign's preview, or why it cannot be prepared.
    CampaignPrepared(Result<remind::Prepared, String>),
    /// Reminders in doubt, after the receipts settled what they could.
    InDoubtLoaded(Result<crate::campaign::InDoubtList, String>),
    /// The operator's decision on reminders in doubt was stored.
    InDoubtResolved(Result<String, String>),
    /// Send again, or mark as sent, the chosen reminders in doubt.
    DoubtDecide(crate::store::DoubtDecision),
    /// `:indoubt`: list the reminders in doubt.
    OpenInDoubt,
    ReportPreviewed {
        request: crate::sync::report_load::ReportRequest,
        result: Result<Box<crate::sync::report_load::ReportPreview>, String>,
    },
    ReportDone(Result<String, String>),
    /// The last report stored, read with each load.
    LastReport(Option<crate::store::ReportRun>),
    /// An order made off the UI thread ([`Effect::Sort`]).
    Sorted(Box<index::Sorted>),
    /// Entry `entry` in full, read for the detail ([`Effect::LoadEntry`]).
    EntryLoaded {
        entry: usize,
        result: Result<Box<RosterEntry>, String>,
    },
}

impl From<Command> for Action {
    fn from(command: Command) -> Self {
        Action::Command(command)
    }
}

/// Work for the runtime; results come back as [`Action`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Load,
    /// Count the dashboard's figures in the store (the first screen).
    LoadCounts {
        pec_domain: String,
        now: DateTime<Utc>,
    },
    /// Build the table's order and search index off the UI thread.
    BuildIndex(IndexRequest),
    /// Match a search keystroke's query off the UI thread.
    Search(search::SearchRequest),
    Sync,
    LoadTimeline {
        entry: usize,
        member_id: Option<i64>,
        address: String,
    },
    Resend {
        member_id: Option<i64>,
        address: String,
    },
    SetRecovery {
        member_id: Option<i64>,
        address: String,
        email: Option<String>,
        mobile: Option<String>,
    },
    ResetPassword {
        member_id: Option<i64>,
        address: String,
        password: Secret,
    },
    StartJob {
        kind: JobKind,
        items: Vec<NewJobItem>,
    },
    ResumeJob {
        job_id: i64,
    },
    RetryFailed {
        job_id: i64,
    },
    ControlJob(Control),
    /// Look for jobs an earlier run left unfinished.
    CheckUnfinished,
    LoadAudit {
        filter: String,
    },
    Export {
        path: std::path::PathBuf,
        format: crate::export::ExportFormat,
        states: Vec<Category>,
        pec_domain: String,
    },
    PreviewImport(import_flow::RosterRequest),
    IniPec(inipec_flow::IniPecEffect),
    RunImport(import_flow::RosterRequest),
    Clipboard(Secret),
    /// Reload what the store says of reminders and receipts.
    LoadOutreach,
    /// Read the PEC receipts that arrived (IMAP or Maildir, as configured).
    ReadReceipts,
    /// Render the campaign for the confirmation: nothing is written.
    PrepareCampaign(crate::campaign::CampaignRequest),
    /// Write the campaign into the queue and run it.
    StartCampaign(remind::Prepared),
    /// Settle in-doubt reminders by their receipts and list the rest.
    LoadInDoubt,
    ResolveInDoubt {
        reminder_ids: Vec<i64>,
        decision: crate::store::DoubtDecision,
    },
    /// Read a report and dry-run it: the preview.
    PreviewReport(crate::sync::report_load::ReportRequest),
    /// Store a report, in one transaction.
    RunReport(crate::sync::report_load::ReportRequest),
    /// Derive the table's order for a new sort off the UI thread.
    Sort(index::SortRequest),
    /// Read one entry in full (the rows keep only what the table needs).
    LoadEntry {
        entry: usize,
        member_id: Option<i64>,
        address: String,
    },
}

/// A load and what is derived from it without the index.
#[derive(Debug)]
struct PendingLoad {
    entries: Arc<RosterRows>,
    categories: Vec<u16>,
    summary: Summary,
    last_sync: Option<SyncRun>,
}

/// What decides an entry's lists: member (in the roster, PEC on the
/// domain), mailbox (states as of now, recovery contacts), Aruba's side.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Alike {
    member: Option<(bool, bool)>,
    mailbox: Option<(
        crate::domain::MigrationState,
        crate::domain::PasswordState,
        bool,
        bool,
    )>,
    aruba: AlikeAtAruba,
}

/// What Aruba's lists read of its copy: whether it has a contact, whether
/// its contacts differ from the roster's, whether its status blocks the
/// migration.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum AlikeAtAruba {
    Unknown,
    Missing,
    Present {
        contact: bool,
        differs: bool,
        blocks: bool,
    },
}

impl AlikeAtAruba {
    fn of(row: crate::store::RosterRow<'_>) -> Self {
        match row.aruba() {
            crate::store::ArubaRow::Unknown => Self::Unknown,
            crate::store::ArubaRow::Missing => Self::Missing,
            crate::store::ArubaRow::Present(copy) => Self::Present {
                contact: copy.contact_email().is_some(),
                differs: crate::domain::aruba::contacts_differ(
                    row.email_servizio(),
                    row.cellulare(),
                    copy.contact_email(),
                    copy.contact_mobile(),
                ),
                blocks: copy.status().blocks_migration(),
            },
        }
    }
}

/// The dashboard's figures and, per entry, a bit per `Category::ALL` position.
/// Entries alike ([`Alike`]) are classified once, by the domain's rules on
/// the first of them: at 1M entries, classifying each took most of a second
/// on the UI thread.
fn classify(entries: &RosterRows, pec_domain: &str, now: DateTime<Utc>) -> (Summary, Vec<u16>) {
    let mut scratch = crate::store::Scratch::default();
    let mut classify_row = |row| {
        let (member, in_roster, mailbox, aruba) = scratch.fill(row);
        Category::ALL.iter().fold(0u16, |mask, &c| {
            let inside = crate::domain::category::is_in_with(
                c, member, in_roster, mailbox, aruba, pec_domain, now,
            );
            if inside { mask | category_bit(c) } else { mask }
        })
    };
    let mut known: foldhash::HashMap<Alike, u16> = Default::default();
    let categories = entries
        .iter()
        .map(|row| {
            let alike = Alike {
                member: row.has_member().then(|| {
                    let domain = crate::domain::contact::domain_of(row.address());
                    (row.in_roster(), domain.eq_ignore_ascii_case(pec_domain))
                }),
                mailbox: row.mailbox().map(|m| {
                    (
                        m.migration,
                        m.password_at(now),
                        m.recovery_email,
                        m.recovery_mobile,
                    )
                }),
                aruba: AlikeAtAruba::of(row),
            };
            *known.entry(alike).or_insert_with(|| classify_row(row))
        })
        .collect();
    (
        crate::store::summarize_rows(entries, pec_domain, now),
        categories,
    )
}

impl State {
    pub fn new(settings: Settings, now: DateTime<Utc>) -> Self {
        Self {
            lang: settings.lang,
            pec_domain: settings.pec_domain,
            ordine: settings.ordine,
            cutover: settings.cutover,
            now,
            screen: Screen::Dashboard,
            modal: None,
            loaded: false,
            entries: Arc::default(),
            generation: 0,
            summary: Summary::default(),
            counts: None,
            entries_wait_for_counts: false,
            counts_as_of: None,
            keystrokes: search::Keystrokes::default(),
            search_under_way: None,
            background_search_from: search::BACKGROUND_FROM,
            search_ranking: false,
            categories: Vec::new(),
            index: None,
            pending: None,
            sort: Sort::default(),
            filter: BTreeSet::new(),
            visible: Vec::new(),
            selected: 0,
            table_offset: Default::default(),
            page_rows: std::cell::Cell::new(10),
            search: Input::default(),
            searching: false,
            palette: None,
            timeline: None,
            last_sync: None,
            sync_running: false,
            sync_progress: None,
            in_flight: Default::default(),
            marked: Default::default(),
            job: None,
            audit: Vec::new(),
            audit_filter: Input::default(),
            audit_selected: 0,
            status: None,
            quit: false,
            outreach: Default::default(),
            report_mode: false,
            last_report: None,
            detail: None,
        }
    }

    pub fn t(&self, text: T) -> &'static str {
        text.get(self.lang)
    }

    /// The entry under the cursor.
    pub fn selected_entry(&self) -> Option<(usize, RosterRow<'_>)> {
        let index = *self.visible.get(self.selected)?;
        Some((index, self.entries.row(index)))
    }

    /// Entry `index` in full (dates, masked contacts, Aruba's copy), once
    /// read from the store for the detail, the call script or an action's
    /// confirmation ([`Effect::LoadEntry`]).
    pub fn full_entry(&self, index: usize) -> Option<&RosterEntry> {
        self.detail
            .as_ref()
            .filter(|(i, full)| {
                *i == index
                    && self
                        .entries
                        .get(index)
                        .is_some_and(|row| row.address() == full.address())
            })
            .map(|(_, entry)| entry.as_ref())
    }

    /// Reads entry `index` in full unless it is in already.
    fn load_entry(&self, index: usize) -> Vec<Effect> {
        if self.full_entry(index).is_some() {
            return vec![];
        }
        let row = self.entries.row(index);
        vec![Effect::LoadEntry {
            entry: index,
            member_id: row.member_id(),
            address: row.address().to_string(),
        }]
    }

    /// What the console does first: count the dashboard's figures in the
    /// store (the first screen). The entries load behind them once the first
    /// figures are in ([`Effect::Load`] from [`update`]): at once when the
    /// store kept its counts (current or earlier ones), else after the
    /// count, which then has every core instead of sharing them with the
    /// load of a million entries.
    pub fn first_load(&mut self) -> Vec<Effect> {
        self.entries_wait_for_counts = true;
        vec![Effect::LoadCounts {
            pec_domain: self.pec_domain.clone(),
            now: self.now,
        }]
    }

    /// The entries, when the first load waits for its counts to ask for them.
    fn ask_entries(&mut self) -> Vec<Effect> {
        if std::mem::take(&mut self.entries_wait_for_counts) {
            vec![Effect::Load]
        } else {
            vec![]
        }
    }

    /// Whether the dashboard has figures to show: the store's counts, or
    /// the loaded entries.
    pub fn dashboard_ready(&self) -> bool {
        self.loaded || self.counts.is_some()
    }

    /// Takes the store's counts unless the entries are in already.
    fn set_counts(
        &mut self,
        result: Result<Box<(crate::domain::DashboardCounts, Option<SyncRun>)>, String>,
    ) -> Vec<Effect> {
        match result {
            Ok(counted) if !self.loaded => {
                let (counts, last_sync) = *counted;
                self.summary = counts.summary.clone();
                self.counts = Some(counts);
                self.counts_as_of = None;
                self.last_sync = last_sync;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "dashboard counts"),
        }
        self.ask_entries()
    }

    /// Takes the store's earlier counts unless any others are in already.
    fn set_earlier_counts(
        &mut self,
        (counts, last_sync, at): (
            crate::domain::DashboardCounts,
            Option<SyncRun>,
            DateTime<Utc>,
        ),
    ) -> Vec<Effect> {
        if !self.loaded && self.counts.is_none() {
            self.summary = counts.summary.clone();
            self.counts = Some(counts);
            self.counts_as_of = Some(at);
            self.last_sync = last_sync;
        }
        self.ask_entries()
    }

    /// When the dashboard shows the store's earlier counts, while they are
    /// counted again: the moment they were counted at.
    pub fn counts_as_of(&self) -> Option<DateTime<Utc>> {
        self.counts_as_of.filter(|_| !self.loaded)
    }

    /// Whether entry `index` is in `category` (as of the last refresh).
    pub fn is_in(&self, index: usize, category: Category) -> bool {
        self.categories[index] & category_bit(category) != 0
    }

    /// Whether Aruba's side has been synced: the Aruba lists mean something.
    pub fn aruba_known(&self) -> bool {
        match (&self.counts, self.loaded) {
            (Some(counts), false) => counts.aruba_known,
            _ => self.entries.aruba_known(),
        }
    }

    /// Whether the passage to the new provider has happened: Aruba is history.
    pub fn after_cutover(&self) -> bool {
        self.cutover
            .is_some_and(|day| crate::i18n::italian_time(self.now).date() >= day)
    }

    /// The states the filter offers: the Aruba lists (last in
    /// `Category::ALL`) once Aruba has been synced.
    pub fn filter_categories(&self) -> &'static [Category] {
        let all = Category::ALL;
        if self.aruba_known() {
            all
        } else {
            &all[..all.len() - crate::domain::category::ARUBA.len()]
        }
    }

    /// The table shows Aruba lists only: `c` acts at Aruba.
    pub fn aruba_mode(&self) -> bool {
        !self.filter.is_empty() && self.filter.iter().all(|c| c.is_aruba())
    }

    /// How many entries are in `category`.
    pub fn count(&self, category: Category) -> usize {
        if let (Some(counts), false) = (&self.counts, self.loaded) {
            return counts.count(category);
        }
        let bit = category_bit(category);
        self.categories
            .iter()
            .filter(|&&mask| mask & bit != 0)
            .count()
    }

    /// Takes a load. The first one shows at once (the dashboard needs no
    /// index; the table shows load order until its index is in); a reload
    /// keeps the previous view, whole, until its own index is in. Returns the
    /// effect that builds the index.
    fn set_snapshot(&mut self, snapshot: Snapshot) -> Effect {
        self.generation += 1;
        let entries = Arc::new(snapshot.entries);
        let request = IndexRequest {
            entries: Arc::clone(&entries),
            generation: self.generation,
            sort: self.sort,
            now: self.now,
        };
        let (summary, mut categories) = classify(&entries, &self.pec_domain, self.now);
        outreach::mark(&entries, &self.outreach.data, &mut categories);
        let load = PendingLoad {
            entries,
            categories,
            summary,
            last_sync: snapshot.last_sync,
        };
        if self.index.is_some() {
            self.pending = Some(load);
        } else {
            self.install(load);
            self.refresh_visible(None);
        }
        Effect::BuildIndex(request)
    }

    fn install(&mut self, load: PendingLoad) {
        self.entries = load.entries;
        self.categories = load.categories;
        self.summary = load.summary;
        self.last_sync = load.last_sync;
        self.loaded = true;
        self.counts = None;
        self.counts_as_of = None;
    }

    /// Takes the index built for a load, unless a newer load came meanwhile,
    /// and shows that load.
    fn set_index(&mut self, index: TableIndex) -> Vec<Effect> {
        if index.generation != self.generation {
            return vec![];
        }
        // Before the first index the selection is only load order's first
        // row, not a choice to keep.
        let keep = self
            .index
            .is_some()
            .then(|| self.selected_address())
            .flatten();
        if let Some(load) = self.pending.take() {
            self.install(load);
        }
        // The sort may have changed while the index was being built: the
        // index's own order shows until that one is in.
        let sorted_otherwise = index.sort != self.sort;
        self.index = Some(index);
        self.refresh_visible(keep.as_deref());
        let mut effects = match (&self.screen, self.timeline.as_ref(), self.selected_entry()) {
            (Screen::Detail, Some(_), Some((entry, _))) => self.detail_effects(entry),
            _ => vec![],
        };
        if sorted_otherwise {
            effects.extend(self.resort());
        }
        effects.extend(self.refresh_full_entry());
        effects
    }

    /// After a reload, the entry read in full is read again (it shows until
    /// then), unless the new load has another entry at its place.
    fn refresh_full_entry(&mut self) -> Vec<Effect> {
        let Some((index, full)) = &self.detail else {
            return vec![];
        };
        let index = *index;
        match self.entries.get(index) {
            Some(row) if row.address() == full.address() => vec![Effect::LoadEntry {
                entry: index,
                member_id: row.member_id(),
                address: row.address().to_string(),
            }],
            _ => {
                self.detail = None;
                vec![]
            }
        }
    }

    /// The sort the table shows: the one asked for once its order is in.
    pub fn shown_sort(&self) -> Sort {
        self.index.as_ref().map_or(self.sort, |index| index.sort)
    }

    /// Takes an order made off the UI thread, unless a newer load or sort
    /// came meanwhile.
    fn set_sorted(&mut self, sorted: index::Sorted) -> Vec<Effect> {
        let current = self
            .index
            .as_ref()
            .is_some_and(|index| index.generation == sorted.generation);
        if !current || sorted.sort != self.sort {
            return vec![];
        }
        let keep = self.selected_address();
        if let Some(index) = &mut self.index {
            index.ordering = sorted.ordering;
            index.sort = sorted.sort;
        }
        self.refresh_visible(keep.as_deref());
        vec![]
    }

    /// Whether the table waits for its order and search index.
    pub fn indexing(&self) -> bool {
        self.loaded && self.index.is_none()
    }

    fn selected_address(&self) -> Option<String> {
        self.selected_entry().map(|(_, e)| e.address().to_string())
    }

    /// Summary, categories and, when it depends on the clock, the sort order:
    /// what changes as time passes.
    fn recompute_for_clock(&mut self) -> Vec<Effect> {
        self.summary = crate::store::summarize_rows(&self.entries, &self.pec_domain, self.now);
        // Only a pending link turns into an expired one as time passes: the
        // other entries' lists stay as the load classified them.
        let clock = [Category::LinkPending, Category::LinkExpired];
        let mut scratch = crate::store::Scratch::default();
        for (row, mask) in self.entries.iter().zip(self.categories.iter_mut()) {
            if row
                .mailbox()
                .is_none_or(|m| m.password != crate::domain::PasswordState::ResetPending)
            {
                continue;
            }
            let (member, in_roster, mailbox, aruba) = scratch.fill(row);
            for c in clock {
                let inside = crate::domain::category::is_in_with(
                    c,
                    member,
                    in_roster,
                    mailbox,
                    aruba,
                    &self.pec_domain,
                    self.now,
                );
                if inside {
                    *mask |= category_bit(c);
                } else {
                    *mask &= !category_bit(c);
                }
            }
        }
        if self.sort.column.depends_on_clock() {
            return self.resort();
        }
        vec![]
    }

    /// Asks for the order of `self.sort` as of `self.now`, made off the UI
    /// thread from the index's prepared orders; the current order shows
    /// until it is in. Nothing while the index is being built (it is built
    /// in the sort asked for then, and asks again if that changed).
    fn resort(&self) -> Vec<Effect> {
        let Some(index) = &self.index else {
            return vec![];
        };
        if index.generation != self.generation {
            // A reload waits for its index: the sort goes with it.
            return vec![];
        }
        vec![Effect::Sort(index::SortRequest {
            entries: Arc::clone(&self.entries),
            orders: Arc::clone(&index.orders),
            generation: index.generation,
            sort: self.sort,
            now: self.now,
        })]
    }

    fn passes_filter(&self, index: usize) -> bool {
        (self.filter.is_empty() || self.filter.iter().any(|&c| self.is_in(index, c)))
            && outreach::passes(self, index)
    }

    /// Whether [`Self::passes_filter`] lets every entry through.
    fn shows_everything(&self) -> bool {
        self.filter.is_empty() && outreach::passes_all(self)
    }

    /// A keystroke in the search box: the matches at once when remembered
    /// or few to try, else found off the UI thread ([`Effect::Search`])
    /// while the frame shows the previous ones.
    fn search_typed(&mut self) -> Vec<Effect> {
        let keystroke = self.keystrokes.next();
        let query = self.search.value().trim().to_string();
        let found = match self.index.as_mut().filter(|_| !query.is_empty()) {
            None => None,
            Some(index) => match index.lookup(&query) {
                search::Lookup::Known(matches) => Some(matches),
                search::Lookup::Scan(scan)
                    if scan.for_another_thread(self.background_search_from) =>
                {
                    self.search_under_way = Some(keystroke);
                    return vec![Effect::Search(search::SearchRequest {
                        generation: self.generation,
                        keystroke,
                        scan,
                        keystrokes: self.keystrokes.clone(),
                    })];
                }
                search::Lookup::Scan(scan) => {
                    let matches = scan.run(&|| false).expect("never cancelled");
                    index
                        .search
                        .remember(scan.query().to_string(), matches.clone());
                    Some(matches)
                }
            },
        };
        self.refresh_visible_from(None, found);
        vec![]
    }

    /// Whether the table still shows an earlier query's matches while the
    /// latest keystroke's are being found.
    pub fn search_under_way(&self) -> bool {
        self.search_under_way.is_some()
    }

    /// Matches found off the UI thread: kept for narrowing whatever the
    /// keystroke, shown when it is the latest.
    fn searched(&mut self, result: search::SearchResult) -> Vec<Effect> {
        let (Some(index), Some(matches)) = (self.index.as_mut(), result.matches) else {
            return vec![];
        };
        if result.generation != self.generation {
            return vec![];
        }
        let mut matches = matches;
        let first = matches.take_first_ranked();
        index.search.remember(result.query, matches);
        if self.search_under_way != Some(result.keystroke) {
            return vec![];
        }
        let ordering = Arc::clone(&index.ordering);
        let everything_shown = self.shows_everything();
        if let Some((visible, settled)) = first
            .and_then(|first| first.listed(&ordering, everything_shown, |i| self.passes_filter(i)))
        {
            // The first stage: shown when it fills the table's first page
            // as the whole ranking will (a state filter may hide most of
            // the best), the scan still under way.
            if settled >= self.page_rows.get().max(1) || settled == visible.len() {
                self.visible = visible;
                self.selected = 0;
                self.search_ranking = true;
            }
            return vec![];
        }
        // The whole ranking, after its first stage: the selection stays
        // where it was moved meanwhile.
        let keep = if self.search_ranking {
            self.selected_address()
        } else {
            None
        };
        self.refresh_visible(keep.as_deref());
        vec![]
    }

    /// Recomputes `visible` from filter, search and sort, keeping `keep`
    /// selected if it is still shown.
    fn refresh_visible(&mut self, keep: Option<&str>) {
        self.refresh_visible_from(keep, None);
    }

    /// [`Self::refresh_visible`], with the search's matches when known already.
    fn refresh_visible_from(&mut self, keep: Option<&str>, found: Option<search::Matches>) {
        // Matched here and now: a scan under way is no longer awaited.
        if self.search_under_way.take().is_some() {
            self.keystrokes.next();
        }
        self.search_ranking = false;
        // The entry to keep is most often the one selected: found by its
        // index, without reading every visible entry's address (at 1M
        // entries that scan alone held up the frame).
        let kept = self
            .visible
            .get(self.selected)
            .copied()
            .filter(|&i| i < self.entries.len());
        let query = self.search.value().trim().to_string();
        let matches = match &mut self.index {
            Some(_) if found.is_some() => found,
            Some(index) if !query.is_empty() => Some(index.matched(&query)),
            _ => None,
        };
        self.visible = match (&self.index, matches) {
            (Some(index), Some(matches)) => {
                matches.best_first(&index.ordering, |i| self.passes_filter(i))
            }
            (Some(index), None) => index
                .ordering
                .order
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| self.passes_filter(i))
                .collect(),
            // Until the index is built: a search waits, the rest shows in load order.
            (None, _) if !query.is_empty() => Vec::new(),
            (None, _) => (0..self.entries.len())
                .filter(|&i| self.passes_filter(i))
                .collect(),
        };
        self.selected = keep
            .and_then(|address| match kept {
                Some(i) if self.entries.row(i).address() == address => {
                    self.visible.iter().position(|&v| v == i)
                }
                _ => self
                    .visible
                    .iter()
                    .position(|&i| self.entries.row(i).address() == address),
            })
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    fn move_selection(&mut self, delta: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() as isize - 1;
        self.selected = (self.selected as isize)
            .saturating_add(delta)
            .clamp(0, last) as usize;
    }

    fn status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some((level, text.into()));
    }

    fn timeline_effect(&self, entry: usize) -> Effect {
        let e = self.entries.row(entry);
        Effect::LoadTimeline {
            entry,
            member_id: e.member_id(),
            address: e.address().to_string(),
        }
    }

    /// What the detail of `entry` reads: its timeline and the entry in full.
    fn detail_effects(&self, entry: usize) -> Vec<Effect> {
        let mut effects = vec![self.timeline_effect(entry)];
        effects.extend(self.load_entry(entry));
        effects
    }

    fn set_filter(&mut self, filter: BTreeSet<Category>) {
        let keep = self.selected_address();
        self.filter = filter;
        self.refresh_visible(keep.as_deref());
    }

    fn set_sort(&mut self, sort: Sort) -> Vec<Effect> {
        self.sort = sort;
        self.resort()
    }
}

fn category_bit(category: Category) -> u16 {
    1 << Category::ALL
        .iter()
        .position(|&c| c == category)
        .expect("listed")
}

/// Applies one action and returns the effects to perform.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let action = match report_mode::intercept(state, action) {
        Ok(effects) => return effects,
        Err(action) => action,
    };
    if let Some(effects) = update_modal(state, &action) {
        return effects;
    }
    match action {
        Action::Command(command) => run_command(state, command),
        Action::SelectRow(position) => {
            if position < state.visible.len() {
                state.selected = position;
            }
            detail_follow(state)
        }
        Action::SearchEdit(request) if state.screen == Screen::Audit => {
            state.audit_filter.handle(request);
            state.audit_selected = 0;
            vec![Effect::LoadAudit {
                filter: state.audit_filter.value().to_string(),
            }]
        }
        Action::AuditLoaded(events) => {
            state.audit = events;
            state.audit_selected = state
                .audit_selected
                .min(state.audit.len().saturating_sub(1));
            vec![]
        }
        Action::SearchEdit(request) => {
            // Typing moves to the best match, as in fzf; filters and reloads keep
            // the selection instead.
            state.search.handle(request);
            state.search_typed()
        }
        Action::SearchDone => {
            state.searching = false;
            vec![]
        }
        Action::PaletteEdit(request) => {
            if let Some(input) = &mut state.palette {
                input.handle(request);
            }
            vec![]
        }
        Action::PaletteComplete => {
            if let Some(input) = &mut state.palette
                && let Some(completed) = palette::complete(input.value())
            {
                *input = Input::new(completed);
            }
            vec![]
        }
        Action::PaletteRun => match state.palette.take() {
            Some(input) => match palette::parse(input.value()) {
                Ok(actions) => actions
                    .into_iter()
                    .flat_map(|action| update(state, action))
                    .collect(),
                Err(message) => {
                    state.status(Level::Error, message);
                    vec![]
                }
            },
            None => vec![],
        },
        Action::SetFilter(filter) => {
            state.screen = Screen::Members;
            state.set_filter(filter);
            vec![]
        }
        Action::SetSort(sort) => state.set_sort(sort),
        Action::Sorted(sorted) => state.set_sorted(*sorted),
        Action::Export { path, format } => vec![Effect::Export {
            path,
            format,
            states: state.filter.iter().copied().collect(),
            pec_domain: state.pec_domain.clone(),
        }],
        Action::Import { path, kind } => import_flow::open(state, path, kind),
        Action::IniPec(action) => inipec_flow::on_action(state, action),
        action @ (Action::ImportProgress { .. }
        | Action::ImportPreviewed { .. }
        | Action::ImportDone(_)) => import_flow::on_result(state, action),
        Action::Exported(result) => {
            match result {
                Ok(text) => state.status(Level::Info, text),
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix))),
            }
            vec![]
        }
        Action::SetLang(lang) => {
            state.lang = lang;
            vec![]
        }
        Action::Cancel => {
            state.palette = None;
            vec![]
        }
        Action::ModalMove(_) | Action::ModalToggle | Action::Confirm => vec![],
        Action::Tick(now) => {
            let minute_changed = now.timestamp() / 60 != state.now.timestamp() / 60;
            state.now = now;
            // Links expire with the clock, not only at sync.
            let mut effects = vec![];
            if minute_changed && state.loaded {
                let keep = state.selected_address();
                effects = state.recompute_for_clock();
                state.refresh_visible(keep.as_deref());
            }
            effects.extend(outreach::on_tick(state));
            effects
        }
        Action::Loaded(Ok(snapshot)) => vec![state.set_snapshot(snapshot)],
        Action::Indexed(index) => state.set_index(*index),
        Action::Counted(result) => state.set_counts(result),
        Action::CountedEarlier(earlier) => state.set_earlier_counts(*earlier),
        Action::Searched(result) => state.searched(*result),
        Action::Loaded(Err(error)) => {
            state.status(
                Level::Error,
                format!("{}: {error}", state.t(T::ErrorPrefix)),
            );
            vec![]
        }
        Action::SyncProgress { fetched, total } => {
            state.sync_progress = Some((fetched, total));
            vec![]
        }
        Action::SyncFinished(result) => {
            state.sync_running = false;
            state.sync_progress = None;
            match result {
                Ok(text) => state.status(Level::Info, format!("{}: {text}", state.t(T::SyncDone))),
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::SyncFailed))),
            }
            vec![Effect::Load]
        }
        Action::TimelineLoaded { entry, events } => {
            state.timeline = Some((entry, events));
            vec![]
        }
        Action::ResendFinished { address, result } => {
            state.in_flight.remove(&address);
            match result {
                Ok(r) => state.status(
                    Level::Info,
                    format!(
                        "{} {} ({}), {} {}",
                        state.t(T::ResendSent),
                        r.sent_to_masked,
                        address,
                        state.t(T::ResendExpires),
                        crate::i18n::format_datetime(r.link_expires_at)
                    ),
                ),
                Err(e) => state.status(
                    Level::Error,
                    format!("{} ({address}): {e}", state.t(T::ResendFailed)),
                ),
            }
            vec![Effect::Load]
        }
        Action::ActionFinished { address, result } => {
            state.in_flight.remove(&address);
            match result {
                Ok(text) => state.status(Level::Info, format!("{address}: {text}")),
                Err(e) => state.status(Level::Error, format!("{address}: {e}")),
            }
            vec![Effect::Load]
        }
        Action::PasswordResetFinished { address, result } => {
            state.in_flight.remove(&address);
            match result {
                Ok(password) => {
                    state.status(
                        Level::Info,
                        format!("{address}: {}", state.t(T::PasswordResetDone)),
                    );
                    state.modal = Some(Modal::PasswordShown { address, password });
                }
                Err(e) => state.status(Level::Error, format!("{address}: {e}")),
            }
            vec![Effect::Load]
        }
        Action::JobStarted(Ok(job)) => {
            actions::job_started(state, &job);
            vec![]
        }
        Action::JobStarted(Err(e)) | Action::JobFinished { result: Err(e), .. } => {
            if let Some(job) = &mut state.job {
                job.finished = true;
            }
            state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix)));
            vec![Effect::Load]
        }
        Action::JobProgress { job_id, counts } => {
            if let Some(job) = state.job.as_mut().filter(|j| j.id == job_id) {
                job.counts = counts;
            }
            vec![]
        }
        Action::JobFinished {
            job_id,
            result: Ok(counts),
            failures,
        } => {
            if let Some(job) = state.job.as_mut().filter(|j| j.id == job_id) {
                job.counts = counts;
                job.finished = true;
                job.paused = false;
                job.failures = failures;
            }
            vec![Effect::Load]
        }
        Action::Unfinished(jobs) => {
            if !jobs.is_empty() && state.modal.is_none() {
                state.modal = Some(Modal::Resume { jobs });
            }
            vec![]
        }
        Action::Who(query) => phone::who(state, &query),
        Action::OutreachLoaded(data) => outreach::loaded(state, *data),
        Action::TrailLoaded { entry, trail } => outreach::trail_loaded(state, entry, trail),
        Action::ReceiptsRead(result) => outreach::read_done(state, result),
        Action::NotRemindedFor(days) => outreach::set_not_reminded_for(state, days),
        Action::ReadReceipts => outreach::read_now(state),
        action @ (Action::CampaignPrepared(_)
        | Action::InDoubtLoaded(_)
        | Action::InDoubtResolved(_)) => remind::on_result(state, action),
        Action::OpenInDoubt => remind::open_in_doubt(state),
        Action::DoubtDecide(_) => vec![],
        Action::SyncSkipped(_) => {
            state.sync_running = false;
            state.sync_progress = None;
            state.status(Level::Info, state.t(T::SyncSkipped));
            vec![]
        }
        action @ (Action::ReportPreviewed { .. } | Action::ReportDone(_)) => {
            import_flow::on_result(state, action)
        }
        Action::LastReport(report) => {
            state.last_report = report;
            vec![]
        }
        Action::EntryLoaded { entry, result } => {
            match result {
                // Unless a reload moved the entries meanwhile.
                Ok(full)
                    if entry < state.entries.len()
                        && state.entries.row(entry).address() == full.address() =>
                {
                    state.detail = Some((entry, full));
                }
                Ok(_) => {}
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix))),
            }
            vec![]
        }
        Action::FormEdit(_)
        | Action::FormNextField
        | Action::FormGenerate
        | Action::JobPause
        | Action::JobCancel
        | Action::JobRetry
        | Action::Copy => vec![],
    }
}

/// While a modal is open, keys go to it; results of effects still land.
/// Returns `None` when the action is not the modal's business.
fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    if is_result(action) || matches!(action, Action::Command(Command::Quit)) {
        return None;
    }
    if let Some(effects) = actions::update_modal(state, action) {
        return Some(effects);
    }
    if let Some(effects) = import_flow::update_modal(state, action) {
        return Some(effects);
    }
    if let Some(effects) = inipec_flow::update_modal(state, action) {
        return Some(effects);
    }
    if let Some(effects) = phone::update_modal(state, action) {
        return Some(effects);
    }
    if let Some(effects) = remind::update_modal(state, action) {
        return Some(effects);
    }
    let offered = state.filter_categories();
    let modal = state.modal.as_mut()?;
    let close = matches!(
        action,
        Action::Cancel | Action::Command(Command::Back | Command::Help)
    );
    match modal {
        Modal::Help if close => state.modal = None,
        Modal::Help => {}
        Modal::ConfirmResend { entry } => match action {
            Action::Confirm => {
                let entry = *entry;
                state.modal = None;
                let member_id = state.entries.row(entry).member_id();
                let address = state.entries.row(entry).address().to_string();
                state.in_flight.insert(address.clone());
                state.status(
                    Level::Info,
                    format!("{} {}", state.t(T::ResendInFlight), address),
                );
                return Some(vec![Effect::Resend { member_id, address }]);
            }
            _ if close => state.modal = None,
            _ => {}
        },
        Modal::Filter { cursor, chosen } => match action {
            Action::ModalMove(delta) => {
                let last = offered.len() as isize - 1;
                *cursor = (*cursor as isize + delta).clamp(0, last) as usize;
            }
            Action::ModalToggle => {
                let category = offered[*cursor];
                if !chosen.remove(&category) {
                    chosen.insert(category);
                }
            }
            Action::Confirm => {
                let chosen = std::mem::take(chosen);
                state.modal = None;
                state.screen = Screen::Members;
                state.set_filter(chosen);
            }
            _ if close => state.modal = None,
            _ => {}
        },
        _ => {}
    }
    Some(vec![])
}

fn run_command(state: &mut State, command: Command) -> Vec<Effect> {
    match command {
        Command::Quit => state.quit = true,
        Command::Back if state.screen == Screen::Audit => {
            if state.searching || !state.audit_filter.value().is_empty() {
                state.searching = false;
                state.audit_filter.reset();
                return vec![Effect::LoadAudit {
                    filter: String::new(),
                }];
            }
            state.screen = Screen::Dashboard;
        }
        Command::Back => {
            if state.searching || !state.search.value().is_empty() {
                state.searching = false;
                state.search.reset();
                let keep = state.selected_address();
                state.refresh_visible(keep.as_deref());
                if let Some(index) = &mut state.index {
                    index.search.forget();
                }
            } else {
                state.screen = match state.screen {
                    Screen::Detail => Screen::Members,
                    _ => Screen::Dashboard,
                };
            }
        }
        Command::Help => state.modal = Some(Modal::Help),
        Command::NextScreen => {
            state.screen = match state.screen {
                Screen::Dashboard => Screen::Members,
                _ => Screen::Dashboard,
            }
        }
        Command::Dashboard => state.screen = Screen::Dashboard,
        Command::Members => state.screen = Screen::Members,
        Command::Up
        | Command::Down
        | Command::PageUp
        | Command::PageDown
        | Command::Top
        | Command::Bottom => {
            let delta = movement(command, state.page_rows.get());
            if state.screen == Screen::Audit {
                let last = state.audit.len().saturating_sub(1) as isize;
                state.audit_selected = (state.audit_selected as isize)
                    .saturating_add(delta)
                    .clamp(0, last) as usize;
                return vec![];
            }
            if state.screen == Screen::Dashboard {
                state.screen = Screen::Members;
            }
            state.move_selection(delta);
            return detail_follow(state);
        }
        Command::Audit => {
            state.screen = Screen::Audit;
            return vec![Effect::LoadAudit {
                filter: state.audit_filter.value().to_string(),
            }];
        }
        Command::Search if state.screen == Screen::Audit => state.searching = true,
        Command::Import => return import_flow::open(state, None, Default::default()),
        Command::Search => {
            state.screen = Screen::Members;
            state.searching = true;
        }
        Command::Palette => state.palette = Some(Input::default()),
        Command::Open => match state.screen {
            Screen::Dashboard => state.screen = Screen::Members,
            _ => {
                if let Some((index, _)) = state.selected_entry() {
                    state.screen = Screen::Detail;
                    state.searching = false;
                    return state.detail_effects(index);
                }
            }
        },
        Command::Resend if !state.marked.is_empty() => {
            actions::request_bulk(state, JobKind::Resend)
        }
        Command::SetRecovery if state.aruba_mode() => actions::request_aruba_fix(state),
        Command::SetRecovery if !state.marked.is_empty() => {
            actions::request_bulk(state, JobKind::SetRecovery)
        }
        Command::SetRecovery => return actions::open_recovery_form(state),
        Command::ResetPassword => actions::open_password_form(state),
        Command::Mark => {
            if let Some((_, entry)) = state.selected_entry() {
                let address = entry.address().to_string();
                if !state.marked.remove(&address) {
                    state.marked.insert(address);
                }
                state.move_selection(1);
            }
        }
        Command::MarkAll => {
            let visible: Vec<String> = state
                .visible
                .iter()
                .map(|&i| state.entries.row(i).address().to_string())
                .collect();
            // A second press unmarks what the first one marked.
            if visible.iter().all(|a| state.marked.contains(a)) {
                for address in &visible {
                    state.marked.remove(address);
                }
            } else {
                state.marked.extend(visible);
            }
        }
        Command::Jobs => {
            if state.job.is_some() {
                state.modal = Some(Modal::Job);
            }
        }
        Command::Resend => {
            let Some((index, entry)) = state.selected_entry() else {
                return vec![];
            };
            match entry.mailbox() {
                None => state.status(Level::Error, state.t(T::ResendNoMailbox)),
                Some(mailbox) if !mailbox.can_receive_recovery_email() => {
                    state.status(Level::Error, state.t(T::ResendNoContact))
                }
                // The masked address it goes to comes with the full entry.
                Some(_) => {
                    state.modal = Some(Modal::ConfirmResend { entry: index });
                    return state.load_entry(index);
                }
            }
        }
        Command::Sync => {
            if !state.sync_running {
                state.sync_running = true;
                state.status(Level::Info, state.t(T::SyncRunning));
                return vec![Effect::Sync];
            }
        }
        Command::SortNext => {
            let sort = Sort {
                column: state.sort.column.next(),
                descending: false,
            };
            return state.set_sort(sort);
        }
        Command::SortReverse => {
            let sort = Sort {
                descending: !state.sort.descending,
                ..state.sort
            };
            return state.set_sort(sort);
        }
        Command::Filter => {
            state.modal = Some(Modal::Filter {
                cursor: 0,
                chosen: state.filter.clone(),
            })
        }
        Command::ClearFilter => state.set_filter(BTreeSet::new()),
        Command::CallScript => return phone::open_call_script(state),
        Command::Remind => return remind::open(state),
        Command::NotReminded => {
            state.palette = Some(Input::new("notreminded ".to_string()));
        }
        Command::Chase(category) => {
            state.search.reset();
            state.searching = false;
            state.screen = Screen::Members;
            state.set_filter(BTreeSet::from([category]));
            state.selected = 0;
        }
    }
    vec![]
}

/// How far a movement command moves the cursor, `page` rows to a page.
fn movement(command: Command, page: usize) -> isize {
    let page = page.max(1) as isize;
    match command {
        Command::Up => -1,
        Command::Down => 1,
        Command::PageUp => -page,
        Command::PageDown => page,
        Command::Top => isize::MIN,
        _ => isize::MAX,
    }
}

/// Whether an action is a result from the background, which reaches the
/// state whatever modal is open. Every action is listed, so a new one must be
/// classified here: a result swallowed by a modal is lost.
fn is_result(action: &Action) -> bool {
    match action {
        Action::Tick(_)
        | Action::Loaded(_)
        | Action::Indexed(_)
        | Action::Counted(_)
        | Action::CountedEarlier(_)
        | Action::Searched(_)
        | Action::SyncFinished(_)
        | Action::TimelineLoaded { .. }
        | Action::ResendFinished { .. }
        | Action::ActionFinished { .. }
        | Action::PasswordResetFinished { .. }
        | Action::JobStarted(_)
        | Action::JobProgress { .. }
        | Action::JobFinished { .. }
        | Action::Unfinished(_)
        | Action::AuditLoaded(_)
        | Action::SyncProgress { .. }
        | Action::Exported(_)
        | Action::ImportProgress { .. }
        | Action::ImportPreviewed { .. }
        | Action::ImportDone(_)
        | Action::SyncSkipped(_)
        | Action::OutreachLoaded(_)
        | Action::TrailLoaded { .. }
        | Action::ReceiptsRead(_)
        | Action::CampaignPrepared(_)
        | Action::InDoubtLoaded(_)
        | Action::InDoubtResolved(_) => true,
        Action::ReportPreviewed { .. } | Action::ReportDone(_) | Action::LastReport(_) => true,
        Action::EntryLoaded { .. } | Action::Sorted(_) => true,
        Action::IniPec(action) => action.is_result(),
        Action::Command(_)
        | Action::SelectRow(_)
        | Action::SearchEdit(_)
        | Action::SearchDone
        | Action::PaletteEdit(_)
        | Action::PaletteComplete
        | Action::PaletteRun
        | Action::SetFilter(_)
        | Action::SetSort(_)
        | Action::SetLang(_)
        | Action::Export { .. }
        | Action::Import { .. }
        | Action::ModalMove(_)
        | Action::ModalToggle
        | Action::FormEdit(_)
        | Action::FormNextField
        | Action::FormGenerate
        | Action::JobPause
        | Action::JobCancel
        | Action::JobRetry
        | Action::Copy
        | Action::Confirm
        | Action::Cancel
        | Action::Who(_)
        | Action::NotRemindedFor(_)
        | Action::ReadReceipts
        | Action::DoubtDecide(_)
        | Action::OpenInDoubt => false,
    }
}

/// In the detail screen, moving the cursor shows the new entry's timeline.
fn detail_follow(state: &State) -> Vec<Effect> {
    match (state.screen, state.selected_entry()) {
        (Screen::Detail, Some((index, _))) => state.detail_effects(index),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests;
