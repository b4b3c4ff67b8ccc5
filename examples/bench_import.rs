//! Import speed against a minimal reference.
//!
//! Generates a roster as Excel writes it in an Italian locale (Windows-1252,
//! `;`, `dd/mm/yyyy`, CRLF), imports it into a fresh store with the code path
//! of `pecdesk import` (read, decode, sniff, validate, reconcile, events, one
//! transaction; rows are stored while the file is still being read),
//! and times a minimal reference on the same file: decode, parse with `csv`,
//! insert with one prepared rusqlite statement in one transaction into the
//! same table of a fresh store, no validation and no events.
//!
//! cargo run --release --example bench_import -- [--rows 100000] [--runs 3] [--check] [--save FILE]
//!     [--sizes 10000,100000,1000000] [--scale-runs 5]
//!
//! `--check` exits non-zero when the import is slower than 1.5x the reference
//! or than one second per 100k rows, or when a scaling goal below is missed.
//! `--save FILE` keeps the generated roster.
//!
//! Scaling (issue 17): for 100k rows and `--rows` (or each of `--sizes`),
//! `pecdesk import` of a fresh store and then a re-import of the same file,
//! each in a child process of its own so that its peak memory (VmHWM, the
//! whole process) is its own; medians of `--scale-runs`, sizes interleaved.
//! Goals: peak under 250 MB at any size, fresh or re-import; 1M rows fresh
//! in under 5 s; time linear, fresh and re-import (N rows within N/100k
//! times the 100k run); the 100k run no worse than before issue 17 (fresh
//! 0.54 s and 122 MB, re-import 0.38 s and 157 MB).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use encoding_rs::WINDOWS_1252;
use pecdesk::domain::DEFAULT_PEC_DOMAIN;
use pecdesk::import::{self, CsvStyle, ImportOptions};
use pecdesk::sample::generate_roster;
use pecdesk::store::{IMPORT_CACHE_KIB, Store};

const MAX_RATIO: f64 = 1.5;
const MAX_SECONDS_PER_100K: f64 = 1.0;

type Error = Box<dyn std::error::Error>;

/// pecdesk's import: the time until the file was read and validated (the
/// store writing its rows meanwhile), and the total.
fn pecdesk_import(
    file: &Path,
    store_path: &Path,
    rows: usize,
) -> Result<(Duration, Duration), Error> {
    // Created outside the timing, as for the reference.
    drop(Store::open(store_path)?);
    let start = Instant::now();
    let mut read = Duration::ZERO;
    let summary = import::import_path(
        store_path,
        file,
        &ImportOptions::default(),
        "bench",
        Utc::now(),
        |_| {},
        |_| {
            read = start.elapsed();
            Ok(())
        },
    )?;
    let total = start.elapsed();
    assert_eq!(summary.stored.new, rows, "{:?}", summary.rejects.first());
    Ok((read, total))
}

/// The reference: nothing but decode, parse and insert. With `cache_kib`,
/// SQLite's page cache is raised as pecdesk's import raises it, for a
/// like-for-like comparison; without, SQLite's default (2 MB).
fn reference_import(
    file: &Path,
    store_path: &Path,
    rows: usize,
    cache_kib: Option<i64>,
) -> Result<Duration, Error> {
    // The same schema and settings, created outside the timing as for pecdesk.
    drop(Store::open(store_path)?);
    let mut conn = rusqlite::Connection::open(store_path)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    if let Some(kib) = cache_kib {
        conn.pragma_update(None, "cache_size", -kib)?;
    }
    let start = Instant::now();
    let bytes = std::fs::read(file)?;
    let text = WINDOWS_1252.decode_without_bom_handling(&bytes).0;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let now = Utc::now().to_rfc3339();
    let tx = conn.transaction()?;
    let mut inserted = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO members (numero_iscrizione, cognome, nome, codice_fiscale,
             data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia,
             in_roster, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11)",
        )?;
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record)? {
            insert.execute(rusqlite::params![
                &record[0], &record[1], &record[2], &record[3], &record[4], &record[5], &record[6],
                &record[7], &record[8], &record[9], now,
            ])?;
            inserted += 1;
        }
    }
    tx.commit()?;
    let total = start.elapsed();
    assert_eq!(inserted, rows);
    Ok(total)
}

