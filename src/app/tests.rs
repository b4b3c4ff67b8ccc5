use super::*;
use crate::app::fixtures;
use crate::app::import_flow::RosterRequest;
use crate::domain::Category;
use crate::queue::Control;
use crate::store::{JobCounts, JobKind};
use std::collections::BTreeSet;

/// Entry `i` of the fixture in full, as the store holds it.
fn entry(state: &State, i: usize) -> RosterEntry {
    let full = if state.entries.aruba_known() {
        fixtures::aruba_entries()
    } else {
        fixtures::entries()
    };
    full[i].clone()
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        update(state, Action::SearchEdit(InputRequest::InsertChar(c)));
    }
}

#[test]
fn loading_computes_the_summary() {
    let state = fixtures::state(Lang::It);
    let s = &state.summary;
    assert_eq!(s.mailboxes, s.migration.iter().sum::<usize>());
    assert_eq!(s.mailboxes, s.password.iter().sum::<usize>());
    assert_eq!(s.no_member, 1);
    assert_eq!(s.removed, 1);
    assert!(s.migrated() > 0 && s.no_mailbox > 0);
    assert_eq!(state.visible.len(), state.entries.len());
}

#[test]
fn search_narrows_with_every_term_and_escape_clears() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Search));
    let target = entry(&state, 3).member.unwrap();
    let query = format!("{} {}", target.cognome.to_lowercase(), &target.nome[..3]);
    type_text(&mut state, &query);
    assert!(state.visible.len() < state.entries.len());
    assert!(state.visible.contains(&3));
    let best = state.entries.row(state.visible[0]);
    assert_eq!(best.cognome(), target.cognome);
    update(&mut state, Action::Command(Command::Back));
    assert!(!state.searching);
    assert_eq!(state.visible.len(), state.entries.len());
}

#[test]
fn selection_survives_a_filter_change_that_keeps_the_row() {
    let mut state = fixtures::state(Lang::It);
    let position = state
        .visible
        .iter()
        .position(|&i| state.is_in(i, Category::NotMigrated))
        .unwrap();
    update(&mut state, Action::SelectRow(position));
    let (index, _) = state.selected_entry().unwrap();
    update(
        &mut state,
        Action::SetFilter(BTreeSet::from([Category::NotMigrated, Category::Failed2fa])),
    );
    assert_eq!(state.selected_entry().unwrap().0, index);
    fixtures::act(&mut state, Command::SortReverse);
    assert_eq!(state.selected_entry().unwrap().0, index);
}

#[test]
fn typing_selects_the_best_match() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Bottom));
    update(&mut state, Action::Command(Command::Search));
    let cf = entry(&state, 5)
        .member
        .as_ref()
        .unwrap()
        .codice_fiscale
        .clone();
    type_text(&mut state, &cf);
    assert_eq!(state.selected, 0);
    assert_eq!(state.selected_entry().unwrap().0, 5);
}

#[test]
fn moving_is_clamped() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Up));
    assert_eq!(state.selected, 0);
    update(&mut state, Action::Command(Command::Bottom));
    assert_eq!(state.selected, state.visible.len() - 1);
    update(&mut state, Action::Command(Command::Down));
    assert_eq!(state.selected, state.visible.len() - 1);
    update(&mut state, Action::Command(Command::Top));
    assert_eq!(state.selected, 0);
}

fn select_where(state: &mut State, pred: impl Fn(&RosterEntry) -> bool) -> usize {
    let position = state
        .visible
        .iter()
        .position(|&i| pred(&entry(state, i)))
        .expect("fixture has such an entry");
    update(state, Action::SelectRow(position));
    state.visible[position]
}

#[test]
fn resend_goes_through_confirmation() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    let index = select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| m.can_receive_recovery_email())
    });
    // The confirmation reads the entry in full (the masked address it goes to).
    let effects = update(&mut state, Action::Command(Command::Resend));
    assert!(matches!(effects[..], [Effect::LoadEntry { entry, .. }] if entry == index));
    assert!(matches!(state.modal, Some(Modal::ConfirmResend { entry }) if entry == index));
    // Keys other than confirm/cancel do nothing while the question is open.
    assert!(update(&mut state, Action::Command(Command::Down)).is_empty());
    let effects = update(&mut state, Action::Confirm);
    let address = entry(&state, index).address().to_string();
    assert_eq!(
        effects,
        vec![Effect::Resend {
            member_id: entry(&state, index).member_id,
            address: address.clone()
        }]
    );
    assert!(state.modal.is_none());
    assert!(state.in_flight.contains(&address));
}

