//! The screens drawn on a TestBackend at fixed sizes and snapshotted.

use chrono::TimeDelta;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use super::theme::Theme;
use super::view;
use crate::app::{Action, Command, State, fixtures, update};
use crate::i18n::Lang;
use crate::store::{Event, EventKind, Outcome};

const COLOR: Theme = Theme { color: true };

fn render(state: &State, width: u16, height: u16, theme: &Theme) -> Terminal<TestBackend> {
    let ui = super::Ui {
        theme: *theme,
        keymap: super::Keymap::default(),
    };
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, state, &ui)).unwrap();
    terminal
}

pub(super) fn snapshot(state: &State, width: u16, height: u16) -> String {
    render(state, width, height, &COLOR).backend().to_string()
}

fn members_state() -> State {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    state
}

#[test]
fn dashboard_italian() {
    insta::assert_snapshot!(snapshot(&fixtures::state(Lang::It), 120, 40));
}

#[test]
fn dashboard_english() {
    insta::assert_snapshot!(snapshot(&fixtures::state(Lang::En), 120, 40));
}

#[test]
fn dashboard_at_80x24() {
    insta::assert_snapshot!(snapshot(&fixtures::state(Lang::It), 80, 24));
}

#[test]
fn member_table() {
    let mut state = members_state();
    for _ in 0..3 {
        update(&mut state, Action::Command(Command::Down));
    }
    insta::assert_snapshot!(snapshot(&state, 120, 30));
}

#[test]
fn member_table_scrolls_drawing_only_visible_rows() {
    let mut state = members_state();
    update(&mut state, Action::Command(Command::Bottom));
    let text = snapshot(&state, 100, 12);
    let (_, last) = state.selected_entry().unwrap();
    assert!(text.contains(last.address()), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn member_table_searched() {
    let mut state = members_state();
    update(&mut state, Action::Command(Command::Search));
    for c in "rossi".chars() {
        update(
            &mut state,
            Action::SearchEdit(tui_input::InputRequest::InsertChar(c)),
        );
    }
    insta::assert_snapshot!(snapshot(&state, 120, 20));
}

fn detail_state() -> State {
    let mut state = members_state();
    let position =
        state
            .visible
            .iter()
            .position(|&i| {
                state.entries.row(i).mailbox().is_some_and(|m| {
                    m.can_receive_recovery_email() && m.link_expires_at().is_some()
                })
            })
            .unwrap();
    update(&mut state, Action::SelectRow(position));
    fixtures::act(&mut state, Command::Open);
    let (entry, e) = state.selected_entry().unwrap();
    let address = e.address().to_string();
    let event = |id, hours, kind, detail: &str, outcome| Event {
        id,
        at: fixtures::now() - TimeDelta::hours(hours),
        operator: "Mario Rossi".into(),
        account: "mrossi".into(),
        kind,
        member_id: e.member_id(),
        mailbox: Some(address.clone()),
        detail: detail.into(),
        outcome,
    };
    let events = vec![
        event(
            3,
            1,
            EventKind::Action,
            "reinvio e-mail di recupero a *****34@g*****.com, link valido fino a 21/11/2026 09:30",
            Some(Outcome::Ok),
        ),
        event(
            2,
            5,
            EventKind::StateChanged,
            "migrazione: non avviata → completata",
            None,
        ),
        event(1, 48, EventKind::Imported, "importato da albo.csv", None),
    ];
    update(&mut state, Action::TimelineLoaded { entry, events });
    state
}

#[test]
fn detail_with_timeline() {
    insta::assert_snapshot!(snapshot(&detail_state(), 120, 30));
}

/// A member out of the albo: the day they left, after the day they enrolled.
#[test]
fn detail_of_a_member_who_left_says_since_when() {
    let mut state = members_state();
    let position = state
        .visible
        .iter()
        .position(|&i| {
            !state.entries.row(i).in_roster() && state.entries.row(i).member_id().is_some()
        })
        .unwrap();
    update(&mut state, Action::SelectRow(position));
    fixtures::act(&mut state, Command::Open);
    let shown = snapshot(&state, 120, 30);
    let enrolled = shown.find("Iscritto/a dal").expect("enrolled line");
    let left = shown
        .find("Uscito/a dall'albo il: 31/10/2026")
        .expect("{shown}");
    assert!(enrolled < left, "{shown}");
    // A member still in the albo has no such line.
    assert!(!snapshot(&detail_state(), 120, 30).contains("Uscito/a"));
}

#[test]
fn confirm_resend() {
    let mut state = detail_state();
    update(&mut state, Action::Command(Command::Resend));
    insta::assert_snapshot!(snapshot(&state, 100, 30));
}

#[test]
fn help_lists_every_key() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Help));
    let text = snapshot(&state, 100, 30);
    for (keys, command) in super::Keymap::default().help_for(&state) {
        assert!(text.contains(&keys), "{keys} missing");
        // Whole, though perhaps wrapped (`help_cuts_no_word` checks the layout).
        let what = super::labels::command(command).get(Lang::It);
        for word in what.split_whitespace() {
            assert!(text.contains(word), "{word} of {what} missing");
        }
    }
    insta::assert_snapshot!(text);
}

