//! A reminder campaign of 1,000 members to a real SMTP server (aiosmtpd on
//! 127.0.0.1, Debian `python3-aiosmtpd`) that answers each message after
//! 20 ms, with the rate unlimited and 4 connections, against the ideal
//! 1,000 × 20 ms / 4 = 5 s:
//!
//!   cargo run --release --example bench_smtp [-- --reminders 1000 --connections 4 --delay-ms 20]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pecdesk::campaign::{self, CampaignEnv, CampaignRequest, Pace, Transport};
use pecdesk::domain::DEFAULT_PEC_DOMAIN;
use pecdesk::domain::template::TemplateName;
use pecdesk::mail::{Channel, ChannelFile};
use pecdesk::queue::Control;
use pecdesk::store::{IncomingRoster, Store};

const SERVER: &str = include_str!("../tests/support/smtpd.py");

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let reminders = arg("--reminders", 1000) as usize;
    let connections = arg("--connections", 4) as usize;
    let delay_ms = arg("--delay-ms", 20);
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|py| {
            Command::new(py)
                .args(["-c", "import aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect("aiosmtpd is needed: apt-get install python3-aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("smtpd.py");
    std::fs::write(&script, SERVER).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(python)
        .args(["-W", "ignore"])
        .arg(&script)
        .arg(port.to_string())
        .arg(dir.path().join("Maildir"))
        .arg(format!("delay-ms={delay_ms}"))
        .arg("nostore")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");

    let members = pecdesk::sample::generate_roster(reminders, 9, DEFAULT_PEC_DOMAIN);
    let path = dir.path().join("bench.db");
    let mut store = Store::open(&path).unwrap();
    store
        .upsert_members(
            &IncomingRoster::full(&members),
            "bench",
            "bench",
            Utc::now(),
        )
        .unwrap();
    let ids: Vec<i64> = store
        .roster_entries()
        .unwrap()
        .iter()
        .filter_map(|e| e.member_id)
        .collect();
    let settings: ChannelFile = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Ordine <ordine@pec.fofi.it>\"\nrate_per_minute = 0\nconnections = {connections}\n"
    ))
    .unwrap();
    let settings = settings.resolve(Channel::Pec, |_| None).unwrap();
    let pace = Pace::of(&settings);
    let env = CampaignEnv {
        ordine: "Ordine dei Farmacisti di Prova".into(),
        cutover: Some((Utc::now() + TimeDelta::days(30)).date_naive()),
        config_dir: None,
        from: settings.from.clone(),
        pace,
    };
    let request = CampaignRequest {
        template: TemplateName::Migrazione,
        channel: Channel::Pec,
        members: ids,
        not_reminded_for: None,
    };
    let started = Instant::now();
    let preview = campaign::prepare(&store, &request, &env, Utc::now()).unwrap();
    let prepared = started.elapsed();
    let started = Instant::now();
    let job_id = campaign::enqueue(&mut store, &preview, "bench", Utc::now()).unwrap();
    let enqueued = started.elapsed();
    drop(store);

    let transport = Transport::smtp(&settings).unwrap();
    let (_control, rx) = tokio::sync::watch::channel(Control::Run);
    let started = Instant::now();
    let outcome = campaign::run_campaign(&path, &transport, job_id, "bench", pace, rx, |_| {})
        .await
        .unwrap();
    let took = started.elapsed();
    let accepted = std::fs::read_to_string(dir.path().join("accepted.log"))
        .unwrap()
        .lines()
        .count();
    let _ = server.kill();
    let _ = server.wait();

    let ideal = Duration::from_millis(delay_ms) * reminders as u32 / connections as u32;
    println!("reminders:       {reminders} (template migrazione, PEC)");
    println!(
        "server:          aiosmtpd, {delay_ms} ms per message, {connections} connections, rate unlimited"
    );
    println!("prepare:         {:.3} s", prepared.as_secs_f64());
    println!("enqueue:         {:.3} s", enqueued.as_secs_f64());
    println!(
        "sent:            {} (server accepted {accepted}), failed {}, in doubt {}",
        outcome.sent, outcome.failed, outcome.in_doubt
    );
    println!("campaign:        {:.2} s", took.as_secs_f64());
    println!("ideal:           {:.2} s", ideal.as_secs_f64());
    println!(
        "ratio:           {:.2}x (target: within 1.2x)",
        took.as_secs_f64() / ideal.as_secs_f64()
    );
    // The machine may be shared: the figures mean little without its load.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average:    {} (on {} cores)",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    assert_eq!(outcome.sent, reminders);
    assert_eq!(accepted, reminders);
}
