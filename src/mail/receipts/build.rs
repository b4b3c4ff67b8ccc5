//! Receipts built as PEC providers build them (regole tecniche, DM 2
//! novembre 2005, allegato §3): a `multipart/signed` S/MIME message whose
//! signed part is `multipart/mixed` with the human-readable text, the
//! `daticert.xml` and, for a full delivery receipt, nothing else here. The
//! signature part is a placeholder: pecdesk keeps the original and does not
//! verify signatures. Used by the demo's simulated providers, the tests and
//! the benchmark.

use chrono::{DateTime, Utc};

use super::Kind;

/// The PEC message a receipt answers.
#[derive(Debug, Clone)]
pub struct Original {
    /// Without angle brackets.
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
}

/// One receipt to build.
#[derive(Debug, Clone)]
pub struct ReceiptSpec {
    pub kind: Kind,
    /// `nessuno`, `no-dest`, `no-dominio`, `virus`, `altro`.
    pub error: String,
    pub error_detail: Option<String>,
    pub provider: String,
    pub provider_domain: String,
    pub at: DateTime<Utc>,
    /// Makes the identifier and the receipt's own Message-ID unique.
    pub serial: u64,
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn subject_prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Accettazione => "ACCETTAZIONE",
        Kind::NonAccettazione => "AVVISO DI NON ACCETTAZIONE",
        Kind::PresaInCarico => "PRESA IN CARICO",
        Kind::AvvenutaConsegna => "CONSEGNA",
        Kind::PostaCertificata => "POSTA CERTIFICATA",
        Kind::ErroreConsegna => "AVVISO DI MANCATA CONSEGNA",
        Kind::PreavvisoErroreConsegna => "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO",
        Kind::RilevazioneVirus => "PROBLEMA DI SICUREZZA",
    }
}

/// The `daticert.xml` of a receipt.
pub fn daticert_xml(original: &Original, spec: &ReceiptSpec) -> String {
    // Italian civil time, with its offset, as providers write it.
    let local = crate::i18n::italian_time(spec.at);
    let offset_hours = (local - spec.at.naive_utc()).num_hours();
    let identifier = identifier(spec);
    let delivery = matches!(
        spec.kind,
        Kind::AvvenutaConsegna | Kind::ErroreConsegna | Kind::PreavvisoErroreConsegna
    );
    let mut dati = format!(
        "    <gestore-emittente>{}</gestore-emittente>\n    <data zona=\"+{:02}00\">\n      <giorno>{}</giorno>\n      <ora>{}</ora>\n    </data>\n    <identificativo>{}</identificativo>\n    <msgid>&lt;{}&gt;</msgid>\n",
        xml_escape(&spec.provider),
        offset_hours,
        local.format("%d/%m/%Y"),
        local.format("%H:%M:%S"),
        xml_escape(&identifier),
        xml_escape(&original.message_id),
    );
    if spec.kind == Kind::AvvenutaConsegna {
        dati.push_str("    <ricevuta tipo=\"completa\" />\n");
    }
    if delivery {
        dati.push_str(&format!(
            "    <consegna>{}</consegna>\n",
            xml_escape(&original.to)
        ));
    }
    if let Some(detail) = &spec.error_detail {
        dati.push_str(&format!(
            "    <errore-esteso>{}</errore-esteso>\n",
            xml_escape(detail)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE postacert SYSTEM \"Postacert.dtd\">\n<postacert tipo=\"{}\" errore=\"{}\">\n  <intestazione>\n    <mittente>{}</mittente>\n    <destinatari tipo=\"certificato\">{}</destinatari>\n    <risposte>{}</risposte>\n    <oggetto>{}</oggetto>\n  </intestazione>\n  <dati>\n{}  </dati>\n</postacert>\n",
        spec.kind.code(),
        xml_escape(&spec.error),
        xml_escape(&original.from),
        xml_escape(&original.to),
        xml_escape(&original.from),
        xml_escape(&original.subject),
        dati
    )
}

fn identifier(spec: &ReceiptSpec) -> String {
    format!(
        "opec{}.{}.{}.1@{}",
        spec.serial % 300,
        spec.at.format("%Y%m%d%H%M%S"),
        spec.serial,
        spec.provider_domain
    )
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

/// The whole receipt message, CRLF line ends.
pub fn receipt_message(original: &Original, spec: &ReceiptSpec) -> Vec<u8> {
    let xml = daticert_xml(original, spec);
    let local = crate::i18n::italian_time(spec.at);
    let when = format!(
        "{} alle ore {}",
        local.format("%d/%m/%Y"),
        local.format("%H:%M:%S")
    );
    let text = match spec.kind {
        Kind::Accettazione => format!(
            "Ricevuta di accettazione\r\n\r\nIl giorno {when} il messaggio\r\n\"{}\" proveniente da \"{}\"\r\ned indirizzato a:\r\n{} (\"posta certificata\")\r\nè stato accettato dal sistema ed inoltrato.\r\nIdentificativo messaggio: {}\r\n",
            original.subject,
            original.from,
            original.to,
            identifier(spec)
        ),
        Kind::AvvenutaConsegna => format!(
            "Ricevuta di avvenuta consegna\r\n\r\nIl giorno {when} il messaggio\r\n\"{}\" proveniente da \"{}\"\r\ned indirizzato a \"{}\"\r\nè stato consegnato nella casella di destinazione.\r\nIdentificativo messaggio: {}\r\n",
            original.subject,
            original.from,
            original.to,
            identifier(spec)
        ),
        _ => format!(
            "Avviso di mancata consegna\r\n\r\nIl giorno {when} nel messaggio\r\n\"{}\" proveniente da \"{}\"\r\ned indirizzato a \"{}\"\r\nè stato rilevato un problema che ne impedisce la consegna ({}).\r\nIl messaggio è stato rifiutato dal sistema.\r\nIdentificativo messaggio: {}\r\n",
            original.subject,
            original.from,
            original.to,
            spec.error_detail.as_deref().unwrap_or(&spec.error),
            identifier(spec)
        ),
    };
    let outer = format!("----=_outer_{}", spec.serial);
    let inner = format!("----=_inner_{}", spec.serial);
    let date = spec.at.format("%a, %d %b %Y %H:%M:%S +0000");
    let subject = format!("{}: {}", subject_prefix(spec.kind), original.subject);
    let mut m = String::new();
    m.push_str(&format!(
        "Return-Path: <posta-certificata@{}>\r\n",
        spec.provider_domain
    ));
    m.push_str(&format!("Message-ID: <{}>\r\n", identifier(spec)));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!(
        "From: posta-certificata@{}\r\n",
        spec.provider_domain
    ));
    m.push_str(&format!("To: {}\r\n", original.from));
    m.push_str(&format!("Subject: {}\r\n", encode_subject(&subject)));
    m.push_str(&format!("X-Ricevuta: {}\r\n", spec.kind.code()));
    m.push_str(&format!(
        "X-Riferimento-Message-ID: <{}>\r\n",
        original.message_id
    ));
    if spec.kind.is_failure() || spec.kind == Kind::Accettazione {
        m.push_str(&format!(
            "X-Verifica-Sicurezza: {}\r\n",
            if spec.kind == Kind::RilevazioneVirus {
                "errore"
            } else {
                ""
            }
        ));
    }
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{outer}\"\r\n\r\n"
    ));
    m.push_str("This is an S/MIME signed message\r\n\r\n");
    m.push_str(&format!("--{outer}\r\n"));
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{inner}\"\r\n\r\n"
    ));
    m.push_str(&format!("--{inner}\r\n"));
    m.push_str(
        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    m.push_str(&text);
    m.push_str(&format!("\r\n--{inner}\r\n"));
    m.push_str("Content-Type: application/xml; name=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: inline; filename=\"daticert.xml\"\r\n\r\n");
    m.push_str(&base64_lines(xml.as_bytes()));
    m.push_str(&format!("--{inner}--\r\n\r\n"));
    m.push_str(&format!("--{outer}\r\n"));
    m.push_str("Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n");
    m.push_str(&base64_lines(
        format!("signature placeholder {}", spec.serial).as_bytes(),
    ));
    m.push_str(&format!("--{outer}--\r\n"));
    m.into_bytes()
}