#[test]
fn cancelling_sends_nothing() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| m.can_receive_recovery_email())
    });
    update(&mut state, Action::Command(Command::Resend));
    assert!(update(&mut state, Action::Cancel).is_empty());
    assert!(state.modal.is_none());
}

#[test]
fn resend_is_refused_without_mailbox_or_contact() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| e.mailbox.is_none());
    update(&mut state, Action::Command(Command::Resend));
    assert!(state.modal.is_none());
    assert!(matches!(state.status, Some((Level::Error, _))));
    select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| !m.can_receive_recovery_email())
    });
    update(&mut state, Action::Command(Command::Resend));
    assert!(state.modal.is_none());
    assert_eq!(
        state.status.as_ref().unwrap().1,
        T::ResendNoContact.get(Lang::It)
    );
}

#[test]
fn a_resend_result_reloads_and_reports() {
    let mut state = fixtures::state(Lang::It);
    state.in_flight.insert("x@pec.fofi.it".into());
    let effects = update(
        &mut state,
        Action::ResendFinished {
            address: "x@pec.fofi.it".into(),
            result: Err("nessun contatto".into()),
        },
    );
    assert_eq!(effects, vec![Effect::Load]);
    assert!(state.in_flight.is_empty());
    assert!(
        matches!(&state.status, Some((Level::Error, text)) if text.contains("nessun contatto"))
    );
}

#[test]
fn one_sync_at_a_time() {
    let mut state = fixtures::state(Lang::It);
    assert_eq!(
        update(&mut state, Action::Command(Command::Sync)),
        vec![Effect::Sync]
    );
    assert!(update(&mut state, Action::Command(Command::Sync)).is_empty());
    assert_eq!(
        update(&mut state, Action::SyncFinished(Ok("ok".into()))),
        vec![Effect::Load]
    );
    assert!(!state.sync_running);
}

#[test]
fn opening_the_detail_loads_the_timeline() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    let effects = update(&mut state, Action::Command(Command::Open));
    assert!(matches!(
        effects.as_slice(),
        [Effect::LoadTimeline { entry, .. }, Effect::LoadEntry { entry: full, .. }]
            if *entry == state.visible[0] && full == entry
    ));
    assert_eq!(state.screen, Screen::Detail);
    update(&mut state, Action::Command(Command::Back));
    assert_eq!(state.screen, Screen::Members);
    update(&mut state, Action::Command(Command::Back));
    assert_eq!(state.screen, Screen::Dashboard);
}

fn state_with_names(names: &[(&str, &str)]) -> State {
    let mut state = fixtures::state(Lang::It);
    fixtures::load(
        &mut state,
        Snapshot {
            entries: RosterRows::from_entries(named_entries(names)),
            last_sync: None,
        },
    );
    state
}

fn named_entries(names: &[(&str, &str)]) -> Vec<RosterEntry> {
    let mut members = crate::sample::generate_roster(names.len(), 3, "pec.fofi.it");
    for (m, (cognome, nome)) in members.iter_mut().zip(names) {
        m.cognome = cognome.to_string();
        m.nome = nome.to_string();
        m.pec = format!(
            "{}.{}@pec.fofi.it",
            nome.to_lowercase(),
            cognome.to_lowercase()
        );
    }
    members
        .into_iter()
        .enumerate()
        .map(|(i, member)| RosterEntry {
            member_id: Some(i as i64),
            member: Some(member),
            in_roster: true,
            mailbox: None,
            aruba: Default::default(),
        })
        .collect()
}

fn visible_names(state: &State) -> Vec<String> {
    state
        .visible
        .iter()
        .map(|&i| state.entries.row(i).full_name().unwrap())
        .collect()
}

#[test]
fn fuzzy_search_ranks_the_best_match_first() {
    let mut state = state_with_names(&[
        ("Bianchi", "Anna"),
        ("Marino", "Rossella"),
        ("Rossini", "Mario"),
        ("Rossi", "Maria"),
        ("Rossi", "Luca"),
    ]);
    update(&mut state, Action::Command(Command::Search));
    type_text(&mut state, "rossi mar");
    let names = visible_names(&state);
    assert_eq!(names[0], "Rossi Maria", "{names:?}");
    assert!(names.contains(&"Rossini Mario".to_string()));
    assert!(!names.contains(&"Bianchi Anna".to_string()));
    // Typing on narrows the same list; deleting widens it again.
    type_text(&mut state, "ia");
    assert_eq!(visible_names(&state)[0], "Rossi Maria");
    for _ in 0..4 {
        update(&mut state, Action::SearchEdit(InputRequest::DeletePrevChar));
    }
    assert!(visible_names(&state).contains(&"Rossi Luca".to_string()));
}

