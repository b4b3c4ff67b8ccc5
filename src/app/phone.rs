//! A member on the phone: the diagnosis of an entry, the call script window
//! (`d`, `y` copies it) and `:who QUERY`, which opens the detail when one
//! member matches.

use tui_input::Input;

use super::actions::Secret;
use super::{Action, Command, Effect, Level, Modal, Screen, State};
use crate::domain::diagnosis::{Diagnosis, Facts, diagnose};
use crate::i18n::T;

impl State {
    /// The diagnosis of entry `index`, as of the state's clock; None until
    /// the entry is read in full ([`State::full_entry`]).
    pub fn diagnosis(&self, index: usize) -> Option<Diagnosis> {
        let entry = self.full_entry(index)?;
        Some(diagnose(&Facts {
            member: entry.member.as_ref(),
            in_roster: entry.in_roster,
            mailbox: entry.mailbox.as_ref(),
            pec_domain: &self.pec_domain,
            cutover: self.cutover,
            now: self.now,
            last_reminder: super::outreach::last_reminder(self, index),
        }))
    }

    /// The call script of entry `index`, in the console's language.
    pub fn call_script(&self, index: usize) -> Option<String> {
        let row = self.entries.row(index);
        let name = row
            .has_member()
            .then(|| format!("{} {}", row.nome(), row.cognome()));
        Some(
            self.diagnosis(index)?
                .call_script(self.lang, name.as_deref()),
        )
    }
}

/// `d`: the selected entry's call script, once the entry is read in full.
pub(super) fn open_call_script(state: &mut State) -> Vec<Effect> {
    match state.selected_entry() {
        Some((entry, _)) => {
            state.modal = Some(Modal::CallScript { entry, scroll: 0 });
            state.load_entry(entry)
        }
        None => vec![],
    }
}

/// Keys while the call script is open; `None` when another modal is.
pub(super) fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    let Some(Modal::CallScript { entry, scroll }) = &mut state.modal else {
        return None;
    };
    let entry = *entry;
    match action {
        Action::ModalMove(delta) => {
            *scroll = (*scroll as isize + delta).clamp(0, u16::MAX as isize) as u16;
            Some(vec![])
        }
        Action::Copy => {
            // Personal data: it travels as a Secret, never printed in logs.
            let Some(script) = state.call_script(entry) else {
                state.status(Level::Info, state.t(T::Loading));
                return Some(vec![]);
            };
            state.status(Level::Info, state.t(T::DxCopied));
            Some(vec![Effect::Clipboard(Secret(script))])
        }
        Action::Cancel | Action::Confirm | Action::Command(Command::Back | Command::CallScript) => {
            state.modal = None;
            Some(vec![])
        }
        _ => Some(vec![]),
    }
}

/// `:who QUERY`: searches as `/` does and opens the detail when one entry matches.
pub(super) fn who(state: &mut State, query: &str) -> Vec<Effect> {
    let query = query.trim();
    state.search = Input::new(query.to_string());
    state.searching = false;
    state.screen = Screen::Members;
    state.refresh_visible(None);
    if state.indexing() {
        state.status(Level::Info, state.t(T::Indexing));
        return vec![];
    }
    match state.visible.len() {
        0 => {
            state.status(Level::Error, format!("{}: {query}", state.t(T::DxWhoNone)));
            vec![]
        }
        1 => super::run_command(state, Command::Open),
        n => {
            state.status(Level::Info, format!("{n} {}", state.t(T::DxWhoMany)));
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fixtures;
    use crate::app::update;
    use crate::i18n::Lang;

    #[test]
    fn who_opens_the_detail_of_the_one_member_that_matches() {
        let mut state = fixtures::state(Lang::It);
        let (cf, mobile) = state
            .entries
            .iter()
            .find_map(|e| Some((e.codice_fiscale().to_string(), e.cellulare()?.to_string())))
            .unwrap();
        let spoken = format!("{} {} {}", &mobile[3..6], &mobile[6..9], &mobile[9..]);
        let effects = update(&mut state, Action::Who(spoken));
        assert_eq!(state.screen, Screen::Detail, "{:?}", state.status);
        assert!(matches!(
            effects[..],
            [Effect::LoadTimeline { .. }, Effect::LoadEntry { .. }]
        ));
        let (index, entry) = state.selected_entry().unwrap();
        assert_eq!(entry.codice_fiscale(), cf);
        // No diagnosis until the entry is read in full.
        assert!(state.diagnosis(index).is_none());
        fixtures::perform(&mut state, effects);
        assert!(state.diagnosis(index).is_some());

        // `d` shows the call script, `y` copies it, Esc closes it.
        update(&mut state, Action::Command(Command::CallScript));
        assert!(matches!(state.modal, Some(Modal::CallScript { .. })));
        let effects = update(&mut state, Action::Copy);
        match &effects[..] {
            [Effect::Clipboard(secret)] => {
                assert_eq!(Some(&secret.0), state.call_script(index).as_ref())
            }
            other => panic!("{other:?}"),
        }
        update(&mut state, Action::Cancel);
        assert!(state.modal.is_none());

        update(&mut state, Action::Who("zzzzqqq".into()));
        assert_eq!(state.screen, Screen::Members);
        assert!(matches!(&state.status, Some((Level::Error, s)) if s.contains("zzzzqqq")));
    }
}