fn thousands_per_second(rows: usize, time: Duration) -> f64 {
    rows as f64 / time.as_secs_f64() / 1000.0
}

fn main() -> Result<(), Error> {
    if std::env::args().nth(1).as_deref() == Some(scale::CHILD) {
        if let Some(result) = sources::child() {
            return result;
        }
        return scale::child();
    }
    let mut rows = 100_000usize;
    let mut sizes: Option<Vec<usize>> = None;
    let mut scale_runs = 5usize;
    let mut runs = 3usize;
    let mut check = false;
    let mut save = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => rows = args.next().ok_or("--rows N")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs N")?.parse::<usize>()?.max(1),
            "--check" => check = true,
            "--save" => save = Some(args.next().ok_or("--save FILE")?),
            "--sizes" => {
                sizes = Some(
                    (args.next().ok_or("--sizes N,N,...")?.split(','))
                        .map(str::parse)
                        .collect::<Result<_, _>>()?,
                )
            }
            "--scale-runs" => {
                scale_runs = args
                    .next()
                    .ok_or("--scale-runs N")?
                    .parse::<usize>()?
                    .max(1)
            }
            other => return Err(format!("opzione sconosciuta: {other}").into()),
        }
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("albo.csv");
    let bytes = import::roster_csv(
        &generate_roster(rows, 2026, DEFAULT_PEC_DOMAIN),
        CsvStyle::EXCEL_IT,
    );
    std::fs::write(&file, &bytes)?;
    if let Some(save) = &save {
        std::fs::write(save, &bytes)?;
    }
    println!(
        "{rows} righe, {:.1} MB (Windows-1252, \";\", gg/mm/aaaa, CRLF); migliore di {runs} prove",
        bytes.len() as f64 / 1e6
    );
    let mut ours: Option<(Duration, Duration)> = None;
    let mut reference: Option<Duration> = None;
    let mut reference_cached: Option<Duration> = None;
    let best = |best: &mut Option<Duration>, time: Duration| {
        if best.is_none_or(|b| time < b) {
            *best = Some(time);
        }
    };
    for run in 0..runs {
        // Rotate the order so that none always runs first.
        for turn in 0..3 {
            let store_path = dir.path().join(format!("run{run}-{turn}.db"));
            match (run + turn) % 3 {
                0 => {
                    let timing = pecdesk_import(&file, &store_path, rows)?;
                    if ours.is_none_or(|b| timing.1 < b.1) {
                        ours = Some(timing);
                    }
                }
                1 => best(
                    &mut reference,
                    reference_import(&file, &store_path, rows, None)?,
                ),
                _ => best(
                    &mut reference_cached,
                    reference_import(&file, &store_path, rows, Some(IMPORT_CACHE_KIB))?,
                ),
            }
        }
    }
    let ((read, total), reference, reference_cached) = (
        ours.ok_or("no run")?,
        reference.ok_or("no run")?,
        reference_cached.ok_or("no run")?,
    );
    println!(
        "pecdesk        {:>6.3} s {:>6.0}k righe/s  (file letto e validato dopo {:.3} s, archivio {:.3} s dopo)",
        total.as_secs_f64(),
        thousands_per_second(rows, total),
        read.as_secs_f64(),
        (total - read).as_secs_f64()
    );
    println!(
        "riferimento    {:>6.3} s {:>6.0}k righe/s  (csv + un INSERT preparato, nessuna validazione)",
        reference.as_secs_f64(),
        thousands_per_second(rows, reference)
    );
    println!(
        "rif. + cache   {:>6.3} s {:>6.0}k righe/s  (lo stesso con la cache di SQLite di pecdesk: {:.2}x)",
        reference_cached.as_secs_f64(),
        thousands_per_second(rows, reference_cached),
        total.as_secs_f64() / reference_cached.as_secs_f64()
    );
    let ratio = total.as_secs_f64() / reference.as_secs_f64();
    let per_100k = total.as_secs_f64() * 100_000.0 / rows as f64;
    let ok = ratio <= MAX_RATIO && per_100k <= MAX_SECONDS_PER_100K;
    println!(
        "rapporto       {ratio:.2}x (limite {MAX_RATIO}x); {per_100k:.3} s per 100k righe (limite {MAX_SECONDS_PER_100K} s): {}",
        if ok { "OK" } else { "OLTRE IL LIMITE" }
    );
    // The other sources are measured at the federation's size, not beyond.
    let sources_ok = if rows <= 100_000 {
        sources::bench(dir.path(), &file, rows, runs, total)?
    } else {
        println!("(report e .xlsx misurati fino a 100k righe)");
        true
    };
    drop(bytes);
    let mut sizes = sizes.unwrap_or_else(|| vec![100_000, rows]);
    sizes.sort_unstable();
    sizes.dedup();
    let scale_ok = scale::bench(dir.path(), &sizes, scale_runs)?;
    if check && !(ok && sources_ok && scale_ok) {
        std::process::exit(1);
    }
    Ok(())
}