#[test]
fn sorting_by_each_column_and_reversing() {
    let mut state = fixtures::state(Lang::It);
    let names = visible_names_or_address(&state);
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names[..10], sorted[..10]);
    fixtures::act(&mut state, Command::SortNext);
    assert_eq!(state.sort.column, SortColumn::CodiceFiscale);
    let cfs: Vec<String> = state
        .visible
        .iter()
        .filter_map(|&i| {
            let row = state.entries.row(i);
            row.has_member().then(|| row.codice_fiscale().to_string())
        })
        .collect();
    assert!(cfs.windows(2).all(|w| w[0] <= w[1]));
    fixtures::act(&mut state, Command::SortReverse);
    let reversed: Vec<String> = state
        .visible
        .iter()
        .filter_map(|&i| {
            let row = state.entries.row(i);
            row.has_member().then(|| row.codice_fiscale().to_string())
        })
        .collect();
    assert!(reversed.windows(2).all(|w| w[0] >= w[1]));
    for _ in 0..4 {
        fixtures::act(&mut state, Command::SortNext);
    }
    assert_eq!(state.sort.column, SortColumn::Recovery);
    let ranks: Vec<u8> = state
        .visible
        .iter()
        .map(|&i| match &entry(&state, i).mailbox {
            None => 9,
            Some(m) if m.recovery.email_masked.is_some() => 0,
            Some(m) if m.recovery.mobile_masked.is_some() => 1,
            Some(_) => 2,
        })
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
}

fn visible_names_or_address(state: &State) -> Vec<String> {
    state
        .visible
        .iter()
        .map(|&i| {
            state
                .entries
                .row(i)
                .full_name()
                .unwrap_or_else(|| "~".to_string())
        })
        .collect()
}

#[test]
fn multi_state_filter_keeps_any_of_the_states() {
    let mut state = fixtures::state(Lang::It);
    let chosen = BTreeSet::from([Category::LinkExpired, Category::NoMailbox]);
    update(&mut state, Action::SetFilter(chosen.clone()));
    assert_eq!(state.screen, Screen::Members);
    assert_eq!(
        state.visible.len(),
        state.count(Category::LinkExpired) + state.count(Category::NoMailbox)
    );
    assert!(state.visible.iter().all(|&i| {
        state.is_in(i, Category::LinkExpired) || state.is_in(i, Category::NoMailbox)
    }));
    // Search works inside the filter.
    let (_, first) = state.selected_entry().unwrap();
    let cf = first.codice_fiscale().to_string();
    update(&mut state, Action::Command(Command::Search));
    type_text(&mut state, &cf);
    assert_eq!(state.visible.len(), 1);
    update(&mut state, Action::Command(Command::Back));
    update(&mut state, Action::Command(Command::ClearFilter));
    assert_eq!(state.visible.len(), state.entries.len());
}

#[test]
fn the_filter_modal_toggles_and_applies() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Filter));
    update(&mut state, Action::ModalMove(3)); // failed_2fa
    update(&mut state, Action::ModalToggle);
    update(&mut state, Action::ModalMove(1)); // link_pending
    update(&mut state, Action::ModalToggle);
    update(&mut state, Action::Confirm);
    assert_eq!(
        state.filter,
        BTreeSet::from([Category::Failed2fa, Category::LinkPending])
    );
    assert!(state.modal.is_none());
}

#[test]
fn each_chase_list_opens_the_table_filtered() {
    for &category in &CHASE {
        let mut state = fixtures::state(Lang::It);
        update(&mut state, Action::Command(Command::Chase(category)));
        assert_eq!(state.screen, Screen::Members);
        assert_eq!(state.visible.len(), state.count(category), "{category:?}");
        assert!(state.visible.iter().all(|&i| state.is_in(i, category)));
    }
}

