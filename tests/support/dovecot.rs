//! A real Dovecot on 127.0.0.1 for the receipts tests and benchmark: its own
//! minimal configuration in a temporary directory, one test user whose
//! mailbox is a Maildir there, plaintext IMAP (loopback only).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "segreteria@pec.ordine.it";
pub const PASSWORD: &str = "Imap-Segreto!42";

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    mail_uid: u32,
    mail_gid: u32,
    serial: AtomicU64,
}

fn find_dovecot() -> Option<PathBuf> {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn current_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file we just made is who we are.
    let probe = tempfile::NamedTempFile::new().unwrap();
    let meta = probe.as_file().metadata().unwrap();
    (meta.uid(), meta.gid())
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name))
                .then(|| (fields[2].parse().ok(), fields[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
}

impl Dovecot {
    /// Starts Dovecot, or says why it cannot (then the test skips).
    pub fn start() -> Result<Dovecot, String> {
        let binary = find_dovecot()
            .ok_or("dovecot non installato (apt-get install dovecot-imapd): test saltato")?;
        let dir = tempfile::Builder::new()
            .prefix("pecdesk-dovecot-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        let (uid, gid) = current_ids();
        let user_name = if uid == 0 {
            "root".to_string()
        } else {
            std::env::var("USER").unwrap_or_default()
        };
        // Dovecot never gives mail to root: as root, mail is the dovecot user's.
        let (mail_uid, mail_gid) = if uid == 0 {
            user_ids("dovecot").ok_or("utente dovecot mancante")?
        } else {
            (uid, gid)
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["run", "state", "home", "mail"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let maildir = root.join("mail").join("segreteria");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        chown_tree(&root.join("mail"), mail_uid, mail_gid);
        chown_tree(&root.join("home"), mail_uid, mail_gid);
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let port = free_port();
        let internal = if uid == 0 {
            "dovecot".to_string()
        } else {
            user_name.clone()
        };
        let login = if uid == 0 {
            "dovenull".to_string()
        } else {
            user_name.clone()
        };
        let conf = format!(
            r#"protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{root}/mail/segreteria
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"#,
            root = root.display()
        );
        std::fs::write(root.join("dovecot.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(root.join("dovecot.stderr")).unwrap(),
            ))
            .spawn()
            .map_err(|e| format!("dovecot non avviabile: {e}"))?;
        let mut server = Dovecot {
            dir,
            port,
            child,
            mail_uid,
            mail_gid,
            serial: AtomicU64::new(0),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(server.dir.path().join("dovecot.stderr"))
                    .unwrap_or_default()
                    + &std::fs::read_to_string(server.dir.path().join("dovecot.log"))
                        .unwrap_or_default();
                return Err(format!("dovecot non partito: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join("segreteria")
    }

    /// Delivers one message as a delivery agent does: written in tmp/,
    /// renamed into new/.
    pub fn deliver(&self, bytes: &[u8]) {
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        let name = format!(
            "{}.P{}Q{n}.pecdesk-test",
            1_700_000_000 + n,
            std::process::id()
        );
        let tmp = self.maildir().join("tmp").join(&name);
        std::fs::write(&tmp, bytes).unwrap();
        std::os::unix::fs::chown(&tmp, Some(self.mail_uid), Some(self.mail_gid)).unwrap();
        std::fs::rename(&tmp, self.maildir().join("new").join(&name)).unwrap();
    }

    /// Every message file in the Maildir, with its flags (`:2,FLAGS`).
    pub fn files(&self) -> Vec<String> {
        let mut names = Vec::new();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(self.maildir().join(sub)).unwrap() {
                names.push(format!(
                    "{sub}/{}",
                    entry.unwrap().file_name().to_string_lossy()
                ));
            }
        }
        names.sort();
        names
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