#[test]
fn help_fits_80x24_in_two_columns() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Members));
    update(&mut state, Action::Command(Command::Help));
    let text = snapshot(&state, 80, 24);
    for (keys, _) in super::Keymap::default().help(state.screen) {
        assert!(text.contains(&keys), "{keys} missing:\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn filter_modal_and_palette() {
    let mut state = members_state();
    update(&mut state, Action::Command(Command::Filter));
    update(&mut state, Action::ModalMove(5));
    update(&mut state, Action::ModalToggle);
    insta::assert_snapshot!("filter_modal", snapshot(&state, 100, 24));
    update(&mut state, Action::Confirm);
    update(&mut state, Action::Command(Command::Palette));
    update(
        &mut state,
        Action::PaletteEdit(tui_input::InputRequest::InsertChar('s')),
    );
    insta::assert_snapshot!("palette", snapshot(&state, 100, 24));
}

#[test]
fn each_chase_list() {
    for (i, &category) in crate::app::CHASE.iter().enumerate() {
        let mut state = fixtures::state(Lang::It);
        update(&mut state, Action::Command(Command::Chase(category)));
        insta::assert_snapshot!(
            format!("chase_{}_{}", i + 1, category.code()),
            snapshot(&state, 120, 16)
        );
    }
}

fn job(counts: crate::store::JobCounts) -> crate::store::Job {
    crate::store::Job {
        id: 1,
        kind: crate::store::JobKind::Resend,
        operator: "segreteria".into(),
        created_at: fixtures::now(),
        status: crate::store::JobStatus::Pending,
        counts,
    }
}

#[test]
fn bulk_confirmation_progress_and_summary() {
    use crate::store::JobCounts;
    let mut state = members_state();
    update(
        &mut state,
        Action::Command(Command::Chase(crate::domain::Category::NotMigrated)),
    );
    update(&mut state, Action::Command(Command::MarkAll));
    update(&mut state, Action::Command(Command::Resend));
    insta::assert_snapshot!("bulk_confirmation", snapshot(&state, 100, 30));
    update(&mut state, Action::Cancel);
    update(
        &mut state,
        Action::JobStarted(Ok(job(JobCounts {
            total: 200,
            pending: 200,
            done: 0,
            failed: 0,
        }))),
    );
    update(
        &mut state,
        Action::Tick(fixtures::now() + TimeDelta::seconds(30)),
    );
    update(
        &mut state,
        Action::JobProgress {
            job_id: 1,
            counts: JobCounts {
                total: 200,
                pending: 120,
                done: 75,
                failed: 5,
            },
        },
    );
    insta::assert_snapshot!("bulk_progress", snapshot(&state, 100, 30));
    update(
        &mut state,
        Action::JobFinished {
            job_id: 1,
            result: Ok(JobCounts {
                total: 200,
                pending: 0,
                done: 196,
                failed: 4,
            }),
            failures: vec![
                (
                    "anna.neri@pec.fofi.it".into(),
                    "reinvio e-mail di recupero non riuscito: il gestore non risponde".into(),
                ),
                (
                    "luca.verdi@pec.fofi.it".into(),
                    "reinvio e-mail di recupero non riuscito: nessun contatto di recupero".into(),
                ),
            ],
        },
    );
    insta::assert_snapshot!("bulk_summary", snapshot(&state, 100, 30));
}

#[test]
fn password_checklist_and_password_shown_once() {
    let mut state = detail_state();
    update(&mut state, Action::Command(Command::ResetPassword));
    for c in "Giorgia1".chars() {
        update(
            &mut state,
            Action::FormEdit(tui_input::InputRequest::InsertChar(c)),
        );
    }
    insta::assert_snapshot!("password_checklist", snapshot(&state, 100, 24));
    let address = state.selected_entry().unwrap().1.address().to_string();
    update(
        &mut state,
        Action::PasswordResetFinished {
            address,
            result: Ok(crate::app::Secret("Kq7!mP2x@Rt9".into())),
        },
    );
    insta::assert_snapshot!("password_shown", snapshot(&state, 100, 24));
}

#[test]
fn audit_trail() {
    let mut state = fixtures::state(Lang::It);
    update(&mut state, Action::Command(Command::Audit));
    // The OS account goes first; a display name that differs stands beside it.
    let event = |id, hours, operator: &str, kind, mailbox: &str, detail: &str, outcome| Event {
        id,
        at: fixtures::now() - TimeDelta::hours(hours),
        operator: operator.into(),
        account: match operator {
            "segreteria" => "mrossi".into(),
            other => other.into(),
        },
        kind,
        member_id: Some(id),
        mailbox: Some(mailbox.into()),
        detail: detail.into(),
        outcome,
    };
    update(
        &mut state,
        Action::AuditLoaded(vec![
            event(
                3,
                1,
                "segreteria",
                EventKind::Action,
                "anna.neri@pec.fofi.it",
                "reset della password: temporanea comunicata all'iscritto",
                Some(Outcome::Ok),
            ),
            event(
                2,
                2,
                "cron",
                EventKind::Action,
                "luca.verdi@pec.fofi.it",
                "reinvio e-mail di recupero non riuscito: nessun contatto di recupero",
                Some(Outcome::Failed),
            ),
            event(
                1,
                30,
                "sync",
                EventKind::StateChanged,
                "anna.neri@pec.fofi.it",
                "migrazione: non avviata → completata",
                None,
            ),
        ]),
    );
    update(&mut state, Action::Command(Command::Search));
    let effects = update(
        &mut state,
        Action::SearchEdit(tui_input::InputRequest::InsertChar('c')),
    );
    assert_eq!(
        effects,
        vec![crate::app::Effect::LoadAudit { filter: "c".into() }]
    );
    insta::assert_snapshot!(snapshot(&state, 120, 14));
}

#[test]
fn import_preview() {
    use crate::store::{ChangeKind, MemberUpsert, PlannedChange};
    let mut state = fixtures::state(Lang::It);
    update(
        &mut state,
        Action::Import {
            path: Some("albo-2026.csv".into()),
            kind: Default::default(),
        },
    );
    let plan = crate::import::ImportPlan {
        counts: MemberUpsert {
            new: 12,
            updated: 2,
            unchanged: 1480,
            removed: 1,
        },
        full_roster: true,
        changes: vec![
            PlannedChange {
                kind: ChangeKind::Updated,
                member_id: Some(4),
                codice_fiscale: "RSSMRA85T10A562S".into(),
                name: "Rossi Mario".into(),
                fields: vec!["e-mail di servizio", "cellulare"],
            },
            PlannedChange {
                kind: ChangeKind::Removed,
                member_id: Some(9),
                codice_fiscale: "VRDGPP80A01H501U".into(),
                name: "Verdi Giuseppe".into(),
                fields: vec![],
            },
        ],
        first_rejects: vec![crate::import::Reject {
            line: 17,
            field: Some("Codice Fiscale".into()),
            reason: "carattere di controllo errato: atteso 'S', trovato 'T'".into(),
            record: vec![],
            keys: vec![],
        }],
        rejected: 1,
    };
    update(
        &mut state,
        Action::ImportPreviewed {
            request: crate::app::import_flow::RosterRequest {
                path: "albo-2026.csv".into(),
                ..Default::default()
            },
            result: Ok((
                Box::new(plan),
                "albo-2026.csv (CSV, separatore \";\", windows-1252)".into(),
            )),
        },
    );
    insta::assert_snapshot!(snapshot(&state, 110, 24));
}

#[test]
fn colours_mark_states_and_no_color_removes_them() {
    let state = fixtures::state(Lang::It);
    let find = |terminal: &Terminal<TestBackend>, needle: &str| {
        let buffer = terminal.backend().buffer();
        let width = buffer.area.width as usize;
        let text: Vec<String> = buffer
            .content
            .iter()
            .map(|c| c.symbol().to_string())
            .collect();
        let index = text
            .windows(needle.chars().count())
            .position(|w| w.concat() == needle)
            .unwrap();
        ((index % width) as u16, (index / width) as u16)
    };
    let colored = render(&state, 120, 40, &COLOR);
    let (x, y) = find(&colored, "completata");
    // The count left of the label carries the state's colour.
    assert_eq!(colored.backend().buffer()[(x - 10, y)].fg, Color::Green);
    let plain = render(&state, 120, 40, &Theme { color: false });
    let buffer = plain.backend().buffer();
    assert!(
        buffer
            .content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
    );
    let (x, y) = find(&plain, "Cruscotto");
    assert!(buffer[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn detail_opens_with_what_to_do_above_the_timeline() {
    let state = detail_state();
    let text = snapshot(&state, 120, 40);
    let what = text.find("Cosa fare").expect("the section is there");
    let timeline = text.find("Cronologia").expect("the timeline is there");
    assert!(what < timeline, "{text}");
    insta::assert_snapshot!("detail_what_to_do_before_passage", text);
    let mut after = detail_state();
    after.cutover = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    insta::assert_snapshot!("detail_what_to_do_after_passage", snapshot(&after, 120, 40));
    after.lang = Lang::En;
    insta::assert_snapshot!("detail_what_to_do_english", snapshot(&after, 120, 40));
    insta::assert_snapshot!("detail_what_to_do_80x24", snapshot(&detail_state(), 80, 24));
}

#[test]
fn call_script_window() {
    let mut state = detail_state();
    state.cutover = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    update(&mut state, Action::Command(Command::CallScript));
    insta::assert_snapshot!("call_script_italian", snapshot(&state, 100, 30));
    state.lang = Lang::En;
    insta::assert_snapshot!("call_script_english", snapshot(&state, 100, 30));
    update(&mut state, Action::ModalMove(3));
    insta::assert_snapshot!("call_script_scrolled_80x24", snapshot(&state, 80, 24));
}

/// Every description of every screen's help, in both languages, at 80x24 and
/// 120x40: laid out whole (its wrapped lines give it back word for word, each
/// within its column) and drawn.
#[test]
fn help_cuts_no_word() {
    use crate::app::Screen;
    let keymap = super::Keymap::default();
    for lang in [Lang::It, Lang::En] {
        for (width, height) in [(80u16, 24u16), (120, 40), (100, 30)] {
            for screen in [Screen::Dashboard, Screen::Members, Screen::Detail] {
                // With Aruba synced the help has the most keys.
                let mut state = fixtures::with_aruba(fixtures::state(lang));
                state.screen = screen;
                let items: Vec<(String, &str)> = keymap
                    .help_for(&state)
                    .into_iter()
                    .map(|(k, c)| (k, super::labels::command(c).get(lang)))
                    .collect();
                let (inner, columns) = super::popup::help_layout(&items, width - 2, height - 2);
                let column_width = if columns.len() == 1 {
                    inner as usize
                } else {
                    (inner as usize - 1) / 2
                };
                let mut laid_out = 0;
                for column in &columns {
                    assert!(
                        column.rows() <= usize::from(height - 2),
                        "{lang:?} {width}x{height} {screen:?}: too tall"
                    );
                    for (keys, lines) in &column.items {
                        laid_out += 1;
                        let what = items.iter().find(|(k, _)| k == keys).unwrap().1;
                        assert_eq!(lines.join(" "), what, "{width}x{height}");
                        for line in lines {
                            assert!(
                                column.key_width + line.chars().count() <= column_width,
                                "{line:?} wider than {column_width}"
                            );
                        }
                    }
                }
                assert_eq!(laid_out, items.len());
                // And drawn as laid out.
                update(&mut state, Action::Command(Command::Help));
                let text = snapshot(&state, width, height);
                for column in &columns {
                    for (_, lines) in &column.items {
                        for line in lines {
                            assert!(text.contains(line.as_str()), "{line:?} not drawn:\n{text}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_password_to_change_at_next_login_is_shown() {
    let mut state = detail_state();
    let (index, _) = state.selected_entry().unwrap();
    let mut full = state.full_entry(index).unwrap().clone();
    full.mailbox.as_mut().unwrap().must_change_password = true;
    update(
        &mut state,
        Action::EntryLoaded {
            entry: index,
            result: Ok(Box::new(full)),
        },
    );
    let text = snapshot(&state, 120, 40);
    assert!(
        text.contains("Password: link inviato · cambio password al prossimo"),
        "{text}"
    );
    assert!(
        text.contains("⚠ cambio password al prossimo accesso"),
        "{text}"
    );
}

#[test]
fn dashboard_with_the_aruba_lists() {
    let state = fixtures::with_aruba(fixtures::state(Lang::It));
    for category in crate::app::CHASE_ARUBA {
        assert!(state.count(category) > 0, "{category:?}");
    }
    insta::assert_snapshot!(snapshot(&state, 100, 34));
}

#[test]
fn after_the_cutover_the_aruba_side_is_history() {
    let mut state = fixtures::with_aruba(fixtures::state(Lang::It));
    state.cutover = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    let text = snapshot(&state, 100, 34);
    assert!(text.contains("storico"), "{text}");
    assert!(!text.contains("Aruba: senza contatto"), "{text}");
    // `c` on an Aruba list changes nothing at Aruba and says why.
    update(
        &mut state,
        Action::Command(Command::Chase(crate::domain::Category::ArubaNoContact)),
    );
    update(&mut state, Action::Command(Command::SetRecovery));
    assert!(state.modal.is_none());
    let status = state.status.as_ref().map(|(_, s)| s.as_str()).unwrap_or("");
    assert!(status.contains("storici"), "{status}");
}

#[test]
fn c_on_an_aruba_list_confirms_a_contact_fix_at_aruba() {
    let mut state = fixtures::with_aruba(fixtures::state(Lang::It));
    update(
        &mut state,
        Action::Command(Command::Chase(crate::domain::Category::ArubaNoContact)),
    );
    assert!(state.aruba_mode());
    update(&mut state, Action::Command(Command::MarkAll));
    update(&mut state, Action::Command(Command::SetRecovery));
    match &state.modal {
        Some(crate::app::Modal::ConfirmBulk { kind, targets, .. }) => {
            assert_eq!(*kind, crate::store::JobKind::ArubaContacts);
            assert!(!targets.is_empty());
        }
        other => panic!("{other:?}"),
    }
    insta::assert_snapshot!(snapshot(&state, 100, 30));
}

#[test]
fn detail_shows_the_aruba_side() {
    let mut state = fixtures::with_aruba(fixtures::state(Lang::It));
    update(
        &mut state,
        Action::Command(Command::Chase(crate::domain::Category::ArubaContactDiffers)),
    );
    fixtures::act(&mut state, Command::Open);
    let text = snapshot(&state, 120, 30);
    assert!(text.contains("Presso Aruba: certificata"), "{text}");
    assert!(text.contains("vecchio."), "{text}");
    insta::assert_snapshot!(text);
}

/// The first screen, drawn from the store's counts before any member is
/// loaded, is the dashboard drawn once the entries are in, line for line.
#[test]
fn dashboard_from_the_stores_counts_equals_the_loaded_one() {
    use crate::app::{Effect, Settings, Snapshot};
    use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts};
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(&dir.path().join("s.db")).unwrap();
    let now = chrono::Utc::now();
    let roster = crate::sample::generate_roster(400, 3, "pec.fofi.it");
    store
        .upsert_members(&crate::store::IncomingRoster::full(&roster), "t", "t", now)
        .unwrap();
    let states: Vec<MailboxState> = roster
        .iter()
        .enumerate()
        .filter(|(i, m)| m.pec_on_domain("pec.fofi.it") && i % 9 != 0)
        .map(|(i, m)| MailboxState {
            address: m.pec.clone(),
            migration: MigrationState::ALL[i % 4],
            migration_at: Some(now - TimeDelta::hours((i * 5 % 800) as i64)),
            password: PasswordState::ALL[(i / 3) % 4],
            link_sent_at: None,
            link_expires_at: Some(now + TimeDelta::hours(12 - (i % 24) as i64)),
            recovery: RecoveryContacts {
                email_masked: (i % 4 != 0).then(|| "m***@x.it".into()),
                mobile_masked: (i % 5 == 0).then(|| "***99".into()),
                confirmed: i % 3 == 0,
            },
            last_login_at: None,
            must_change_password: false,
            updated_at: now,
        })
        .collect();
    store.apply_sync(&states, "t", now, now).unwrap();
    let settings = Settings {
        lang: Lang::It,
        pec_domain: "pec.fofi.it".into(),
        ordine: "Ordine di Prova".into(),
        cutover: chrono::NaiveDate::from_ymd_opt(2027, 1, 31),
    };
    let mut counted = State::new(settings.clone(), now);
    let first = counted.first_load();
    assert_eq!(first.len(), 1, "the console counts first");
    let Effect::LoadCounts {
        pec_domain,
        now: at,
    } = first[0].clone()
    else {
        panic!("the console counts first");
    };
    let counts = store.dashboard_counts(&pec_domain, at).unwrap();
    let next = update(
        &mut counted,
        Action::Counted(Ok(Box::new((counts, store.last_sync().unwrap())))),
    );
    assert_eq!(next, [Effect::Load], "the entries load behind the counts");
    assert!(!counted.loaded && counted.dashboard_ready());
    let mut loaded = State::new(settings.clone(), now);
    fixtures::load(
        &mut loaded,
        Snapshot {
            entries: store.roster_rows().unwrap(),
            last_sync: store.last_sync().unwrap(),
        },
    );
    let first = snapshot(&counted, 120, 40);
    assert!(first.contains("Da seguire"), "{first}");
    assert_eq!(first, snapshot(&loaded, 120, 40));
    // The table waits for the entries.
    update(&mut counted, Action::Command(Command::Members));
    assert!(snapshot(&counted, 120, 40).contains(crate::i18n::T::Loading.get(Lang::It)));
    // Counts arriving after the entries change nothing.
    let before = loaded.summary.clone();
    let stale = store.dashboard_counts("altro.it", now).unwrap();
    update(&mut loaded, Action::Counted(Ok(Box::new((stale, None)))));
    assert_eq!(loaded.summary, before);
    assert_eq!(snapshot(&loaded, 120, 40), first);

    // The first load asks for the entries with its first counts, whichever
    // come first, or when counting failed; once.
    for first in [
        Action::CountedEarlier(Box::new((
            store.dashboard_counts(&pec_domain, at).unwrap(),
            None,
            now - TimeDelta::hours(3),
        ))),
        Action::Counted(Err("store busy".into())),
    ] {
        let mut starting = State::new(settings.clone(), now);
        starting.first_load();
        assert_eq!(update(&mut starting, first), [Effect::Load]);
        let counts = store.dashboard_counts(&pec_domain, at).unwrap();
        let again = update(&mut starting, Action::Counted(Ok(Box::new((counts, None)))));
        assert!(again.is_empty());
    }

    // Counts the store kept before a write since: shown, saying so, until
    // the exact ones arrive; never over them.
    let mut earlier = State::new(settings, now);
    let kept = store.dashboard_counts(&pec_domain, at).unwrap();
    let counted_at = now - TimeDelta::hours(14);
    update(
        &mut earlier,
        Action::CountedEarlier(Box::new((
            kept.clone(),
            store.last_sync().unwrap(),
            counted_at,
        ))),
    );
    assert!(earlier.dashboard_ready());
    let shown = snapshot(&earlier, 120, 40);
    assert!(shown.contains("cifre del"), "{shown}");
    assert!(shown.contains("ricalcolo in corso"), "{shown}");
    update(
        &mut earlier,
        Action::Counted(Ok(Box::new((kept.clone(), store.last_sync().unwrap())))),
    );
    assert_eq!(snapshot(&earlier, 120, 40), first);
    update(
        &mut earlier,
        Action::CountedEarlier(Box::new((kept, None, counted_at))),
    );
    assert_eq!(snapshot(&earlier, 120, 40), first);
}

/// The store's earlier counts on the first screen: the gauge says since
/// when they hold and that they are being counted again.
#[test]
fn dashboard_from_earlier_counts() {
    use crate::app::Settings;
    use crate::domain::{DashboardCounts, category::Category};
    let loaded = fixtures::state(Lang::It);
    let counts = DashboardCounts {
        summary: loaded.summary.clone(),
        categories: Category::ALL.iter().map(|&c| loaded.count(c)).collect(),
        aruba_known: false,
    };
    let settings = Settings {
        lang: Lang::It,
        pec_domain: "pec.fofi.it".into(),
        ordine: "Ordine dei Farmacisti di Prova".into(),
        cutover: chrono::NaiveDate::from_ymd_opt(2026, 12, 31),
    };
    let mut state = State::new(settings, fixtures::now());
    update(
        &mut state,
        Action::CountedEarlier(Box::new((
            counts,
            None,
            fixtures::now() - TimeDelta::hours(15),
        ))),
    );
    insta::assert_snapshot!(snapshot(&state, 120, 40));
}

/// `:sync report FILE`: the same window as the roster's import, with the
/// report's date and where it came from, the counts, the rejects.
#[test]
fn report_preview() {
    use crate::store::SyncOutcome;
    use crate::sync::report_load::{AsOfSource, ReportPreview, ReportRequest};
    let mut state = fixtures::state(Lang::It);
    state.report_mode = true;
    update(
        &mut state,
        Action::Import {
            path: Some("stati-novembre.xlsx".into()),
            kind: crate::app::import_flow::ImportKind::Report(Default::default()),
        },
    );
    let request = ReportRequest {
        path: "stati-novembre.xlsx".into(),
        partial: false,
        as_of: None,
        domain: Some("pec.fofi.it".into()),
        sheet: None,
    };
    let preview = ReportPreview {
        file: "stati-novembre.xlsx".into(),
        as_of: Some(fixtures::now() - TimeDelta::hours(20)),
        as_of_source: AsOfSource::Column,
        outcome: SyncOutcome {
            mailboxes: 1490,
            new_mailboxes: 3,
            changes: 41,
            gone: 1,
            incremental: false,
            older_skipped: 2,
        },
        partial: false,
        rejected: 2,
        first_rejects: vec![
            crate::import::ReportReject {
                line: 18,
                column: Some("Stato migrazione (D)".into()),
                value: "In lavorazione".into(),
                reason: "stato di migrazione non riconosciuto".into(),
                record: vec![],
            },
            crate::import::ReportReject {
                line: 40,
                column: Some("Casella (A)".into()),
                value: "".into(),
                reason: "casella mancante".into(),
                record: vec![],
            },
        ],
    };
    update(
        &mut state,
        Action::ReportPreviewed {
            request,
            result: Ok(Box::new(preview)),
        },
    );
    insta::assert_snapshot!(snapshot(&state, 110, 24));
}

/// In report mode the footer offers no `s sync` and no `r resend`, and the
/// help says what `s` does there and that resend and reset need the API.
#[test]
fn report_mode_footer_and_help_offer_no_api_actions() {
    let mut state = fixtures::state(Lang::It);
    state.report_mode = true;
    let text = snapshot(&state, 120, 30);
    assert!(
        text.contains(":sync report FILE carica un report"),
        "{text}"
    );
    assert!(!text.contains("s sincronizza"), "{text}");
    update(&mut state, Action::Command(Command::Members));
    let text = snapshot(&state, 120, 30);
    assert!(!text.contains("r reinvia"), "{text}");
    update(&mut state, Action::Command(Command::Help));
    let text = snapshot(&state, 120, 40);
    assert!(
        text.contains("come caricare un report del gestore"),
        "{text}"
    );
    assert!(text.contains("non disponibile: serve l'API"), "{text}");
    assert!(!text.contains("sincronizza ora con il gestore"), "{text}");
}

/// In report mode the header dates the states by the last report, not by
/// a sync that never happens.
#[test]
fn report_mode_header() {
    let mut state = fixtures::state(Lang::It);
    state.report_mode = true;
    let none = snapshot(&state, 120, 3);
    update(
        &mut state,
        Action::LastReport(Some(crate::store::ReportRun {
            file: "stati-novembre.csv".into(),
            as_of: Some(fixtures::now() - TimeDelta::hours(26)),
            loaded_at: fixtures::now() - TimeDelta::hours(1),
        })),
    );
    insta::assert_snapshot!("report_mode_header_none", none);
    insta::assert_snapshot!("report_mode_header", snapshot(&state, 120, 3));
    state.lang = Lang::En;
    insta::assert_snapshot!("report_mode_header_english", snapshot(&state, 120, 3));
}

/// The detail shows the row's name and address at once, and the rest once
/// the entry is read in full.
#[test]
fn the_detail_shows_the_row_until_the_entry_is_read() {
    let mut state = members_state();
    let effects = update(&mut state, Action::Command(Command::Open));
    let (_, row) = state.selected_entry().unwrap();
    let (name, address) = (row.full_name().unwrap(), row.address().to_string());
    let text = snapshot(&state, 120, 30);
    assert!(text.contains(&name) && text.contains(&address), "{text}");
    assert!(
        text.contains(crate::i18n::T::Loading.get(Lang::It)),
        "{text}"
    );
    assert!(!text.contains("Cosa fare"), "{text}");
    fixtures::perform(&mut state, effects);
    let text = snapshot(&state, 120, 30);
    assert!(text.contains("Cosa fare"), "{text}");
    assert!(
        !text.contains(crate::i18n::T::Loading.get(Lang::It)),
        "{text}"
    );
}
