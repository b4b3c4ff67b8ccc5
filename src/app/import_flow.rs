//! The console's import: type (Tab completes) the path of a roster, see what
//! the import would do, confirm or cancel. A provider's report of mailbox
//! states (`:sync report FILE`) goes through the same steps.

use std::path::{Path, PathBuf};

use tui_input::Input;

use chrono::{DateTime, Utc};

use super::{Action, Effect, Modal, State};
use crate::import::ImportPlan;
use crate::sync::report_load::{ReportPreview, ReportRequest};

/// Which kind of file the flow loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportKind {
    /// The albo.
    #[default]
    Roster,
    /// A provider's report of mailbox states; `as_of` dates it when no
    /// column does.
    Report {
        as_of: Option<DateTime<Utc>>,
        partial: bool,
    },
}

/// The import's steps, as the modal shows them.
#[derive(Debug, Clone)]
pub enum ImportStep {
    /// Typing the path.
    Path {
        input: Input,
        error: Option<String>,
        kind: ImportKind,
    },
    /// Reading and checking the file.
    Reading {
        path: PathBuf,
        rows: usize,
        kind: ImportKind,
    },
    /// What it would do; `partial` only adds and updates.
    Preview {
        path: PathBuf,
        partial: bool,
        plan: Box<ImportPlan>,
        source: String,
    },
    /// What storing a report would change, and its date.
    ReportPreview {
        request: ReportRequest,
        preview: Box<ReportPreview>,
    },
    /// Writing it, in one transaction.
    Importing { path: PathBuf, kind: ImportKind },
}

impl ImportStep {
    /// The kind of file this step is about.
    pub fn kind(&self) -> ImportKind {
        match self {
            Self::Path { kind, .. } | Self::Reading { kind, .. } | Self::Importing { kind, .. } => {
                *kind
            }
            Self::Preview { .. } => ImportKind::Roster,
            Self::ReportPreview { request, .. } => ImportKind::Report {
                as_of: request.as_of,
                partial: request.partial,
            },
        }
    }
}

pub fn open(state: &mut State, path: Option<String>) -> Vec<Effect> {
    match path {
        // `:import FILE` goes straight to the preview.
        Some(path) => read(state, PathBuf::from(path), false),
        None => {
            state.modal = Some(Modal::Import(ImportStep::Path {
                input: Input::default(),
                error: None,
                kind: ImportKind::Roster,
            }));
            vec![]
        }
    }
}

/// `:sync report [FILE]`: straight to the report's preview, or its path first.
pub fn open_report(
    state: &mut State,
    path: Option<String>,
    as_of: Option<DateTime<Utc>>,
    partial: bool,
) -> Vec<Effect> {
    let kind = ImportKind::Report { as_of, partial };
    match path {
        Some(path) => read_kind(state, PathBuf::from(path), kind),
        None => {
            state.modal = Some(Modal::Import(ImportStep::Path {
                input: Input::default(),
                error: None,
                kind,
            }));
            vec![]
        }
    }
}

/// Reads a file of either kind, off the UI thread.
fn read_kind(state: &mut State, path: PathBuf, kind: ImportKind) -> Vec<Effect> {
    match kind {
        ImportKind::Roster => read(state, path, false),
        ImportKind::Report { as_of, partial } => {
            state.modal = Some(Modal::Import(ImportStep::Reading {
                path: path.clone(),
                rows: 0,
                kind,
            }));
            vec![Effect::PreviewReport(ReportRequest {
                path,
                partial,
                as_of,
                domain: Some(state.pec_domain.clone()),
            })]
        }
    }
}

fn read(state: &mut State, path: PathBuf, partial: bool) -> Vec<Effect> {
    state.modal = Some(Modal::Import(ImportStep::Reading {
        path: path.clone(),
        rows: 0,
        kind: ImportKind::Roster,
    }));
    vec![Effect::PreviewImport { path, partial }]
}

/// Completes the last path component when only one entry of its directory
/// starts with it (a directory gets its `/`).
pub fn complete_path(typed: &str) -> Option<String> {
    let path = Path::new(typed);
    let (dir, prefix) = if typed.ends_with('/') {
        (path, "")
    } else {
        (
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
            path.file_name()?.to_str()?,
        )
    };
    let mut matches = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix))
        });
    let only = matches.next()?;
    if matches.next().is_some() {
        return None;
    }
    let mut completed = if typed.ends_with('/') || !typed.contains('/') && dir == Path::new(".") {
        if typed.ends_with('/') {
            PathBuf::from(typed).join(only.file_name())
        } else {
            PathBuf::from(only.file_name())
        }
    } else {
        dir.join(only.file_name())
    }
    .to_string_lossy()
    .into_owned();
    if only.file_type().is_ok_and(|t| t.is_dir()) {
        completed.push('/');
    }
    Some(completed)
}