#[test]
fn the_palette_runs_commands_and_reports_errors() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Palette));
    for c in "filter link_exp".chars() {
        update(&mut state, Action::PaletteEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::PaletteComplete);
    assert_eq!(
        state.palette.as_ref().unwrap().value(),
        "filter link_expired "
    );
    update(&mut state, Action::PaletteRun);
    assert!(state.palette.is_none());
    assert_eq!(state.filter, BTreeSet::from([Category::LinkExpired]));
    update(&mut state, Action::Command(Command::Palette));
    for c in "boh".chars() {
        update(&mut state, Action::PaletteEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::PaletteRun);
    assert!(matches!(&state.status, Some((Level::Error, text)) if text.contains("boh")));
    update(&mut state, Action::Command(Command::Palette));
    for c in "lang en".chars() {
        update(&mut state, Action::PaletteEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::PaletteRun);
    assert_eq!(state.lang, Lang::En);
}

#[test]
fn links_expire_with_the_clock() {
    let mut state = fixtures::state(Lang::It);
    let pending = state.count(Category::LinkPending);
    assert!(pending > 0);
    update(
        &mut state,
        Action::Tick(fixtures::now() + chrono::TimeDelta::hours(25)),
    );
    assert_eq!(state.count(Category::LinkPending), 0);
    assert!(state.count(Category::LinkExpired) >= pending);
}

#[test]
fn the_forecast_uses_the_last_seven_days() {
    let state = fixtures::state(Lang::It);
    let f = state.summary.forecast(
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        fixtures::now(),
    );
    assert_eq!(f.days_left, 41);
    let last7: u64 = state.summary.per_day[HISTORY_DAYS - PACE_DAYS..]
        .iter()
        .sum();
    assert!((f.pace - last7 as f64 / 7.0).abs() < 1e-9);
    assert_eq!(
        f.remaining,
        state.summary.mailboxes - state.summary.migrated()
    );
    assert_eq!(f.on_track, f.pace * 41.0 >= f.remaining as f64);
}

fn mark_where(state: &mut State, pred: impl Fn(&RosterEntry) -> bool) -> usize {
    let addresses: Vec<String> = (0..state.entries.len())
        .map(|i| entry(state, i))
        .filter(|e| pred(e))
        .map(|e| e.address().to_string())
        .collect();
    let n = addresses.len();
    state.marked.extend(addresses);
    n
}

#[test]
fn bulk_resend_confirms_counts_and_skips_unfit_members() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    let fit = mark_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| m.can_receive_recovery_email())
    });
    let unfit = mark_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_none_or(|m| !m.can_receive_recovery_email())
    });
    assert!(fit > 0 && unfit > 0);
    update(&mut state, Action::Command(Command::Resend));
    let Some(Modal::ConfirmBulk {
        kind,
        targets,
        skipped,
    }) = &state.modal
    else {
        panic!("no confirmation: {:?}", state.modal);
    };
    assert_eq!(*kind, JobKind::Resend);
    assert_eq!(targets.len(), fit);
    assert_eq!(skipped.len(), unfit);
    let effects = update(&mut state, Action::Confirm);
    let [
        Effect::StartJob {
            kind: JobKind::Resend,
            items,
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(items.len(), fit);
    assert!(state.marked.is_empty());
}

#[test]
fn mark_all_marks_what_the_filter_shows_and_toggles_back() {
    let mut state = fixtures::state(Lang::It);
    update(
        &mut state,
        Action::Command(Command::Chase(Category::LinkExpired)),
    );
    update(&mut state, Action::Command(Command::MarkAll));
    assert_eq!(state.marked.len(), state.count(Category::LinkExpired));
    update(&mut state, Action::Command(Command::MarkAll));
    assert!(state.marked.is_empty());
    update(&mut state, Action::Command(Command::Mark));
    assert_eq!(state.marked.len(), 1);
}

#[test]
fn job_progress_pause_cancel_and_retry() {
    let mut state = fixtures::state(Lang::It);
    let job = crate::store::Job {
        id: 7,
        kind: JobKind::Resend,
        operator: "anna".into(),
        created_at: fixtures::now(),
        status: crate::store::JobStatus::Pending,
        counts: JobCounts {
            total: 10,
            pending: 10,
            done: 0,
            failed: 0,
        },
    };
    update(&mut state, Action::JobStarted(Ok(job)));
    assert!(matches!(state.modal, Some(Modal::Job)));
    assert_eq!(
        update(&mut state, Action::JobPause),
        vec![Effect::ControlJob(Control::Pause)]
    );
    assert!(state.job.as_ref().unwrap().paused);
    assert_eq!(
        update(&mut state, Action::JobPause),
        vec![Effect::ControlJob(Control::Run)]
    );
    update(
        &mut state,
        Action::JobProgress {
            job_id: 7,
            counts: JobCounts {
                total: 10,
                pending: 6,
                done: 3,
                failed: 1,
            },
        },
    );
    assert_eq!(state.job.as_ref().unwrap().processed(), 4);
    assert_eq!(
        update(&mut state, Action::JobCancel),
        vec![Effect::ControlJob(Control::Cancel)]
    );
    update(
        &mut state,
        Action::JobFinished {
            job_id: 7,
            result: Ok(JobCounts {
                total: 10,
                pending: 0,
                done: 8,
                failed: 2,
            }),
            failures: vec![("a@pec.fofi.it".into(), "nessun contatto".into())],
        },
    );
    let job = state.job.as_ref().unwrap();
    assert!(job.finished);
    assert_eq!(
        update(&mut state, Action::JobRetry),
        vec![Effect::RetryFailed { job_id: 7 }]
    );
}

#[test]
fn unfinished_jobs_are_offered_for_resumption() {
    let mut state = fixtures::state(Lang::It);
    let job = crate::store::Job {
        id: 3,
        kind: JobKind::Resend,
        operator: "anna".into(),
        created_at: fixtures::now(),
        status: crate::store::JobStatus::Pending,
        counts: JobCounts {
            total: 10,
            pending: 4,
            done: 6,
            failed: 0,
        },
    };
    update(&mut state, Action::Unfinished(vec![job]));
    assert!(matches!(state.modal, Some(Modal::Resume { .. })));
    assert_eq!(
        update(&mut state, Action::Confirm),
        vec![Effect::ResumeJob { job_id: 3 }]
    );
}

#[test]
fn recovery_form_validates_like_the_importer() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| e.mailbox.is_some() && e.member.is_some());
    update(&mut state, Action::Command(Command::SetRecovery));
    let Some(Modal::RecoveryForm(_)) = &state.modal else {
        panic!()
    };
    // Replace the e-mail with a bad one.
    update(&mut state, Action::FormEdit(InputRequest::DeleteLine));
    for c in "non-valida".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::Confirm);
    let Some(Modal::RecoveryForm(form)) = &state.modal else {
        panic!()
    };
    assert!(form.error.as_ref().unwrap().contains("non-valida"));
    update(&mut state, Action::FormEdit(InputRequest::DeleteLine));
    for c in "Nuova@Libero.it".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::FormNextField);
    update(&mut state, Action::FormEdit(InputRequest::DeleteLine));
    for c in "347 000 1111".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::Confirm);
    let Some(Modal::ConfirmRecovery { email, mobile, .. }) = &state.modal else {
        panic!("{:?}", state.modal)
    };
    assert_eq!(email.as_deref(), Some("nuova@libero.it"));
    assert_eq!(mobile.as_deref(), Some("+393470001111"));
    let effects = update(&mut state, Action::Confirm);
    assert!(matches!(effects.as_slice(), [Effect::SetRecovery { .. }]));
}

