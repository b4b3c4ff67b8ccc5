//! `daticert.xml`, the certification data a PEC provider attaches to every
//! receipt (regole tecniche, DM 2 novembre 2005, allegato, §2.1 and the
//! Postacert.dtd):
//!
//! ```xml
//! <postacert tipo="avvenuta-consegna" errore="nessuno">
//!   <intestazione>
//!     <mittente>..</mittente> <destinatari tipo="certificato">..</destinatari>*
//!     <risposte>..</risposte> <oggetto>..</oggetto>
//!   </intestazione>
//!   <dati>
//!     <gestore-emittente>..</gestore-emittente>
//!     <data zona="+0100"><giorno>29/11/2026</giorno><ora>10:25:03</ora></data>
//!     <identificativo>..</identificativo> <msgid>&lt;..&gt;</msgid>?
//!     <ricevuta tipo="completa|breve|sintetica"/>? <consegna>..</consegna>?
//!     <errore-esteso>..</errore-esteso>?
//!   </dati>
//! </postacert>
//! ```

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

/// What is wrong with a `daticert.xml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaticertError {
    #[error("daticert.xml non leggibile: {0}")]
    Xml(String),
    #[error("daticert.xml senza l'elemento <postacert>")]
    NoRoot,
    #[error("daticert.xml senza l'attributo tipo di <postacert>")]
    NoType,
    #[error("daticert.xml: tipo \"{0}\" non previsto dalle regole tecniche")]
    UnknownType(String),
    #[error("daticert.xml: data non valida \"{0}\"")]
    Date(String),
}

/// The `tipo` of a `postacert`: which message of the PEC exchange it certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Accettazione,
    NonAccettazione,
    PresaInCarico,
    AvvenutaConsegna,
    PostaCertificata,
    ErroreConsegna,
    PreavvisoErroreConsegna,
    RilevazioneVirus,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Accettazione,
        Kind::NonAccettazione,
        Kind::PresaInCarico,
        Kind::AvvenutaConsegna,
        Kind::PostaCertificata,
        Kind::ErroreConsegna,
        Kind::PreavvisoErroreConsegna,
        Kind::RilevazioneVirus,
    ];

    /// The word used in `tipo` and in the `X-Ricevuta` header.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Accettazione => "accettazione",
            Kind::NonAccettazione => "non-accettazione",
            Kind::PresaInCarico => "presa-in-carico",
            Kind::AvvenutaConsegna => "avvenuta-consegna",
            Kind::PostaCertificata => "posta-certificata",
            Kind::ErroreConsegna => "errore-consegna",
            Kind::PreavvisoErroreConsegna => "preavviso-errore-consegna",
            Kind::RilevazioneVirus => "rilevazione-virus",
        }
    }

    pub fn parse(code: &str) -> Option<Kind> {
        let code = code.trim();
        Kind::ALL
            .into_iter()
            .find(|k| k.code().eq_ignore_ascii_case(code))
    }

    /// The message did not reach the member (or will not): someone to chase.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Kind::NonAccettazione
                | Kind::ErroreConsegna
                | Kind::PreavvisoErroreConsegna
                | Kind::RilevazioneVirus
        )
    }
}

/// The fields of a `daticert.xml` that pecdesk keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daticert {
    pub kind: Kind,
    /// `errore`: `nessuno`, `no-dest`, `no-dominio`, `virus`, `altro`.
    pub error: String,
    pub sender: Option<String>,
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    pub provider: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub identifier: Option<String>,
    /// The original message's Message-ID, without angle brackets.
    pub msgid: Option<String>,
    /// `consegna`: the mailbox a delivery (or non-delivery) is about.
    pub delivered_to: Option<String>,
    pub error_detail: Option<String>,
}

impl Daticert {
    /// The error words when there is one: `errore` and `errore-esteso`.
    pub fn error_text(&self) -> Option<String> {
        let code = self.error.trim();
        let has_code = !code.is_empty() && !code.eq_ignore_ascii_case("nessuno");
        match (&self.error_detail, has_code) {
            (Some(detail), true) => Some(format!("{code}: {detail}")),
            (Some(detail), false) => Some(detail.clone()),
            (None, true) => Some(code.to_string()),
            (None, false) => None,
        }
    }
}

