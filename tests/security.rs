//! The security pass: a scripted session (headless commands, then the console
//! in a real terminal through tmux, with a password reset) whose logs, files,
//! outputs and every screen are scanned for the API token and the temporary
//! password; owner-only files; the warning on a config others can read; and
//! the client refusing plain HTTP to other hosts and invalid certificates.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, SimConfig};
use pecdesk::provider::{ClientConfig, ProviderClient, ProviderError};

/// Distinctive, so that any copy of it anywhere is found.
const TOKEN: &str = "tok-SEGRETO-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c1e";

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
        "E-mail",
        "Cellulare",
    ])
    .unwrap();
    for m in members {
        w.write_record([
            m.numero_iscrizione.as_str(),
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &m.pec,
            m.email_servizio.as_deref().unwrap_or_default(),
            m.cellulare.as_deref().unwrap_or_default(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The pecdesk data directory under a private HOME (no XDG overrides).
fn data_dir(home: &Path) -> PathBuf {
    home.join(".local/share/pecdesk")
}

struct Session {
    home: PathBuf,
    db: PathBuf,
    config: PathBuf,
    url: String,
    /// Everything pecdesk printed or showed, to be scanned.
    seen: Vec<(String, String)>,
}

impl Session {
    fn pecdesk(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_pecdesk"))
            .arg("--db")
            .arg(&self.db)
            .arg("--config")
            .arg(&self.config)
            .args(["--log-level", "trace"])
            .args(args)
            .env("HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env("PECDESK_PROVIDER_URL", &self.url)
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", "sicurezza")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let what = args.join(" ");
        self.check(&output, &what);
        output
    }

    fn check(&self, output: &Output, what: &str) {
        assert!(
            output.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn remember(&mut self, what: &str, output: &Output) {
        self.seen.push((
            format!("{what} (stdout)"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
        self.seen.push((
            format!("{what} (stderr)"),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
}

/// tmux on a socket of its own, so the session's environment is ours.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn start(command: &str) -> Self {
        let socket = format!("pecdesk-security-{}", std::process::id());
        let session = "security".to_string();
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-s", &session])
            .args(["-x", "120", "-y", "40"])
            .arg(command)
            .status()
            .unwrap();
        assert!(status.success());
        Self { socket, session }
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn keys(&self, keys: &[&str]) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn text(&self, text: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to 20 s for `needle`; every screen seen goes into `screens`.
    fn wait_for(&self, needle: &str, screens: &mut Vec<String>) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screens.last() != Some(&screen) {
                screens.push(screen.clone());
            }
            if screen.contains(needle) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("\"{needle}\" did not appear; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// The temporary password from the "shown once" window: the line of single
/// characters separated by spaces, inside the window's borders.
fn password_on(screen: &str) -> String {
    screen
        .lines()
        .flat_map(|line| line.split('│'))
        .filter_map(|segment| {
            let tokens: Vec<&str> = segment.trim().split(' ').collect();
            (tokens.len() >= 8 && tokens.iter().all(|t| t.chars().count() == 1))
                .then(|| tokens.concat())
        })
        .next()
        .unwrap_or_else(|| panic!("no password on screen:\n{screen}"))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_temporary_password_in_logs_screens_or_files() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let members = pecdesk::sample::generate_roster(120, 4242, DEFAULT_PEC_DOMAIN);
    // After the cutover, so that the Ordine may reset passwords.
    let mut sim_config = SimConfig::new(TOKEN);
    sim_config.cutover_at = chrono::Utc::now() - TimeDelta::days(1);
    let sim = sim::start(&members, sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = home.join("config.toml");
    std::fs::write(&config, "max_per_second = 0\nlang = \"it\"\n").unwrap();
    set_mode(&config, 0o600);
    let roster = home.join("albo.csv");
    write_roster(&roster, &members);
    let mut session = Session {
        db: home.join("ordine.db"),
        home: home.clone(),
        config: config.clone(),
        url: sim.base_url(),
        seen: Vec::new(),
    };

    // Headless, as cron and staff run it, logging at the most verbose level.
    let out = home.join("export.csv").to_str().unwrap().to_string();
    let audit = home.join("audit.csv").to_str().unwrap().to_string();
    let roster_arg = roster.to_str().unwrap().to_string();
    let rejects = home.join("scarti.csv").to_str().unwrap().to_string();
    for args in [
        vec!["import", &roster_arg, "--rejects", &rejects],
        vec!["sync"],
        vec!["resend", "--state", "link_expired", "--yes"],
        vec!["export", "--out", &out, "--format", "json"],
        vec!["report", "--json"],
        vec!["config"],
        vec!["audit", "export", "--out", &audit],
    ] {
        let output = session.pecdesk(&args);
        session.remember(&args.join(" "), &output);
    }

    // The console in a real terminal: reset one member's password.
    let mut screens = Vec::new();
    let mut password = None;
    if Tmux::available() {
        let target = members
            .iter()
            .find(|m| m.pec.ends_with(DEFAULT_PEC_DOMAIN))
            .unwrap();
        let command = format!(
            "env -u XDG_DATA_HOME -u XDG_CONFIG_HOME HOME={home} NO_COLOR=1 \
             PECDESK_PROVIDER_URL={url} PECDESK_PROVIDER_TOKEN={token} PECDESK_OPERATOR=sportello \
             {bin} --db {db} --config {config} --log-level trace; echo EXITED=$?; sleep 60",
            home = shell_quote(home.to_str().unwrap()),
            url = shell_quote(&session.url),
            token = shell_quote(TOKEN),
            bin = shell_quote(env!("CARGO_BIN_EXE_pecdesk")),
            db = shell_quote(session.db.to_str().unwrap()),
            config = shell_quote(config.to_str().unwrap()),
        );
        let tmux = Tmux::start(&command);
        tmux.wait_for("Ultima sincronizzazione: 2", &mut screens);
        tmux.keys(&["/"]);
        tmux.text(&target.codice_fiscale);
        tmux.wait_for("· 1 mostrati di", &mut screens);
        tmux.keys(&["Enter"]);
        tmux.keys(&["Enter"]);
        tmux.wait_for("Cronologia", &mut screens);
        tmux.keys(&["p"]);
        tmux.wait_for("Ctrl-G genera", &mut screens);
        tmux.keys(&["C-g"]);
        // The checklist turns all green once a password is generated.
        let form = tmux.wait_for("✔ ", &mut screens);
        assert!(!form.contains("✘"), "{form}");
        tmux.keys(&["Enter"]);
        let confirm = tmux.wait_for("Reimpostare la password di", &mut screens);
        tmux.keys(&["s"]);
        let shown = tmux.wait_for("mostrata una sola volta", &mut screens);
        let secret = password_on(&shown);
        let user_id = pecdesk::domain::password::user_id_of(&target.pec);
        assert!(
            pecdesk::domain::password::check(&secret, &user_id).is_empty(),
            "read {secret:?} off the screen:\n{shown}"
        );
        assert!(
            !confirm.contains(&secret),
            "the confirmation repeats it:\n{confirm}"
        );
        let shown_at = screens.len();
        tmux.keys(&["Enter"]);
        tmux.wait_for("[ok] reset della password", &mut screens);
        tmux.keys(&["?"]);
        tmux.wait_for("Tasti", &mut screens);
        tmux.keys(&["Escape"]);
        tmux.keys(&["Escape"]);
        tmux.keys(&["q"]);
        tmux.wait_for("EXITED=", &mut screens);
        let after = &screens[shown_at..];
        assert!(after.len() >= 3);
        for screen in after {
            assert!(
                !screen.contains(&secret) && !screen.contains(&password_spaced(&secret)),
                "the password is still on screen after closing:\n{screen}"
            );
        }
        password = Some(secret);
    } else {
        println!("console part skipped: tmux is not installed (CI installs it)");
    }
    sim.shutdown().await;

    // The scan: every output, every screen, every file pecdesk wrote.
    let log = data_dir(&home).join("pecdesk.log");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("sync"),
        "the log is too quiet:\n{log_text}"
    );
    // Personal data beyond what a log line needs (at most a mailbox address):
    // no codice fiscale, service e-mail or mobile of any member.
    for m in &members {
        let personal = [
            Some(m.codice_fiscale.as_str()),
            m.email_servizio.as_deref(),
            m.cellulare.as_deref(),
        ];
        for value in personal.into_iter().flatten() {
            assert!(!log_text.contains(value), "{value} in the log");
        }
    }
    let mut secrets = vec![("the API token", TOKEN.to_string())];
    if let Some(p) = &password {
        secrets.push(("the temporary password", p.clone()));
    }
    for (label, secret) in &secrets {
        for (what, text) in &session.seen {
            assert!(
                !text.contains(secret.as_str()),
                "{label} in {what}:\n{text}"
            );
        }
        for screen in &screens {
            if label.contains("password") && screen.contains("mostrata una sola volta") {
                continue;
            }
            if label.contains("password") && screen.contains("Ctrl-G genera") {
                continue; // the form where it is generated
            }
            assert!(
                !screen.contains(secret.as_str()),
                "{label} on screen:\n{screen}"
            );
        }
        for file in files_under(&home) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{label} in {}",
                file.display()
            );
        }
    }
    if password.is_some() {
        // The reset itself is in the audit trail, without the password.
        let store = pecdesk::store::Store::open(&session.db).unwrap();
        let resets = store
            .events_since(None)
            .unwrap()
            .into_iter()
            .filter(|e| e.operator == "sportello" && e.detail.contains("reset della password"))
            .count();
        assert_eq!(resets, 1);
    }

    // Owner-only files: the store, its WAL while open, the log, the exports.
    let store = pecdesk::store::Store::open(&session.db).unwrap();
    for file in [
        session.db.clone(),
        session.db.with_extension("db-wal"),
        session.db.with_extension("db-shm"),
        log.clone(),
        PathBuf::from(&out),
        PathBuf::from(&audit),
    ] {
        assert!(file.exists(), "{}", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(store);
    // The rejected rows (names, codici fiscali, addresses): owner-only too.
    assert_eq!(mode(Path::new(&rejects)), 0o600);
}

/// `pecdesk import --rejects FILE` writes the rejected rows (personal data) as
/// they were; the file must be owner-only like every other file pecdesk writes.
#[test]
fn the_rejects_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("albo.csv");
    std::fs::write(
        &roster,
        "Numero Iscrizione;Cognome;Nome;Codice Fiscale;Indirizzo PEC\r\n\
         1;Rossi;Mario;RSSMRA80A01H501X;mario.rossi@pec.fofi.it\r\n",
    )
    .unwrap();
    let rejects = dir.path().join("scarti.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_pecdesk"))
        .arg("--db")
        .arg(dir.path().join("s.db"))
        .arg("import")
        .arg(&roster)
        .arg("--rejects")
        .arg(&rejects)
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(rejects.exists(), "{output:?}");
    assert!(
        std::fs::read_to_string(&rejects)
            .unwrap()
            .contains("RSSMRA80A01H501X")
    );
    assert_eq!(mode(&rejects), 0o600);
}

fn password_spaced(secret: &str) -> String {
    secret
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_config_file_others_can_read_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("provider_token = \"{TOKEN}\"\n")).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_pecdesk"))
            .arg("--config")
            .arg(&config)
            .arg("config")
            .env("HOME", dir.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("PECDESK_PROVIDER_TOKEN")
            .output()
            .unwrap()
    };
    for readable in [0o644, 0o640, 0o604] {
        set_mode(&config, readable);
        let output = run();
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("leggibile da altri utenti") && stderr.contains("chmod 600"),
            "{readable:o}: {stderr}"
        );
        assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
        // `pecdesk config` shows the settings, never the token.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
            "{stdout}"
        );
    }
    set_mode(&config, 0o600);
    let output = run();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn plain_http_is_refused_except_to_this_computer() {
    for url in [
        "http://example.com",
        "http://provider.example:8080/api",
        "http://gestore.test:8787",
        "HTTP://EXAMPLE.COM",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com",
    ] {
        let err = ProviderClient::new(ClientConfig::new(url, TOKEN)).unwrap_err();
        assert!(
            matches!(err, ProviderError::InsecureUrl(_)),
            "{url}: {err:?}"
        );
        assert!(!err.to_string().contains(TOKEN));
    }
    for url in [
        "http://127.0.0.1:8787",
        "http://127.8.9.10",
        "http://localhost:1",
        "http://[::1]:8787",
        "https://example.com",
    ] {
        assert!(
            ProviderClient::new(ClientConfig::new(url, TOKEN)).is_ok(),
            "{url}"
        );
    }
}

/// A TLS server on loopback with a self-signed certificate for 127.0.0.1 and
/// localhost; counts the HTTP requests it manages to read.
fn self_signed_server() -> (u16, Arc<AtomicUsize>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut buf = [0u8; 1024];
            if let Ok(n) = tls.read(&mut buf)
                && n > 0
            {
                seen.fetch_add(1, Ordering::SeqCst);
                let body = b"{\"items\":[],\"per_page\":500,\"total\":0,\"server_time\":\"2026-01-01T00:00:00Z\"}";
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(body);
                let _ = tls.flush();
            }
        }
    });
    (port, requests)
}

#[tokio::test]
async fn an_invalid_certificate_is_refused() {
    let (port, requests) = self_signed_server();
    for host in ["127.0.0.1", "localhost"] {
        let mut config = ClientConfig::new(format!("https://{host}:{port}"), TOKEN);
        config.max_attempts = 1;
        let client = ProviderClient::new(config).unwrap();
        let err = client.list_all_mailboxes().await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.to_lowercase().contains("certificate"),
            "{host}: not a certificate error: {err:?}"
        );
        assert!(!text.contains(TOKEN));
    }
    // Not one request (and so not the token) crossed the handshake.
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}
