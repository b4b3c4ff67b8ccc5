//! `pecdesk export --format inipec --out FILE [--all] [--dry-run]`: the
//! INI-PEC update since the last file, its counts per Stato code, then the
//! file and its record in the ledger.

use std::path::Path;

use chrono::Utc;

use crate::export::inipec::{PlannedFile, plan_file, recover_interrupted, write_file};
use crate::store::Store;

/// How many held-back positions are listed.
const HELD_BACK_SHOWN: usize = 50;

/// What the command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IniPecRun {
    /// Nothing to send: no file.
    Nothing,
    /// `--dry-run`: counts shown, nothing written or recorded.
    DryRun,
    /// Written and recorded as this ledger file.
    Written(i64),
}

/// Plans, prints the counts, and unless `dry_run` writes and records.
pub fn export_inipec(
    store_path: &Path,
    out: &Path,
    all: bool,
    dry_run: bool,
    operator: &str,
) -> anyhow::Result<IniPecRun> {
    // Two INI-PEC exports of one store never overlap (the ledger also refuses
    // a file planned against an older ledger).
    let _lock = crate::lock::lock(store_path, crate::export::inipec::LOCK)?;
    let mut store = Store::open(store_path)?;
    if dry_run {
        let staged = store.staged_inipec_files()?.len();
        if staged > 0 {
            eprintln!(
                "Attenzione: {staged} file INI-PEC di un'esportazione interrotta da risolvere: \
                 la prossima esportazione senza --dry-run li registra o li scarta."
            );
        }
    } else {
        for recovered in recover_interrupted(&mut store, operator)? {
            println!("Attenzione: {recovered}.");
        }
    }
    let planned = plan_file(&store, all)?;
    print_plan(&planned);
    if planned.plan.is_empty() {
        println!(
            "Nessuna variazione da inviare a INI-PEC: nessun file scritto. \
             (INI-PEC chiede di confermare l'assenza di variazioni con i suoi servizi on line.)"
        );
        return Ok(IniPecRun::Nothing);
    }
    if dry_run {
        println!("SIMULAZIONE (--dry-run): nessun file scritto, registro invariato.");
        return Ok(IniPecRun::DryRun);
    }
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        eprintln!("Attenzione: INI-PEC chiede un file con estensione .csv");
    }
    let file_id = write_file(&mut store, out, &planned, operator, Utc::now())?;
    println!(
        "File INI-PEC scritto in {} ({} righe) e registrato (n. {file_id}).",
        out.display(),
        planned.plan.rows.len()
    );
    Ok(IniPecRun::Written(file_id))
}

fn print_plan(planned: &PlannedFile) {
    let what = if planned.all {
        "tutte le posizioni"
    } else {
        "aggiornamento dall'ultimo file"
    };
    println!("INI-PEC, {what}: {}", planned.counts_text());
    let held = &planned.plan.held_back;
    if !held.is_empty() {
        eprintln!(
            "{} posizioni non inviabili così come sono (restano da inviare: correggere l'albo):",
            held.len()
        );
        for h in held.iter().take(HELD_BACK_SHOWN) {
            eprintln!(
                "  {} {}: {} {}",
                h.codice_fiscale,
                h.name,
                h.field,
                h.reason.label_it()
            );
        }
        if held.len() > HELD_BACK_SHOWN {
            eprintln!("  … e altre {}", held.len() - HELD_BACK_SHOWN);
        }
    }
}
