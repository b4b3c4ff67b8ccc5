//! The console's `:export FILE inipec [all]` (or `:export inipec [FILE]
//! [all]`): the counts per Stato code of the INI-PEC update, then, on
//! confirmation, the file written and recorded in the ledger, as `pecdesk
//! export --format inipec` does.

use std::path::PathBuf;

use super::{Action, Effect, Level, Modal, State};
use crate::export::inipec::PlannedFile;
use crate::i18n::T;

/// The INI-PEC export's steps, as the modal shows them.
#[derive(Debug, Clone)]
pub enum IniPecStep {
    /// Reading the roster and the ledger.
    Planning { path: PathBuf, all: bool },
    /// The counts; Enter writes.
    Preview {
        path: PathBuf,
        planned: Box<PlannedFile>,
    },
    /// Writing the file and recording it.
    Writing { path: PathBuf },
}

/// What the INI-PEC export asks for or hears back.
#[derive(Debug, Clone)]
pub enum IniPecAction {
    /// Plan the file for `path` (by default [`default_path`]; every
    /// position with `all`).
    Open {
        path: Option<PathBuf>,
        all: bool,
    },
    Planned(Result<Box<PlannedFile>, String>),
    Written(Result<String, String>),
}

impl IniPecAction {
    /// Whether this is an effect's result (delivered even under a modal).
    pub fn is_result(&self) -> bool {
        !matches!(self, IniPecAction::Open { .. })
    }
}

/// The INI-PEC effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniPecEffect {
    Plan {
        all: bool,
    },
    Write {
        path: PathBuf,
        planned: Box<PlannedFile>,
    },
}

/// The file a bare `:export inipec` writes: `inipec-YYYYMMDD.csv` here.
pub fn default_path(state: &State) -> PathBuf {
    let day = crate::i18n::italian_time(state.now).date();
    PathBuf::from(format!("inipec-{}.csv", day.format("%Y%m%d")))
}

/// Reads the palette's words after `export` when they ask for INI-PEC:
/// `inipec [FILE] [all]` or `FILE inipec [all]`.
pub fn parse(args: &[&str]) -> Option<(Option<PathBuf>, bool)> {
    let is_inipec = |w: &str| matches!(w.to_ascii_lowercase().as_str(), "inipec" | "ini-pec");
    let is_all = |w: &str| matches!(w, "all" | "tutte" | "--all");
    let (path, rest) = match args {
        [first, rest @ ..] if is_inipec(first) => match rest {
            [path, rest @ ..] if !is_all(path) => (Some(PathBuf::from(path)), rest),
            _ => (None, rest),
        },
        [path, format, rest @ ..] if is_inipec(format) => (Some(PathBuf::from(path)), rest),
        _ => return None,
    };
    Some((path, rest.iter().any(|w| is_all(w))))
}

/// Handles the INI-PEC actions outside the modal's keys.
pub fn on_action(state: &mut State, action: IniPecAction) -> Vec<Effect> {
    match action {
        IniPecAction::Open { path, all } => {
            let path = path.unwrap_or_else(|| default_path(state));
            state.modal = Some(Modal::IniPec(IniPecStep::Planning { path, all }));
            vec![Effect::IniPec(IniPecEffect::Plan { all })]
        }
        IniPecAction::Planned(result) => {
            let Some(Modal::IniPec(IniPecStep::Planning { path, .. })) = &state.modal else {
                return vec![];
            };
            let path = path.clone();
            match result {
                Ok(planned) if planned.plan.is_empty() => {
                    state.modal = None;
                    state.status(Level::Info, state.t(T::IniPecNothing).to_string());
                }
                Ok(planned) => {
                    state.modal = Some(Modal::IniPec(IniPecStep::Preview { path, planned }));
                }
                Err(e) => {
                    state.modal = None;
                    state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix)));
                }
            }
            vec![]
        }
        IniPecAction::Written(result) => {
            if matches!(
                &state.modal,
                Some(Modal::IniPec(IniPecStep::Writing { .. }))
            ) {
                state.modal = None;
            }
            match result {
                Ok(text) => state.status(Level::Info, text),
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix))),
            }
            vec![]
        }
    }
}

/// Keys while the INI-PEC modal is open: Enter writes the previewed file,
/// Esc cancels (not while writing: the write finishes and is recorded).
pub fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    let Some(Modal::IniPec(step)) = &state.modal else {
        return None;
    };
    let cancel = matches!(
        action,
        Action::Cancel | Action::Command(super::Command::Back)
    );
    let effects = match (step, action) {
        (IniPecStep::Preview { path, planned }, Action::Confirm) => {
            let (path, planned) = (path.clone(), planned.clone());
            state.modal = Some(Modal::IniPec(IniPecStep::Writing { path: path.clone() }));
            vec![Effect::IniPec(IniPecEffect::Write { path, planned })]
        }
        (IniPecStep::Writing { .. }, _) => vec![],
        (_, _) if cancel => {
            state.modal = None;
            vec![]
        }
        _ => vec![],
    };
    Some(effects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_palette_words_for_inipec() {
        let p = |line: &str| parse(&line.split_whitespace().collect::<Vec<_>>());
        assert_eq!(p("inipec"), Some((None, false)));
        assert_eq!(p("inipec all"), Some((None, true)));
        assert_eq!(p("inipec f.csv"), Some((Some("f.csv".into()), false)));
        assert_eq!(p("f.csv inipec tutte"), Some((Some("f.csv".into()), true)));
        assert_eq!(p("f.csv csv-excel"), None);
        assert_eq!(p("f.csv"), None);
    }
}
