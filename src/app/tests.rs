use super::*;
use crate::app::fixtures;

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
    update(&mut state, Action::StartSearch);
    let target = state.entries[3].member.clone().unwrap();
    let query = format!("{} {}", target.cognome.to_lowercase(), &target.nome[..3]);
    type_text(&mut state, &query);
    assert!(!state.visible.is_empty());
    for &i in &state.visible {
        let m = state.entries[i].member.as_ref().unwrap();
        assert!(
            m.cognome.eq_ignore_ascii_case(&target.cognome)
                || m.pec.contains(&target.cognome.to_lowercase())
        );
    }
    assert!(state.visible.contains(&3));
    update(&mut state, Action::Back);
    assert!(!state.searching);
    assert_eq!(state.visible.len(), state.entries.len());
}

#[test]
fn selection_survives_a_search_that_keeps_the_row() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Down);
    update(&mut state, Action::Down);
    let (index, entry) = state.selected_entry().unwrap();
    let cf = entry.member.as_ref().unwrap().codice_fiscale.clone();
    update(&mut state, Action::StartSearch);
    type_text(&mut state, &cf[..6]);
    assert_eq!(state.selected_entry().unwrap().0, index);
}

#[test]
fn moving_is_clamped() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Up);
    assert_eq!(state.selected, 0);
    update(&mut state, Action::Bottom);
    assert_eq!(state.selected, state.visible.len() - 1);
    update(&mut state, Action::Down);
    assert_eq!(state.selected, state.visible.len() - 1);
    update(&mut state, Action::Top);
    assert_eq!(state.selected, 0);
}

fn select_where(state: &mut State, pred: impl Fn(&RosterEntry) -> bool) -> usize {
    let position = state
        .visible
        .iter()
        .position(|&i| pred(&state.entries[i]))
        .expect("fixture has such an entry");
    update(state, Action::SelectRow(position));
    state.visible[position]
}

#[test]
fn resend_goes_through_confirmation() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::ShowMembers);
    let index = select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| m.can_receive_recovery_email())
    });
    assert!(update(&mut state, Action::RequestResend).is_empty());
    assert_eq!(state.modal, Some(Modal::ConfirmResend { entry: index }));
    // Keys other than confirm/cancel do nothing while the question is open.
    assert!(update(&mut state, Action::Down).is_empty());
    let effects = update(&mut state, Action::Confirm);
    let address = state.entries[index].address().to_string();
    assert_eq!(
        effects,
        vec![Effect::Resend {
            member_id: state.entries[index].member_id,
            address: address.clone()
        }]
    );
    assert!(state.modal.is_none());
    assert!(state.resends_in_flight.contains(&address));
}

#[test]
fn cancelling_sends_nothing() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| m.can_receive_recovery_email())
    });
    update(&mut state, Action::RequestResend);
    assert!(update(&mut state, Action::Cancel).is_empty());
    assert!(state.modal.is_none());
}

#[test]
fn resend_is_refused_without_mailbox_or_contact() {
    let mut state = fixtures::state(Lang::It);
    select_where(&mut state, |e| e.mailbox.is_none());
    update(&mut state, Action::RequestResend);
    assert!(state.modal.is_none());
    assert!(matches!(state.status, Some((Level::Error, _))));
    select_where(&mut state, |e| {
        e.mailbox
            .as_ref()
            .is_some_and(|m| !m.can_receive_recovery_email())
    });
    update(&mut state, Action::RequestResend);
    assert!(state.modal.is_none());
    assert_eq!(
        state.status.as_ref().unwrap().1,
        T::ResendNoContact.get(Lang::It)
    );
}

#[test]
fn a_resend_result_reloads_and_reports() {
    let mut state = fixtures::state(Lang::It);
    state.resends_in_flight.insert("x@pec.fofi.it".into());
    let effects = update(
        &mut state,
        Action::ResendFinished {
            address: "x@pec.fofi.it".into(),
            result: Err("nessun contatto".into()),
        },
    );
    assert_eq!(effects, vec![Effect::Load]);
    assert!(state.resends_in_flight.is_empty());
    assert!(
        matches!(&state.status, Some((Level::Error, text)) if text.contains("nessun contatto"))
    );
}

#[test]
fn one_sync_at_a_time() {
    let mut state = fixtures::state(Lang::It);
    assert_eq!(update(&mut state, Action::SyncNow), vec![Effect::Sync]);
    assert!(update(&mut state, Action::SyncNow).is_empty());
    assert_eq!(
        update(&mut state, Action::SyncFinished(Ok("ok".into()))),
        vec![Effect::Load]
    );
    assert!(!state.sync_running);
}

#[test]
fn opening_the_detail_loads_the_timeline() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::ShowMembers);
    let effects = update(&mut state, Action::OpenDetail);
    assert!(
        matches!(effects.as_slice(), [Effect::LoadTimeline { entry, .. }] if *entry == state.visible[0])
    );
    assert_eq!(state.screen, Screen::Detail);
    update(&mut state, Action::Back);
    assert_eq!(state.screen, Screen::Members);
    update(&mut state, Action::Back);
    assert_eq!(state.screen, Screen::Dashboard);
}
