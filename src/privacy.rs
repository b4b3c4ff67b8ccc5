//! The headless commands of the GDPR and of the audit trail: the shared
//! store's creation, chain verification, erasure, access requests, backups.
//! The store does the work; this module asks, prints and writes files.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};

use crate::store::{AccessReport, ChainReport, Store};

/// `audit verify` found the chain broken (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("catena degli eventi interrotta: {0}")]
pub struct ChainBroken(pub crate::store::ChainBreak);

/// Access report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessFormat {
    Json,
    Html,
}

/// `pecdesk init [--group NAME]`.
pub fn init(path: &Path, group: Option<&str>) -> anyhow::Result<()> {
    let existed = path.exists();
    let store = match group {
        Some(group) => crate::store::create_group_store(path, group)?,
        None => Store::open(path)?,
    };
    let verb = if existed { "aggiornato" } else { "creato" };
    match store.mode() {
        crate::store::StoreMode::Group(name) => println!(
            "Archivio {} {verb}: condiviso con il gruppo {name} (permessi 0660).",
            path.display()
        ),
        crate::store::StoreMode::Private => println!(
            "Archivio {} {verb}: riservato al proprio account (permessi 0600).",
            path.display()
        ),
    }
    Ok(())
}

/// `pecdesk audit verify`: prints what it checked; an error when broken.
pub fn verify(path: &Path, json: bool) -> anyhow::Result<ChainReport> {
    let store = Store::open(path)?;
    let report = store.verify_chain()?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.head);
        match &report.broken {
            None => println!(
                "Catena integra: {} eventi verificati ({} di iscritti cancellati, verificati senza i dati personali).",
                report.checked, report.erased
            ),
            Some(broken) => println!(
                "CATENA INTERROTTA: {broken} ({} eventi verificati prima).",
                report.checked
            ),
        }
    }
    match &report.broken {
        Some(broken) => Err(ChainBroken(broken.clone()).into()),
        None => Ok(report),
    }
}

fn confirmed(question: &str) -> anyhow::Result<bool> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("{question}: confermare con --yes (nessun terminale per chiedere)");
    }
    eprint!("{question} [s/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_lowercase().as_str(),
        "s" | "si" | "sì" | "y" | "yes"
    ))
}

/// `pecdesk forget QUERY`.
pub fn forget(path: &Path, query: &str, yes: bool, operator: &str) -> anyhow::Result<()> {
    let mut store = Store::open(path)?;
    let subject = store.find_subject(query)?;
    let question = format!(
        "Cancellare definitivamente i dati personali di {} (codice fiscale {}, PEC {})",
        subject.name, subject.codice_fiscale, subject.pec
    );
    if !yes && !confirmed(&question)? {
        println!("Nulla è stato cancellato.");
        return Ok(());
    }
    let mut report = store.forget(subject.member_id, operator, Utc::now())?;
    report.wal_truncated &= store.rewrite_after_erasure()?;
    println!(
        "Dati personali cancellati: l'iscritto è ora il n. {} nel registro; {} eventi resi anonimi, \
         {} solleciti, {} ricevute ({} file) rimossi, casella {}.",
        report.pseudonym,
        report.events_pseudonymised,
        report.reminders_removed,
        report.receipts_removed,
        report.receipt_files_removed,
        if report.mailbox_removed {
            "rimossa"
        } else {
            "assente"
        }
    );
    if !report.wal_truncated {
        println!("{OTHER_SESSION}");
    }
    println!("{}", store.chain_head()?);
    Ok(())
}

/// When another session kept the store open through an erasure.
const OTHER_SESSION: &str = "Attenzione: un'altra sessione tiene aperto l'archivio: il file non \
    è stato riscritto e può conservare frammenti dei dati cancellati fino alla prossima \
    cancellazione fatta con l'archivio libero.";