/// The other sources: a mailbox-state report of as many rows, stored as a
/// sync stores it, against the roster import just timed; the roster as an
/// `.xlsx` workbook (typed cells, as Excel saves it).
mod sources {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use chrono::Utc;
    use pecdesk::domain::DEFAULT_PEC_DOMAIN;
    use pecdesk::import::{self, ImportOptions, ReportOptions};
    use pecdesk::sample::generate_roster;
    use pecdesk::store::{Store, SyncOutcome};
    use pecdesk::sync::{ReportSync, store_report};
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

    use super::Error;

    const MAX_XLSX_SECONDS_PER_100K: f64 = 2.5;

    const MIGRATION: [&str; 6] = [
        "Migrata",
        "Non avviata",
        "Credenziali non valide",
        "2FA",
        "Completata",
        "Da migrare",
    ];

    /// A report listing every member's mailbox, as a provider's export would.
    fn report_csv(roster: &Path) -> Result<Vec<u8>, Error> {
        let parsed = import::read_path(roster, &ImportOptions::default())?;
        let mut text = String::from(
            "Casella;Stato migrazione;Data migrazione;Stato password;Ultimo accesso;E-mail di recupero;Cellulare di recupero;Confermati\r\n",
        );
        for (i, m) in parsed.members.iter().enumerate() {
            let migrated = i % 6 == 0 || i % 6 == 4;
            let when = if migrated { "05/03/2026 10:30" } else { "" };
            text.push_str(&format!(
                "{};{};{when};{};{when};{};{};{}\r\n",
                m.pec,
                MIGRATION[i % 6],
                if migrated { "Impostata" } else { "" },
                m.email_servizio.as_deref().unwrap_or_default(),
                m.cellulare.as_deref().unwrap_or_default(),
                if migrated { "Sì" } else { "No" },
            ));
        }
        Ok(text.into_bytes())
    }

    /// The roster's rows as typed cells: numeri and mobiles as numbers, dates as dates.
    fn roster_xlsx(rows: usize, path: &Path) -> Result<(), Error> {
        use chrono::Datelike;
        let members = generate_roster(rows, 2026, DEFAULT_PEC_DOMAIN);
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let dates = Format::new().set_num_format("dd/mm/yyyy");
        for (col, name) in import::ROSTER_HEADER.iter().enumerate() {
            sheet.write_string(0, col as u16, *name)?;
        }
        let date = |d: chrono::NaiveDate| {
            ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
        };
        for (i, m) in members.iter().enumerate() {
            let row = 1 + i as u32;
            match m.numero_iscrizione.parse::<f64>() {
                Ok(n) => sheet.write_number(row, 0, n)?,
                Err(_) => sheet.write_string(row, 0, &m.numero_iscrizione)?,
            };
            sheet.write_string(row, 1, &m.cognome)?;
            sheet.write_string(row, 2, &m.nome)?;
            sheet.write_string(row, 3, &m.codice_fiscale)?;
            if let Some(d) = m.data_nascita {
                sheet.write_datetime_with_format(row, 4, date(d)?, &dates)?;
            }
            if let Some(d) = m.data_iscrizione {
                sheet.write_datetime_with_format(row, 5, date(d)?, &dates)?;
            }
            sheet.write_string(row, 6, &m.pec)?;
            if let Some(e) = &m.email_servizio {
                sheet.write_string(row, 7, e)?;
            }
            if let Some(mobile) = &m.cellulare {
                let digits = mobile.trim_start_matches("+39");
                sheet.write_number(row, 8, digits.parse::<f64>()?)?;
            }
            if let Some(p) = &m.provincia {
                sheet.write_string(row, 9, p)?;
            }
        }
        book.save(path)?;
        Ok(())
    }

