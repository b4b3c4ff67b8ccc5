//! Console speed at the federation's size and beyond, with the app's own
//! update and render code on a TestBackend:
//!
//!   cargo run --release --example bench_tui -- --members 100000
//!   cargo run --release --example bench_tui -- --members 1000000 --check
//!
//! Fills a fresh store with N members and mailbox states (not timed; `--db
//! PATH` keeps it, and a later run with the same `--db` reuses it), then, in a
//! child process so the peak memory is the console's own, measures as the
//! console starts: the first frame (open the store, take the dashboard's
//! figures from it, draw the dashboard) three ways: with no counts kept in
//! the store (they are counted from the tables), after a write since they
//! were kept (the earlier ones show, marked, while they are counted again)
//! and with current ones kept; then until the member table is loaded,
//! sorted, searchable and drawn (the entries load after the counts, the index
//! on another thread); keystroke-to-frame in search (p50/p99 over a scripted
//! sequence of queries, and over what a caller reads out), both to the
//! keystroke's own frame and to the frame with its results (which differ
//! when the matching ran off the UI thread), the time the UI
//! thread spends on a change of sort column, a scroll step and the peak
//! memory (VmHWM). Above 100k members a 100k store is measured too, for the
//! ratio. `--check` exits non-zero when a goal is missed:
//! first frame <= 0.3 s up to 100k and <= 0.4 s at 1M (with kept counts,
//! after a write, and with none kept: a first start on the store); search
//! p99, to the frame and to the results, <= 16 ms up to 100k and < 50 ms at
//! 1M; peak memory < 80 MB at 100k and < 450 MB at 1M;
//! a sort step on the UI thread < 50 ms.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pecdesk::app::{Action, Command, Effect, Settings, Snapshot, State, TableIndex, update};
use pecdesk::domain::{
    DEFAULT_PEC_DOMAIN, MailboxState, MigrationState, PasswordState, RecoveryContacts,
};
use pecdesk::i18n::Lang;
use pecdesk::store::Store;
use pecdesk::tui::{Keymap, Theme, Ui, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use tui_input::InputRequest;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn fill(path: &std::path::Path, members: usize) {
    let roster = pecdesk::sample::generate_roster(members, 7, DEFAULT_PEC_DOMAIN);
    let now = Utc::now();
    let states: Vec<MailboxState> = roster
        .iter()
        .enumerate()
        .filter(|(_, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN))
        .map(|(i, m)| {
            let migration = MigrationState::ALL[[1, 1, 0, 1, 2, 1, 3, 1][i % 8]];
            let password = if migration == MigrationState::Completed {
                PasswordState::ALL[i % 4]
            } else {
                PasswordState::NotSet
            };
            let sent = now - TimeDelta::hours((i % 48) as i64);
            MailboxState {
                address: m.pec.clone(),
                migration,
                migration_at: Some(now - TimeDelta::hours((i % 700) as i64)),
                password,
                link_sent_at: Some(sent),
                link_expires_at: Some(sent + TimeDelta::hours(24)),
                recovery: RecoveryContacts {
                    email_masked: m
                        .email_servizio
                        .as_deref()
                        .map(pecdesk::domain::contact::mask_email),
                    mobile_masked: m
                        .cellulare
                        .as_deref()
                        .map(pecdesk::domain::contact::mask_mobile),
                    confirmed: i % 3 == 0,
                },
                last_login_at: Some(now - TimeDelta::hours((i % 100) as i64)),
                must_change_password: false,
                updated_at: now,
            }
        })
        .collect();
    let mut store = Store::open(path).unwrap();
    store
        .upsert_members(
            &pecdesk::store::IncomingRoster::full(&roster),
            "bench",
            "bench",
            now,
        )
        .unwrap();
    store.apply_sync(&states, "bench", now, now).unwrap();
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(path: &std::path::Path) {
    let ui = Ui {
        theme: Theme { color: true },
        keymap: Keymap::default(),
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let settings = Settings {
        lang: Lang::It,
        pec_domain: DEFAULT_PEC_DOMAIN.into(),
        ordine: "Benchmark".into(),
        cutover: chrono::NaiveDate::from_ymd_opt(2027, 1, 31),
    };

    // As the console starts: open the store, count the dashboard's figures
    // in it, draw the dashboard (its first screen); then the entries load
    // (on another thread in the console) and the runtime builds the table's
    // order and search index, timed here on this one until the table is drawn.
    // A start after a write since the counts were kept (here an action that
    // failed: one audit event, no change), or with none kept at all.
    if std::env::args().any(|a| a == "--after-write") {
        let mut store = Store::open(path).unwrap();
        store
            .record_action(&pecdesk::store::ActionResult {
                address: "bench@pec.fofi.it".into(),
                member_id: None,
                operator: "bench".into(),
                at: Utc::now(),
                detail: "benchmark: a write since the counts were kept".into(),
                outcome: pecdesk::store::Outcome::Failed,
                change: None,
                transient: false,
            })
            .unwrap();
    }
    if std::env::args().any(|a| a == "--forget-counts") {
        Store::open(path).unwrap();
        rusqlite::Connection::open(path)
            .unwrap()
            .execute("DELETE FROM dashboard_counts", [])
            .unwrap();
    }
    let start = Instant::now();
    let store = Store::open(path).unwrap();
    let mut state = State::new(settings, Utc::now());
    let effects = state.first_load();
    // The entries load on another thread, as the runtime loads them, when
    // the state asks for them (with its first counts).
    let mut loading = None;
    let mut load_when_asked = |effects: Vec<Effect>| {
        if effects.contains(&Effect::Load) {
            let owned = path.to_path_buf();
            loading = Some(std::thread::spawn(move || {
                let store = Store::open(&owned).unwrap();
                let snapshot = Snapshot {
                    entries: store.roster_rows().unwrap(),
                    last_sync: store.last_sync().unwrap(),
                };
                (snapshot, start.elapsed())
            }));
        }
    };
    // As the runtime counts: the store's kept counts when nothing was
    // written since; else its earlier ones, saying so, while it counts again.
    let mut recount = None;
    for effect in effects {
        if let Effect::LoadCounts { pec_domain, now } = effect {
            let last_sync = store.last_sync().unwrap();
            if let Some(counts) = store.kept_dashboard_counts(&pec_domain, now).unwrap() {
                load_when_asked(update(
                    &mut state,
                    Action::Counted(Ok(Box::new((counts, last_sync)))),
                ));
            } else {
                if let Some((counts, at)) =
                    store.earlier_dashboard_counts(&pec_domain, now).unwrap()
                {
                    load_when_asked(update(
                        &mut state,
                        Action::CountedEarlier(Box::new((counts, last_sync.clone(), at))),
                    ));
                }
                recount = Some((pec_domain, now, last_sync));
            }
        }
    }
    let shown_earlier = state.counts_as_of().is_some();
    if state.dashboard_ready() {
        terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
    }
    let mut first_frame = start.elapsed();
    let counted_fresh = recount.is_some() && !shown_earlier;
    if let Some((pec_domain, now, last_sync)) = recount {
        let counts = store.dashboard_counts(&pec_domain, now).unwrap();
        load_when_asked(update(
            &mut state,
            Action::Counted(Ok(Box::new((counts, last_sync)))),
        ));
        terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
        if !shown_earlier {
            first_frame = start.elapsed();
        }
        println!(
            "exact counts on screen: {:.1} ms from start",
            ms(start.elapsed())
        );
    }
    let counted_rss = rss_mb();
    let (snapshot, loaded) = loading.expect("the entries were asked for").join().unwrap();
    let loaded_rss = rss_mb();
    let effects = update(&mut state, Action::Loaded(Ok(snapshot)));
    for effect in effects {
        if let Effect::BuildIndex(request) = effect {
            let index = TableIndex::build(&request);
            update(&mut state, Action::Indexed(Box::new(index)));
        }
    }
    update(&mut state, Action::Command(Command::Members));
    terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
    let table_ready = start.elapsed();
    let indexed_rss = rss_mb();
    assert!(!state.indexing(), "the index is in");
    println!("members: {}", state.entries.len());
    println!(
        "cold start to first frame (dashboard from the store's {} counts): {:.1} ms",
        if shown_earlier {
            "earlier (recounting)"
        } else if counted_fresh {
            "freshly counted"
        } else {
            "kept"
        },
        ms(first_frame)
    );
    println!(
        "member table sorted and searchable: {:.1} ms from start (entries read by {:.1} ms)",
        ms(table_ready),
        ms(loaded)
    );
    println!(
        "resident memory: {counted_rss:.1} MB after the counts, {loaded_rss:.1} MB with the entries, {indexed_rss:.1} MB with the index"
    );
    result(
        match std::env::args().find(|a| a == "--after-write" || a == "--forget-counts") {
            Some(a) if a == "--after-write" => "first_frame_after_write_ms",
            Some(_) => "first_frame_nothing_kept_ms",
            None => "first_frame_ms",
        },
        ms(first_frame),
    );
    result("table_ready_ms", ms(table_ready));
    if std::env::args().any(|a| a == "--start-only") {
        return;
    }

    // A keystroke as the runtime handles it: a scan sent off the UI thread
    // runs while the keystroke's frame is drawn (the earlier matches, marked
    // as searching); its results make another frame (two when they are
    // many: the first pages ranked, then the whole list). Timed to the
    // keystroke's frame, to the first frame with its results and to the
    // frame with the whole list ranked.
    let mut ranked_in_full = Vec::new();
    let mut keystroke = |state: &mut State, action: Action| -> (Duration, Duration, bool) {
        let t = Instant::now();
        let scans: Vec<_> = update(state, action)
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::Search(request) => {
                    let (tx, rx) = std::sync::mpsc::channel();
                    std::thread::spawn(move || {
                        request.run_staged(&mut |result| tx.send(result).unwrap())
                    });
                    Some(rx)
                }
                _ => None,
            })
            .collect();
        terminal.draw(|f| view::draw(f, state, &ui)).unwrap();
        let frame = t.elapsed();
        let scans_were_empty = scans.is_empty();
        let mut shown = None;
        for scan in scans {
            for result in scan {
                update(state, Action::Searched(Box::new(result)));
                terminal.draw(|f| view::draw(f, state, &ui)).unwrap();
                shown.get_or_insert(t.elapsed());
            }
        }
        assert!(!state.search_under_way());
        ranked_in_full.push(t.elapsed());
        (frame, shown.unwrap_or(t.elapsed()), !scans_were_empty)
    };
    let mut timings = Vec::new();
    let mut results = Vec::new();
    let mut slowest_search: Vec<(Duration, String)> = Vec::new();
    let mut background = 0;
    let search_cpu = cpu_ms();
    update(&mut state, Action::Command(Command::Search));
    for query in [
        "rossi mar",
        "bianchi",
        "RSSMRA",
        "luca.rossi@pec",
        "1234",
        "conte giorgia",
        "zz",
    ] {
        let edits = query
            .chars()
            .map(InputRequest::InsertChar)
            .chain(query.chars().map(|_| InputRequest::DeletePrevChar));
        for edit in edits {
            let (frame, shown, off_thread) = keystroke(&mut state, Action::SearchEdit(edit));
            background += usize::from(off_thread);
            timings.push(frame);
            results.push(shown);
            slowest_search.push((shown, state.search.value().to_string()));
        }
    }
    let search_cpu = cpu_ms() - search_cpu;
    timings.sort();
    results.sort();
    println!(
        "search keystroke to frame over {} keystrokes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        timings.len(),
        ms(percentile(&timings, 0.5)),
        ms(percentile(&timings, 0.99)),
        ms(*timings.last().unwrap())
    );
    println!(
        "search keystroke to its results on screen ({background} matched off the UI thread): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&results, 0.5)),
        ms(percentile(&results, 0.99)),
        ms(*results.last().unwrap())
    );
    print_slowest(&mut slowest_search);
    let searched_keystrokes = results.len();
    // What a caller reads out on the phone, timed apart so the figures above
    // stay comparable with earlier runs.
    let mut caller = Vec::new();
    let mut caller_results = Vec::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    let caller_cpu = cpu_ms();
    for query in [
        "347 123 4567",
        "+39 347 1234567",
        "0039 347 123 4567",
        "giulia42@libero",
        "RSSMRA80",
        "10234",
    ] {
        let edits = query
            .chars()
            .map(InputRequest::InsertChar)
            .chain(query.chars().map(|_| InputRequest::DeletePrevChar));
        for edit in edits {
            let deleting = edit == InputRequest::DeletePrevChar;
            let (frame, shown, _) = keystroke(&mut state, Action::SearchEdit(edit));
            caller.push(frame);
            caller_results.push(shown);
            let value = state.search.value();
            slowest.push((
                shown,
                if deleting {
                    format!("{value} (deleting)")
                } else {
                    value.to_string()
                },
            ));
        }
    }
    let caller_cpu = cpu_ms() - caller_cpu;
    caller.sort();
    caller_results.sort();
    // On a shared machine the times above wait for a core; the CPU time
    // (every thread of the process) is the work itself.
    println!(
        "CPU time (all threads) of the search keystrokes: {search_cpu:.0} ms for the {}, {caller_cpu:.0} ms for the caller's {}",
        timings.len(),
        caller.len()
    );
    print_slowest(&mut slowest);
    println!(
        "caller's words (mobile spellings, e-mail, codice fiscale, numero) over {} keystrokes: keystroke to frame p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; to results p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        caller.len(),
        ms(percentile(&caller, 0.5)),
        ms(percentile(&caller, 0.99)),
        ms(*caller.last().unwrap()),
        ms(percentile(&caller_results, 0.5)),
        ms(percentile(&caller_results, 0.99)),
        ms(*caller_results.last().unwrap())
    );

    let mut ranked_search = ranked_in_full[..searched_keystrokes].to_vec();
    let mut ranked_caller = ranked_in_full[searched_keystrokes..].to_vec();
    ranked_search.sort();
    ranked_caller.sort();
    println!(
        "keystroke to its whole list ranked on screen (past the first pages): search p50 {:.2} ms, p99 {:.2} ms; caller's words p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&ranked_search, 0.5)),
        ms(percentile(&ranked_search, 0.99)),
        ms(percentile(&ranked_caller, 0.5)),
        ms(percentile(&ranked_caller, 0.99))
    );
    println!(
        "peak memory after the search keystrokes (VmHWM): {:.1} MB",
        peak_memory_mb().unwrap_or(0.0)
    );
    update(&mut state, Action::Command(Command::Back));
    let steps = 2000;
    let t = Instant::now();
    for _ in 0..steps {
        update(&mut state, Action::Command(Command::Down));
        terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
    }
    println!(
        "scroll step (down + frame): {:.3} ms",
        ms(t.elapsed()) / steps as f64
    );
    let t = Instant::now();
    for _ in 0..200 {
        update(&mut state, Action::Command(Command::PageDown));
        terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
    }
    println!(
        "page step (page down + frame): {:.3} ms",
        ms(t.elapsed()) / 200.0
    );
    // A change of sort column, as the UI thread sees it: the keystroke and
    // its frame (the new order is asked for, the old one stays), then the
    // frame that takes the new order; the order itself is made on another
    // thread, as the runtime does, and timed apart.
    let mut sort_steps = Vec::new();
    let mut sort_ready = Vec::new();
    for _ in 0..pecdesk::app::SortColumn::ALL.len() {
        let t = Instant::now();
        let effects = update(&mut state, Action::Command(Command::SortNext));
        terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
        let keystroke = t.elapsed();
        let mut applied = Duration::ZERO;
        for effect in effects {
            if let Effect::Sort(request) = effect {
                let sorted = std::thread::spawn(move || request.run()).join().unwrap();
                let t = Instant::now();
                update(&mut state, Action::Sorted(Box::new(sorted)));
                terminal.draw(|f| view::draw(f, &state, &ui)).unwrap();
                applied = applied.max(t.elapsed());
            }
        }
        sort_ready.push(t.elapsed());
        sort_steps.push(keystroke.max(applied));
    }
    sort_steps.sort();
    sort_ready.sort();
    println!(
        "sort column change on the UI thread (keystroke or the frame taking the new order, the longer): median {:.2} ms, max {:.2} ms; new order shown after median {:.2} ms, max {:.2} ms",
        ms(percentile(&sort_steps, 0.5)),
        ms(*sort_steps.last().unwrap()),
        ms(percentile(&sort_ready, 0.5)),
        ms(*sort_ready.last().unwrap())
    );
    let peak = peak_memory_mb();
    match peak {
        Some(mb) => println!("peak memory (VmHWM): {mb:.1} MB"),
        None => println!("peak memory: not available on this system"),
    }
    result("search_p99_ms", ms(percentile(&timings, 0.99)));
    result("search_results_p99_ms", ms(percentile(&results, 0.99)));
    result("caller_p99_ms", ms(percentile(&caller, 0.99)));
    result(
        "caller_results_p99_ms",
        ms(percentile(&caller_results, 0.99)),
    );
    result("sort_max_ms", ms(*sort_steps.last().unwrap()));
    result("search_ranked_p99_ms", ms(percentile(&ranked_search, 0.99)));
    result("caller_ranked_p99_ms", ms(percentile(&ranked_caller, 0.99)));
    result("search_cpu_ms", search_cpu);
    result("caller_cpu_ms", caller_cpu);
    if let Some(mb) = peak {
        result("peak_mb", mb);
    }
}

/// A figure for the parent process to compare and check.
fn result(key: &str, value: f64) {
    println!("RESULT {key}={value:.3}");
}

/// CPU time of the whole process (every thread) so far.
fn cpu_ms() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The goals of issue 17 for a store of `members`, as (figure, limit) pairs.
fn goals(members: usize) -> Vec<(&'static str, f64)> {
    let large = members > 100_000;
    vec![
        ("first_frame_ms", if large { 400.0 } else { 300.0 }),
        (
            "first_frame_after_write_ms",
            if large { 400.0 } else { 300.0 },
        ),
        (
            "first_frame_nothing_kept_ms",
            if large { 400.0 } else { 300.0 },
        ),
        ("search_p99_ms", if large { 50.0 } else { 16.0 }),
        ("caller_p99_ms", if large { 50.0 } else { 16.0 }),
        // The frame with the keystroke's own results, not only the next one.
        ("search_results_p99_ms", if large { 50.0 } else { 16.0 }),
        ("caller_results_p99_ms", if large { 50.0 } else { 16.0 }),
        ("peak_mb", if large { 450.0 } else { 80.0 }),
        ("sort_max_ms", 50.0),
    ]
}

/// Fills (or reuses) a store of `members` at `path` and measures it in a
/// child process; the child's figures.
fn run(path: &std::path::Path, members: usize, extra: &[String]) -> BTreeMap<String, f64> {
    if path.exists() {
        println!("reusing the store at {}", path.display());
    } else {
        let t = Instant::now();
        fill(path, members);
        println!(
            "store filled with {members} members in {:.1} s (not part of the figures)",
            t.elapsed().as_secs_f64()
        );
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--measure")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the measuring process failed");
    text.lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The four keystrokes whose results took longest, slowest first.
fn print_slowest(keystrokes: &mut [(Duration, String)]) {
    keystrokes.sort_by_key(|k| std::cmp::Reverse(k.0));
    for (took, query) in keystrokes.iter().take(4) {
        println!("  slowest results: {:.2} ms for \"{query}\"", ms(*took));
    }
}

fn main() {
    if let Some(db) = arg("--measure") {
        measure(std::path::Path::new(&db));
        return;
    }
    let members: usize = arg("--members")
        .map(|m| m.parse().expect("--members N"))
        .unwrap_or(100_000);
    let check = std::env::args().any(|a| a == "--check");
    let extra: Vec<String> = std::env::args().filter(|a| a == "--start-only").collect();
    // `--db PATH` keeps the filled store for profiling (`--measure PATH`) and
    // for later runs; above 100k the 100k store is `PATH.100k`.
    let dir = tempfile::tempdir().unwrap();
    let path = arg("--db")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    // The starts the store's kept counts do not serve as they are: with
    // none kept (the first start after the first import), then after a
    // write since they were kept; then the usual start.
    let mut figures = BTreeMap::new();
    for variant in ["--forget-counts", "--after-write"] {
        println!("== {members} members, start with {variant}");
        figures.extend(run(
            &path,
            members,
            &["--start-only".into(), variant.into()],
        ));
    }
    println!("== {members} members");
    figures.extend(run(&path, members, &extra));
    let mut missed = Vec::new();
    for (key, limit) in goals(members) {
        if let Some(&value) = figures.get(key)
            && value >= limit
        {
            missed.push(format!("{key} {value:.1} (goal < {limit})"));
        }
    }
    if members > 100_000 {
        let small = std::path::PathBuf::from(format!("{}.100k", path.display()));
        println!("== 100000 members, for the ratio");
        let base = run(&small, 100_000, &extra);
        for (key, value) in &figures {
            if let Some(&b) = base.get(key).filter(|&&b| b > 0.0) {
                println!(
                    "ratio {members} / 100000 for {key}: {:.1}x ({value:.1} / {b:.1})",
                    value / b
                );
            }
        }
    }
    if missed.is_empty() {
        println!("goals for {members} members: all met");
    } else {
        println!("goals for {members} members NOT met: {}", missed.join("; "));
        if check {
            std::process::exit(1);
        }
    }
}
