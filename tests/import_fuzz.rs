//! The roster reader never panics, whatever it is given: random bytes, and
//! CSV-like text made of the characters that break parsers (delimiters,
//! quotes, line ends, accents, '@'). Every row read is accounted for.

use pecdesk::import::{Format, ImportOptions, ParsedRoster, read_bytes, rejects_csv};
use proptest::prelude::*;

fn options(format: Format) -> ImportOptions {
    ImportOptions {
        format,
        ..ImportOptions::default()
    }
}

fn check(parsed: &ParsedRoster, input_lines: usize) {
    assert_eq!(
        parsed.rows_read,
        parsed.members.len() + parsed.left_albo.len() + parsed.rejects.len()
    );
    for reject in &parsed.rejects {
        assert!(
            reject.line >= 1 && reject.line as usize <= input_lines + 1,
            "{reject}"
        );
    }
    // The rejects file can always be written, and read back.
    let rejects = rejects_csv(parsed).unwrap();
    let _ = read_bytes(&rejects, "scarti.csv", &ImportOptions::default());
}

fn read_all_formats(bytes: &[u8]) {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    for format in [Format::Auto, Format::Csv, Format::IniPec] {
        if let Ok(parsed) = read_bytes(bytes, "fuzz.csv", &options(format)) {
            check(&parsed, lines);
        }
    }
}

const PIECES: &[&str] = &[
    ";",
    ",",
    "\t",
    "\"",
    "\"\"",
    "\r\n",
    "\n",
    "\r",
    " ",
    "Rossi",
    "Niccolò",
    "D'Angelo",
    "@",
    "a@pec.fofi.it",
    "pec.it",
    "RSSMRA85T10A562S",
    "RSSMRA85T10A562X",
    "10/12/1985",
    "1985-12-10",
    "347 123 4567",
    "\u{feff}",
    "\u{0}",
    "é",
    "CANCELLATO",
];

const HEADERS: &[&str] = &[
    "",
    "Cognome;Nome;Codice Fiscale;PEC;Cellulare;Data di nascita;Stato\n",
    "COGNOME,NOME,C.F.,PEC,E-mail\r\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        read_all_formats(&bytes);
    }

    #[test]
    fn csv_like_text_never_panics(
        header in proptest::sample::select(HEADERS),
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..120),
    ) {
        let text = format!("{header}{}", pieces.concat());
        read_all_formats(text.as_bytes());
        let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        read_all_formats(&cp1252);
    }
}