    fn report_run(
        dir: &Path,
        roster: &Path,
        report: &Path,
        run: usize,
    ) -> Result<(Duration, Duration), Error> {
        let store_path = dir.join(format!("report{run}.db"));
        // The albo is there first, as at an Ordine; not timed.
        import::import_path(
            &store_path,
            roster,
            &ImportOptions::default(),
            "bench",
            Utc::now(),
            |_| {},
            |_| Ok(()),
        )?;
        let (read, time, outcome) = store_report_file(report, &store_path)?;
        assert_eq!(outcome.new_mailboxes, outcome.mailboxes);
        Ok((read, time))
    }

    /// Reads the report and stores it into `store_path` as a complete sync
    /// of the domain: the time until it was read, the total and the outcome.
    fn store_report_file(
        report: &Path,
        store_path: &Path,
    ) -> Result<(Duration, Duration, SyncOutcome), Error> {
        let options = ReportOptions {
            domain: Some(DEFAULT_PEC_DOMAIN.to_string()),
            as_of: Some(Utc::now()),
            sheet: None,
        };
        let start = Instant::now();
        let parsed = import::read_report_path(report, &options)?;
        let read = start.elapsed();
        parsed.ensure_usable("report.csv")?;
        let mut store = Store::open(store_path)?;
        let outcome = store_report(
            &mut store,
            ReportSync {
                report: &parsed,
                file: "report.csv",
                partial: false,
                domain: Some(DEFAULT_PEC_DOMAIN),
                dry_run: false,
            },
            "bench",
        )?;
        let time = start.elapsed();
        assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
        assert_eq!(outcome.mailboxes, parsed.states.len());
        Ok((read, time, outcome))
    }

    fn xlsx_run(dir: &Path, xlsx: &Path, rows: usize, run: usize) -> Result<Duration, Error> {
        let store_path = dir.join(format!("xlsx{run}.db"));
        drop(Store::open(&store_path)?);
        let start = Instant::now();
        let summary = import::import_path(
            &store_path,
            xlsx,
            &ImportOptions::default(),
            "bench",
            Utc::now(),
            |_| {},
            |_| Ok(()),
        )?;
        let time = start.elapsed();
        assert_eq!(summary.stored.new, rows, "{:?}", summary.rejects.first());
        Ok(time)
    }

    /// A report alone, in a child process of its own:
    /// `--child report-file ROSTER REPORT` writes the report of a roster;
    /// `--child report REPORT STORE ROWS` stores it into STORE (the albo
    /// already there) as `report_run` does, and prints `seconds KB new
    /// changes`. Run twice on one store, the second is a sync of an
    /// unchanged report. None for the other child modes.
    pub fn child() -> Option<Result<(), Error>> {
        let args: Vec<String> = std::env::args().skip(2).collect();
        match args.first().map(String::as_str) {
            Some("report-file") => Some(match &args[1..] {
                [roster, out] => {
                    report_csv(Path::new(roster)).and_then(|bytes| Ok(std::fs::write(out, bytes)?))
                }
                _ => Err("--child report-file ROSTER REPORT".into()),
            }),
            Some("report") => Some(match &args[1..] {
                [report, store, rows] => report_child(Path::new(report), Path::new(store), rows),
                _ => Err("--child report REPORT STORE ROWS".into()),
            }),
            _ => None,
        }
    }

    fn report_child(report: &Path, store_path: &Path, rows: &str) -> Result<(), Error> {
        let rows: usize = rows.parse()?;
        let (_, time, outcome) = store_report_file(report, store_path)?;
        assert_eq!(outcome.mailboxes, rows);
        println!(
            "{} {} {} {}",
            time.as_secs_f64(),
            super::scale::peak_kib(),
            outcome.new_mailboxes,
            outcome.changes
        );
        Ok(())
    }

