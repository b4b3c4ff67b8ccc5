//! Single actions through the console's services against the simulator: the
//! recovery contacts, the password reset (after the cutover, and refused
//! before it), each recorded in the audit trail without the password.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use pecdesk::app::import_flow::RosterRequest;
use pecdesk::app::{Action, Effect, Secret};
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, SimConfig, SimHandle};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::services::Services;
use pecdesk::store::{EventKind, IncomingRoster, Outcome, Store};
use tokio::sync::mpsc;

const TOKEN: &str = "actions-test-token";

async fn setup(
    cutover_in_days: i64,
) -> (tempfile::TempDir, std::path::PathBuf, SimHandle, Services) {
    let members: Vec<Member> = pecdesk::sample::generate_roster(60, 8, DEFAULT_PEC_DOMAIN);
    let mut config = SimConfig::new(TOKEN);
    config.cutover_at = Utc::now() + TimeDelta::days(cutover_in_days);
    let sim = sim::start(&members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    Store::open(&path)
        .unwrap()
        .upsert_members(&IncomingRoster::full(&members), "test", "test", Utc::now())
        .unwrap();
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    pecdesk::sync::run(&path, &client, "test").await.unwrap();
    let services = Services::new(path.clone(), Some(client), "segreteria".into());
    (dir, path, sim, services)
}

async fn perform(services: &Services, effect: Effect) -> Action {
    let (tx, mut rx) = mpsc::unbounded_channel();
    services.perform(effect, &tx);
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

fn a_mailbox(path: &std::path::Path) -> (Option<i64>, String) {
    let entry = Store::open(path)
        .unwrap()
        .roster_entries()
        .unwrap()
        .into_iter()
        .find(|e| e.member.is_some() && e.mailbox.is_some())
        .unwrap();
    (entry.member_id, entry.address().to_string())
}

fn last_action(path: &std::path::Path, address: &str) -> pecdesk::store::Event {
    Store::open(path)
        .unwrap()
        .timeline(None, Some(address))
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::Action)
        .unwrap()
}

#[tokio::test]
async fn setting_recovery_contacts_is_recorded_masked() {
    let (_dir, path, sim, services) = setup(30).await;
    let (member_id, address) = a_mailbox(&path);
    let action = perform(
        &services,
        Effect::SetRecovery {
            member_id,
            address: address.clone(),
            email: Some("nuova.mail@libero.it".into()),
            mobile: Some("+393470001111".into()),
        },
    )
    .await;
    assert!(
        matches!(&action, Action::ActionFinished { result: Ok(_), .. }),
        "{action:?}"
    );
    let event = last_action(&path, &address);
    assert_eq!(event.operator, "segreteria");
    assert_eq!(event.outcome, Some(Outcome::Ok));
    assert!(
        event.detail.contains("*****il@l*****.it"),
        "{}",
        event.detail
    );
    assert!(!event.detail.contains("nuova.mail"));
    // A contact the provider refuses comes back as its error, in Italian.
    let refused = perform(
        &services,
        Effect::SetRecovery {
            member_id,
            address: address.clone(),
            email: Some("non-valida".into()),
            mobile: None,
        },
    )
    .await;
    assert!(
        matches!(&refused, Action::ActionFinished { result: Err(_), .. }),
        "{refused:?}"
    );
    assert_eq!(last_action(&path, &address).outcome, Some(Outcome::Failed));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reset_before_the_cutover_is_refused_and_after_it_the_password_is_never_stored() {
    let (_dir, path, sim, services) = setup(30).await;
    let (member_id, address) = a_mailbox(&path);
    let password = Secret("Tmp!Farm4cia9".into());
    let refused = perform(
        &services,
        Effect::ResetPassword {
            member_id,
            address: address.clone(),
            password: password.clone(),
        },
    )
    .await;
    let Action::PasswordResetFinished {
        result: Err(message),
        ..
    } = &refused
    else {
        panic!("{refused:?}");
    };
    assert!(message.contains("passaggio al nuovo gestore"), "{message}");
    sim.shutdown().await;

    let (_dir, path, sim, services) = setup(-1).await;
    let (member_id, address) = a_mailbox(&path);
    let done = perform(
        &services,
        Effect::ResetPassword {
            member_id,
            address: address.clone(),
            password: password.clone(),
        },
    )
    .await;
    let Action::PasswordResetFinished {
        result: Ok(shown), ..
    } = &done
    else {
        panic!("{done:?}");
    };
    assert_eq!(
        shown, &password,
        "the console gets it back once, to show it"
    );
    assert_eq!(last_action(&path, &address).outcome, Some(Outcome::Ok));
    // Nowhere in the store: not in the event log, not in any page of the file.
    drop(services);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    let bytes = std::fs::read(&path).unwrap();
    let needle = password.0.as_bytes();
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_console_import_previews_then_stores_the_bundled_roster() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("i.db");
    let roster = dir.path().join("albo.csv");
    std::fs::write(&roster, pecdesk::cli::SAMPLE_ROSTER).unwrap();
    let services = Services::new(store.clone(), None, "segreteria".into());
    let (tx, mut rx) = mpsc::unbounded_channel();
    services.perform(
        Effect::PreviewImport(RosterRequest {
            path: roster.clone(),
            ..Default::default()
        }),
        &tx,
    );
    let preview = next_result(&mut rx).await;
    let Action::ImportPreviewed {
        result: Ok((plan, _)),
        ..
    } = preview
    else {
        panic!("{preview:?}");
    };
    assert_eq!(plan.counts.new, 1500);
    assert_eq!(plan.rejected, 3);
    assert_eq!(
        Store::open(&store).unwrap().member_count().unwrap(),
        0,
        "a preview writes nothing"
    );
    services.perform(
        Effect::RunImport(RosterRequest {
            path: roster,
            ..Default::default()
        }),
        &tx,
    );
    let done = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&done, Action::ImportDone(Ok(text)) if text.contains("1500 nuovi")),
        "{done:?}"
    );
    assert_eq!(Store::open(&store).unwrap().member_count().unwrap(), 1500);
}