#[test]
fn password_reset_needs_a_compliant_password_and_never_shows_it_in_debug() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| e.mailbox.is_some());
    update(&mut state, Action::Command(Command::ResetPassword));
    for c in "abc".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    update(&mut state, Action::Confirm);
    assert!(
        matches!(state.modal, Some(Modal::PasswordForm(_))),
        "a weak password is not accepted"
    );
    update(&mut state, Action::FormGenerate);
    let Some(Modal::PasswordForm(form)) = &state.modal else {
        panic!()
    };
    let generated = form.input.0.value().to_string();
    assert!(form.broken_rules(&state).is_empty());
    assert!(!format!("{state:?}").contains(&generated));
    update(&mut state, Action::Confirm);
    let effects = update(&mut state, Action::Confirm);
    let [
        Effect::ResetPassword {
            password, address, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(password.0, generated);
    assert!(!format!("{effects:?}").contains(&generated));
    update(
        &mut state,
        Action::PasswordResetFinished {
            address: address.clone(),
            result: Ok(password.clone()),
        },
    );
    assert!(matches!(&state.modal, Some(Modal::PasswordShown { .. })));
    assert_eq!(
        update(&mut state, Action::Copy),
        vec![Effect::Clipboard(Secret(generated.clone()))]
    );
    update(&mut state, Action::Cancel);
    assert!(state.modal.is_none(), "closing drops the only copy");
}

#[test]
fn export_from_the_palette_uses_the_current_filter() {
    let mut state = fixtures::state(Lang::It);
    update(
        &mut state,
        Action::Command(Command::Chase(Category::LinkExpired)),
    );
    update(&mut state, Action::Command(Command::Palette));
    for c in "export /tmp/x.csv json".chars() {
        update(&mut state, Action::PaletteEdit(InputRequest::InsertChar(c)));
    }
    let effects = update(&mut state, Action::PaletteRun);
    assert_eq!(
        effects,
        vec![Effect::Export {
            path: "/tmp/x.csv".into(),
            format: crate::export::ExportFormat::Json,
            states: vec![Category::LinkExpired],
            pec_domain: "pec.fofi.it".into(),
        }]
    );
}

#[test]
fn sync_progress_is_shown_until_the_end() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Sync));
    update(
        &mut state,
        Action::SyncProgress {
            fetched: 500,
            total: Some(1500),
        },
    );
    assert_eq!(state.sync_progress, Some((500, Some(1500))));
    update(&mut state, Action::SyncFinished(Ok("ok".into())));
    assert_eq!(state.sync_progress, None);
}