    /// Prints the figures; false when a limit is passed.
    pub fn bench(
        dir: &Path,
        roster: &Path,
        rows: usize,
        runs: usize,
        roster_time: Duration,
    ) -> Result<bool, Error> {
        let report = dir.join("report.csv");
        std::fs::write(&report, report_csv(roster)?)?;
        let xlsx = dir.join("albo.xlsx");
        roster_xlsx(rows, &xlsx)?;
        let mut best_report = Duration::MAX;
        let mut report_read = Duration::MAX;
        let mut best_xlsx = Duration::MAX;
        for run in 0..runs {
            let (read, total) = report_run(dir, roster, &report, run)?;
            if total < best_report {
                (best_report, report_read) = (total, read);
            }
            best_xlsx = best_xlsx.min(xlsx_run(dir, &xlsx, rows, run)?);
        }
        let report_ok = best_report <= roster_time;
        println!(
            "report caselle {:>6.3} s per {rows} caselle (letto e mappato dopo {:.3} s, poi sync completa con eventi): {}",
            best_report.as_secs_f64(),
            report_read.as_secs_f64(),
            if report_ok {
                "non più lento dell'albo, OK"
            } else {
                "PIÙ LENTO DELL'ALBO"
            }
        );
        let per_100k = best_xlsx.as_secs_f64() * 100_000.0 / rows as f64;
        let xlsx_ok = per_100k <= MAX_XLSX_SECONDS_PER_100K;
        println!(
            "albo .xlsx     {:>6.3} s, {per_100k:.3} s per 100k righe ({:.1} MB; limite {MAX_XLSX_SECONDS_PER_100K} s): {}",
            best_xlsx.as_secs_f64(),
            std::fs::metadata(&xlsx)?.len() as f64 / 1e6,
            if xlsx_ok { "OK" } else { "OLTRE IL LIMITE" }
        );
        Ok(report_ok && xlsx_ok)
    }
}

/// Time and peak memory at several sizes, fresh and re-import, each import
/// in a child process of its own.
mod scale {
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use chrono::Utc;
    use pecdesk::domain::DEFAULT_PEC_DOMAIN;
    use pecdesk::import::{self, CsvStyle, ImportOptions};
    use pecdesk::sample::generate_roster;
    use pecdesk::store::Store;

    use super::Error;

    /// The first argument of a child run: `CHILD fresh|reimport|changed FILE
    /// STORE ROWS` (`changed`: a re-import of a file some of whose rows
    /// changed since the store was made, which the parent does not run).
    pub const CHILD: &str = "--child";
    const MAX_PEAK_MB: f64 = 250.0;
    const MAX_SECONDS_1M: f64 = 5.0;
    /// Issue 17's figures at 100k before its work (fresh, re-import: seconds
    /// and peak MB), which the 100k run must not be worse than.
    const BEFORE_100K: [f64; 4] = [0.54, 122.0, 0.38, 157.0];

    /// The peak resident memory of this process (VmHWM), in KiB.
    pub(super) fn peak_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// One import, as `pecdesk import` runs it; prints seconds and peak KiB.
    pub fn child() -> Result<(), Error> {
        let args: Vec<String> = std::env::args().skip(2).collect();
        let [mode, file, store_path, rows] = &args[..] else {
            return Err("--child fresh|reimport|changed FILE STORE ROWS".into());
        };
        let rows: usize = rows.parse()?;
        let store_path = Path::new(store_path);
        if mode == "fresh" {
            // Created outside the timing, as the reference's.
            drop(Store::open(store_path)?);
        }
        let start = Instant::now();
        let summary = import::import_path(
            store_path,
            Path::new(file),
            &ImportOptions::default(),
            "bench",
            Utc::now(),
            |_| {},
            |_| Ok(()),
        )?;
        let time = start.elapsed();
        let counts = summary.stored;
        let expected = match mode.as_str() {
            "fresh" => counts.new,
            // A re-import of a file changed since (see `--child changed`):
            // every row new, updated or unchanged, the counts on stderr.
            "changed" => {
                eprintln!("{counts:?}");
                counts.new + counts.updated + counts.unchanged
            }
            _ => counts.unchanged,
        };
        assert_eq!(expected, rows, "{:?}", summary.rejects.first());
        println!("{} {}", time.as_secs_f64(), peak_kib());
        Ok(())
    }

