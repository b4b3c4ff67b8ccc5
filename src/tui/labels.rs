//! The catalog's words for domain states.

use crate::app::Command;
use crate::domain::{Category, MigrationState, PasswordState};
use crate::i18n::T;

pub fn migration(state: MigrationState) -> T {
    match state {
        MigrationState::NotStarted => T::MigNotStarted,
        MigrationState::Completed => T::MigCompleted,
        MigrationState::FailedCredentials => T::MigFailedCredentials,
        MigrationState::FailedTwoFactor => T::MigFailed2fa,
    }
}

pub fn password(state: PasswordState) -> T {
    match state {
        PasswordState::NotSet => T::PwNotSet,
        PasswordState::Set => T::PwSet,
        PasswordState::ResetPending => T::PwResetPending,
        PasswordState::LinkExpired => T::PwLinkExpired,
    }
}

/// A narrower word for the table's column.
pub fn migration_short(state: MigrationState) -> T {
    match state {
        MigrationState::FailedCredentials => T::ShortMigFailedCredentials,
        MigrationState::FailedTwoFactor => T::ShortMigFailed2fa,
        other => migration(other),
    }
}

pub fn category(category: Category) -> T {
    match category {
        Category::NotMigrated => T::CatNotMigrated,
        Category::Migrated => T::CatMigrated,
        Category::FailedCredentials => T::CatFailedCredentials,
        Category::Failed2fa => T::CatFailed2fa,
        Category::LinkPending => T::CatLinkPending,
        Category::LinkExpired => T::CatLinkExpired,
        Category::NoRecoveryContact => T::CatNoRecoveryContact,
        Category::Removed => T::CatRemoved,
        Category::ExternalPec => T::CatExternalPec,
        Category::NoMailbox => T::CatNoMailbox,
        Category::NoMember => T::CatNoMember,
        Category::PecUndelivered => T::CatPecUndelivered,
        Category::ArubaNoContact => T::CatArubaNoContact,
        Category::ArubaContactDiffers => T::CatArubaContactDiffers,
        Category::ArubaSuspended => T::CatArubaSuspended,
        Category::ArubaNoMailbox => T::CatArubaNoMailbox,
    }
}

/// What a command does, for the help.
pub fn command(command: Command) -> T {
    match command {
        Command::Quit => T::KeyQuit,
        Command::Back => T::KeyBack,
        Command::Help => T::KeyHelp,
        Command::NextScreen => T::KeyNextScreen,
        Command::Dashboard => T::KeyDashboard,
        Command::Members => T::KeyMembers,
        Command::Up => T::KeyUp,
        Command::Down => T::KeyDown,
        Command::PageUp => T::KeyPageUp,
        Command::PageDown => T::KeyPageDown,
        Command::Top => T::KeyTop,
        Command::Bottom => T::KeyBottom,
        Command::Search => T::KeySearch,
        Command::Palette => T::KeyPalette,
        Command::Open => T::KeyOpen,
        Command::Resend => T::KeyResend,
        Command::Sync => T::KeySync,
        Command::SortNext => T::KeySortNext,
        Command::SortReverse => T::KeySortReverse,
        Command::Filter => T::KeyFilter,
        Command::ClearFilter => T::KeyClearFilter,
        Command::Mark => T::KeyMark,
        Command::MarkAll => T::KeyMarkAll,
        Command::SetRecovery => T::KeySetRecovery,
        Command::ResetPassword => T::KeyResetPassword,
        Command::Jobs => T::KeyJobs,
        Command::Audit => T::KeyAudit,
        Command::Import => T::KeyImport,
        Command::Chase(c) => category(c),
        Command::CallScript => T::DxKeyCallScript,
        Command::NotReminded => T::HelpNotReminded,
        Command::Remind => T::KeyRemind,
    }
}
