//! Bad input everywhere, beyond the importer's fuzzing: the configuration
//! file, command-line values, the provider's answers and the store file. Each
//! gets a clear message naming what is wrong, the documented exit code (2
//! usage or configuration, 3 provider unreachable), and nothing stored changes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, SimConfig};
use pecdesk::provider::{ClientConfig, ProviderClient, ProviderError};
use pecdesk::store::{IncomingRoster, Store, StoreError};

const TOKEN: &str = "bad-input-test-token";

struct Env {
    dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
    roster: PathBuf,
}

fn write_roster(path: &Path, members: &[Member]) {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_path(path)
        .unwrap();
    w.write_record([
        "Numero Iscrizione",
        "Cognome",
        "Nome",
        "Codice Fiscale",
        "Indirizzo PEC",
    ])
    .unwrap();
    for m in members {
        w.write_record([
            m.numero_iscrizione.as_str(),
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &m.pec,
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn members() -> Vec<Member> {
    pecdesk::sample::generate_roster(60, 31, DEFAULT_PEC_DOMAIN)
}

/// A store with 40 members and their mailboxes' states from a first sync;
/// a private config; and a roster of 60 that an import would apply.
async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ordine.db");
    let config = dir.path().join("config.toml");
    write_private(&config, "max_per_second = 0\n");
    let members = members();
    let mut store = Store::open(&db).unwrap();
    store
        .upsert_members(
            &IncomingRoster::full(&members[..40]),
            "setup",
            "t",
            Utc::now(),
        )
        .unwrap();
    drop(store);
    let sim = sim::start(
        &members,
        SimConfig::new(TOKEN),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    pecdesk::sync::run(&db, &client, "setup").await.unwrap();
    sim.shutdown().await;
    let roster = dir.path().join("albo.csv");
    write_roster(&roster, &members);
    Env {
        dir,
        db,
        config,
        roster,
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

impl Env {
    fn pecdesk(&self, url: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
        command
            .arg("--db")
            .arg(&self.db)
            .env("HOME", self.dir.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("PECDESK_LANG")
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", "prova")
            .stdin(Stdio::null());
        match url {
            Some(url) => command.env("PECDESK_PROVIDER_URL", url),
            None => command.env_remove("PECDESK_PROVIDER_URL"),
        };
        command
    }

    fn with_config(&self, config: &Path, args: &[&str]) -> Output {
        self.pecdesk(None)
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.with_config(&self.config, args)
    }

    /// The store as bytes, once every connection is closed (WAL checkpointed).
    fn bytes(&self) -> Vec<u8> {
        assert!(!self.db.with_extension("db-wal").exists());
        std::fs::read(&self.db).unwrap()
    }

    /// What the store holds, row by row.
    fn contents(&self) -> String {
        let store = Store::open(&self.db).unwrap();
        format!(
            "{:?}\n{:?}\n{}",
            store.all_members().unwrap(),
            store.mailbox_states().unwrap(),
            store.event_count().unwrap()
        )
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit code `code` and a message on stderr containing every one of `words`.
fn assert_refused(output: &Output, code: i32, words: &[&str]) {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&output.stdout)
    );
    for word in words {
        assert!(err.contains(word), "\"{word}\" not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn configuration_files_missing_empty_mistyped_or_with_unknown_keys() {
    let env = env().await;
    let before = env.bytes();
    let import = |config: &Path| env.with_config(config, &["import", env.roster.to_str().unwrap()]);

    // Missing, when named explicitly: an error naming the file.
    let missing = env.dir.path().join("non-esiste.toml");
    let output = import(&missing);
    assert_refused(&output, 2, &["non-esiste.toml", "configurazione"]);

    // Wrong types, unknown keys, values out of range: the key is named.
    for (text, words) in [
        ("operator = 3\n", &["operator", "config-bad.toml"][..]),
        ("max_in_flight = \"molti\"\n", &["max_in_flight"][..]),
        ("cutover = \"domani\"\n", &["cutover", "domani"][..]),
        ("[keys]\nresend = 3\n", &["resend"][..]),
        ("colore = \"rosso\"\n", &["colore"][..]),
        (
            "provider_urll = \"https://x.example\"\n",
            &["provider_urll"][..],
        ),
        ("max_in_flight = 0\n", &["max_in_flight", "0"][..]),
        ("max_in_flight = 1000\n", &["max_in_flight", "1000"][..]),
        ("sync_interval_secs = 1\n", &["sync_interval_secs"][..]),
        ("max_per_second = -1\n", &["max_per_second"][..]),
        ("lang = \"fr\"\n", &["lang", "fr"][..]),
        ("ordine = \"senza fine\n", &["config-bad.toml"][..]),
        ("\u{0}\u{1}\u{2}binary", &["config-bad.toml"][..]),
    ] {
        let bad = env.dir.path().join("config-bad.toml");
        write_private(&bad, text);
        let output = import(&bad);
        assert_refused(&output, 2, words);
    }
    // Not UTF-8 at all.
    let latin1 = env.dir.path().join("config-latin1.toml");
    std::fs::write(&latin1, b"ordine = \"Ordine di Forl\xec\"\n").unwrap();
    assert_refused(&import(&latin1), 2, &["config-latin1.toml"]);
    // A directory where the file should be.
    assert_refused(&import(env.dir.path()), 2, &["configurazione"]);
    assert_eq!(
        env.bytes(),
        before,
        "a refused configuration changed the store"
    );

    // Empty: every default, and the import goes through.
    let empty = env.dir.path().join("vuoto.toml");
    write_private(&empty, "");
    let output = env.with_config(&empty, &["config"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = import(&empty);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test]
async fn command_line_values_out_of_range() {
    let env = env().await;
    let before = env.bytes();
    let out = |name: &str| env.dir.path().join(name).to_str().unwrap().to_string();
    let (x_csv, a_csv) = (out("x.csv"), out("a.csv"));
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--lang", "xx", "report"], vec!["--lang", "xx"]),
        (
            vec!["--log-level", "loud", "report"],
            vec!["--log-level", "loud"],
        ),
        (vec!["resend", "--older-than", "2weeks"], vec!["2weeks"]),
        (vec!["resend", "--older-than=-3d"], vec!["-3d"]),
        (vec!["resend", "--state", "nope"], vec!["nope"]),
        (
            vec!["export", "--out", &x_csv, "--state", "NOPE"],
            vec!["NOPE"],
        ),
        (
            vec!["export", "--out", &x_csv, "--format", "xls"],
            vec!["xls"],
        ),
        (
            vec!["audit", "export", "--out", &a_csv, "--since", "ieri"],
            vec!["ieri"],
        ),
        (
            vec!["audit", "export", "--out", &a_csv, "--since", "31/02/2026"],
            vec!["31/02/2026"],
        ),
        (vec!["sim", "--port", "70000"], vec!["70000"]),
        (
            vec!["sim", "--port", "0", "--fail-rate", "2"],
            vec!["fail-rate"],
        ),
        (
            vec!["sim", "--port", "0", "--cutover", "presto"],
            vec!["presto"],
        ),
        (vec!["import", "--format", "xml", "albo.csv"], vec!["xml"]),
        (vec!["nonesiste"], vec!["nonesiste"]),
        (
            vec!["sync", "--provider", "ftp://gestore.example"],
            vec!["ftp"],
        ),
        (
            vec!["sync", "--provider", "http://gestore.example"],
            vec!["http://gestore.example", "https://"],
        ),
        (
            vec!["sync", "--provider", "non è un indirizzo"],
            vec!["indirizzo"],
        ),
    ];
    for (args, words) in cases {
        let started = Instant::now();
        let output = env.run(&args);
        assert_refused(&output, 2, &words);
        assert!(!Path::new(&x_csv).exists() && !Path::new(&a_csv).exists());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        env.bytes(),
        before,
        "a refused command line changed the store"
    );
}

/// A tiny HTTP server answering every request with `answer(path)`, for as
/// long as the test runs.
fn serve(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = stream.write_all(&answer(&path));
            let _ = stream.flush();
        }
    });
    url
}

fn http(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn page_with(item: &str) -> String {
    format!(
        r#"{{"items":[{item}],"per_page":500,"total":1,"server_time":"{}"}}"#,
        Utc::now().to_rfc3339()
    )
}

const GOOD_MAILBOX: &str = r#"{"address":"a.b@pec.fofi.it","migration_state":"completed","migration_at":null,"password_state":"set","link_sent_at":null,"link_expires_at":null,"recovery_email_masked":null,"recovery_mobile_masked":null,"recovery_confirmed":false,"last_login_at":null,"updated_at":"2026-01-01T00:00:00Z"}"#;

/// 50 MB: a JSON string that never ends where the schema wants it to.
const ENORMOUS: usize = 50 * 1024 * 1024;

fn enormous_body() -> Vec<u8> {
    let mut body = br#"{"items":[{"address":""#.to_vec();
    body.resize(body.len() + ENORMOUS, b'a');
    body.extend_from_slice(br#""}],"per_page":500,"total":1}"#);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_answers_malformed_truncated_enormous_or_in_the_wrong_schema() {
    let env = env().await;
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "malformed JSON",
            http("200 OK", b"{\"items\": [,,]}"),
            &["risposta HTTP 200 illeggibile", "items"],
        ),
        (
            "HTML instead of JSON",
            http("200 OK", b"<html><body>Benvenuto</body></html>"),
            &["illeggibile", "Benvenuto"],
        ),
        (
            "wrong schema",
            http("200 OK", br#"{"data": [], "count": 0}"#),
            &["illeggibile", "items"],
        ),
        (
            "a state outside the contract",
            http(
                "200 OK",
                page_with(&GOOD_MAILBOX.replace("completed", "teletrasportata")).as_bytes(),
            ),
            &["teletrasportata", "a.b@pec.fofi.it"],
        ),
        (
            "an error status with an unknown body",
            http("418 I'm a teapot", b"teapot"),
            &["418", "teapot"],
        ),
        (
            // Today the client reads the whole body before parsing it (about
            // twice its size in memory); a cap on the body would refuse it
            // with another message, still "inatteso" and exit 2.
            "enormous",
            http("200 OK", &enormous_body()),
            &["inatteso"],
        ),
    ];
    for (what, answer, words) in cases {
        let before = env.contents();
        let url = serve(move |_| answer.clone());
        let started = Instant::now();
        let output = env
            .pecdesk(Some(&url))
            .arg("--config")
            .arg(&env.config)
            .arg("sync")
            .output()
            .unwrap();
        let err = stderr(&output);
        // A provider that answers nonsense is not unreachable: exit 2.
        assert_refused(&output, 2, words);
        assert!(err.contains("inatteso"), "{what}: {err}");
        assert!(
            err.len() < 2_000,
            "{what}: the message quotes too much ({} bytes)",
            err.len()
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: took {:?}",
            started.elapsed()
        );
        // Members and mailboxes as before; the failed run is recorded (one
        // event) so the dashboard can say the last sync failed.
        let after = env.contents();
        let strip = |s: &str| s.rsplit_once('\n').unwrap().0.to_string();
        assert_eq!(strip(&after), strip(&before), "{what} changed the store");
        let count = |s: &str| s.rsplit_once('\n').unwrap().1.parse::<i64>().unwrap();
        assert_eq!(count(&after), count(&before) + 1, "{what}");
        let store = Store::open(&env.db).unwrap();
        let last = store.last_sync().unwrap().unwrap();
        assert!(!last.ok, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_answer_is_retried_then_given_up_cleanly() {
    // The server promises 5,000 bytes, sends 40 and hangs up. Through the
    // library, with short backoffs: the binary's default 8 attempts take 11 s
    // or more of backoff.
    let url = serve(|_| {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n".to_vec();
        out.extend_from_slice(br#"{"items":[{"address":"a.b@pec.fofi.it","#);
        out
    });
    let mut config = ClientConfig::new(url, TOKEN);
    config.max_attempts = 3;
    config.backoff_base = Duration::from_millis(1);
    let client = ProviderClient::new(config).unwrap();
    let error = client.list_all_mailboxes().await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::GaveUp { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    let text = error.to_string();
    assert!(text.contains("3 tentativi"), "{text}");
    // The same through sync: nothing stored changes but the failed run.
    let env = env().await;
    let before = env.contents();
    let err = pecdesk::sync::run(&env.db, &client, "prova")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tentativi"), "{err}");
    let after = env.contents();
    assert_eq!(
        before.rsplit_once('\n').unwrap().0,
        after.rsplit_once('\n').unwrap().0
    );
}

#[tokio::test]
async fn a_provider_that_is_not_there_exits_3() {
    let env = env().await;
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), TOKEN);
    config.max_attempts = 2;
    config.backoff_base = Duration::from_millis(1);
    let client = ProviderClient::new(config).unwrap();
    let err = pecdesk::sync::run(&env.db, &client, "prova")
        .await
        .unwrap_err();
    let err = anyhow::Error::from(err);
    assert_eq!(pecdesk::headless::exit_code(&err), 3, "{err:#}");
}

#[tokio::test]
async fn a_store_that_is_not_sqlite_or_from_a_newer_pecdesk() {
    let env = env().await;
    let roster = env.roster.to_str().unwrap().to_string();
    let x_csv = env.dir.path().join("x.csv").to_str().unwrap().to_string();
    let a_csv = env.dir.path().join("a.csv").to_str().unwrap().to_string();
    let commands: [&[&str]; 5] = [
        &["import", &roster],
        &["report"],
        &["export", "--out", &x_csv],
        &["resend", "--yes"],
        &["audit", "export", "--out", &a_csv],
    ];

    // Not SQLite: a text file, a spreadsheet saved over it, half a header.
    for junk in [
        &b"numero;cognome;nome\r\n1;Rossi;Mario\r\n"[..],
        &b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00 this was a .xlsx file and nothing else"
            [..],
        &[b'x'; 8192][..],
    ] {
        std::fs::write(&env.db, junk).unwrap();
        for args in commands {
            let output = env.run(args);
            assert_refused(&output, 2, &["ordine.db", "non è un archivio SQLite"]);
            assert_eq!(std::fs::read(&env.db).unwrap(), junk, "{args:?}");
        }
        assert!(!Path::new(&x_csv).exists() && !Path::new(&a_csv).exists());
    }

    // A store written by a newer pecdesk: refused by name and version, untouched.
    std::fs::remove_file(&env.db).unwrap();
    drop(Store::open(&env.db).unwrap());
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.pragma_update(None, "user_version", Store::schema_version() + 7)
        .unwrap();
    drop(conn);
    let before = env.bytes();
    for args in commands {
        let output = env.run(args);
        assert_refused(
            &output,
            2,
            &[
                "ordine.db",
                "più recente",
                &(Store::schema_version() + 7).to_string(),
            ],
        );
        assert_eq!(env.bytes(), before, "{args:?}");
    }
    // The library says the same.
    assert!(matches!(
        Store::open(&env.db),
        Err(StoreError::NewerSchema { .. })
    ));
}
