//! Soak: the provider simulator in this process with latency, 5xx, late
//! answers and 429s, while pecdesk processes (the built binary) sync, import,
//! resend and resume bulk jobs on one store, two at a time, and are killed
//! (SIGKILL) at random moments. A seeded RNG picks what and when; every count
//! and wait is bounded. At the end it finishes the queue, syncs, and checks:
//!
//! 1. every mailbox's state in the store equals the simulator's (a `GET
//!    /v1/mailboxes` listing through `ProviderClient`);
//! 2. no idempotency key caused two state changes: for each mailbox, the
//!    simulator's `resendRecoveryEmail` state changes lie between the number
//!    of its job items that are done and the number of its job items. Each job
//!    item has its own key, and keys are only ever sent through items, so more
//!    changes than items means a key changed the state twice; fewer than done
//!    items means an item was marked done without its change;
//! 3. `PRAGMA integrity_check` is ok;
//! 4. the event log has no gap: its ids are exactly 1..=n;
//!
//! plus: no process ever met "database is locked", no job item was recorded
//! twice (`attempts` > 1: no "retry the failed" runs here), and no job is
//! left unfinished. Exits non-zero if a check fails.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example soak -- --minutes 30
//! ```
//!
//! Options: `--minutes N` or `--seconds N` (default 3 minutes), `--bin PATH`
//! (default: `pecdesk` next to the examples directory, i.e.
//! target/release/pecdesk), `--seed S`, `--members N` (default 2000),
//! `--workers N` (processes at once, default 2).
//!
//! The late answers come 1.5 s after the request, past the processes' request
//! timeout (`request_timeout_secs = 1` in their config), so they meet real
//! time-outs and retry with the same idempotency key; so do bulk jobs run in
//! this process with a 300 ms timeout, which are cut short at random too.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use pecdesk::domain::{Category, DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, Faults, SimConfig};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::queue::{self, Control};
use pecdesk::store::{JobKind, NewJobItem, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOKEN: &str = "soak-token";

/// How a soak runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub bin: PathBuf,
    pub seed: u64,
    pub members: usize,
    pub workers: usize,
    /// One line per operation on stderr.
    pub verbose: bool,
}

impl Options {
    pub fn new(duration: Duration, bin: PathBuf) -> Self {
        Self {
            duration,
            bin,
            seed: 2026,
            members: 2000,
            workers: 2,
            verbose: false,
        }
    }
}

/// One check and its verdict.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What a soak did and found.
#[derive(Debug, Default)]
pub struct Report {
    pub elapsed: Duration,
    /// Operations started, by name.
    pub operations: BTreeMap<String, u64>,
    /// How processes ended: "exit 0", "exit 2", "killed", ...
    pub endings: BTreeMap<String, u64>,
    /// First lines of unexpected errors, a few.
    pub errors: Vec<String>,
    pub locked: u64,
    pub faults: serde_json::Value,
    pub requests: BTreeMap<String, (u64, u64)>,
    pub events: usize,
    pub jobs: usize,
    pub items: usize,
    pub items_done: usize,
    pub items_failed: usize,
    pub mailboxes: usize,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn print(&self) {
        println!("soak: {:.1} s", self.elapsed.as_secs_f64());
        println!("operations:");
        for (op, n) in &self.operations {
            println!("  {op:<22} {n}");
        }
        println!("process endings:");
        for (how, n) in &self.endings {
            println!("  {how:<22} {n}");
        }
        println!("\"database is locked\" seen: {}", self.locked);
        for e in &self.errors {
            println!("  unexpected: {e}");
        }
        println!("faults injected by the simulator: {}", self.faults);
        println!("requests / state changes at the simulator:");
        for (op, (requests, changes)) in &self.requests {
            println!("  {op:<22} {requests:>8} {changes:>8}");
        }
        println!(
            "store: {} mailboxes, {} events, {} jobs, {} job items ({} done, {} failed)",
            self.mailboxes, self.events, self.jobs, self.items, self.items_done, self.items_failed
        );
        println!("checks:");
        for c in &self.checks {
            println!(
                "  [{}] {}: {}",
                if c.ok { "ok" } else { "FAILED" },
                c.name,
                c.detail
            );
        }
    }
}

struct Ctx {
    bin: PathBuf,
    home: PathBuf,
    db: PathBuf,
    config: PathBuf,
    url: String,
    rosters: Vec<PathBuf>,
    stop: AtomicBool,
    verbose: bool,
    /// Held shared by every operation; a night takes it alone.
    day: RwLock<()>,
}