/// Strips surrounding whitespace and angle brackets from a Message-ID.
pub fn bare_message_id(text: &str) -> String {
    text.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

pub fn parse(xml: &[u8]) -> Result<Daticert, DaticertError> {
    let text = decode(xml)?;
    let mut reader = Reader::from_str(&text);
    let xml_error = |e: quick_xml::Error| DaticertError::Xml(e.to_string());
    // Line ends and attribute values are normalized by the document's version.
    let mut version = XmlVersion::Implicit1_0;
    let mut path: Vec<String> = Vec::new();
    let mut kind = None;
    let mut error = String::new();
    let mut saw_root = false;
    let mut zone = None;
    let (mut giorno, mut ora) = (None, None);
    let mut out = Daticert {
        kind: Kind::Accettazione,
        error: String::new(),
        sender: None,
        recipients: Vec::new(),
        subject: None,
        provider: None,
        at: None,
        identifier: None,
        msgid: None,
        delivered_to: None,
        error_detail: None,
    };
    let mut buf = Vec::new();
    let mut text = String::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(xml_error)?;
        match event {
            Event::Decl(ref decl) => version = decl.xml_version().map_err(xml_error)?,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_string();
                let attr = |wanted: &str| -> Result<Option<String>, DaticertError> {
                    for a in e.attributes() {
                        let a = a.map_err(|e| DaticertError::Xml(e.to_string()))?;
                        if a.key.local_name().as_ref() == wanted {
                            let value = a.normalized_value(version).map_err(xml_error)?;
                            return Ok(Some(value.to_string()));
                        }
                    }
                    Ok(None)
                };
                match name.as_str() {
                    "postacert" if path.is_empty() => {
                        saw_root = true;
                        let tipo = attr("tipo")?.ok_or(DaticertError::NoType)?;
                        kind = Some(
                            Kind::parse(&tipo).ok_or(DaticertError::UnknownType(tipo.clone()))?,
                        );
                        error = attr("errore")?.unwrap_or_else(|| "nessuno".to_string());
                    }
                    "data" => zone = attr("zona")?,
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
                text.clear();
            }
            Event::End(_) => {
                store_text(
                    &path,
                    text.trim().to_string(),
                    &mut out,
                    &mut giorno,
                    &mut ora,
                );
                text.clear();
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml_content(version)),
            // quick-xml hands entity references over apart from the text.
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(xml_error)? {
                    text.push(c);
                } else {
                    let name: &str = &r;
                    let resolved =
                        quick_xml::escape::resolve_predefined_entity(name).ok_or_else(|| {
                            DaticertError::Xml(format!("entità sconosciuta &{name};"))
                        })?;
                    text.push_str(resolved);
                }
            }
            Event::CData(t) => text.push_str(&t.xml_content(version)),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(DaticertError::NoRoot);
    }
    out.kind = kind.ok_or(DaticertError::NoType)?;
    out.error = error;
    out.at = match (giorno, ora) {
        (Some(day), Some(time)) => Some(parse_when(&day, &time, zone.as_deref())?),
        _ => None,
    };
    Ok(out)
}

/// The document as text, decoded by its BOM or declared encoding: providers
/// write UTF-8 or ISO-8859-1, and quick-xml's reader takes UTF-8 only.
fn decode(xml: &[u8]) -> Result<std::borrow::Cow<'_, str>, DaticertError> {
    let (encoding, body) = match encoding_rs::Encoding::for_bom(xml) {
        Some((encoding, bom)) => (encoding, &xml[bom..]),
        None => (declared_encoding(xml).unwrap_or(encoding_rs::UTF_8), xml),
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or_else(|| DaticertError::Xml(format!("testo non codificato in {}", encoding.name())))
}

/// The `encoding` of an `<?xml ... ?>` declaration, when known.
fn declared_encoding(xml: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let declaration = xml.strip_prefix(b"<?xml")?;
    let end = declaration.windows(2).position(|w| w == b"?>")?;
    let declaration = std::str::from_utf8(&declaration[..end]).ok()?;
    let (_, rest) = declaration.split_once("encoding")?;
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let label = rest[1..].split(quote).next()?;
    encoding_rs::Encoding::for_label(label.trim().as_bytes())
}

fn store_text(
    path: &[String],
    text: String,
    out: &mut Daticert,
    giorno: &mut Option<String>,
    ora: &mut Option<String>,
) {
    if text.is_empty() {
        return;
    }
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["postacert", "intestazione", "mittente"] => out.sender = Some(text),
        ["postacert", "intestazione", "destinatari"] => out.recipients.push(text),
        ["postacert", "intestazione", "oggetto"] => out.subject = Some(text),
        ["postacert", "dati", "gestore-emittente"] => out.provider = Some(text),
        ["postacert", "dati", "data", "giorno"] => *giorno = Some(text),
        ["postacert", "dati", "data", "ora"] => *ora = Some(text),
        ["postacert", "dati", "identificativo"] => out.identifier = Some(text),
        ["postacert", "dati", "msgid"] => out.msgid = Some(bare_message_id(&text)),
        ["postacert", "dati", "consegna"] => out.delivered_to = Some(text),
        ["postacert", "dati", "errore-esteso"] => out.error_detail = Some(text),
        _ => {}
    }
}

