//! The console's state and its transitions, free of terminal and I/O:
//! `update(&mut State, Action) -> Vec<Effect>`; the runtime performs the effects
//! and feeds their results back as actions.

#[cfg(test)]
pub(crate) mod fixtures;
mod summary;

use chrono::{DateTime, Utc};
use tui_input::{Input, InputRequest};

use crate::i18n::{Lang, T};
use crate::provider::api::ResendResponse;
use crate::store::{Event, RosterEntry, SyncRun};
pub use summary::{Summary, migration_index, password_index};

/// What the roster and sync look like, as loaded from the store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub entries: Vec<RosterEntry>,
    pub last_sync: Option<SyncRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Members,
    Detail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    Help,
    /// "Resend the recovery e-mail to this entry?"
    ConfirmResend {
        entry: usize,
    },
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
    pub now: DateTime<Utc>,
    pub screen: Screen,
    pub modal: Option<Modal>,
    pub loaded: bool,
    pub entries: Vec<RosterEntry>,
    pub summary: Summary,
    /// Indices into `entries` that the search lets through, in display order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub selected: usize,
    /// First visible row of the table; kept by the view so scrolling is stable.
    pub table_offset: std::cell::Cell<usize>,
    /// Rows the table showed last time (for paging).
    pub page_rows: std::cell::Cell<usize>,
    pub search: Input,
    pub searching: bool,
    /// The timeline of the entry open in the detail, with the entry it is for.
    pub timeline: Option<(usize, Vec<Event>)>,
    pub last_sync: Option<SyncRun>,
    pub sync_running: bool,
    /// Addresses with a resend in flight.
    pub resends_in_flight: std::collections::HashSet<String>,
    pub status: Option<(Level, String)>,
    pub quit: bool,
}

/// What the user or the background asks for.
#[derive(Debug, Clone)]
pub enum Action {
    Quit,
    Back,
    ToggleHelp,
    NextScreen,
    ShowDashboard,
    ShowMembers,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Select the row at this position of the visible list (mouse click).
    SelectRow(usize),
    OpenDetail,
    StartSearch,
    SearchEdit(InputRequest),
    SearchDone,
    RequestResend,
    Confirm,
    Cancel,
    SyncNow,
    Tick(DateTime<Utc>),
    // Results of effects.
    Loaded(Result<Snapshot, String>),
    SyncFinished(Result<String, String>),
    TimelineLoaded {
        entry: usize,
        events: Vec<Event>,
    },
    ResendFinished {
        address: String,
        result: Result<ResendResponse, String>,
    },
}

/// Work for the runtime; results come back as [`Action`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Load,
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
}

impl State {
    pub fn new(lang: Lang, pec_domain: &str, ordine: &str, now: DateTime<Utc>) -> Self {
        Self {
            lang,
            pec_domain: pec_domain.to_string(),
            ordine: ordine.to_string(),
            now,
            screen: Screen::Dashboard,
            modal: None,
            loaded: false,
            entries: Vec::new(),
            summary: Summary::default(),
            visible: Vec::new(),
            selected: 0,
            table_offset: Default::default(),
            page_rows: std::cell::Cell::new(10),
            search: Input::default(),
            searching: false,
            timeline: None,
            last_sync: None,
            sync_running: false,
            resends_in_flight: Default::default(),
            status: None,
            quit: false,
        }
    }

    pub fn t(&self, text: T) -> &'static str {
        text.get(self.lang)
    }

    /// The entry under the cursor.
    pub fn selected_entry(&self) -> Option<(usize, &RosterEntry)> {
        let index = *self.visible.get(self.selected)?;
        Some((index, &self.entries[index]))
    }

    fn set_snapshot(&mut self, snapshot: Snapshot) {
        let keep = self.selected_entry().map(|(_, e)| e.address().to_string());
        self.entries = snapshot.entries;
        self.last_sync = snapshot.last_sync;
        self.summary = Summary::compute(&self.entries, &self.pec_domain, self.now);
        self.loaded = true;
        self.apply_search(keep.as_deref());
    }

    /// Recomputes `visible` from the search text, keeping `keep` selected if it is
    /// still shown.
    fn apply_search(&mut self, keep: Option<&str>) {
        let terms: Vec<String> = self
            .search
            .value()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.visible = (0..self.entries.len())
            .filter(|&i| terms.is_empty() || entry_matches(&self.entries[i], &terms))
            .collect();
        self.visible
            .sort_by(|&a, &b| sort_key(&self.entries[a]).cmp(&sort_key(&self.entries[b])));
        self.selected = keep
            .and_then(|address| {
                self.visible
                    .iter()
                    .position(|&i| self.entries[i].address() == address)
            })
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    fn move_selection(&mut self, delta: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }

    fn status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some((level, text.into()));
    }

    fn timeline_effect(&self, entry: usize) -> Effect {
        let e = &self.entries[entry];
        Effect::LoadTimeline {
            entry,
            member_id: e.member_id,
            address: e.address().to_string(),
        }
    }
}

fn sort_key(entry: &RosterEntry) -> (u8, String, String, &str) {
    match &entry.member {
        Some(m) => (
            0,
            m.cognome.to_lowercase(),
            m.nome.to_lowercase(),
            entry.address(),
        ),
        None => (1, String::new(), String::new(), entry.address()),
    }
}

