//! Rosters written the way Ordini's software and Excel write them, for the
//! benchmark, tests and sample files.

use encoding_rs::{Encoding, WINDOWS_1252};

use crate::domain::Member;

/// How a roster file is written.
#[derive(Debug, Clone, Copy)]
pub struct CsvStyle {
    pub delimiter: u8,
    pub crlf: bool,
    pub encoding: &'static Encoding,
}

impl CsvStyle {
    /// Excel's "CSV (delimitato da separatore)" in an Italian locale.
    pub const EXCEL_IT: CsvStyle = CsvStyle {
        delimiter: b';',
        crlf: true,
        encoding: WINDOWS_1252,
    };
}

/// The header every written roster has.
pub const ROSTER_HEADER: [&str; 10] = [
    "Numero Iscrizione",
    "Cognome",
    "Nome",
    "Codice Fiscale",
    "Data di nascita",
    "Data iscrizione",
    "Indirizzo PEC",
    "E-mail",
    "Cellulare",
    "Provincia",
];

/// `members` as a roster file: header row, dates `dd/mm/yyyy`, mobiles as
/// typed (without +39).
pub fn roster_csv(members: &[Member], style: CsvStyle) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(style.delimiter)
        .terminator(if style.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_writer(Vec::new());
    let date = |d: Option<chrono::NaiveDate>| {
        d.map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_default()
    };
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(ROSTER_HEADER);
    for m in members {
        let mobile = m.cellulare.as_deref().unwrap_or_default();
        let _ = writer.write_record([
            m.numero_iscrizione.as_str(),
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &date(m.data_nascita),
            &date(m.data_iscrizione),
            &m.pec,
            m.email_servizio.as_deref().unwrap_or_default(),
            mobile.strip_prefix("+39").unwrap_or(mobile),
            m.provincia.as_deref().unwrap_or_default(),
        ]);
    }
    let utf8 = writer.into_inner().unwrap_or_default();
    let text = String::from_utf8(utf8).expect("the csv writer was given only str");
    style.encoding.encode(&text).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{ImportOptions, read_bytes};
    use crate::sample::generate_roster;

    #[test]
    fn written_rosters_read_back_identical() {
        let members = generate_roster(300, 11, "pec.fofi.it");
        for style in [
            CsvStyle::EXCEL_IT,
            CsvStyle {
                delimiter: b',',
                crlf: false,
                encoding: encoding_rs::UTF_8,
            },
        ] {
            let parsed = read_bytes(
                &roster_csv(&members, style),
                "albo.csv",
                &ImportOptions::default(),
            )
            .unwrap();
            assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
            assert_eq!(parsed.members, members);
        }
    }
}
