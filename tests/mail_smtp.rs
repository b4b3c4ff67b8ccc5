//! Sending reminders to a real SMTP server that pecdesk did not write:
//! aiosmtpd (Debian `python3-aiosmtpd`), started here on 127.0.0.1 with the
//! handler of `tests/support/smtpd.py`, which stores every message in a Maildir and refuses chosen
//! recipients with the code the test asks for.

#[path = "support/smtp.rs"]
mod smtp;

use pecdesk::mail::{
    Channel, ChannelFile, ChannelSettings, Outgoing, SendError, SmtpSender, new_message_id,
};
use smtp::{SmtpServer, header};

fn settings(server: &SmtpServer) -> ChannelSettings {
    let file: ChannelFile = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Ordine dei Farmacisti <ordine@pec.fofi.it>\"\nreply_to = \"segreteria@ordine.it\"\nrate_per_minute = 0\n",
        server.port
    ))
    .unwrap();
    file.resolve(Channel::Pec, |_| None).unwrap()
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
    let Some(server) = SmtpServer::start(&[
        "gone@pec.fofi.it=550".to_string(),
        "busy@pec.fofi.it=451".to_string(),
    ]) else {
        return;
    };
    let sender = SmtpSender::new(&settings(&server)).unwrap();
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
    assert_eq!(
        header(raw, "Message-ID").as_deref(),
        Some(ok.message_id.as_str())
    );
    assert_eq!(
        header(raw, "To").as_deref(),
        Some("maria.rossi@pec.fofi.it")
    );
    assert_eq!(
        header(raw, "Reply-To").as_deref(),
        Some("segreteria@ordine.it")
    );
    assert!(
        header(raw, "From")
            .unwrap()
            .contains("<ordine@pec.fofi.it>")
    );
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("Migrazione della casella PEC")
    );
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
