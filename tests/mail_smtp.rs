//! Sending reminders to a real SMTP server that pecdesk did not write:
//! aiosmtpd (Debian `python3-aiosmtpd`), started here on 127.0.0.1 with a
//! small handler that stores every message in a Maildir and refuses chosen
//! recipients with the code the test asks for.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use pecdesk::mail::{
    Channel, ChannelFile, ChannelSettings, Outgoing, SendError, SmtpSender, new_message_id,
};

const HANDLER: &str = r#"
import sys, time, mailbox
from aiosmtpd.controller import Controller
box = mailbox.Maildir(sys.argv[2], create=True)
refuse = dict(a.split("=", 1) for a in sys.argv[3:])
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = refuse.get(address)
        if code:
            words = "5.1.1 casella inesistente" if code.startswith("5") else "4.3.0 riprovare piu tardi"
            return code + " " + words
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        box.add(envelope.original_content)
        return "250 Message accepted"
c = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

/// The Python that has aiosmtpd: Debian's first (a pyenv may shadow it).
fn python_with_aiosmtpd() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

struct Server {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(refuse: &[(&str, &str)]) -> Option<Server> {
        let Some(python) = python_with_aiosmtpd() else {
            eprintln!("SKIP: aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, HANDLER).unwrap();
        let maildir = dir.path().join("Maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&maildir)
            .args(refuse.iter().map(|(a, c)| format!("{a}={c}")))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Some(Server {
            child,
            port,
            maildir,
            _dir: dir,
        })
    }

    fn settings(&self) -> ChannelSettings {
        let file: ChannelFile = toml::from_str(&format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Ordine dei Farmacisti <ordine@pec.fofi.it>\"\nreply_to = \"segreteria@ordine.it\"\nrate_per_minute = 0\n",
            self.port
        ))
        .unwrap();
        file.resolve(Channel::Pec, |_| None).unwrap()
    }

    fn received(&self) -> Vec<String> {
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
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

fn outgoing(to: &str, item: i64) -> Outgoing {
    Outgoing {
        to: to.into(),
        subject: "Migrazione della casella PEC".into(),
        body: "Gentile Maria Rossi,\nla sua casella non è ancora migrata.\n".into(),
        message_id: new_message_id("ordine@pec.fofi.it", 1, item),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_member_with_its_message_id_and_refusals_sorted() {
    let Some(server) = Server::start(&[("gone@pec.fofi.it", "550"), ("busy@pec.fofi.it", "451")])
    else {
        return;
    };
    let sender = SmtpSender::new(&server.settings()).unwrap();
    let ok = outgoing("maria.rossi@pec.fofi.it", 1);
    sender.send(&ok).await.unwrap();
    match sender.send(&outgoing("gone@pec.fofi.it", 2)).await {
        Err(SendError::Permanent { code: 550, text }) => {
            assert!(text.contains("casella inesistente"), "{text}")
        }
        other => panic!("550 expected, got {other:?}"),
    }
    let busy = sender
        .send(&outgoing("busy@pec.fofi.it", 3))
        .await
        .unwrap_err();
    assert!(
        matches!(busy, SendError::Temporary { code: 451, .. }) && busy.is_temporary(),
        "{busy:?}"
    );

    let received = server.received();
    assert_eq!(received.len(), 1, "only the accepted message is stored");
    let raw = &received[0];
    assert_eq!(header(raw, "Message-ID"), Some(ok.message_id.as_str()));
    assert_eq!(header(raw, "To"), Some("maria.rossi@pec.fofi.it"));
    assert_eq!(header(raw, "Reply-To"), Some("segreteria@ordine.it"));
    assert!(
        header(raw, "From")
            .unwrap()
            .contains("<ordine@pec.fofi.it>")
    );
    assert_eq!(header(raw, "Subject"), Some("Migrazione della casella PEC"));
    assert!(
        header(raw, "Content-Type")
            .unwrap()
            .contains("text/plain; charset=utf-8")
    );
    assert!(
        !format!("{ok:?}").contains("Gentile"),
        "the body never shows in Debug"
    );
}

#[test]
fn message_ids_are_unique_and_on_the_senders_domain() {
    let a = new_message_id("Ordine <ordine@pec.fofi.it>", 7, 1);
    let b = new_message_id("Ordine <ordine@pec.fofi.it>", 7, 2);
    assert_ne!(a, b);
    assert!(
        a.starts_with("<pecdesk.7.1.") && a.ends_with("@pec.fofi.it>"),
        "{a}"
    );
}