/// What `:import --sheet` or `:sync report --sheet` asked stays with the
/// file through the typed path, the "only add and update" switch and the
/// confirmation.
#[test]
fn the_sheet_asked_for_stays_through_the_import_steps() {
    let mut state = fixtures::state(Lang::It);
    for action in palette::parse("import --sheet Iscritti attivi").unwrap() {
        update(&mut state, action);
    }
    for c in "albo.xlsx".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    let asked = RosterRequest {
        path: "albo.xlsx".into(),
        sheet: Some("Iscritti attivi".into()),
        ..Default::default()
    };
    assert_eq!(
        update(&mut state, Action::Confirm),
        vec![Effect::PreviewImport(asked.clone())]
    );
    let plan = || {
        let mut plan = crate::import::ImportPlan::default();
        plan.counts.new = 2;
        Box::new(plan)
    };
    update(
        &mut state,
        Action::ImportPreviewed {
            request: asked.clone(),
            result: Ok((plan(), "albo.xlsx".into())),
        },
    );
    let partial = RosterRequest {
        partial: true,
        ..asked
    };
    assert_eq!(
        update(&mut state, Action::ModalToggle),
        vec![Effect::PreviewImport(partial.clone())]
    );
    update(
        &mut state,
        Action::ImportPreviewed {
            request: partial.clone(),
            result: Ok((plan(), "albo.xlsx".into())),
        },
    );
    assert_eq!(
        update(&mut state, Action::Confirm),
        vec![Effect::RunImport(partial)]
    );

    let mut state = fixtures::state(Lang::It);
    for action in palette::parse("sync report stati.xlsx --sheet Novembre").unwrap() {
        let effects = update(&mut state, action);
        let [Effect::PreviewReport(request)] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(request.sheet.as_deref(), Some("Novembre"));
        let preview = crate::sync::report_load::ReportPreview {
            file: "stati.xlsx".into(),
            as_of: None,
            as_of_source: crate::sync::report_load::AsOfSource::Column,
            outcome: Default::default(),
            partial: false,
            rejected: 0,
            first_rejects: vec![],
        };
        update(
            &mut state,
            Action::ReportPreviewed {
                request: request.clone(),
                result: Ok(Box::new(preview)),
            },
        );
    }
    let effects = update(&mut state, Action::ModalToggle);
    assert!(
        matches!(&effects[..], [Effect::PreviewReport(r)] if r.partial && r.sheet.as_deref() == Some("Novembre")),
        "{effects:?}"
    );
}

#[test]
fn the_import_goes_path_preview_confirm() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Import));
    for c in "albo.csv".chars() {
        update(&mut state, Action::FormEdit(InputRequest::InsertChar(c)));
    }
    let effects = update(&mut state, Action::Confirm);
    assert_eq!(
        effects,
        vec![Effect::PreviewImport(RosterRequest {
            path: "albo.csv".into(),
            ..Default::default()
        })]
    );
    update(&mut state, Action::ImportProgress { rows: 5000 });
    let plan = crate::import::ImportPlan {
        counts: crate::store::MemberUpsert {
            new: 3,
            updated: 1,
            unchanged: 10,
            removed: 2,
        },
        ..Default::default()
    };
    update(
        &mut state,
        Action::ImportPreviewed {
            request: RosterRequest {
                path: "albo.csv".into(),
                ..Default::default()
            },
            result: Ok((Box::new(plan), "albo.csv (CSV)".into())),
        },
    );
    // `p` switches to "only add and update", which needs a new preview.
    assert_eq!(
        update(&mut state, Action::ModalToggle),
        vec![Effect::PreviewImport(RosterRequest {
            path: "albo.csv".into(),
            partial: true,
            ..Default::default()
        })]
    );
    update(
        &mut state,
        Action::ImportPreviewed {
            request: RosterRequest {
                path: "albo.csv".into(),
                partial: true,
                ..Default::default()
            },
            result: Ok((Box::new(crate::import::ImportPlan::default()), "x".into())),
        },
    );
    // Nothing to do: confirming just closes.
    assert!(update(&mut state, Action::Confirm).is_empty());
    assert!(state.modal.is_none());
    // A file that cannot be read goes back to the path, with the reason.
    update(
        &mut state,
        Action::Import {
            path: Some("nope.csv".into()),
            kind: import_flow::ImportKind::default(),
        },
    );
    update(
        &mut state,
        Action::ImportPreviewed {
            request: RosterRequest {
                path: "nope.csv".into(),
                ..Default::default()
            },
            result: Err("impossibile leggere nope.csv".into()),
        },
    );
    let Some(Modal::Import(import_flow::ImportStep::Path { error: Some(e), .. })) = &state.modal
    else {
        panic!("{:?}", state.modal)
    };
    assert!(e.contains("nope.csv"));
}