/// Every search term must match some field (cognome, nome, codice fiscale, PEC,
/// numero iscrizione), so "rossi mar" finds "Rossi Maria".
fn entry_matches(entry: &RosterEntry, terms: &[String]) -> bool {
    let address = entry.address().to_lowercase();
    terms.iter().all(|term| {
        address.contains(term.as_str())
            || entry.member.as_ref().is_some_and(|m| {
                m.cognome.to_lowercase().contains(term.as_str())
                    || m.nome.to_lowercase().contains(term.as_str())
                    || m.codice_fiscale.to_lowercase().contains(term.as_str())
                    || m.numero_iscrizione.to_lowercase() == *term
            })
    })
}

/// Applies one action and returns the effects to perform.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    // While a modal is open, keys go to it.
    if let Some(modal) = state.modal.clone() {
        match (&modal, &action) {
            (Modal::Help, Action::ToggleHelp | Action::Back | Action::Cancel) => {
                state.modal = None;
                return vec![];
            }
            (Modal::ConfirmResend { entry }, Action::Confirm) => {
                state.modal = None;
                let member_id = state.entries[*entry].member_id;
                let address = state.entries[*entry].address().to_string();
                state.resends_in_flight.insert(address.clone());
                state.status(
                    Level::Info,
                    format!("{} {}", state.t(T::ResendInFlight), address),
                );
                return vec![Effect::Resend { member_id, address }];
            }
            (Modal::ConfirmResend { .. }, Action::Cancel | Action::Back) => {
                state.modal = None;
                return vec![];
            }
            (_, Action::Quit) => {}
            (_, a) if is_result(a) => {}
            _ => return vec![],
        }
    }
    match action {
        Action::Quit => {
            state.quit = true;
            vec![]
        }
        Action::Back => {
            if state.searching {
                state.searching = false;
                state.search.reset();
                state.apply_search(None);
            } else {
                state.screen = match state.screen {
                    Screen::Detail => Screen::Members,
                    _ => Screen::Dashboard,
                };
            }
            vec![]
        }
        Action::ToggleHelp => {
            state.modal = Some(Modal::Help);
            vec![]
        }
        Action::NextScreen => {
            state.screen = match state.screen {
                Screen::Dashboard => Screen::Members,
                _ => Screen::Dashboard,
            };
            vec![]
        }
        Action::ShowDashboard => {
            state.screen = Screen::Dashboard;
            vec![]
        }
        Action::ShowMembers => {
            state.screen = Screen::Members;
            vec![]
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            if state.screen == Screen::Dashboard {
                state.screen = Screen::Members;
            }
            let page = state.page_rows.get().max(1) as isize;
            let delta = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -page,
                Action::PageDown => page,
                Action::Top => isize::MIN / 2,
                _ => isize::MAX / 2,
            };
            state.move_selection(delta);
            detail_follow(state)
        }
        Action::SelectRow(position) => {
            if position < state.visible.len() {
                state.selected = position;
            }
            detail_follow(state)
        }
        Action::OpenDetail => match state.selected_entry() {
            Some((index, _)) => {
                state.screen = Screen::Detail;
                state.searching = false;
                vec![state.timeline_effect(index)]
            }
            None => vec![],
        },
        Action::StartSearch => {
            state.screen = Screen::Members;
            state.searching = true;
            vec![]
        }
        Action::SearchEdit(request) => {
            let keep = state.selected_entry().map(|(_, e)| e.address().to_string());
            state.search.handle(request);
            state.apply_search(keep.as_deref());
            vec![]
        }
        Action::SearchDone => {
            state.searching = false;
            vec![]
        }
        Action::RequestResend => {
            let Some((index, entry)) = state.selected_entry() else {
                return vec![];
            };
            match &entry.mailbox {
                None => state.status(Level::Error, state.t(T::ResendNoMailbox)),
                Some(mailbox) if !mailbox.can_receive_recovery_email() => {
                    state.status(Level::Error, state.t(T::ResendNoContact))
                }
                Some(_) => state.modal = Some(Modal::ConfirmResend { entry: index }),
            }
            vec![]
        }
        Action::Confirm | Action::Cancel => vec![],
        Action::SyncNow => {
            if state.sync_running {
                return vec![];
            }
            state.sync_running = true;
            state.status(Level::Info, state.t(T::SyncRunning));
            vec![Effect::Sync]
        }
        Action::Tick(now) => {
            state.now = now;
            vec![]
        }
        Action::Loaded(Ok(snapshot)) => {
            state.set_snapshot(snapshot);
            match (&state.screen, state.timeline.as_ref()) {
                (Screen::Detail, Some((entry, _))) if *entry < state.entries.len() => {
                    vec![state.timeline_effect(*entry)]
                }
                _ => vec![],
            }
        }
        Action::Loaded(Err(error)) => {
            state.status(
                Level::Error,
                format!("{}: {error}", state.t(T::ErrorPrefix)),
            );
            vec![]
        }
        Action::SyncFinished(result) => {
            state.sync_running = false;
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
            state.resends_in_flight.remove(&address);
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
    }
}

fn is_result(action: &Action) -> bool {
    matches!(
        action,
        Action::Tick(_)
            | Action::Loaded(_)
            | Action::SyncFinished(_)
            | Action::TimelineLoaded { .. }
            | Action::ResendFinished { .. }
    )
}

/// In the detail screen, moving the cursor shows the new entry's timeline.
fn detail_follow(state: &State) -> Vec<Effect> {
    match (state.screen, state.selected_entry()) {
        (Screen::Detail, Some((index, _))) => vec![state.timeline_effect(index)],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests;