/// A workbook whose first sheet is a note, the data on the sheet named.
fn workbook_with_a_note_first(path: &std::path::Path, sheet: &str, csv: &str) {
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .set_name("Note")
        .unwrap()
        .write_string(0, 0, "Elenco aggiornato al 27/11/2026")
        .unwrap();
    let data = book.add_worksheet().set_name(sheet).unwrap();
    for (row, line) in csv.lines().enumerate() {
        for (column, cell) in line.trim_end_matches('\r').split(';').enumerate() {
            data.write_string(row as u32, column as u16, cell).unwrap();
        }
    }
    book.save(path).unwrap();
}

/// The next action that is not progress.
async fn next_result(rx: &mut mpsc::UnboundedReceiver<Action>) -> Action {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Action::ImportProgress { .. } => continue,
            other => return other,
        }
    }
}

/// `:import FILE --sheet S` and `:sync report FILE --sheet S` read the sheet
/// named, in the preview and in the writing; without it, the first sheet.
#[tokio::test]
async fn the_console_reads_the_sheet_asked_for() {
    use pecdesk::sync::report_load::ReportRequest;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("i.db");
    let roster_text: String = std::str::from_utf8(pecdesk::cli::SAMPLE_ROSTER)
        .unwrap()
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let roster = dir.path().join("albo.xlsx");
    workbook_with_a_note_first(&roster, "Iscritti", &roster_text);
    let services = Services::new(store.clone(), None, "segreteria".into());
    let (tx, mut rx) = mpsc::unbounded_channel();

    let first_sheet = RosterRequest {
        path: roster.clone(),
        ..Default::default()
    };
    services.perform(Effect::PreviewImport(first_sheet), &tx);
    let preview = next_result(&mut rx).await;
    assert!(
        matches!(&preview, Action::ImportPreviewed { result: Err(why), .. } if why.contains("Note")),
        "the first sheet holds no roster: {preview:?}"
    );
    let asked = RosterRequest {
        path: roster,
        sheet: Some("Iscritti".into()),
        ..Default::default()
    };
    services.perform(Effect::PreviewImport(asked.clone()), &tx);
    let preview = next_result(&mut rx).await;
    let Action::ImportPreviewed {
        request,
        result: Ok((plan, source)),
    } = &preview
    else {
        panic!("{preview:?}");
    };
    assert_eq!((request, plan.counts.new, plan.rejected), (&asked, 3, 0));
    assert!(source.contains("Iscritti"), "{source}");
    services.perform(Effect::RunImport(asked), &tx);
    let done = next_result(&mut rx).await;
    assert!(
        matches!(&done, Action::ImportDone(Ok(text)) if text.contains("3 nuovi")),
        "{done:?}"
    );
    assert_eq!(Store::open(&store).unwrap().member_count().unwrap(), 3);

    let report = dir.path().join("stati.xlsx");
    workbook_with_a_note_first(
        &report,
        "Stati",
        "Casella;Stato migrazione;Stato password;Data report\n\
         giulia.fontana@pec.fofi.it;completata;impostata;27/11/2026\n",
    );
    let request = ReportRequest {
        path: report,
        sheet: Some("stati".into()),
        domain: Some(DEFAULT_PEC_DOMAIN.into()),
        ..Default::default()
    };
    services.perform(Effect::PreviewReport(request.clone()), &tx);
    let previewed = next_result(&mut rx).await;
    let Action::ReportPreviewed {
        result: Ok(preview),
        ..
    } = &previewed
    else {
        panic!("{previewed:?}");
    };
    assert_eq!(
        (preview.outcome.mailboxes, preview.rejected),
        (1, 0),
        "{preview:?}"
    );
    services.perform(Effect::RunReport(request), &tx);
    let done = next_result(&mut rx).await;
    assert!(matches!(&done, Action::ReportDone(Ok(_))), "{done:?}");
    let stored = Store::open(&store).unwrap().mailbox_states().unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
}
