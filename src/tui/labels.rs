//! The catalog's words for domain states.

use crate::domain::{MigrationState, PasswordState};
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
