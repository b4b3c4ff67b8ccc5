//! The user's intents that keys can be bound to and the palette can run, by name.

use crate::domain::Category;

/// The dashboard's lists, defined with its figures below the console.
pub use crate::domain::summary::{CHASE, CHASE_ARUBA};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Quit,
    Back,
    Help,
    NextScreen,
    Dashboard,
    Members,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Search,
    Palette,
    Open,
    Resend,
    Sync,
    SortNext,
    SortReverse,
    Filter,
    ClearFilter,
    /// Mark or unmark the selected member for a bulk action.
    Mark,
    /// Mark (or unmark) everything the current filter and search show.
    MarkAll,
    SetRecovery,
    ResetPassword,
    /// Show the bulk job's progress.
    Jobs,
    /// The audit trail.
    Audit,
    /// Import a roster file.
    Import,
    /// Open the member table filtered on one "to chase" list.
    Chase(Category),
    /// The selected member's call script (what to read aloud).
    CallScript,
    /// The `:` line with `notreminded `: only members not reminded for N days.
    NotReminded,
    /// Remind the marked members, or those the table shows, by e-mail or PEC.
    Remind,
}

impl Command {
    /// Every command, for the help and the config file's key overrides.
    pub fn all() -> Vec<Command> {
        let mut all = vec![
            Command::Quit,
            Command::Back,
            Command::Help,
            Command::NextScreen,
            Command::Dashboard,
            Command::Members,
            Command::Up,
            Command::Down,
            Command::PageUp,
            Command::PageDown,
            Command::Top,
            Command::Bottom,
            Command::Search,
            Command::Palette,
            Command::Open,
            Command::Resend,
            Command::Sync,
            Command::SortNext,
            Command::SortReverse,
            Command::Filter,
            Command::ClearFilter,
            Command::Mark,
            Command::MarkAll,
            Command::SetRecovery,
            Command::ResetPassword,
            Command::Jobs,
            Command::Audit,
            Command::Import,
            Command::CallScript,
            Command::NotReminded,
            Command::Remind,
        ];
        all.extend(CHASE.iter().map(|&c| Command::Chase(c)));
        all.extend(CHASE_ARUBA.iter().map(|&c| Command::Chase(c)));
        all.push(Command::Chase(Category::PecUndelivered));
        all
    }

    /// The name used in the config file (`[keys]`) and the palette.
    pub fn name(self) -> String {
        let fixed = match self {
            Command::Quit => "quit",
            Command::Back => "back",
            Command::Help => "help",
            Command::NextScreen => "next_screen",
            Command::Dashboard => "dashboard",
            Command::Members => "members",
            Command::Up => "up",
            Command::Down => "down",
            Command::PageUp => "page_up",
            Command::PageDown => "page_down",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::Search => "search",
            Command::Palette => "palette",
            Command::Open => "open",
            Command::Resend => "resend",
            Command::Sync => "sync",
            Command::SortNext => "sort_next",
            Command::SortReverse => "sort_reverse",
            Command::Filter => "filter",
            Command::ClearFilter => "clear_filter",
            Command::Mark => "mark",
            Command::MarkAll => "mark_all",
            Command::SetRecovery => "set_recovery",
            Command::ResetPassword => "reset_password",
            Command::Jobs => "jobs",
            Command::Audit => "audit",
            Command::Import => "import",
            Command::CallScript => "call_script",
            Command::NotReminded => "not_reminded",
            Command::Remind => "remind",
            Command::Chase(category) => return format!("chase_{}", category.code()),
        };
        fixed.to_string()
    }

    pub fn from_name(name: &str) -> Option<Command> {
        Command::all().into_iter().find(|c| c.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for command in Command::all() {
            assert_eq!(Command::from_name(&command.name()), Some(command));
        }
    }
}
