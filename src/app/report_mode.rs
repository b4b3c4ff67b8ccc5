//! `provider = "report"`: an Ordine with no provider API. What needs the API
//! (sync, resend, recovery contacts, reset, alone or in bulk) is refused here,
//! before any modal opens or anything is queued, with a message saying why;
//! the states come from reports (`:sync report FILE`).

use super::{Action, Command, Effect, Level, Modal, State};
use crate::i18n::T;
use crate::store::JobKind;

/// Whether a job of this kind calls the provider's API (Aruba's jobs call
/// Aruba's partner API, which report mode leaves alone).
pub fn needs_provider_api(kind: JobKind) -> bool {
    matches!(kind, JobKind::Resend | JobKind::SetRecovery)
}

/// In report mode, answers what needs the API (`Ok`, with no effect) and
/// hands every other action back (`Err`) to the ordinary update.
pub fn intercept(state: &mut State, action: Action) -> Result<Vec<Effect>, Action> {
    if !state.report_mode {
        return Err(action);
    }
    match action {
        Action::Command(command) if state.modal.is_none() => {
            let refusal = match command {
                Command::Sync => T::ReportModeSyncHint,
                Command::Resend | Command::ResetPassword => T::NeedsProviderApi,
                // `c` on an Aruba list acts at Aruba, not at the provider.
                Command::SetRecovery if !state.aruba_mode() => T::NeedsProviderApi,
                _ => return Err(action),
            };
            state.status(Level::Error, state.t(refusal));
            Ok(vec![])
        }
        // Jobs for the provider left by an API-mode run cannot run now: they
        // stay stored, and are offered again once the API is configured.
        Action::Unfinished(mut jobs) => {
            jobs.retain(|job| !needs_provider_api(job.kind));
            Err(Action::Unfinished(jobs))
        }
        // A modal that would end in a provider call (opened before the mode
        // changed cannot happen; this is the last guard before the queue).
        Action::Confirm
            if matches!(
                &state.modal,
                Some(
                    Modal::ConfirmResend { .. }
                        | Modal::ConfirmRecovery { .. }
                        | Modal::ConfirmReset { .. }
                )
            ) || matches!(&state.modal, Some(Modal::ConfirmBulk { kind, .. }) if needs_provider_api(*kind)) =>
        {
            state.modal = None;
            state.status(Level::Error, state.t(T::NeedsProviderApi));
            Ok(vec![])
        }
        other => Err(other),
    }
}