#[test]
fn the_table_waits_for_its_index_and_drops_a_stale_one() {
    let mut state = State::new(
        Settings {
            lang: Lang::It,
            pec_domain: "pec.fofi.it".into(),
            ordine: String::new(),
            cutover: None,
        },
        chrono::Utc::now(),
    );
    let named = named_entries(&[("Zanetti", "Ugo"), ("Bianchi", "Anna"), ("Rossi", "Maria")]);
    let snapshot = || Snapshot {
        entries: RosterRows::from_entries(named.clone()),
        last_sync: None,
    };
    // The first load: counts at once, the table in load order, a search waiting.
    let first = update(&mut state, Action::Loaded(Ok(snapshot())));
    let [Effect::BuildIndex(first)] = first.as_slice() else {
        panic!("one index to build: {first:?}")
    };
    assert!(state.indexing());
    assert_eq!(state.summary.members_in_roster, 3);
    assert_eq!(
        visible_names(&state),
        ["Zanetti Ugo", "Bianchi Anna", "Rossi Maria"]
    );
    update(&mut state, Action::Command(Command::Search));
    type_text(&mut state, "rossi");
    assert!(state.visible.is_empty(), "no search before the index");
    // Another load comes before the first index: that index is dropped.
    let second = update(&mut state, Action::Loaded(Ok(snapshot())));
    update(
        &mut state,
        Action::Indexed(Box::new(TableIndex::build(first))),
    );
    assert!(state.indexing(), "an index for an older load is not used");
    let [Effect::BuildIndex(second)] = second.as_slice() else {
        panic!("one index to build: {second:?}")
    };
    update(
        &mut state,
        Action::Indexed(Box::new(TableIndex::build(second))),
    );
    assert!(!state.indexing());
    assert_eq!(
        visible_names(&state),
        ["Rossi Maria"],
        "the waiting search ran"
    );
    update(&mut state, Action::SearchEdit(InputRequest::DeleteLine));
    assert_eq!(
        visible_names(&state),
        ["Bianchi Anna", "Rossi Maria", "Zanetti Ugo"]
    );
    // A reload keeps the indexed view, selection and all, until its own index is in.
    update(&mut state, Action::Command(Command::Down));
    let fewer = Snapshot {
        entries: RosterRows::from_entries(named[1..].to_vec()),
        last_sync: None,
    };
    let reload = update(&mut state, Action::Loaded(Ok(fewer)));
    assert!(!state.indexing());
    assert_eq!(state.entries.len(), 3);
    assert_eq!(visible_names(&state)[state.selected], "Rossi Maria");
    let [Effect::BuildIndex(reload)] = reload.as_slice() else {
        panic!("one index to build: {reload:?}")
    };
    update(
        &mut state,
        Action::Indexed(Box::new(TableIndex::build(reload))),
    );
    assert_eq!(visible_names(&state), ["Bianchi Anna", "Rossi Maria"]);
    assert_eq!(visible_names(&state)[state.selected], "Rossi Maria");
}

#[test]
fn a_reload_refreshes_the_open_timeline_once_indexed() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    update(&mut state, Action::Command(Command::Open));
    let (entry, _) = state.selected_entry().unwrap();
    update(
        &mut state,
        Action::TimelineLoaded {
            entry,
            events: Vec::new(),
        },
    );
    let reload = Snapshot {
        entries: (*state.entries).clone(),
        last_sync: None,
    };
    let effects = update(&mut state, Action::Loaded(Ok(reload)));
    let [Effect::BuildIndex(request)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    // Results reach the state even under a modal (here, a password shown once).
    state.modal = Some(Modal::Help);
    let effects = update(
        &mut state,
        Action::Indexed(Box::new(TableIndex::build(request))),
    );
    // The timeline and the entry in full, read again for the new load.
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::LoadTimeline { entry: e, .. }, Effect::LoadEntry { entry: full, .. }]
                if *e == entry && *full == entry
        ),
        "{effects:?}"
    );
}