/// `giorno` is `gg/mm/aaaa`, `ora` `hh:mm:ss`, `zona` the offset from UTC
/// (`+0100`); without a zone the time is taken as Italian time.
fn parse_when(day: &str, time: &str, zone: Option<&str>) -> Result<DateTime<Utc>, DaticertError> {
    let bad = || DaticertError::Date(format!("{day} {time} {}", zone.unwrap_or("")));
    let date = NaiveDate::parse_from_str(day.trim(), "%d/%m/%Y").map_err(|_| bad())?;
    let clock = NaiveTime::parse_from_str(time.trim(), "%H:%M:%S").map_err(|_| bad())?;
    let local = date.and_time(clock);
    match zone.map(str::trim).filter(|z| !z.is_empty()) {
        Some(zone) => {
            let offset = DateTime::<FixedOffset>::parse_from_str(
                &format!("2000-01-01 00:00:00 {zone}"),
                "%Y-%m-%d %H:%M:%S %z",
            )
            .map_err(|_| bad())?
            .offset()
            .to_owned();
            local
                .and_local_timezone(offset)
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(bad)
        }
        // The offset (CET or CEST) whose Italian time gives back the local time.
        None => [1, 2]
            .into_iter()
            .map(|hours| local.and_utc() - chrono::TimeDelta::hours(hours))
            .find(|utc| crate::i18n::italian_time(*utc) == local)
            .ok_or_else(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE postacert SYSTEM "Postacert.dtd">
<postacert tipo="avvenuta-consegna" errore="nessuno">
  <intestazione>
    <mittente>segreteria@pec.ordine.it</mittente>
    <destinatari tipo="certificato">mario.rossi@pec.fofi.it</destinatari>
    <risposte>segreteria@pec.ordine.it</risposte>
    <oggetto>Migrazione della casella PEC &amp; password</oggetto>
  </intestazione>
  <dati>
    <gestore-emittente>INFOCERT S.P.A.</gestore-emittente>
    <data zona="+0100">
      <giorno>29/11/2026</giorno>
      <ora>10:26:03</ora>
    </data>
    <identificativo>opec21.20261129102603.1234.5.1.2@pec.infocert.it</identificativo>
    <msgid>&lt;20261129.abc@pecdesk&gt;</msgid>
    <ricevuta tipo="completa" />
    <consegna>mario.rossi@pec.fofi.it</consegna>
  </dati>
</postacert>"#;

    #[test]
    fn a_delivery_receipt_is_read_field_by_field() {
        let d = parse(DELIVERY.as_bytes()).unwrap();
        assert_eq!(d.kind, Kind::AvvenutaConsegna);
        assert_eq!(d.error, "nessuno");
        assert_eq!(d.error_text(), None);
        assert_eq!(d.sender.as_deref(), Some("segreteria@pec.ordine.it"));
        assert_eq!(d.recipients, vec!["mario.rossi@pec.fofi.it"]);
        assert_eq!(
            d.subject.as_deref(),
            Some("Migrazione della casella PEC & password")
        );
        assert_eq!(d.provider.as_deref(), Some("INFOCERT S.P.A."));
        assert_eq!(d.at.unwrap().to_rfc3339(), "2026-11-29T09:26:03+00:00");
        assert_eq!(
            d.identifier.as_deref(),
            Some("opec21.20261129102603.1234.5.1.2@pec.infocert.it")
        );
        assert_eq!(d.msgid.as_deref(), Some("20261129.abc@pecdesk"));
        assert_eq!(d.delivered_to.as_deref(), Some("mario.rossi@pec.fofi.it"));
    }

    #[test]
    fn a_non_delivery_carries_its_error() {
        let xml = DELIVERY
            .replace(
                r#"tipo="avvenuta-consegna" errore="nessuno""#,
                r#"tipo="errore-consegna" errore="no-dest""#,
            )
            .replace(
                "<ricevuta tipo=\"completa\" />",
                "<errore-esteso>5.1.1 - casella inesistente</errore-esteso>",
            );
        let d = parse(xml.as_bytes()).unwrap();
        assert_eq!(d.kind, Kind::ErroreConsegna);
        assert!(d.kind.is_failure());
        assert_eq!(
            d.error_text().as_deref(),
            Some("no-dest: 5.1.1 - casella inesistente")
        );
    }

    #[test]
    fn bad_documents_are_typed_errors() {
        assert_eq!(
            parse(b"<altro/>").unwrap_err(),
            DaticertError::NoRoot,
            "another root"
        );
        assert_eq!(
            parse(br#"<postacert tipo="consegnata"/>"#).unwrap_err(),
            DaticertError::UnknownType("consegnata".into())
        );
        assert_eq!(parse(b"<postacert/>").unwrap_err(), DaticertError::NoType);
        assert!(matches!(
            parse(b"<postacert tipo=\"accettazione\"><dati></postacert>").unwrap_err(),
            DaticertError::Xml(_)
        ));
        let bad_date = DELIVERY.replace("29/11/2026", "2026-11-29");
        assert!(matches!(
            parse(bad_date.as_bytes()).unwrap_err(),
            DaticertError::Date(_)
        ));
    }

    #[test]
    fn a_latin1_document_is_decoded_by_its_declaration() {
        let xml = DELIVERY
            .replace(r#"encoding="UTF-8""#, r#"encoding="ISO-8859-1""#)
            .replace("&amp; password", "già inviata");
        // The same text, written in ISO-8859-1 as some providers do.
        let bytes: Vec<u8> = xml.chars().map(|c| u8::try_from(c).unwrap()).collect();
        let d = parse(&bytes).unwrap();
        assert_eq!(
            d.subject.as_deref(),
            Some("Migrazione della casella PEC già inviata")
        );
        assert_eq!(d.kind, Kind::AvvenutaConsegna);
    }

    #[test]
    fn every_type_of_the_rules_is_known() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.code()), Some(kind));
        }
    }
}