/// `pecdesk purge --left-before DATE`.
pub fn purge(
    path: &Path,
    left_before: NaiveDate,
    dry_run: bool,
    yes: bool,
    operator: &str,
) -> anyhow::Result<()> {
    let mut store = Store::open(path)?;
    let subjects = store.left_before(left_before)?;
    println!(
        "{} iscritti usciti dall'albo prima del {}:",
        subjects.len(),
        left_before.format("%d/%m/%Y")
    );
    for s in &subjects {
        println!("  {} {} {}", s.codice_fiscale, s.name, s.pec);
    }
    warn_unsent_cancellations(&store, &subjects)?;
    if dry_run || subjects.is_empty() {
        return Ok(());
    }
    if !yes
        && !confirmed(&format!(
            "Cancellare i dati personali di questi {} iscritti",
            subjects.len()
        ))?
    {
        println!("Nulla è stato cancellato.");
        return Ok(());
    }
    for s in &subjects {
        store.forget(s.member_id, operator, Utc::now())?;
    }
    let rewritten = store.rewrite_after_erasure()?;
    println!("{} iscritti cancellati.", subjects.len());
    if !rewritten {
        println!("{OTHER_SESSION}");
    }
    println!("{}", store.chain_head()?);
    Ok(())
}

/// Names the members INI-PEC still lists (their `3` not sent yet): once
/// erased, pecdesk no longer knows to cancel them there.
fn warn_unsent_cancellations(
    store: &Store,
    subjects: &[crate::store::Subject],
) -> anyhow::Result<()> {
    let mut unsent = Vec::new();
    for s in subjects {
        if let Some(entry) = store.inipec_position(&s.codice_fiscale)?
            && entry.sent.listed()
        {
            unsent.push(s.codice_fiscale.as_str());
        }
    }
    if !unsent.is_empty() {
        eprintln!(
            "Attenzione: INI-PEC elenca ancora {} di questi iscritti ({}): inviare prima l'aggiornamento (pecdesk export --format inipec), dopo la cancellazione pecdesk non potrà più farlo.",
            unsent.len(),
            unsent.join(", ")
        );
    }
    Ok(())
}

/// `pecdesk access QUERY --out FILE`.
pub fn access(path: &Path, query: &str, out: &Path, format: AccessFormat) -> anyhow::Result<()> {
    let store = Store::open(path)?;
    let subject = store.find_subject(query)?;
    let report = store.access_report(subject.member_id, Utc::now())?;
    crate::export::write_atomically(out, |w| match format {
        AccessFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        }
        AccessFormat::Html => w.write_all(render_html(&report, &subject.name).as_bytes()),
    })
    .with_context(|| format!("scrittura di {}", out.display()))?;
    println!(
        "Dati di {} scritti in {} ({} eventi, {} solleciti, {} ricevute).",
        subject.name,
        out.display(),
        report.events.len(),
        report.reminders.len(),
        report.receipts.len()
    );
    Ok(())
}

/// `pecdesk backup OUT`.
pub fn backup(path: &Path, out: &Path) -> anyhow::Result<()> {
    let store = Store::open(path)?;
    let report = store.backup_to(out)?;
    println!(
        "Copia scritta in {}: integrità {}, catena integra; {}",
        report.path.display(),
        report.integrity,
        report.head
    );
    Ok(())
}

/// `pecdesk restore IN`.
pub fn restore(path: &Path, input: &Path) -> anyhow::Result<()> {
    let report = crate::store::restore(path, input)?;
    match &report.previous {
        Some(kept) => println!(
            "Archivio {} ripristinato da {}; quello di prima è conservato in {}.",
            path.display(),
            input.display(),
            kept.display()
        ),
        None => println!(
            "Archivio {} ripristinato da {}.",
            path.display(),
            input.display()
        ),
    }
    println!("{}", report.head);
    Ok(())
}