/// As time passes only pending links change list: what the tick recomputes
/// equals a classification from scratch, and links did expire.
#[test]
fn the_clock_moves_pending_links_to_expired_as_a_full_classification_does() {
    let mut state = fixtures::state(Lang::It);
    let pending = state.count(Category::LinkPending);
    assert!(pending > 0);
    let later = state.now + chrono::TimeDelta::hours(22);
    fixtures::act(&mut state, Action::Tick(later));
    assert_eq!(state.count(Category::LinkPending), 0);
    let (summary, mut categories) = classify(&state.entries, &state.pec_domain, later);
    outreach::mark(&state.entries, &state.outreach.data, &mut categories);
    assert_eq!(state.categories, categories);
    assert_eq!(state.summary, summary);
}

/// Entries classified once per kind get the lists each would get alone,
/// with and without Aruba's side, whatever Aruba's contacts and status.
#[test]
fn classifying_alike_entries_once_gives_each_its_own_lists() {
    use crate::domain::aruba::{ArubaSide, ArubaStatus, aruba_mobile_form};
    let state = fixtures::state(Lang::It);
    // Aruba's mobile as Aruba spells the roster's, another number, none,
    // statuses that block or not: alike only where the lists are.
    let mut spelled = fixtures::aruba_entries();
    for (i, entry) in spelled.iter_mut().enumerate() {
        if let (Some(member), ArubaSide::Present(copy)) = (&entry.member, &mut entry.aruba) {
            match i % 4 {
                0 => copy.contact_mobile = member.cellulare.as_deref().map(aruba_mobile_form),
                1 => copy.contact_mobile = Some(format!("+39.33300000{:02}", i % 100)),
                2 => copy.contact_mobile = None,
                _ => copy.status = ArubaStatus::ToCertify,
            }
        }
    }
    assert!(
        spelled
            .iter()
            .any(|e| matches!(&e.aruba, ArubaSide::Present(a) if a.contact_mobile.is_some()))
    );
    for full in [fixtures::entries(), fixtures::aruba_entries(), spelled] {
        let rows = crate::store::RosterRows::from_entries(full.clone());
        let (_, categories) = classify(&rows, &state.pec_domain, state.now);
        for (i, e) in full.iter().enumerate() {
            for &c in Category::ALL {
                let alone = crate::domain::category::is_in_with(
                    c,
                    e.member.as_ref(),
                    e.in_roster,
                    e.mailbox.as_ref(),
                    &e.aruba,
                    &state.pec_domain,
                    state.now,
                );
                assert_eq!(categories[i] & category_bit(c) != 0, alone, "{i} {c:?}");
            }
        }
    }
}

/// A new sort is made off the UI thread: the table keeps its order (and the
/// header its column) until the order is in; an order for a sort asked
/// before the last one is dropped.
#[test]
fn the_table_keeps_its_order_until_the_new_one_is_in() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    update(&mut state, Action::Command(Command::Down));
    let before = state.visible.clone();
    let selected = state.selected_entry().unwrap().0;
    let by_cf = update(&mut state, Action::Command(Command::SortNext));
    let [Effect::Sort(by_cf)] = by_cf.as_slice() else {
        panic!("{by_cf:?}")
    };
    assert_eq!(state.sort.column, SortColumn::CodiceFiscale);
    assert_eq!(state.shown_sort().column, SortColumn::Name);
    assert_eq!(state.visible, before);
    let by_pec = update(&mut state, Action::Command(Command::SortNext));
    let [Effect::Sort(by_pec)] = by_pec.as_slice() else {
        panic!("{by_pec:?}")
    };
    // The codice fiscale order arrives after the PEC was asked for: dropped.
    update(&mut state, Action::Sorted(Box::new(by_cf.run())));
    assert_eq!(state.visible, before);
    update(&mut state, Action::Sorted(Box::new(by_pec.run())));
    assert_eq!(state.shown_sort().column, SortColumn::Pec);
    assert_ne!(state.visible, before);
    let addresses: Vec<&str> = state
        .visible
        .iter()
        .map(|&i| state.entries.row(i).address())
        .collect();
    assert!(addresses.windows(2).all(|w| w[0] <= w[1]), "{addresses:?}");
    // The selection stays on the same entry.
    assert_eq!(state.selected_entry().unwrap().0, selected);
}
