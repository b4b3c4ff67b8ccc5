//! The console's import: type (Tab completes) the path of a roster, see what
//! the import would do, confirm or cancel. A provider's report of mailbox
//! states (`:sync report FILE`) goes through the same steps.

use std::path::{Path, PathBuf};

use tui_input::Input;

use super::{Action, Effect, Modal, State};
use crate::import::ImportPlan;
use crate::sync::report_load::{ReportPreview, ReportRequest};

/// Which kind of file the flow loads, with what was asked besides its path
/// (the request's path is empty until it is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKind {
    /// The albo.
    Roster(RosterRequest),
    /// A provider's report of mailbox states.
    Report(ReportRequest),
}

impl Default for ImportKind {
    fn default() -> Self {
        Self::Roster(RosterRequest::default())
    }
}

impl ImportKind {
    /// The same kind with "only add and update" switched.
    fn toggled(mut self) -> Self {
        match &mut self {
            Self::Roster(RosterRequest { partial, .. })
            | Self::Report(ReportRequest { partial, .. }) => *partial = !*partial,
        }
        self
    }

    /// The same kind, about the file at `path`.
    fn at(mut self, path: PathBuf) -> Self {
        match &mut self {
            Self::Roster(request) => request.path = path,
            Self::Report(request) => request.path = path,
        }
        self
    }

    /// The file's path, empty until it is known.
    pub fn path(&self) -> &Path {
        match self {
            Self::Roster(request) => &request.path,
            Self::Report(request) => &request.path,
        }
    }
}

/// A roster to read, as `:import FILE [--partial] [--sheet S] [--table T]` asks:
/// `partial` only adds and updates; `sheet` and `table` pick a workbook's
/// sheet or a database's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterRequest {
    pub path: PathBuf,
    pub partial: bool,
    pub sheet: Option<String>,
    pub table: Option<String>,
}

impl RosterRequest {
    /// How the import reads and reconciles it.
    pub fn options(&self) -> crate::import::ImportOptions {
        crate::import::ImportOptions {
            partial: self.partial,
            sheet: self.sheet.clone(),
            table: self.table.clone(),
            ..Default::default()
        }
    }
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
    /// What it would do; `request.partial` only adds and updates.
    Preview {
        request: RosterRequest,
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
                kind.clone()
            }
            Self::Preview { request, .. } => ImportKind::Roster(request.clone()),
            Self::ReportPreview { request, .. } => ImportKind::Report(request.clone()),
        }
    }
}

/// `:import [FILE]` and `:sync report [FILE]`: straight to the preview, or
/// the path first.
pub fn open(state: &mut State, path: Option<String>, kind: ImportKind) -> Vec<Effect> {
    match path {
        Some(path) => read_kind(state, kind.at(PathBuf::from(path))),
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
fn read_kind(state: &mut State, kind: ImportKind) -> Vec<Effect> {
    state.modal = Some(Modal::Import(ImportStep::Reading {
        path: kind.path().to_path_buf(),
        rows: 0,
        kind: kind.clone(),
    }));
    match kind {
        ImportKind::Roster(request) => vec![Effect::PreviewImport(request)],
        ImportKind::Report(request) => vec![Effect::PreviewReport(ReportRequest {
            domain: Some(state.pec_domain.clone()),
            ..request
        })],
    }
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
            let kind = kind.clone().at(PathBuf::from(typed));
            read_kind(state, kind)
        }
        (
            step @ (ImportStep::Preview { .. } | ImportStep::ReportPreview { .. }),
            Action::ModalToggle,
        ) => {
            let kind = step.kind().toggled();
            read_kind(state, kind)
        }
        // Stored even when nothing changed: the report still dates the states.
        (ImportStep::ReportPreview { request, .. }, Action::Confirm) => {
            let request = request.clone();
            state.modal = Some(Modal::Import(ImportStep::Importing {
                path: request.path.clone(),
                kind: ImportKind::Report(request.clone()),
            }));
            vec![Effect::RunReport(request)]
        }
        (ImportStep::Preview { request, plan, .. }, Action::Confirm) => {
            if plan.counts.new + plan.counts.updated + plan.counts.removed == 0
                && plan.rejected == 0
            {
                state.modal = None;
                return Some(vec![]);
            }
            let request = request.clone();
            state.modal = Some(Modal::Import(ImportStep::Importing {
                path: request.path.clone(),
                kind: ImportKind::Roster(request.clone()),
            }));
            vec![Effect::RunImport(request)]
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

/// Back to the path, with why the file was not read.
fn retype(kind: ImportKind, error: String) -> ImportStep {
    ImportStep::Path {
        input: Input::new(kind.path().display().to_string()),
        error: Some(error),
        kind,
    }
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
        Action::ImportPreviewed { request, result } => {
            // Only if the staff member is still waiting for this preview.
            if !matches!(&state.modal, Some(Modal::Import(ImportStep::Reading { path: p, .. })) if *p == request.path)
            {
                return vec![];
            }
            state.modal = Some(Modal::Import(match result {
                Ok((plan, source)) => ImportStep::Preview {
                    request,
                    plan,
                    source,
                },
                Err(error) => retype(ImportKind::Roster(request), error),
            }));
            vec![]
        }
        Action::ReportPreviewed { request, result } => {
            if !matches!(&state.modal, Some(Modal::Import(ImportStep::Reading { path: p, .. })) if *p == request.path)
            {
                return vec![];
            }
            state.modal = Some(Modal::Import(match result {
                Ok(preview) => ImportStep::ReportPreview { request, preview },
                Err(error) => retype(ImportKind::Report(request), error),
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