/// Italian labels of the stored columns, for the printable page.
fn label(column: &str) -> &str {
    match column {
        "id" => "n.",
        "codice_fiscale" => "Codice fiscale",
        "numero_iscrizione" => "Numero iscrizione",
        "cognome" => "Cognome",
        "nome" => "Nome",
        "data_nascita" => "Data di nascita",
        "data_iscrizione" => "Data iscrizione",
        "pec" => "Indirizzo PEC",
        "email_servizio" => "E-mail di servizio",
        "cellulare" => "Cellulare",
        "provincia" => "Provincia",
        "in_roster" => "Nell'albo",
        "created_at" => "Registrato il",
        "updated_at" => "Aggiornato il",
        "erased_at" => "Cancellato il",
        "left_on" => "Uscito dall'albo il",
        "stato" => "Stato INI-PEC (1 aggiornamento, 2 nuova, 3 cancellazione)",
        "address" => "Casella",
        "migration_state" => "Migrazione",
        "migration_at" => "Migrazione il",
        "password_state" => "Password",
        "link_sent_at" => "Link inviato il",
        "link_expires_at" => "Link scade il",
        "recovery_email_masked" => "E-mail di recupero",
        "recovery_mobile_masked" => "Cellulare di recupero",
        "recovery_confirmed" => "Recupero confermato",
        "last_login_at" => "Ultimo accesso",
        "provider_updated_at" => "Aggiornato dal gestore il",
        "synced_at" => "Sincronizzato il",
        "at" => "Quando",
        "account" => "Account",
        "operator" => "Operatore",
        "kind" => "Tipo",
        "mailbox" => "Casella",
        "detail" => "Descrizione",
        "outcome" => "Esito",
        "hash" => "Hash",
        "channel" => "Canale",
        "template" => "Modello",
        "recipient" => "Destinatario",
        "subject" => "Oggetto",
        "message_id" => "Message-ID",
        "state" => "Stato",
        "sent_at" => "Inviato il",
        "error" => "Errore",
        "file" => "File",
        "received_at" => "Ricevuto il",
        other => other,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

fn table(html: &mut String, title: &str, rows: &[serde_json::Map<String, serde_json::Value>]) {
    html.push_str(&format!("<h2>{}</h2>\n", escape(title)));
    let Some(first) = rows.first() else {
        html.push_str("<p>Nessun dato.</p>\n");
        return;
    };
    html.push_str("<table>\n<tr>");
    for key in first.keys() {
        html.push_str(&format!("<th>{}</th>", escape(label(key))));
    }
    html.push_str("</tr>\n");
    for row in rows {
        html.push_str("<tr>");
        for value in row.values() {
            html.push_str(&format!("<td>{}</td>", cell(value)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

fn record(
    html: &mut String,
    title: &str,
    row: Option<&serde_json::Map<String, serde_json::Value>>,
) {
    html.push_str(&format!("<h2>{}</h2>\n", escape(title)));
    let Some(row) = row else {
        html.push_str("<p>Nessun dato.</p>\n");
        return;
    };
    html.push_str("<table class=\"record\">\n");
    for (key, value) in row {
        html.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(label(key)),
            cell(value)
        ));
    }
    html.push_str("</table>\n");
}

/// The access report as one self-contained printable page, in Italian.
pub fn render_html(report: &AccessReport, name: &str) -> String {
    let mut html =
        String::from("<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str(&format!(
        "<title>Dati conservati: {}</title>\n",
        escape(name)
    ));
    html.push_str(
        "<style>\nbody{font-family:sans-serif;margin:2em;color:#111}\
         table{border-collapse:collapse;margin-bottom:1.5em;width:100%}\
         th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top;font-size:.9em}\
         th{background:#eee}table.record th{width:14em}\
         @media print{body{margin:0}h2{page-break-after:avoid}tr{page-break-inside:avoid}}\n</style>\n</head>\n<body>\n",
    );
    html.push_str(&format!(
        "<h1>Dati personali conservati da pecdesk: {}</h1>\n<p>Prospetto generato il {} (UTC) in risposta a una richiesta di accesso (art. 15 GDPR). \
         Comprende i dati dell'albo, lo stato della casella PEC, la cronologia delle operazioni con chi le ha eseguite, i solleciti e le ricevute.</p>\n",
        escape(name),
        escape(&report.generated_at)
    ));
    record(&mut html, "Dati dell'albo", Some(&report.member));
    record(&mut html, "Casella PEC", report.mailbox.as_ref());
    record(
        &mut html,
        "Presso Aruba (vecchio gestore)",
        report.aruba_mailbox.as_ref(),
    );
    table(&mut html, "Cronologia delle operazioni", &report.events);
    table(&mut html, "Solleciti inviati", &report.reminders);
    table(&mut html, "Ricevute PEC", &report.receipts);
    table(&mut html, "Operazioni in coda", &report.job_items);
    record(&mut html, "Inviato a INI-PEC", report.inipec.as_ref());
    html.push_str("</body>\n</html>\n");
    html
}