    fn run_child(mode: &str, file: &Path, store: &Path, rows: usize) -> Result<(f64, f64), Error> {
        let out = Command::new(std::env::current_exe()?)
            .args([CHILD, mode])
            .arg(file)
            .arg(store)
            .arg(rows.to_string())
            .output()?;
        if !out.status.success() {
            return Err(format!("child {mode}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let text = String::from_utf8(out.stdout)?;
        let mut it = text.split_whitespace();
        let secs: f64 = it.next().ok_or("no time")?.parse()?;
        let kib: f64 = it.next().ok_or("no peak")?.parse()?;
        Ok((secs, kib / 1024.0))
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    }

    fn load() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// Prints the table; false when a goal is missed.
    pub fn bench(dir: &Path, sizes: &[usize], runs: usize) -> Result<bool, Error> {
        let mut files = Vec::new();
        for &rows in sizes {
            let file = dir.join(format!("scala-{rows}.csv"));
            let bytes = import::roster_csv(
                &generate_roster(rows, 2026, DEFAULT_PEC_DOMAIN),
                CsvStyle::EXCEL_IT,
            );
            std::fs::write(&file, &bytes)?;
            files.push(file);
        }
        println!(
            "\nscala: pecdesk import in un processo figlio per prova (picco = VmHWM del processo), mediane di {runs}; carico all'inizio: {}",
            load()
        );
        // [size][fresh time, fresh peak, re-import time, re-import peak][run]
        let mut samples = vec![[const { Vec::new() }; 4]; sizes.len()];
        let started = Instant::now();
        for run in 0..runs {
            for (i, &rows) in sizes.iter().enumerate() {
                let store = dir.join(format!("scala-{rows}-{run}.db"));
                let (t, m) = run_child("fresh", &files[i], &store, rows)?;
                samples[i][0].push(t);
                samples[i][1].push(m);
                let (t, m) = run_child("reimport", &files[i], &store, rows)?;
                samples[i][2].push(t);
                samples[i][3].push(m);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
                }
            }
        }
        let elapsed: Duration = started.elapsed();
        let medians: Vec<[f64; 4]> = samples
            .iter_mut()
            .map(|s| [0, 1, 2, 3].map(|k| median(&mut s[k])))
            .collect();
        let base = sizes.iter().position(|&r| r == 100_000);
        let mut ok = true;
        println!(
            "{:>9} | {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7}",
            "righe", "nuovo s", "picco MB", "x100k", "reimp. s", "picco MB", "x100k"
        );
        for (i, &rows) in sizes.iter().enumerate() {
            let [ft, fm, rt, rm] = medians[i];
            let ratio = |k: usize, t: f64| base.map_or(f64::NAN, |b| t / medians[b][k]);
            let linear_bound = rows as f64 / 100_000.0;
            let mut notes = Vec::new();
            if fm > MAX_PEAK_MB || rm > MAX_PEAK_MB {
                notes.push(format!("picco oltre {MAX_PEAK_MB} MB"));
            }
            if rows >= 1_000_000 && ft > MAX_SECONDS_1M * rows as f64 / 1e6 {
                notes.push(format!("oltre {MAX_SECONDS_1M} s per milione"));
            }
            if rows > 100_000 && base.is_some() && ratio(0, ft) > linear_bound {
                notes.push(format!("non lineare (limite {linear_bound:.0}x)"));
            }
            if rows > 100_000 && base.is_some() && ratio(2, rt) > linear_bound {
                notes.push(format!(
                    "reimportazione non lineare (limite {linear_bound:.0}x)"
                ));
            }
            if rows == 100_000 {
                let names = ["nuovo s", "nuovo MB", "reimp. s", "reimp. MB"];
                for (k, (value, before)) in medians[i].iter().zip(BEFORE_100K).enumerate() {
                    if *value > before {
                        notes.push(format!("{} peggio di prima ({before})", names[k]));
                    }
                }
            }
            ok &= notes.is_empty();
            println!(
                "{rows:>9} | {ft:>8.3} {fm:>8.1} {:>7.2} | {rt:>8.3} {rm:>8.1} {:>7.2}  {}",
                ratio(0, ft),
                ratio(2, rt),
                if notes.is_empty() {
                    "OK".to_string()
                } else {
                    notes.join("; ")
                }
            );
        }
        println!(
            "(tutte le prove in {:.0} s; carico alla fine: {})",
            elapsed.as_secs_f64(),
            load()
        );
        Ok(ok)
    }
}
