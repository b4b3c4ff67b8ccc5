//! A real SMTP server on 127.0.0.1 for the campaign tests and benchmark:
//! aiosmtpd (Debian `python3-aiosmtpd`) running `tests/support/smtpd.py`,
//! which stores what it accepts in a Maildir and can refuse or delay.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = include_str!("smtpd.py");

/// The Python that has aiosmtpd: Debian's first (a pyenv may shadow it).
pub fn python_with_aiosmtpd() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts the server with the script's options (`delay-ms=20`,
    /// `gone@x=550`, `busy@x=451*1`, `nostore`); None (with the reason
    /// printed) where aiosmtpd is not installed.
    pub fn start(options: &[String]) -> Option<SmtpServer> {
        let Some(python) = python_with_aiosmtpd() else {
            eprintln!("SKIP: aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let maildir = dir.path().join("Maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python)
            .args(["-W", "ignore"])
            .arg(&script)
            .arg(port.to_string())
            .arg(&maildir)
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Some(SmtpServer {
            child,
            port,
            maildir,
            dir,
        })
    }

    /// Every message stored, raw.
    pub fn received(&self) -> Vec<String> {
        let mut all = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries {
                all.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
            }
        }
        all
    }

    /// The Message-IDs the server answered 250 to, in order.
    pub fn accepted(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("accepted.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A header's value in a raw message, unfolded.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let mut lines = raw.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.eq_ignore_ascii_case(name) {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            value.push(' ');
            value.push_str(next.trim());
            lines.next();
        }
        return Some(value);
    }
    None
}

/// A test CA and a certificate for `localhost` signed by it, made with the
/// openssl command in `dir`: (CA certificate, server certificate, key).
/// None (with the reason printed) where openssl is not installed.
pub fn localhost_certificate(dir: &std::path::Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    if openssl(&["version"]).is_err() {
        eprintln!("SKIP: openssl is not installed (apt-get install openssl)");
        return None;
    }
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=pecdesk test CA",
            "-days",
            "2",
        ][..],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    ] {
        assert!(openssl(args).unwrap().success(), "openssl {args:?}");
    }
    Some((
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    ))
}
