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

/// What the help says of `command` in report mode, where it differs: how to
/// load a report for `s`, "not available" for what needs the API.
pub fn help_label(state: &State, command: Command) -> Option<T> {
    if !state.report_mode {
        return None;
    }
    match command {
        Command::Sync => Some(T::KeySyncReportMode),
        Command::Resend | Command::ResetPassword => Some(T::KeyNeedsApiReportMode),
        Command::SetRecovery if !state.aruba_mode() => Some(T::KeyNeedsApiReportMode),
        _ => None,
    }
}

/// The footer's hint in report mode: no `s sync`, no `r resend`.
pub fn footer_hint(state: &State, usual: T) -> T {
    if !state.report_mode {
        return usual;
    }
    match usual {
        T::HintDashboard => T::HintDashboardReport,
        T::HintDashboardAruba => T::HintDashboardArubaReport,
        T::HintMembers => T::HintMembersReport,
        T::HintDetail => T::HintDetailReport,
        other => other,
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
    use tui_input::Input;

    use super::*;
    use crate::app::import_flow::ImportStep;
    use crate::app::{Settings, fixtures, update};
    use crate::i18n::Lang;
    use crate::services::Services;
    use crate::store::{IncomingRoster, Store};

    /// Resend, contacts and reset, alone or in bulk, and the sync: each is
    /// refused with the message, opens nothing and asks for no effect.
    #[test]
    fn api_actions_are_refused_with_the_message_and_nothing_is_queued() {
        let mut state = fixtures::state(Lang::It);
        state.report_mode = true;
        update(&mut state, Action::Command(Command::Members));
        let expected = T::NeedsProviderApi.get(Lang::It);
        let refused = |state: &mut State, command: Command, text: &str| {
            state.status = None;
            let effects = update(state, Action::Command(command));
            assert!(effects.is_empty(), "{command:?}: {effects:?}");
            assert!(state.modal.is_none(), "{command:?}: {:?}", state.modal);
            assert_eq!(
                state.status.as_ref().map(|(_, t)| t.as_str()),
                Some(text),
                "{command:?}"
            );
        };
        for command in [
            Command::Resend,
            Command::SetRecovery,
            Command::ResetPassword,
        ] {
            refused(&mut state, command, expected);
        }
        update(&mut state, Action::Command(Command::MarkAll));
        assert!(!state.marked.is_empty());
        for command in [Command::Resend, Command::SetRecovery] {
            refused(&mut state, command, expected);
        }
        refused(
            &mut state,
            Command::Sync,
            T::ReportModeSyncHint.get(Lang::It),
        );
        assert!(!state.sync_running);
        // Jobs for the provider left by an API-mode run are not offered.
        let job = |id, kind| crate::store::Job {
            id,
            kind,
            status: crate::store::JobStatus::Pending,
            operator: "op".into(),
            created_at: fixtures::now(),
            counts: Default::default(),
        };
        update(
            &mut state,
            Action::Unfinished(vec![job(1, JobKind::Resend), job(2, JobKind::SetRecovery)]),
        );
        assert!(state.modal.is_none());
        // The same commands in API mode go on as before.
        state.report_mode = false;
        assert_eq!(
            update(&mut state, Action::Command(Command::Sync)),
            vec![Effect::Sync]
        );
    }

    /// Performs effects and feeds their results back until `done` says so.
    async fn settle(
        state: &mut State,
        services: &Services,
        tx: &UnboundedSender<Action>,
        rx: &mut UnboundedReceiver<Action>,
        effects: Vec<Effect>,
        done: impl Fn(&State) -> bool,
    ) {
        for effect in effects {
            services.perform(effect, tx);
        }
        while !done(state) {
            let action = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("an answer from the background")
                .expect("channel open");
            for effect in update(state, action) {
                services.perform(effect, tx);
            }
        }
    }

    /// `:sync report FILE` end to end on a real store and a real file: the
    /// preview shows the report's date and counts without storing anything,
    /// Enter stores it, the header then dates the states by it; nothing
    /// was queued and no client exists to call out.
    #[tokio::test]
    async fn sync_report_from_the_palette_previews_then_stores() {
        let dir = tempfile::tempdir().unwrap();
        let store_path = dir.path().join("c.db");
        let members = crate::sample::generate_roster(6, 3, "pec.fofi.it");
        Store::open(&store_path)
            .unwrap()
            .upsert_members(
                &IncomingRoster::full(&members),
                "albo.csv",
                "op",
                Utc::now(),
            )
            .unwrap();
        let on_domain: Vec<&str> = members
            .iter()
            .filter(|m| m.pec_on_domain("pec.fofi.it"))
            .map(|m| m.pec.as_str())
            .collect();
        assert!(on_domain.len() >= 2);
        let mut report = String::from("Casella;Stato migrazione;Data report\n");
        for (i, pec) in on_domain.iter().enumerate() {
            let state = if i % 2 == 0 { "Migrata" } else { "Da migrare" };
            report.push_str(&format!("{pec};{state};27/11/2026 18:00\n"));
        }
        report.push_str("rotto@pec.fofi.it;In lavorazione;27/11/2026 18:00\n");
        let file = dir.path().join("stati novembre.csv");
        std::fs::write(&file, report).unwrap();

        let mut services = Services::new(store_path.clone(), None, "op".into());
        services.report_mode = true;
        assert!(!services.can_sync());
        let mut state = State::new(
            Settings {
                lang: Lang::It,
                pec_domain: "pec.fofi.it".into(),
                ordine: "Ordine".into(),
                cutover: None,
            },
            Utc::now(),
        );
        state.report_mode = true;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        settle(
            &mut state,
            &services,
            &tx,
            &mut rx,
            vec![Effect::Load],
            |s| s.loaded,
        )
        .await;
        assert_eq!(state.last_report, None);

        state.palette = Some(Input::new(format!("sync report {}", file.display())));
        let effects = update(&mut state, Action::PaletteRun);
        assert!(matches!(&effects[..], [Effect::PreviewReport(r)] if r.path == file));
        settle(&mut state, &services, &tx, &mut rx, effects, |s| {
            matches!(
                &s.modal,
                Some(Modal::Import(ImportStep::ReportPreview { .. }))
            )
        })
        .await;
        let Some(Modal::Import(ImportStep::ReportPreview { preview, .. })) = state.modal.clone()
        else {
            unreachable!()
        };
        let as_of = crate::i18n::italian_time(preview.as_of.unwrap())
            .format("%d/%m/%Y %H:%M")
            .to_string();
        assert_eq!(as_of, "27/11/2026 18:00");
        assert_eq!(
            preview.as_of_source,
            crate::sync::report_load::AsOfSource::Column
        );
        assert_eq!(preview.outcome.mailboxes, on_domain.len());
        assert_eq!(preview.outcome.new_mailboxes, on_domain.len());
        assert_eq!(preview.rejected, 1);
        assert_eq!(preview.first_rejects[0].value, "In lavorazione");
        // The preview stored nothing.
        let store = Store::open(&store_path).unwrap();
        assert!(store.mailbox_states().unwrap().is_empty());
        assert_eq!(store.last_report().unwrap(), None);

        let effects = update(&mut state, Action::Confirm);
        assert!(matches!(&effects[..], [Effect::RunReport(_)]));
        settle(&mut state, &services, &tx, &mut rx, effects, |s| {
            s.modal.is_none() && s.last_report.is_some()
        })
        .await;
        let stored = store.mailbox_states().unwrap();
        assert_eq!(stored.len(), on_domain.len());
        let report = state.last_report.clone().unwrap();
        assert_eq!(report.file, "stati novembre.csv");
        assert_eq!(report, store.last_report().unwrap().unwrap());
        assert_eq!(report.as_of, preview.as_of);
        assert!(
            state.status.as_ref().is_some_and(
                |(level, text)| *level == Level::Info && text.contains("1 righe scartate")
            ),
            "{:?}",
            state.status
        );
        assert!(store.unfinished_jobs().unwrap().is_empty());
        // The header dates the states by the report.
        let ui = crate::tui::Ui {
            theme: crate::tui::Theme { color: false },
            keymap: crate::tui::Keymap::default(),
        };
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 5)).unwrap();
        terminal
            .draw(|f| crate::tui::view::draw(f, &state, &ui))
            .unwrap();
        let screen = terminal.backend().to_string();
        assert!(
            screen.contains("Ultimo report: 27/11/2026 18:00 (stati novembre.csv)"),
            "{screen}"
        );
    }
}