/// RFC 2047 for a subject that is not plain ASCII.
fn encode_subject(subject: &str) -> String {
    if subject.is_ascii() {
        return subject.to_string();
    }
    use base64::Engine;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::receipts::parse_message;

    #[test]
    fn a_built_receipt_reads_back() {
        let original = Original {
            message_id: "abc.1@pecdesk.ordine.it".into(),
            from: "segreteria@pec.ordine.it".into(),
            to: "mario.rossi@pec.fofi.it".into(),
            subject: "Migrazione della casella PEC: è ora".into(),
        };
        for (kind, error) in [
            (Kind::Accettazione, "nessuno"),
            (Kind::AvvenutaConsegna, "nessuno"),
            (Kind::ErroreConsegna, "no-dest"),
        ] {
            let spec = ReceiptSpec {
                kind,
                error: error.into(),
                error_detail: (error != "nessuno").then(|| "5.1.1 casella inesistente".into()),
                provider: "InfoCert S.p.A.".into(),
                provider_domain: "pec.infocert.it".into(),
                at: "2026-11-29T09:26:03Z".parse().unwrap(),
                serial: 7,
            };
            let receipt = parse_message(&receipt_message(&original, &spec))
                .unwrap()
                .unwrap();
            assert_eq!(receipt.kind, kind);
            assert_eq!(receipt.message_id, "abc.1@pecdesk.ordine.it");
            assert_eq!(receipt.daticert.at, Some(spec.at));
            assert_eq!(
                receipt.daticert.subject.as_deref(),
                Some("Migrazione della casella PEC: è ora")
            );
            assert_eq!(
                receipt.recipient().as_deref(),
                Some("mario.rossi@pec.fofi.it")
            );
            assert!(receipt.own_message_id.unwrap().starts_with("opec7."));
        }
    }
}