#[derive(Default)]
struct Tally {
    operations: BTreeMap<String, u64>,
    endings: BTreeMap<String, u64>,
    errors: Vec<String>,
    locked: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.operations {
            *self.operations.entry(k).or_default() += v;
        }
        for (k, v) in other.endings {
            *self.endings.entry(k).or_default() += v;
        }
        self.errors.extend(other.errors);
        self.errors.truncate(10);
        self.locked += other.locked;
    }
}

fn write_roster(path: &Path, members: &[Member]) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_path(path)?;
    w.write_record([
        "Numero Iscrizione",
        "Cognome",
        "Nome",
        "Codice Fiscale",
        "Indirizzo PEC",
        "E-mail",
        "Cellulare",
        "Provincia",
    ])?;
    for m in members {
        w.write_record([
            m.numero_iscrizione.as_str(),
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &m.pec,
            m.email_servizio.as_deref().unwrap_or_default(),
            m.cellulare.as_deref().unwrap_or_default(),
            m.provincia.as_deref().unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The full roster, and variants as later exports bring them: changed
/// mobiles, members gone, members new (with no mailbox at the provider).
fn rosters(dir: &Path, base: &[Member], seed: u64) -> anyhow::Result<Vec<PathBuf>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut out = Vec::new();
    let full = dir.join("albo-0.csv");
    write_roster(&full, base)?;
    out.push(full);
    for variant in 1..=3 {
        let mut members: Vec<Member> = base
            .iter()
            .filter(|_| variant != 2 || rng.random_bool(0.97))
            .cloned()
            .collect();
        if variant == 1 {
            for m in members.iter_mut() {
                if rng.random_bool(0.05) {
                    m.cellulare = Some(format!("+39347{:07}", rng.random_range(0..10_000_000)));
                }
            }
        }
        if variant == 3 {
            let extra =
                pecdesk::sample::generate_roster(base.len() + 40, seed ^ 0xe47a, "altro.example");
            members.extend(
                extra
                    .into_iter()
                    .rev()
                    .take(40)
                    .filter(|m| base.iter().all(|b| b.codice_fiscale != m.codice_fiscale)),
            );
        }
        let path = dir.join(format!("albo-{variant}.csv"));
        write_roster(&path, &members)?;
        out.push(path);
    }
    Ok(out)
}

impl Ctx {
    fn command(&self, operator: &str) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.config)
            .env("HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env("PECDESK_PROVIDER_URL", &self.url)
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", operator)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Runs pecdesk with `args`; kills it after `kill_after` if still running
    /// (and in any case after `cap`). Returns how it ended and its stderr.
    fn run(
        &self,
        operator: &str,
        args: &[String],
        kill_after: Option<Duration>,
        cap: Duration,
    ) -> anyhow::Result<(String, String)> {
        let mut child = self.command(operator).args(args).spawn()?;
        let mut stderr = child.stderr.take().expect("piped");
        // Drain stderr on a thread so the child never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let started = Instant::now();
        let limit = kill_after.unwrap_or(cap).min(cap);
        let ending = loop {
            if let Some(status) = child.try_wait()? {
                break match status.code() {
                    Some(code) => format!("exit {code}"),
                    None => "signal".to_string(),
                };
            }
            if started.elapsed() >= limit {
                child.kill()?;
                child.wait()?;
                break "killed".to_string();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let text = reader.join().unwrap_or_default();
        Ok((ending, text))
    }
}

const STATES: [&str; 5] = [
    "link_expired",
    "not_migrated",
    "failed_credentials",
    "failed_2fa",
    "migrated",
];

fn worker(
    id: usize,
    ctx: Arc<Ctx>,
    seed: u64,
    deadline: Instant,
    rt: tokio::runtime::Handle,
) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(id as u64 * 7919));
    let mut tally = Tally::default();
    let operator = format!("operatore-{id}");
    while Instant::now() < deadline && !ctx.stop.load(Ordering::SeqCst) {
        let roll: f64 = rng.random();
        // Half of the processes are killed at a random moment.
        let kill_after = rng
            .random_bool(0.5)
            .then(|| Duration::from_millis(rng.random_range(20..4000)));
        let left = deadline.saturating_duration_since(Instant::now());
        let cap = left
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(90));
        let (name, args): (&str, Vec<String>) = if roll < 0.20 {
            ("sync", vec!["sync".into()])
        } else if roll < 0.25 {
            ("sync --full", vec!["sync".into(), "--full".into()])
        } else if roll < 0.40 {
            let roster = &ctx.rosters[rng.random_range(0..ctx.rosters.len())];
            (
                "import",
                vec!["import".into(), roster.to_string_lossy().into_owned()],
            )
        } else if roll < 0.65 {
            let mut args = vec!["resend".to_string(), "--yes".to_string()];
            for _ in 0..rng.random_range(0..3) {
                args.push("--state".into());
                args.push(STATES[rng.random_range(0..STATES.len())].into());
            }
            if rng.random_bool(0.3) {
                args.push("--older-than".into());
                args.push("1h".into());
            }
            ("resend --yes", args)
        } else if roll < 0.82 {
            (
                "queue resume --yes",
                vec!["queue".into(), "resume".into(), "--yes".into()],
            )
        } else if roll < 0.88 {
            *tally
                .operations
                .entry("night (+24-30 h)".into())
                .or_default() += 1;
            night(&ctx, &rt, &mut rng, &mut tally);
            continue;
        } else {
            *tally.operations.entry("in-process job".into()).or_default() += 1;
            let _day = ctx.day.read().unwrap_or_else(|e| e.into_inner());
            let mut ending = rt.block_on(in_process_job(&ctx, &mut rng, kill_after));
            if ending.contains("è in corso su questo archivio") {
                ending = "refused (queue busy)".into();
            }
            *tally
                .endings
                .entry(format!("in-process {ending}"))
                .or_default() += 1;
            continue;
        };
        *tally.operations.entry(name.into()).or_default() += 1;
        let _day = ctx.day.read().unwrap_or_else(|e| e.into_inner());
        match ctx.run(&operator, &args, kill_after, cap) {
            Ok((ending, stderr)) => {
                if ctx.verbose {
                    eprintln!("[{id}] {name}: {ending}");
                }
                if stderr.to_lowercase().contains("database is locked") {
                    tally.locked += 1;
                }
                let expected = match ending.as_str() {
                    "exit 0" | "exit 1" | "exit 3" | "killed" => true,
                    // Another run of the same job holds its lock.
                    "exit 2" => stderr.contains("è in corso su questo archivio"),
                    _ => false,
                };
                if !expected && tally.errors.len() < 10 {
                    let first = stderr.lines().last().unwrap_or_default();
                    tally.errors.push(format!("{name}: {ending}: {first}"));
                }
                *tally.endings.entry(ending).or_default() += 1;
            }
            Err(e) => tally.errors.push(format!("{name}: could not run: {e}")),
        }
    }
    tally
}

/// A night passes: once nothing else runs, the queue is finished (unkilled)
/// and the simulator's clock jumps 24 to 30 hours, so pending links expire.
///
/// The queue is emptied first because the provider remembers an idempotency
/// key for 24 hours only (the contract): an item resumed after the jump, whose
/// first request had reached the provider before a kill, would be a new
/// request to it. See the report on `queue resume` after more than a day.
fn night(ctx: &Ctx, rt: &tokio::runtime::Handle, rng: &mut StdRng, tally: &mut Tally) {
    let _alone = ctx.day.write().unwrap_or_else(|e| e.into_inner());
    let args: Vec<String> = ["queue", "resume", "--yes"].map(String::from).into();
    for _ in 0..5 {
        match ctx.run("notte", &args, None, Duration::from_secs(300)) {
            Ok((ending, stderr)) => {
                if stderr.to_lowercase().contains("database is locked") {
                    tally.locked += 1;
                }
                *tally
                    .endings
                    .entry(format!("night resume {ending}"))
                    .or_default() += 1;
            }
            Err(e) => tally.errors.push(format!("night: could not run: {e}")),
        }
        let unfinished = Store::open(&ctx.db)
            .and_then(|s| s.unfinished_jobs())
            .map(|jobs| jobs.len())
            .unwrap_or(1);
        if unfinished == 0 {
            break;
        }
    }
    let hours: i64 = rng.random_range(24..=30);
    let url = format!("{}{}", ctx.url, sim::CLOCK_PATH);
    let advanced = rt.block_on(async move {
        reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({ "advance_seconds": hours * 3600 }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
    });
    if let Err(e) = advanced {
        tally.errors.push(format!("night: clock not advanced: {e}"));
    }
}

/// A client that times out long before a late answer comes.
fn impatient_client(url: &str) -> ProviderClient {
    let mut config = ClientConfig::new(url, TOKEN);
    config.request_timeout = Duration::from_millis(300);
    config.connect_timeout = Duration::from_secs(1);
    config.max_attempts = 4;
    config.backoff_base = Duration::from_millis(20);
    config.max_per_second = 0;
    config.max_in_flight = 8;
    ProviderClient::new(config).expect("loopback url")
}

/// A bulk resend run in this process with a short timeout, cut short (as a
/// kill would) at a random moment: the job stays in the queue to resume.
async fn in_process_job(ctx: &Ctx, rng: &mut StdRng, cut_after: Option<Duration>) -> String {
    let state = pecdesk::report::parse_state(STATES[rng.random_range(0..STATES.len())]);
    let states: Vec<Category> = state.into_iter().collect();
    let created = (|| -> anyhow::Result<Option<i64>> {
        let mut store = Store::open(&ctx.db)?;
        let entries = store.roster_entries()?;
        let targets = pecdesk::headless::resend_targets(
            &entries,
            &states,
            None,
            DEFAULT_PEC_DOMAIN,
            Utc::now(),
        );
        if targets.is_empty() {
            return Ok(None);
        }
        let items: Vec<NewJobItem> = targets
            .iter()
            .take(200)
            .map(|e| NewJobItem {
                address: e.address().to_string(),
                member_id: e.member_id,
                payload: None,
            })
            .collect();
        Ok(Some(store.create_job(
            JobKind::Resend,
            "in-process",
            &items,
            Utc::now(),
        )?))
    })();
    let job = match created {
        Ok(Some(job)) => job,
        Ok(None) => return "nothing to do".into(),
        Err(e) => return format!("store error: {e}"),
    };
    let client = impatient_client(&ctx.url);
    let (_control, rx) = tokio::sync::watch::channel(Control::Run);
    let run = queue::run_job(&ctx.db, &client, job, "in-process", 8, rx, |_| {});
    match cut_after {
        Some(after) => match tokio::time::timeout(after, run).await {
            Ok(Ok(_)) => "finished".into(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "cut short".into(),
        },
        None => match run.await {
            Ok(_) => "finished".into(),
            Err(e) => format!("error: {e}"),
        },
    }
}

/// Runs a soak and checks the end state.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    // reqwest is built without a default crypto provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(soak(options, runtime.handle().clone()))
}

async fn soak(options: &Options, rt: tokio::runtime::Handle) -> anyhow::Result<Report> {
    anyhow::ensure!(
        options.bin.is_file(),
        "{} not found: build it first (cargo build --release) or pass --bin PATH",
        options.bin.display()
    );
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("pecdesk-soak-").tempdir()?;
    let home = dir.path().to_path_buf();
    let config = home.join("config.toml");
    std::fs::write(
        &config,
        "max_in_flight = 8\nmax_per_second = 0\nrequest_timeout_secs = 1\n",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    }
    let members =
        pecdesk::sample::generate_roster(options.members, options.seed, DEFAULT_PEC_DOMAIN);
    let mut sim_config = SimConfig::new(TOKEN);
    sim_config.seed = options.seed;
    sim_config.faults = Faults {
        latency: Duration::from_millis(5),
        fail_rate: 0.05,
        timeout_rate: 0.01,
        late_answer_delay: Duration::from_millis(1500),
        rate_limit: Some(150),
    };
    let sim = sim::start(&members, sim_config, "127.0.0.1:0".parse()?).await?;
    let ctx = Arc::new(Ctx {
        bin: options.bin.clone(),
        db: home.join("soak.db"),
        config,
        url: sim.base_url(),
        rosters: rosters(&home, &members, options.seed)?,
        home,
        stop: AtomicBool::new(false),
        verbose: options.verbose,
        day: RwLock::new(()),
    });

    // The first import and sync, not killed (a sync may meet faults: retried).
    let mut tally = Tally::default();
    let setup = |args: &[&str]| -> anyhow::Result<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (ending, stderr) = ctx.run("setup", &args, None, Duration::from_secs(300))?;
        anyhow::ensure!(ending != "exit 2", "{args:?}: {stderr}");
        Ok(ending)
    };
    let first = ctx.rosters[0].to_string_lossy().into_owned();
    anyhow::ensure!(
        setup(&["import", &first])? == "exit 0",
        "first import failed"
    );
    for attempt in 0.. {
        if setup(&["sync"])? == "exit 0" {
            break;
        }
        anyhow::ensure!(attempt < 5, "the first sync never succeeded");
    }

    // The chaos: `workers` processes at a time until the deadline.
    let deadline = Instant::now() + options.duration;
    let workers: Vec<_> = (0..options.workers.max(1))
        .map(|id| {
            let (ctx, rt) = (ctx.clone(), rt.clone());
            let seed = options.seed;
            std::thread::spawn(move || worker(id, ctx, seed, deadline, rt))
        })
        .collect();
    let joined = tokio::task::spawn_blocking(move || {
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect::<Vec<Tally>>()
    })
    .await?;
    for t in joined {
        tally.merge(t);
    }

    // The end: finish the queue, then a complete sync, neither killed.
    for attempt in 0.. {
        let ending = setup(&["queue", "resume", "--yes"])?;
        let unfinished = Store::open(&ctx.db)?.unfinished_jobs()?.len();
        if (ending == "exit 0" || ending == "exit 1") && unfinished == 0 {
            break;
        }
        anyhow::ensure!(attempt < 5, "the queue never finished: {ending}");
    }
    for attempt in 0.. {
        if setup(&["sync", "--full"])? == "exit 0" {
            break;
        }
        anyhow::ensure!(attempt < 5, "the final sync never succeeded");
    }

    let mut report = Report {
        operations: tally.operations,
        endings: tally.endings,
        errors: tally.errors,
        locked: tally.locked,
        ..Report::default()
    };
    check(&ctx, &mut report).await?;
    report.elapsed = started.elapsed();
    sim.shutdown().await;
    Ok(report)
}

async fn check(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    // 1. The store's states are the simulator's.
    let mut patient = ClientConfig::new(ctx.url.clone(), TOKEN);
    patient.max_attempts = 30;
    patient.backoff_base = Duration::from_millis(10);
    patient.max_per_second = 0;
    let client = ProviderClient::new(patient)?;
    let at_provider: HashMap<String, _> = client
        .list_all_mailboxes()
        .await?
        .into_iter()
        .map(|m| (m.address.clone(), m))
        .collect();
    let store = Store::open(&ctx.db)?;
    let in_store: HashMap<String, _> = store
        .mailbox_states()?
        .into_iter()
        .map(|m| (m.address.clone(), m))
        .collect();
    report.mailboxes = in_store.len();
    let mut differ: Vec<&String> = at_provider
        .iter()
        .filter(|(a, m)| in_store.get(*a) != Some(*m))
        .map(|(a, _)| a)
        .collect();
    differ.extend(in_store.keys().filter(|a| !at_provider.contains_key(*a)));
    differ.sort();
    report.checks.push(Check {
        name: "store matches the simulator",
        ok: differ.is_empty() && !at_provider.is_empty(),
        detail: format!(
            "{} mailboxes at the provider, {} in the store, {} differ{}",
            at_provider.len(),
            in_store.len(),
            differ.len(),
            differ
                .first()
                .map(|a| format!(" (e.g. {a})"))
                .unwrap_or_default()
        ),
    });

    // 2. No idempotency key made two state changes.
    let stats: serde_json::Value = reqwest::get(format!("{}{}", ctx.url, sim::STATS_PATH))
        .await?
        .json()
        .await?;
    report.faults = reqwest::get(format!("{}{}", ctx.url, sim::FAULTS_PATH))
        .await?
        .json()
        .await?;
    if let Some(ops) = stats["operations"].as_object() {
        for (op, s) in ops {
            report.requests.insert(
                op.clone(),
                (
                    s["requests"].as_u64().unwrap_or(0),
                    s["state_changes"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    let conn = rusqlite::Connection::open(&ctx.db)?;
    let mut per_mailbox: HashMap<String, (u64, u64)> = HashMap::new(); // (items, done)
    let mut twice = 0usize;
    {
        let mut stmt = conn.prepare(
            "SELECT i.address, i.status, i.attempts FROM job_items i
             JOIN jobs j ON j.id = i.job_id WHERE j.kind = 'resend'",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (address, status, attempts) = row?;
            let entry = per_mailbox.entry(address).or_default();
            entry.0 += 1;
            report.items += 1;
            match status.as_str() {
                "done" => {
                    entry.1 += 1;
                    report.items_done += 1;
                }
                "failed" => report.items_failed += 1,
                _ => {}
            }
            if attempts > 1 {
                twice += 1;
            }
        }
    }
    report.jobs = conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get::<_, i64>(0))? as usize;
    let mut bad = Vec::new();
    let mut changes_total = 0;
    let mut mailboxes: Vec<&String> = per_mailbox.keys().collect();
    if let Some(m) = stats["mailboxes"].as_object() {
        mailboxes.extend(m.keys().filter(|a| !per_mailbox.contains_key(*a)));
    }
    for address in mailboxes {
        let changes = stats["mailboxes"][address]["resendRecoveryEmail"]["state_changes"]
            .as_u64()
            .unwrap_or(0);
        changes_total += changes;
        let (items, done) = per_mailbox.get(address).copied().unwrap_or_default();
        if changes > items || changes < done {
            bad.push(format!(
                "{address}: {changes} changes, {items} items, {done} done"
            ));
        }
    }
    report.checks.push(Check {
        name: "no idempotency key changed a state twice",
        ok: bad.is_empty(),
        detail: format!(
            "{changes_total} resend state changes for {} job items ({} done); {} mailboxes out of bounds{}",
            report.items,
            report.items_done,
            bad.len(),
            bad.first().map(|b| format!(" (e.g. {b})")).unwrap_or_default()
        ),
    });

    // 3. Integrity.
    let verdict = store.integrity_check()?;
    report.checks.push(Check {
        name: "PRAGMA integrity_check",
        ok: verdict == "ok",
        detail: verdict,
    });

    // 4. The event log has no gap.
    let ids: Vec<i64> = store.events_since(None)?.iter().map(|e| e.id).collect();
    report.events = ids.len();
    let contiguous = ids.iter().copied().eq(1..=ids.len() as i64);
    report.checks.push(Check {
        name: "event log without gaps",
        ok: contiguous && !ids.is_empty(),
        detail: format!(
            "{} events, ids {}..={}",
            ids.len(),
            ids.first().unwrap_or(&0),
            ids.last().unwrap_or(&0)
        ),
    });

    // And: never locked, no item recorded twice, nothing left in the queue.
    report.checks.push(Check {
        name: "no \"database is locked\"",
        ok: report.locked == 0,
        detail: format!("{} processes saw it", report.locked),
    });
    report.checks.push(Check {
        name: "no job item recorded twice",
        ok: twice == 0,
        detail: format!("{twice} items with more than one recorded attempt"),
    });
    let unfinished = store.unfinished_jobs()?.len();
    report.checks.push(Check {
        name: "queue empty at the end",
        ok: unfinished == 0,
        detail: format!("{unfinished} unfinished jobs"),
    });
    report.checks.push(Check {
        name: "no unexpected process error",
        ok: report.errors.is_empty(),
        detail: format!("{} unexpected endings", report.errors.len()),
    });
    Ok(())
}

fn default_bin() -> PathBuf {
    // target/release/examples/soak -> target/release/pecdesk
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("pecdesk")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/release/pecdesk"))
}

fn main() -> std::process::ExitCode {
    let mut options = Options::new(Duration::from_secs(180), default_bin());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--minutes" => {
                options.duration =
                    Duration::from_secs_f64(value().parse::<f64>().unwrap_or(3.0) * 60.0)
            }
            "--seconds" => {
                options.duration = Duration::from_secs_f64(value().parse().unwrap_or(180.0))
            }
            "--bin" => options.bin = PathBuf::from(value()),
            "--seed" => options.seed = value().parse().unwrap_or(options.seed),
            "--members" => options.members = value().parse().unwrap_or(options.members),
            "--workers" => options.workers = value().parse().unwrap_or(options.workers),
            "-v" | "--verbose" => options.verbose = true,
            other => {
                eprintln!(
                    "soak: unknown option {other}\nusage: soak [--minutes N | --seconds N] [--bin PATH] [--seed S] [--members N] [--workers N] [-v]"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    println!(
        "soak: {:.0} s, {} members, {} workers, seed {}, binary {}",
        options.duration.as_secs_f64(),
        options.members,
        options.workers,
        options.seed,
        options.bin.display()
    );
    match run(&options) {
        Ok(report) => {
            report.print();
            if report.ok() {
                println!("soak: every check passed");
                std::process::ExitCode::SUCCESS
            } else {
                println!("soak: CHECKS FAILED");
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