pub fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    let no_path = state.t(crate::i18n::T::ImportNoPath);
    let Some(Modal::Import(step)) = &mut state.modal else {
        return None;
    };
    let cancel = matches!(
        action,
        Action::Cancel | Action::Command(super::Command::Back)
    );
    let effects = match (step, action) {
        (
            _,
            Action::ImportPreviewed { .. }
            | Action::ImportProgress { .. }
            | Action::ImportDone(_)
            | Action::ReportPreviewed { .. }
            | Action::ReportDone(_),
        ) => {
            return None;
        }
        (ImportStep::Path { input, error, .. }, Action::FormEdit(request)) => {
            input.handle(*request);
            *error = None;
            vec![]
        }
        (ImportStep::Path { input, .. }, Action::FormNextField) => {
            if let Some(completed) = complete_path(input.value()) {
                *input = Input::new(completed);
            }
            vec![]
        }
        (ImportStep::Path { input, error, kind }, Action::Confirm) => {
            let typed = input.value().trim().to_string();
            if typed.is_empty() {
                *error = Some(no_path.to_string());
                return Some(vec![]);
            }
            let kind = *kind;
            read_kind(state, PathBuf::from(typed), kind)
        }
        (ImportStep::ReportPreview { request, .. }, Action::ModalToggle) => {
            let kind = ImportKind::Report {
                as_of: request.as_of,
                partial: !request.partial,
            };
            let path = request.path.clone();
            read_kind(state, path, kind)
        }
        // Stored even when nothing changed: the report still dates the states.
        (ImportStep::ReportPreview { request, .. }, Action::Confirm) => {
            let request = request.clone();
            state.modal = Some(Modal::Import(ImportStep::Importing {
                path: request.path.clone(),
                kind: ImportKind::Report {
                    as_of: request.as_of,
                    partial: request.partial,
                },
            }));
            vec![Effect::RunReport(request)]
        }
        (ImportStep::Preview { path, partial, .. }, Action::ModalToggle) => {
            let (path, partial) = (path.clone(), !*partial);
            read(state, path, partial)
        }
        (
            ImportStep::Preview {
                path,
                partial,
                plan,
                ..
            },
            Action::Confirm,
        ) => {
            if plan.counts.new + plan.counts.updated + plan.counts.removed == 0
                && plan.rejected == 0
            {
                state.modal = None;
                return Some(vec![]);
            }
            let (path, partial) = (path.clone(), *partial);
            state.modal = Some(Modal::Import(ImportStep::Importing {
                path: path.clone(),
                kind: ImportKind::Roster,
            }));
            vec![Effect::RunImport { path, partial }]
        }
        (ImportStep::Reading { .. } | ImportStep::Importing { .. }, _) => vec![],
        (_, _) if cancel => {
            state.modal = None;
            vec![]
        }
        _ => vec![],
    };
    Some(effects)
}

/// Results of the import's effects.
pub fn on_result(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::ImportProgress { rows } => {
            if let Some(Modal::Import(ImportStep::Reading { rows: shown, .. })) = &mut state.modal {
                *shown = rows;
            }
            vec![]
        }
        Action::ImportPreviewed {
            path,
            partial,
            result,
        } => {
            // Only if the staff member is still waiting for this preview.
            if !matches!(&state.modal, Some(Modal::Import(ImportStep::Reading { path: p, .. })) if *p == path)
            {
                return vec![];
            }
            state.modal = Some(Modal::Import(match result {
                Ok((plan, source)) => ImportStep::Preview {
                    path,
                    partial,
                    plan,
                    source,
                },
                Err(error) => ImportStep::Path {
                    input: Input::new(path.display().to_string()),
                    error: Some(error),
                    kind: ImportKind::Roster,
                },
            }));
            vec![]
        }
        Action::ReportPreviewed { request, result } => {
            if !matches!(&state.modal, Some(Modal::Import(ImportStep::Reading { path: p, .. })) if *p == request.path)
            {
                return vec![];
            }
            let kind = ImportKind::Report {
                as_of: request.as_of,
                partial: request.partial,
            };
            state.modal = Some(Modal::Import(match result {
                Ok(preview) => ImportStep::ReportPreview { request, preview },
                Err(error) => ImportStep::Path {
                    input: Input::new(request.path.display().to_string()),
                    error: Some(error),
                    kind,
                },
            }));
            vec![]
        }
        Action::ImportDone(result) | Action::ReportDone(result) => {
            if matches!(
                &state.modal,
                Some(Modal::Import(ImportStep::Importing { .. }))
            ) {
                state.modal = None;
            }
            match result {
                Ok(text) => state.status(super::Level::Info, text),
                Err(e) => state.status(super::Level::Error, e),
            }
            vec![Effect::Load]
        }
        _ => vec![],
    }
}
