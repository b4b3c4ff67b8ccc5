use chrono::NaiveDate;
use encoding_rs::{UTF_8, UTF_16LE, WINDOWS_1252};

use super::*;
use crate::domain::codice_fiscale::complete;
use crate::store::ChangeKind;

const HEADER: &str = "Numero Iscrizione;Cognome;Nome;Codice Fiscale;Data di nascita;Data iscrizione;Indirizzo PEC;E-mail;Cellulare;Provincia;Note\n";

/// A distinct valid codice fiscale for each `n` below 1000.
fn cf(n: u32) -> String {
    complete(&format!("RSSMRA85T10A{n:03}"))
}

fn parse(body: &str) -> ParsedRoster {
    parse_csv(format!("{HEADER}{body}").as_bytes(), "albo.csv").unwrap()
}

fn reasons(parsed: &ParsedRoster) -> Vec<String> {
    parsed.rejects.iter().map(|r| r.to_string()).collect()
}

fn auto(bytes: &[u8]) -> Result<ParsedRoster, ImportError> {
    read_bytes(bytes, "albo.csv", &ImportOptions::default())
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    (dir, store)
}

/// Minimal roster text: one member per (cognome, codice fiscale, pec).
fn roster(rows: &[(&str, &str, &str)]) -> String {
    let mut text = "Cognome;Nome;Codice Fiscale;PEC;E-mail\n".to_string();
    for (cognome, cf, pec) in rows {
        text.push_str(&format!("{cognome};Mario;{cf};{pec};\n"));
    }
    text
}

#[test]
fn reads_a_valid_row_with_italian_headers() {
    let parsed = parse(
        "1234;Rossi;Mario;rssmra85t10a562s;10/12/1985;1/3/2010;Mario.Rossi@pec.fofi.it;mario@libero.it;347 123 4567;rm;x\n",
    );
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.unknown_columns, vec!["Note"]);
    let m = &parsed.members[0];
    assert_eq!(m.codice_fiscale, "RSSMRA85T10A562S");
    assert_eq!(m.pec, "mario.rossi@pec.fofi.it");
    assert_eq!(m.cellulare.as_deref(), Some("+393471234567"));
    assert_eq!(m.data_nascita, NaiveDate::from_ymd_opt(1985, 12, 10));
    assert_eq!(m.data_iscrizione, NaiveDate::from_ymd_opt(2010, 3, 1));
    assert_eq!(m.provincia.as_deref(), Some("RM"));
    assert_eq!(parsed.layout.kind, SourceKind::Csv);
    assert_eq!(parsed.layout.delimiter, b';');
}

#[test]
fn rejects_bad_rows_with_line_field_and_reason_and_keeps_good_ones() {
    let parsed = parse(concat!(
        "1;Rossi;Mario;RSSMRA85T10A562T;;;a@pec.fofi.it;;;;\n",
        "2;Rossi;Mario;RSSMRA85T10A562S;;;non-una-pec;;;;\n",
        "3;;Mario;RSSMRA85T10A562S;;;b@pec.fofi.it;;;;\n",
        "4;Rossi;Mario;RSSMRA85T10A562S;31/02/1985;;c@pec.fofi.it;;;;\n",
        "5;Rossi;Mario;RSSMRA85T10A562S;;;d@pec.fofi.it;;06 123;;\n",
        "6;Rossi;Mario;RSSMRA85T10A562S;;;e@pec.fofi.it;;;;\n",
        "7;Rossi;Maria;RSSMRA85T10A562S;;;f@pec.fofi.it;;;;\n",
    ));
    assert_eq!(parsed.rows_read, 7);
    assert_eq!(parsed.members.len(), 1);
    let reasons = reasons(&parsed);
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[0].starts_with("riga 2, campo \"Codice Fiscale\": carattere di controllo"));
    assert!(reasons[1].starts_with("riga 3, campo \"Indirizzo PEC\": PEC non valida"));
    assert!(reasons[2].starts_with("riga 4, campo \"Cognome\": valore obbligatorio"));
    assert!(reasons[3].starts_with("riga 5, campo \"Data di nascita\""));
    assert!(reasons[4].starts_with("riga 6, campo \"Cellulare\""));
    assert!(
        reasons[5].contains("già presente alla riga 7"),
        "{}",
        reasons[5]
    );
}

#[test]
fn every_rejection_reason() {
    let long = "x".repeat(MAX_FIELD_CHARS + 1);
    let omocodic = complete("RSSMRA85T10A56N");
    let rows = [
        // (row, field, reason prefix)
        (
            "1;Rossi;Mario;RSSMRA85T10A562;;;a@pec.fofi.it;;;;".to_string(),
            "Codice Fiscale",
            "deve avere 16 caratteri",
        ),
        (
            "2;Rossi;Mario;RSSMRA8XT10A562S;;;b@pec.fofi.it;;;;".to_string(),
            "Codice Fiscale",
            "carattere non valido in posizione 8",
        ),
        (
            "3;Rossi;Mario;RSSMRA85T10A562T;;;c@pec.fofi.it;;;;".to_string(),
            "Codice Fiscale",
            "carattere di controllo errato",
        ),
        (
            format!("4;Rossi;Mario;{};;;d(at)pec.fofi.it;;;;", cf(4)),
            "Indirizzo PEC",
            "PEC non valida",
        ),
        (
            format!("5;Rossi;Mario;{};;;e@pec.fofi.it;mario@;;;", cf(5)),
            "E-mail",
            "indirizzo e-mail non valido",
        ),
        (
            format!("6;Rossi;Mario;{};;;f@pec.fofi.it;;06 1234567;;", cf(6)),
            "Cellulare",
            "numero di cellulare non valido",
        ),
        (
            format!("7;Rossi;Mario;{};1985-13-01;;g@pec.fofi.it;;;;", cf(7)),
            "Data di nascita",
            "data non valida",
        ),
        (
            format!("8;Rossi;Mario;{};;32/01/2000;h@pec.fofi.it;;;;", cf(8)),
            "Data iscrizione",
            "data non valida",
        ),
        (
            format!("9;Rossi;;{};;;i@pec.fofi.it;;;;", cf(9)),
            "Nome",
            "valore obbligatorio mancante",
        ),
        (
            "10;Rossi;Mario;;;;j@pec.fofi.it;;;;".to_string(),
            "Codice Fiscale",
            "valore obbligatorio mancante",
        ),
        (
            format!("11;Rossi;Mario;{};;;;;;;", cf(11)),
            "Indirizzo PEC",
            "valore obbligatorio mancante",
        ),
        (
            format!("12;{long};Mario;{};;;l@pec.fofi.it;;;;", cf(12)),
            "Cognome",
            "valore troppo lungo",
        ),
        (
            format!("13;Rossi;Mario;{omocodic};;;m@pec.fofi.it;;;;"),
            "",
            "",
        ),
        (
            format!("14;Rossi;Mario;{omocodic};;;n@pec.fofi.it;;;;"),
            "Codice Fiscale",
            "codice fiscale già presente alla riga 14",
        ),
        (
            format!("15;Rossi;Mario;{};;;M@PEC.fofi.it;;;;", cf(15)),
            "Indirizzo PEC",
            "indirizzo PEC già presente alla riga 14",
        ),
        // Another provider's PEC is not an error: outside the migration, counted apart.
        (
            format!("16;Rossi;Mario;{};;;p@legalmail.it;;;;", cf(16)),
            "",
            "",
        ),
    ];
    let body: String = rows.iter().map(|(row, ..)| format!("{row}\n")).collect();
    let parsed = parse(&body);
    let expected: Vec<(u64, &str, &str)> = rows
        .iter()
        .enumerate()
        .filter(|(_, (_, field, _))| !field.is_empty())
        .map(|(i, (_, field, reason))| (i as u64 + 2, *field, *reason))
        .collect();
    assert_eq!(
        parsed.rejects.len(),
        expected.len(),
        "{:?}",
        reasons(&parsed)
    );
    for (reject, (line, field, reason)) in parsed.rejects.iter().zip(expected) {
        assert_eq!(reject.line, line, "{reject}");
        assert_eq!(reject.field.as_deref(), Some(field), "{reject}");
        assert!(reject.reason.starts_with(reason), "{reject}");
        assert!(reject.reason.len() < 200, "reasons stay readable");
    }
    let pecs: Vec<&str> = parsed.members.iter().map(|m| m.pec.as_str()).collect();
    assert_eq!(pecs, ["m@pec.fofi.it", "p@legalmail.it"]);
    assert!(!parsed.members[1].pec_on_domain("pec.fofi.it"));
}

#[test]
fn a_missing_required_column_is_one_error() {
    let err = parse_csv(b"Cognome;Nome;PEC\nRossi;Mario;a@pec.fofi.it\n", "albo.csv").unwrap_err();
    assert_eq!(
        err.to_string(),
        "albo.csv: mancano le colonne obbligatorie: codice fiscale"
    );
    let err = auto(b"Iscritto;Recapito\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "albo.csv: mancano le colonne obbligatorie: cognome, nome, codice fiscale, indirizzo PEC"
    );
}

#[test]
fn a_file_without_header_says_so() {
    let err = parse_csv(
        format!("Rossi;Mario;{};a@pec.fofi.it\n", cf(1)).as_bytes(),
        "albo.csv",
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::NoHeader { .. }), "{err}");
    assert!(err.to_string().contains("intestazione"));
}

#[test]
fn header_synonym_families() {
    let families: &[(Field, &[&str])] = &[
        (
            Field::NumeroIscrizione,
            &[
                "Numero Iscrizione",
                "N. iscrizione",
                "NUMERO_ISCRIZIONE",
                "Nr. Iscrizione",
                "Matricola",
                "N° albo",
            ],
        ),
        (
            Field::Cognome,
            &["Cognome", "COGNOME", "Surname", "Last name"],
        ),
        (Field::Nome, &["Nome", "NOME", "First Name", "name"]),
        (
            Field::CodiceFiscale,
            &[
                "Codice Fiscale",
                "C.F.",
                "CODICE_FISCALE",
                "cf",
                "Cod. Fiscale",
                "Tax code",
            ],
        ),
        (
            Field::Pec,
            &[
                "Indirizzo PEC",
                "PEC",
                "E-mail PEC",
                "Posta certificata",
                "Domicilio digitale",
            ],
        ),
        (
            Field::EmailServizio,
            &[
                "E-mail",
                "Email ordinaria",
                "EMAIL",
                "Mail",
                "E-mail di servizio",
                "Email personale",
            ],
        ),
        (
            Field::Cellulare,
            &[
                "Cellulare",
                "Telefono cellulare",
                "Cell.",
                "Mobile",
                "Tel. cellulare",
            ],
        ),
        (
            Field::DataNascita,
            &[
                "Data di nascita",
                "DATA_NASCITA",
                "Nato il",
                "Date of birth",
            ],
        ),
        (
            Field::DataIscrizione,
            &["Data iscrizione", "DATA_ISCRIZIONE", "Iscritto dal"],
        ),
        (
            Field::Provincia,
            &["Provincia", "Prov.", "PR", "Sigla provincia"],
        ),
        (Field::Stato, &["Stato", "Stato iscrizione", "Status"]),
        (
            Field::DataCancellazione,
            &["Data cancellazione", "DATA_CANCELLAZIONE", "Cancellato il"],
        ),
    ];
    for (field, spellings) in families {
        for spelling in *spellings {
            let mapping = columns::map_headers([*spelling, "  Altro  "].into_iter());
            assert_eq!(mapping.column(*field), Some(0), "{spelling} -> {field:?}");
            assert_eq!(mapping.unknown, ["Altro"], "{spelling}");
        }
    }
    let parsed = parse_csv(
        "\u{feff}COGNOME,NOME,C.F.,PEC,Email ordinaria,Telefono cellulare,N. iscrizione\r\nRossi,Mario,RSSMRA85T10A562S,a@pec.fofi.it,m@x.it,3471234567,77\r\n".as_bytes(),
        "x.csv",
    )
    .unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.members[0].numero_iscrizione, "77");
    assert_eq!(parsed.members[0].email_servizio.as_deref(), Some("m@x.it"));
    assert_eq!(parsed.layout.delimiter, b',');
}

#[test]
fn a_repeated_column_is_ignored_and_listed() {
    let parsed = auto(
        format!("Cognome;Nome;CF;PEC;Email;E-mail ordinaria\nRossi;Mario;{};a@pec.fofi.it;a@x.it;b@x.it\n", cf(1))
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.unknown_columns, ["E-mail ordinaria"]);
    assert_eq!(parsed.members[0].email_servizio.as_deref(), Some("a@x.it"));
}

const ACCENTED: &str = "Cognome;Nome;Codice Fiscale;PEC\r\nD'Angelo;Niccolò;RSSMRA85T10A562S;a@pec.fofi.it\r\nMirò;Zoë;RSSMRA85T10A001V;b@pec.fofi.it\r\n";

fn assert_accents(parsed: &ParsedRoster) {
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    let names: Vec<String> = parsed.members.iter().map(Member::full_name).collect();
    assert_eq!(names, ["D'Angelo Niccolò", "Mirò Zoë"]);
}

#[test]
fn every_encoding() {
    assert_eq!(cf(1), "RSSMRA85T10A001V");
    let utf8 = auto(ACCENTED.as_bytes()).unwrap();
    assert_accents(&utf8);
    assert_eq!(utf8.layout.encoding, UTF_8);

    let bom = auto(format!("\u{feff}{ACCENTED}").as_bytes()).unwrap();
    assert_accents(&bom);
    assert_eq!(
        bom.layout.header.as_ref().unwrap()[0],
        "Cognome",
        "BOM not in the header"
    );

    let cp1252 = WINDOWS_1252.encode(ACCENTED).0;
    assert!(std::str::from_utf8(&cp1252).is_err());
    let parsed = auto(&cp1252).unwrap();
    assert_accents(&parsed);
    assert_eq!(parsed.layout.encoding, WINDOWS_1252);

    // Excel's "Testo Unicode": UTF-16 LE with BOM, tab-separated.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in ACCENTED.replace(';', "\t").encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let parsed = auto(&utf16).unwrap();
    assert_accents(&parsed);
    assert_eq!(parsed.layout.encoding, UTF_16LE);
    assert_eq!(parsed.layout.delimiter, b'\t');
}

#[test]
fn every_delimiter_and_line_ending() {
    for delimiter in [";", ",", "\t"] {
        for newline in ["\n", "\r\n"] {
            let text = ACCENTED.replace(';', delimiter).replace("\r\n", newline);
            let parsed = auto(text.as_bytes()).unwrap();
            assert_accents(&parsed);
            assert_eq!(parsed.layout.delimiter, delimiter.as_bytes()[0]);
            assert_eq!(parsed.layout.crlf, newline == "\r\n");
        }
    }
}

#[test]
fn line_numbers_are_right_with_crlf_multiline_fields_and_blank_lines() {
    let parsed = parse_csv(
        "Cognome;Nome;Codice Fiscale;Indirizzo PEC\r\n\"Rossi\r\nbis\";Mario;RSSMRA85T10A562S;a@pec.fofi.it\r\nRossi;Mario;RSSMRA85T10A562X;b@pec.fofi.it\r\n".as_bytes(),
        "crlf.csv",
    )
    .unwrap();
    assert_eq!(parsed.rejects[0].line, 4);

    let parsed = auto(
        "\r\n\r\nCognome;Nome;CF;PEC\r\n\r\nRossi;Mario;RSSMRA85T10A562X;a@pec.fofi.it\r\n\r\n\r\nRossi;Mario;x;b@pec.fofi.it\n"
            .as_bytes(),
    )
    .unwrap();
    let lines: Vec<u64> = parsed.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, [5, 8]);
}

#[test]
fn quoted_fields_stray_spaces_and_blank_lines() {
    let parsed = parse(concat!(
        "1;\"D'Angelo; junior\";\"Mario \"\"Nino\"\"\";RSSMRA85T10A562S;;;a@pec.fofi.it;;;;\"nota\r\nsu due righe\"\n",
        " 2 ;  Bianchi ; Anna ;  RSSMRA85T10A001V  ; 1/3/1985 ;  ;  b@pec.fofi.it ; ;  ; mi ;\n",
        "\n \n;;;;;;;;;;\n\n"
    ));
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.rows_read, 2);
    assert_eq!(parsed.members[0].cognome, "D'Angelo; junior");
    assert_eq!(parsed.members[0].nome, "Mario \"Nino\"");
    let anna = &parsed.members[1];
    assert_eq!(
        (anna.numero_iscrizione.as_str(), anna.cognome.as_str()),
        ("2", "Bianchi")
    );
    assert_eq!(anna.data_nascita, NaiveDate::from_ymd_opt(1985, 3, 1));
    assert_eq!(anna.provincia.as_deref(), Some("MI"));
}

#[test]
fn malformed_inputs_are_clear_errors_or_rejects_never_panics() {
    for empty in [
        &b""[..],
        b"   \r\n\n\t\n",
        b"\xEF\xBB\xBF",
        b"\xEF\xBB\xBF\r\n",
    ] {
        assert!(
            matches!(auto(empty), Err(ImportError::Empty { .. })),
            "{empty:?}"
        );
    }
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(matches!(auto(&junk), Err(ImportError::Binary { .. })));
    assert!(matches!(
        auto(b"SQLite format 3\0rest"),
        Err(ImportError::Binary { .. })
    ));
    // Header only: read, nothing to import.
    let parsed = auto(b"Cognome;Nome;CF;PEC\r\n").unwrap();
    assert_eq!(parsed.rows_read, 0);
    assert!(matches!(
        parsed.ensure_importable(),
        Err(ImportError::NothingToImport { rejected: 0, .. })
    ));
    // Ragged rows: too short is a reject, too long keeps the known columns.
    let parsed = auto(
        format!(
            "Cognome;Nome;CF;PEC\nRossi;Mario\nRossi;Mario;{};a@pec.fofi.it;x;y;z\nsolo\n",
            cf(1)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.members.len(), 1);
    let lines: Vec<(u64, Option<&str>)> = parsed
        .rejects
        .iter()
        .map(|r| (r.line, r.field.as_deref()))
        .collect();
    assert_eq!(lines, [(2, Some("CF")), (4, Some("Nome"))]);
    // An unterminated quote swallows the rest of the file into one field.
    let parsed = auto(
        format!(
            "Cognome;Nome;CF;PEC\n\"Rossi;Mario;{};a@pec.fofi.it\nBianchi;Anna;{};b@pec.fofi.it\n",
            cf(1),
            cf(2)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!((parsed.rows_read, parsed.rejects.len()), (1, 1));
}

#[test]
fn a_huge_field_is_rejected_with_a_short_reason() {
    let huge = "a".repeat(10 * 1024 * 1024);
    let text = format!(
        "Cognome;Nome;CF;PEC;Note\nRossi;{huge};{};a@pec.fofi.it;\nBianchi;Anna;{};b@pec.fofi.it;{huge}\n{huge};x\n",
        cf(1),
        cf(2)
    );
    let parsed = auto(text.as_bytes()).unwrap();
    assert_eq!(parsed.members.len(), 1, "an unmapped huge cell is ignored");
    assert_eq!(parsed.rejects.len(), 2);
    for reject in &parsed.rejects {
        assert!(
            reject.to_string().len() < 200,
            "{}",
            &reject.to_string()[..200]
        );
    }
    // In the header: the unknown column's name is cut in the summary.
    let parsed = auto(
        format!(
            "Cognome;Nome;CF;PEC;{huge}\nRossi;Mario;{};a@pec.fofi.it;\n",
            cf(1)
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(parsed.unknown_columns[0].chars().count() <= 61);
}

#[test]
fn inipec_layout_is_recognised_and_marks_members_who_left() {
    let text = format!(
        concat!(
            "mario.rossi@pec.fofi.it;Mario;Rossi;1234;{};ATTIVO;01/03/2010;\r\n",
            "anna.bianchi@pec.fofi.it;Anna;Bianchi;1235;{};CANCELLATO;01/03/2011;15/01/2025\r\n",
            "luca.verdi@pec.fofi.it;Luca;Verdi;1236;{};Sospeso;2012-03-01;\r\n",
            "paolo.neri@pec.fofi.it;Paolo;Neri;1237;{};;01/03/2013;31/12/2024\r\n",
            "bad@pec.fofi.it;Carlo;Gialli;1238;RSSMRA85T10A562X;ATTIVO;;\r\n",
        ),
        cf(1),
        cf(2),
        cf(3),
        cf(4)
    );
    let bytes = WINDOWS_1252.encode(&text).0;
    let parsed = auto(&bytes).unwrap();
    assert_eq!(parsed.layout.kind, SourceKind::IniPec);
    assert_eq!(parsed.layout.header, None);
    assert_eq!(parsed.rows_read, 5);
    let names = |members: &[Member]| {
        members
            .iter()
            .map(|m| m.cognome.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&parsed.members), ["Rossi", "Verdi"]);
    assert_eq!(names(&parsed.left_albo), ["Bianchi", "Neri"]);
    assert_eq!(parsed.members[0].numero_iscrizione, "1234");
    assert_eq!(
        parsed.members[0].data_iscrizione,
        NaiveDate::from_ymd_opt(2010, 3, 1)
    );
    assert_eq!(
        reasons(&parsed),
        [
            "riga 5, campo \"Codice Fiscale\": carattere di controllo errato: atteso 'S', trovato 'X'"
        ]
    );

    // Forced, when the first row is itself broken and auto-detection cannot tell.
    let broken_first = format!("non-una-pec;Mario;Rossi;1;{};ATTIVO;;\n", cf(1));
    assert!(auto(broken_first.as_bytes()).is_err());
    let forced = read_bytes(
        broken_first.as_bytes(),
        "inipec.txt",
        &ImportOptions {
            format: Format::IniPec,
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(forced.rejects[0].field.as_deref(), Some("Indirizzo PEC"));
}

#[test]
fn a_status_column_in_a_csv_marks_members_who_left() {
    let parsed = auto(
        format!(
            "Cognome;Nome;CF;PEC;Stato;Data cancellazione\nRossi;Mario;{};a@pec.fofi.it;Attivo;\nBruno;Anna;{};b@pec.fofi.it;Cancellata;\n",
            cf(1),
            cf(2)
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!((parsed.members.len(), parsed.left_albo.len()), (1, 1));
}

#[test]
fn format_names_parse() {
    assert_eq!("auto".parse::<Format>(), Ok(Format::Auto));
    assert_eq!("CSV".parse::<Format>(), Ok(Format::Csv));
    assert_eq!("inipec".parse::<Format>(), Ok(Format::IniPec));
    assert!(
        "xls"
            .parse::<Format>()
            .unwrap_err()
            .contains("auto, csv o inipec")
    );
}

fn sqlite_file(dir: &Path, setup: &str) -> std::path::PathBuf {
    let path = dir.join("gestionale.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(setup).unwrap();
    path
}

#[test]
fn sqlite_sources() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(
        dir.path(),
        &format!(
            "CREATE TABLE iscritti (ID INTEGER PRIMARY KEY, COGNOME TEXT, NOME TEXT, CODICE_FISCALE TEXT,
                 INDIRIZZO_PEC TEXT, EMAIL TEXT, DATA_NASCITA TEXT, N_ISCRIZIONE REAL, FOTO BLOB);
             INSERT INTO iscritti VALUES (1, 'Mirò', 'Niccolò', '{}', 'a@pec.fofi.it', NULL, '1985-12-10', 1234.0, NULL);
             INSERT INTO iscritti VALUES (2, 'Rossi', 'Anna', 'RSSMRA85T10A562X', 'b@pec.fofi.it', 'x', NULL, 1235, NULL);
             INSERT INTO iscritti VALUES (3, 'Neri', 'Anna', '{}', 'c@pec.fofi.it', NULL, NULL, 1236, x'FFFE00');",
            cf(1),
            cf(3)
        ),
    );
    let before = std::fs::read(&path).unwrap();
    let parsed = read_file(&path).unwrap();
    assert_eq!(
        parsed.layout.kind,
        SourceKind::Sqlite {
            table: "iscritti".into()
        }
    );
    assert_eq!(parsed.unknown_columns, ["ID", "FOTO"]);
    assert_eq!(parsed.rows_read, 3);
    let m = &parsed.members[0];
    assert_eq!((m.cognome.as_str(), m.nome.as_str()), ("Mirò", "Niccolò"));
    assert_eq!(m.numero_iscrizione, "1234");
    assert_eq!(m.data_nascita, NaiveDate::from_ymd_opt(1985, 12, 10));
    assert_eq!(
        reasons(&parsed),
        [
            "riga 2, campo \"CODICE_FISCALE\": carattere di controllo errato: atteso 'S', trovato 'X'",
            "riga 3: colonna \"FOTO\": valore non testuale",
        ]
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "opened read-only");

    // Stored while read, like a text file.
    let db = dir.path().join("s.db");
    let options = ImportOptions::default();
    let summary = import_path(&db, &path, &options, "anna", Utc::now(), |_| {}, |_| Ok(()));
    let summary = summary.unwrap();
    assert_eq!((summary.stored.new, summary.rejects.len()), (1, 2));
    let stored = Store::open(&db).unwrap().all_members().unwrap();
    assert_eq!(stored[0].1, parsed.members[0]);

    // More tables: --table is needed, and names them when missing or wrong.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE altro (x); CREATE VIEW attivi AS SELECT * FROM iscritti WHERE ID = 1;",
    )
    .unwrap();
    drop(conn);
    let err = read_file(&path).unwrap_err();
    assert!(matches!(err, ImportError::TableRequired { .. }), "{err}");
    assert!(
        err.to_string().ends_with("altro, iscritti, attivi"),
        "{err}"
    );
    let options = |table: &str| ImportOptions {
        table: Some(table.into()),
        ..ImportOptions::default()
    };
    let err = read_path(&path, &options("albo")).unwrap_err();
    assert!(matches!(err, ImportError::NoSuchTable { .. }), "{err}");
    assert_eq!(read_path(&path, &options("ISCRITTI")).unwrap().rows_read, 3);
    assert_eq!(read_path(&path, &options("attivi")).unwrap().rows_read, 1);
    let err = read_path(&path, &options("altro")).unwrap_err();
    assert!(matches!(err, ImportError::MissingColumns { .. }), "{err}");
    assert!(err.to_string().contains("tabella altro"), "{err}");

    // --table on a text file is a mistake worth saying.
    let csv = dir.path().join("albo.csv");
    std::fs::write(&csv, ACCENTED).unwrap();
    assert!(matches!(
        read_path(&csv, &options("x")),
        Err(ImportError::TableOnTextFile { .. })
    ));
}

#[test]
fn a_pecdesk_store_is_itself_a_readable_source() {
    let (dir, mut store) = store();
    let parsed = auto(ACCENTED.as_bytes()).unwrap();
    store_roster(&mut store, parsed, "anna", Utc::now()).unwrap();
    drop(store);
    let again = read_path(
        &dir.path().join("s.db"),
        &ImportOptions {
            table: Some("members".into()),
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_accents(&again);
}

#[test]
fn unreadable_paths_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("manca.csv"), dir.path().to_path_buf()] {
        let err = read_file(&path).unwrap_err();
        assert!(matches!(err, ImportError::Io { .. }), "{err}");
        assert!(err.to_string().starts_with("impossibile leggere"));
    }
}

#[test]
fn progress_is_reported() {
    let mut text = "Cognome;Nome;CF;PEC\n".to_string();
    for n in 0..2500 {
        text.push_str(&format!("Rossi;Mario;{};m{n}@pec.fofi.it\n", cf(n % 1000)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albo.csv");
    std::fs::write(&path, text).unwrap();
    let mut seen = Vec::new();
    read_path_with_progress(&path, &ImportOptions::default(), |n| seen.push(n)).unwrap();
    assert_eq!(seen, [1000, 2000, 2500]);
}

#[test]
fn rejects_file_round_trip() {
    for encoding in [UTF_8, WINDOWS_1252] {
        let text = format!(
            "N. iscrizione;Cognome;Nome;Codice Fiscale;PEC;Note\r\n1;Mirò;Niccolò;{};a@pec.fofi.it;ok\r\n2;D'Angelo;Zoë;RSSMRA85T10A562X;b@pec.fofi.it;\"nota; con \"\"virgolette\"\"\"\r\n3;Bianchi;;{};c@pec.fofi.it\r\n",
            cf(1),
            cf(3)
        );
        let bytes = encoding.encode(&text).0;
        let parsed = auto(&bytes).unwrap();
        assert_eq!(parsed.rejects.len(), 2);
        let out = rejects_csv(&parsed).unwrap();
        let (decoded, _) = encoding.decode_with_bom_removal(&out);
        assert_eq!(
            decoded,
            concat!(
                "N. iscrizione;Cognome;Nome;Codice Fiscale;PEC;Note;Motivo dello scarto\r\n",
                "2;D'Angelo;Zoë;RSSMRA85T10A562X;b@pec.fofi.it;\"nota; con \"\"virgolette\"\"\";Codice Fiscale: carattere di controllo errato: atteso 'S', trovato 'X'\r\n",
                "3;Bianchi;;RSSMRA85T10A003C;c@pec.fofi.it;;Nome: valore obbligatorio mancante\r\n",
            ),
            "{encoding:?}"
        );
        assert_eq!(out.starts_with(b"\xEF\xBB\xBF"), encoding == UTF_8);

        // Staff fix the two rows in Excel and import the file again.
        let fixed = decoded
            .replace("RSSMRA85T10A562X", "RSSMRA85T10A562S")
            .replace("Bianchi;;", "Bianchi;Anna;");
        let again = auto(&encoding.encode(&fixed).0).unwrap();
        assert!(again.rejects.is_empty(), "{:?}", again.rejects);
        assert_eq!(again.members.len(), 2);
        assert!(again.layout.rejects_file);
        assert_eq!(again.unknown_columns, ["Note", REASON_COLUMN]);
        assert!(!again.is_full_roster(&ImportOptions::default()));

        // Rejected again: the reason column is replaced, not added.
        let still_bad = decoded.replace("Bianchi;;", "Bianchi;Anna;");
        let again = auto(&encoding.encode(&still_bad).0).unwrap();
        let out = rejects_csv(&again).unwrap();
        let (decoded, _) = encoding.decode_with_bom_removal(&out);
        assert_eq!(
            decoded
                .lines()
                .next()
                .unwrap()
                .matches(REASON_COLUMN)
                .count(),
            1
        );
        assert_eq!(decoded.lines().count(), 2);
    }
}

#[test]
fn the_reason_column_cannot_run_as_a_formula() {
    let parsed = auto(b"Cognome;Nome;CF;=PEC\nRossi;Mario;RSSMRA85T10A562S;x\n").unwrap();
    assert_eq!(parsed.rejects[0].field.as_deref(), Some("=PEC"));
    let out = String::from_utf8(rejects_csv(&parsed).unwrap()).unwrap();
    assert!(
        out.ends_with(";'=PEC: PEC non valida: indirizzo e-mail non valido: x\n"),
        "{out}"
    );
}

#[test]
fn an_exported_roster_with_formula_guards_imports_as_it_was() {
    let parsed = auto(
        format!(
            "Cognome;Nome;CF;PEC;Cellulare\r\n'=Rossi;Mario;{};a@pec.fofi.it;'+393471234567\r\n",
            cf(1)
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.members[0].cognome, "=Rossi");
    assert_eq!(
        parsed.members[0].cellulare.as_deref(),
        Some("+393471234567")
    );
}

#[test]
fn rejects_file_keeps_ragged_rows_aligned_and_inipec_shape() {
    let parsed = auto(
        format!(
            "Cognome,Nome,CF,PEC\nRossi,Mario\nBianchi,Anna,{},b@pec.fofi.it\n",
            cf(2)
        )
        .as_bytes(),
    )
    .unwrap();
    let out = String::from_utf8(rejects_csv(&parsed).unwrap()).unwrap();
    assert_eq!(
        out,
        "\u{feff}Cognome,Nome,CF,PEC,Motivo dello scarto\nRossi,Mario,,,CF: valore obbligatorio mancante\n"
    );
    let parsed = auto(b"a@pec.fofi.it;Mario;Rossi;1;RSSMRA85T10A562X\n").unwrap();
    assert_eq!(parsed.layout.kind, SourceKind::IniPec);
    let out = String::from_utf8(rejects_csv(&parsed).unwrap()).unwrap();
    assert_eq!(
        out,
        "\u{feff}a@pec.fofi.it;Mario;Rossi;1;RSSMRA85T10A562X;;;;Codice Fiscale: carattere di controllo errato: atteso 'S', trovato 'X'\n"
    );
    let fixed = auto(out.replace("562X", "562S").as_bytes()).unwrap();
    assert_eq!(fixed.layout.kind, SourceKind::IniPec);
    assert_eq!(fixed.members.len(), 1);
}

#[test]
fn reimport_updates_adds_removes_and_never_duplicates() {
    let (_dir, mut store) = store();
    let (a, b, c) = (cf(1), cf(2), cf(3));
    let first = auto(
        roster(&[
            ("Rossi", &a, "a@pec.fofi.it"),
            ("Bianchi", &b, "b@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    let summary = store_roster(&mut store, first, "anna", Utc::now()).unwrap();
    assert_eq!((summary.stored.new, summary.full_roster), (2, true));

    let second = auto(
        roster(&[
            ("Rossi", &a, "a@pec.fofi.it"),
            ("Verdi", &c, "c@pec.fofi.it"),
        ])
        .replace("a@pec.fofi.it;", "a@pec.fofi.it;mario@libero.it")
        .as_bytes(),
    )
    .unwrap();
    let plan = preview(&store, &second, &ImportOptions::default()).unwrap();
    assert_eq!(
        plan.counts,
        MemberUpsert {
            new: 1,
            updated: 1,
            unchanged: 0,
            removed: 1
        }
    );
    let described: Vec<(ChangeKind, String, Vec<&str>)> = plan
        .changes
        .iter()
        .map(|c| (c.kind, c.name.clone(), c.fields.clone()))
        .collect();
    assert_eq!(
        described,
        [
            (
                ChangeKind::Updated,
                "Rossi Mario".to_string(),
                vec!["e-mail di servizio"]
            ),
            (ChangeKind::New, "Verdi Mario".to_string(), vec![]),
            (
                ChangeKind::Removed,
                "Bianchi Mario".to_string(),
                vec!["rimosso dall'albo"]
            ),
        ]
    );
    let summary = import(
        &mut store,
        second.clone(),
        &ImportOptions::default(),
        "anna",
        Utc::now(),
    )
    .unwrap();
    assert_eq!(summary.stored, plan.counts);
    assert_eq!(store.member_count().unwrap(), 3);
    let entries = store.all_members().unwrap();
    let bianchi = entries
        .iter()
        .find(|(_, m, _)| m.codice_fiscale == b)
        .unwrap();
    assert!(!bianchi.2, "marked removed, not deleted");
    let timeline = store.timeline(Some(bianchi.0), None).unwrap();
    assert_eq!(timeline[0].detail, "rimosso dall'albo: assente da albo.csv");

    // The same file again changes nothing.
    let summary = import(
        &mut store,
        second,
        &ImportOptions::default(),
        "anna",
        Utc::now(),
    )
    .unwrap();
    assert_eq!(
        (
            summary.stored.unchanged,
            summary.stored.new + summary.stored.updated + summary.stored.removed
        ),
        (2, 0)
    );
    assert_eq!(store.member_count().unwrap(), 3);
}

#[test]
fn partial_imports_only_add_and_update() {
    let (_dir, mut store) = store();
    let (a, b) = (cf(1), cf(2));
    let first = auto(
        roster(&[
            ("Rossi", &a, "a@pec.fofi.it"),
            ("Bianchi", &b, "b@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    store_roster(&mut store, first, "anna", Utc::now()).unwrap();
    let partial = ImportOptions {
        partial: true,
        ..ImportOptions::default()
    };
    let only_a = auto(roster(&[("Rossi", &a, "a@pec.fofi.it")]).as_bytes()).unwrap();
    let summary = import(&mut store, only_a, &partial, "anna", Utc::now()).unwrap();
    assert_eq!(
        (
            summary.stored.unchanged,
            summary.stored.removed,
            summary.full_roster
        ),
        (1, 0, false)
    );
    assert!(
        store
            .all_members()
            .unwrap()
            .iter()
            .all(|(_, _, in_roster)| *in_roster)
    );
}

#[test]
fn a_member_whose_row_is_rejected_is_not_removed() {
    let (_dir, mut store) = store();
    let (a, b) = (cf(1), cf(2));
    let first = auto(
        roster(&[
            ("Rossi", &a, "a@pec.fofi.it"),
            ("Bianchi", &b, "b@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    store_roster(&mut store, first, "anna", Utc::now()).unwrap();
    // Bianchi's row has a typo in the codice fiscale this time; the PEC still matches.
    let bad_cf = format!("{}X", &b[..15]);
    let second = auto(
        roster(&[
            ("Rossi", &a, "a@pec.fofi.it"),
            ("Bianchi", &bad_cf, "B@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(second.rejects.len(), 1);
    let summary = import(
        &mut store,
        second,
        &ImportOptions::default(),
        "anna",
        Utc::now(),
    )
    .unwrap();
    assert_eq!(summary.stored.removed, 0);
}

#[test]
fn nothing_valid_is_refused_before_touching_the_store() {
    let (_dir, mut store) = store();
    let first = auto(roster(&[("Rossi", &cf(1), "a@pec.fofi.it")]).as_bytes()).unwrap();
    store_roster(&mut store, first, "anna", Utc::now()).unwrap();
    let events = store.event_count().unwrap();
    let all_bad = auto(roster(&[("Rossi", "X", "a@pec.fofi.it")]).as_bytes()).unwrap();
    let err = store_roster(&mut store, all_bad, "anna", Utc::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "albo.csv: nessuna riga valida da importare (1 scartate)"
    );
    assert_eq!(store.event_count().unwrap(), events);
    assert!(store.all_members().unwrap()[0].2);
}

#[test]
fn dry_run_summarises_without_writing() {
    let (_dir, mut store) = store();
    let first = auto(
        roster(&[
            ("Rossi", &cf(1), "a@pec.fofi.it"),
            ("Bianchi", &cf(2), "b@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    store_roster(&mut store, first, "anna", Utc::now()).unwrap();
    let events = store.event_count().unwrap();
    let second = auto(
        roster(&[
            ("Rossi", &cf(1), "a@pec.fofi.it"),
            ("Verdi", &cf(3), "c@pec.fofi.it"),
        ])
        .as_bytes(),
    )
    .unwrap();
    let summary = dry_run(
        &store.all_members().unwrap(),
        second,
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(summary.dry_run);
    assert_eq!((summary.stored.new, summary.stored.removed), (1, 1));
    assert_eq!(summary.changes.len(), 1, "new members are only counted");
    assert_eq!(store.event_count().unwrap(), events);
    assert_eq!(store.member_count().unwrap(), 2);
    let json = summary.to_json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["removed"], 1);
    assert_eq!(json["changes"][0]["kind"], "removed");
    let text = summary.render(10);
    assert!(text.contains("SIMULAZIONE"), "{text}");
    assert!(text.contains("Bianchi Mario"), "{text}");
}

#[test]
fn summary_as_json_and_text() {
    let (_dir, mut store) = store();
    let parsed = parse(concat!(
        "1;Rossi;Mario;RSSMRA85T10A562S;;;a@pec.fofi.it;;;;\n",
        "2;X;Y;bad;;;b@pec.fofi.it;;;;\n"
    ));
    let summary = store_roster(&mut store, parsed, "anna", Utc::now()).unwrap();
    let json = summary.to_json();
    for (key, value) in [
        ("read", 2),
        ("new", 1),
        ("updated", 0),
        ("unchanged", 0),
        ("removed", 0),
        ("rejected", 1),
    ] {
        assert_eq!(json[key], value, "{key}");
    }
    assert_eq!(json["format"], "csv");
    assert_eq!(json["encoding"], "UTF-8");
    assert_eq!(json["delimiter"], ";");
    assert_eq!(json["rejects"][0]["line"], 3);
    assert_eq!(json["rejects"][0]["field"], "Codice Fiscale");
    assert_eq!(json["unknown_columns"][0], "Note");
    let text = summary.render(0);
    assert!(
        text.starts_with("Importazione di albo.csv (CSV, separatore \";\", UTF-8)\n"),
        "{text}"
    );
    assert!(
        text.contains("  scartate:     1\n    ... e altre 1"),
        "{text}"
    );
    assert!(text.contains("colonne ignorate: Note"), "{text}");
}

/// `members` as a UTF-8 roster with a Stato column in which every seventh
/// member has left the albo, then `extra` rows as they are.
fn roster_with_states(members: &[Member], extra: &str) -> String {
    let style = CsvStyle {
        delimiter: b';',
        crlf: false,
        encoding: UTF_8,
    };
    let text = String::from_utf8(roster_csv(members, style)).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{};Stato\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let stato = if i % 7 == 3 { "Cancellato" } else { "Attivo" };
        out.push_str(&format!("{line};{stato}\n"));
    }
    out + extra
}

/// Each member by codice fiscale: as stored, whether in the albo, and the
/// details of their events, oldest first.
fn stored_by_cf(db: &Path) -> std::collections::BTreeMap<String, (Member, bool, Vec<String>)> {
    let store = Store::open(db).unwrap();
    (store.all_members().unwrap().into_iter())
        .map(|(id, member, in_roster)| {
            let mut events: Vec<String> = (store.timeline(Some(id), None).unwrap().into_iter())
                .map(|e| e.detail)
                .collect();
            events.reverse();
            (member.codice_fiscale.clone(), (member, in_roster, events))
        })
        .collect()
}

#[test]
fn a_streamed_import_stores_what_a_parsed_import_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // Several batches of rows, some members who left, new, changed, absent,
    // rejected and repeated rows.
    let members = crate::sample::generate_roster(6000, 11, "pec.fofi.it");
    std::fs::write(path("primo.csv"), roster_with_states(&members[..3000], "")).unwrap();
    let mut second = members[1000..].to_vec();
    for m in second.iter_mut().step_by(5) {
        m.email_servizio = Some(format!("{}@libero.it", m.codice_fiscale.to_lowercase()));
    }
    let repeated = roster_with_states(&second[10..11], "");
    let extra = format!(
        "1;Rossi;Mario;X;;;x@pec.fofi.it;;;;Attivo\n{}",
        repeated.lines().nth(1).unwrap()
    );
    std::fs::write(path("albo.csv"), roster_with_states(&second, &extra)).unwrap();
    let options = ImportOptions::default();
    let at = Utc::now();
    for db in ["parsed.db", "streamed.db"] {
        let mut store = Store::open(&path(db)).unwrap();
        store_roster(
            &mut store,
            read_file(&path("primo.csv")).unwrap(),
            "anna",
            at,
        )
        .unwrap();
    }

    // The streamed preview plans what the whole-file preview plans, and
    // writes nothing.
    let events = Store::open(&path("streamed.db"))
        .unwrap()
        .event_count()
        .unwrap();
    let (plan, previewed) = preview_path(
        &path("streamed.db"),
        &path("albo.csv"),
        &options,
        |_| {},
        |_| Ok(()),
    )
    .unwrap();
    let whole = preview(
        &Store::open(&path("parsed.db")).unwrap(),
        &read_path(&path("albo.csv"), &options).unwrap(),
        &options,
    )
    .unwrap();
    // The same changes; streamed, those who left come in file order among
    // the others instead of after them.
    let sorted = |plan: &ImportPlan| {
        let mut changes = plan.changes.clone();
        changes.sort_by(|a, b| a.codice_fiscale.cmp(&b.codice_fiscale));
        changes
    };
    assert_eq!(sorted(&plan), sorted(&whole));
    assert_eq!(
        (
            plan.counts,
            plan.full_roster,
            &plan.first_rejects,
            plan.rejected
        ),
        (
            whole.counts,
            whole.full_roster,
            &whole.first_rejects,
            whole.rejected
        )
    );
    assert!(plan.changes.len() > 1000, "{}", plan.changes.len());
    assert_eq!(previewed.rejects.len(), 2);
    let store = Store::open(&path("streamed.db")).unwrap();
    assert_eq!(store.event_count().unwrap(), events);
    drop(store);

    let parsed = read_path(&path("albo.csv"), &options).unwrap();
    let mut store = Store::open(&path("parsed.db")).unwrap();
    let expected = import(&mut store, parsed, &options, "anna", at).unwrap();
    let run_event = store.recent_events(1).unwrap().remove(0).detail;
    drop(store);

    let (mut progress, mut read) = (Vec::new(), None);
    let streamed = import_path(
        &path("streamed.db"),
        &path("albo.csv"),
        &options,
        "anna",
        at,
        |rows| progress.push(rows),
        |parsed| {
            read = Some((parsed.members.len(), parsed.rejects.len()));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        read,
        Some((0, 2)),
        "members went to the store, rejects stay"
    );
    assert_eq!(progress.last(), Some(&5002));
    assert!(progress.len() > 2, "{progress:?}");
    assert_eq!(streamed.stored, expected.stored);
    assert!(expected.stored.new > 0 && expected.stored.updated > 0);
    assert!(expected.stored.removed > 1000, "absent and left");
    assert_eq!(
        (streamed.rows_read, streamed.full_roster, streamed.dry_run),
        (expected.rows_read, expected.full_roster, expected.dry_run)
    );
    assert_eq!(streamed.rejects, expected.rejects);
    assert_eq!(streamed.unknown_columns, expected.unknown_columns);
    assert_eq!(streamed.layout, expected.layout);
    assert_eq!(
        stored_by_cf(&path("streamed.db")),
        stored_by_cf(&path("parsed.db"))
    );
    let store = Store::open(&path("streamed.db")).unwrap();
    assert_eq!(store.recent_events(1).unwrap()[0].detail, run_event);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_streamed_import_keeps_stored_values_of_columns_the_file_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (db, file) = (dir.path().join("s.db"), dir.path().join("inipec.csv"));
    let members = crate::sample::generate_roster(3000, 12, "pec.fofi.it");
    std::fs::write(&file, roster_with_states(&members, "")).unwrap();
    let mut store = Store::open(&db).unwrap();
    store_roster(&mut store, read_file(&file).unwrap(), "anna", Utc::now()).unwrap();
    let before = stored_by_cf(&db);
    drop(store);
    // Only the required columns: everything else keeps its stored value.
    let mut text = "Cognome;Nome;Codice Fiscale;PEC\n".to_string();
    for m in &members {
        text.push_str(&format!(
            "{};{};{};{}\n",
            m.cognome, m.nome, m.codice_fiscale, m.pec
        ));
    }
    std::fs::write(&file, text).unwrap();
    let options = ImportOptions {
        partial: true,
        ..ImportOptions::default()
    };
    let summary =
        import_path(&db, &file, &options, "anna", Utc::now(), |_| {}, |_| Ok(())).unwrap();
    // Those who left rejoin (no Stato column): the only change.
    let left = before
        .values()
        .filter(|(_, in_roster, _)| !in_roster)
        .count();
    assert_eq!(
        (summary.stored.unchanged, summary.stored.updated),
        (3000 - left, left)
    );
    for (cf, (member, in_roster, _)) in stored_by_cf(&db) {
        // Back in the albo: no leaving day any more.
        let expected = Member {
            data_cancellazione: None,
            ..before[&cf].0.clone()
        };
        assert_eq!(member, expected);
        assert!(in_roster);
    }
}

#[test]
fn a_streamed_import_that_cannot_finish_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let members = crate::sample::generate_roster(3000, 13, "pec.fofi.it");
    std::fs::write(path("albo.csv"), roster_with_states(&members, "")).unwrap();
    let db = path("s.db");
    let at = Utc::now();
    let options = ImportOptions::default();
    let mut store = Store::open(&db).unwrap();
    store_roster(
        &mut store,
        read_file(&path("albo.csv")).unwrap(),
        "anna",
        at,
    )
    .unwrap();
    let snapshot = |db: &Path| {
        let store = Store::open(db).unwrap();
        (store.all_members().unwrap(), store.event_count().unwrap())
    };
    let before = snapshot(&db);
    drop(store);

    // Rows that are all rejected; a header without the PEC; an after_read that
    // fails once the rows are already written (as a rejects file that cannot
    // be written does).
    std::fs::write(
        path("scartate.csv"),
        roster(&[("Rossi", "X", "a@pec.fofi.it")]),
    )
    .unwrap();
    std::fs::write(
        path("senza_pec.csv"),
        "Cognome;Nome;Codice Fiscale\nRossi;Mario;X\n",
    )
    .unwrap();
    let failing = |_: &ParsedRoster| {
        Err(ImportError::Io {
            file: "scarti.csv".into(),
            source: std::io::Error::other("disco pieno"),
        })
    };
    let cases: [(&str, &str, bool); 3] = [
        (
            "scartate.csv",
            "nessuna riga valida da importare (1 scartate)",
            false,
        ),
        (
            "senza_pec.csv",
            "mancano le colonne obbligatorie: indirizzo PEC",
            false,
        ),
        ("albo.csv", "disco pieno", true),
    ];
    for (file, message, fail_after_read) in cases {
        for db in [db.clone(), path("nuovo.db")] {
            let result = if fail_after_read {
                import_path(&db, &path(file), &options, "anna", at, |_| {}, failing)
            } else {
                import_path(&db, &path(file), &options, "anna", at, |_| {}, |_| Ok(()))
            };
            let error = result.unwrap_err().to_string();
            assert!(error.contains(message), "{file}: {error}");
        }
        assert_eq!(snapshot(&db), before, "{file}");
        if !fail_after_read {
            assert!(!path("nuovo.db").exists(), "{file}: no store is created");
        }
    }
}

#[test]
fn a_streamed_dry_run_creates_no_store_and_counts_every_member_new() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("albo.csv");
    let rows: Vec<(String, String)> = (0..30)
        .map(|n| (cf(n), format!("m{n}@pec.fofi.it")))
        .collect();
    let rows: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(c, p)| ("Rossi", c.as_str(), p.as_str()))
        .collect();
    std::fs::write(&file, roster(&rows)).unwrap();
    let store_path = dir.path().join("nuovo.db");
    let summary = dry_run_path(&store_path, &file, &ImportOptions::default(), |_| Ok(())).unwrap();
    assert!(!store_path.exists());
    assert_eq!(summary.stored.new, 30);
    assert!(summary.dry_run && summary.changes.is_empty());
}

#[test]
fn every_reject_goes_to_the_file_as_read_and_protects_its_member_while_few_stay_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let members = crate::sample::generate_roster(REJECTS_KEPT + 200, 21, "pec.fofi.it");
    let style = CsvStyle {
        encoding: UTF_8,
        ..CsvStyle::EXCEL_IT
    };
    let first = dir.path().join("primo.csv");
    std::fs::write(&first, roster_csv(&members, style)).unwrap();
    let store_path = dir.path().join("s.db");
    let import = |file: &std::path::Path, options: &ImportOptions| {
        import_path(
            &store_path,
            file,
            options,
            "anna",
            Utc::now(),
            |_| {},
            |_| Ok(()),
        )
        .unwrap()
    };
    import(&first, &ImportOptions::default());

    // The same albo with every birth date impossible, and one new member.
    let text = String::from_utf8(roster_csv(&members, style)).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for line in lines.iter_mut().skip(1).filter(|l| !l.is_empty()) {
        let mut fields: Vec<&str> = line.split(';').collect();
        fields[4] = "31/02/1985";
        *line = fields.join(";");
    }
    let extra = crate::sample::generate_roster(1, 22, "pec.fofi.it");
    let extra = String::from_utf8(roster_csv(&extra, style)).unwrap();
    let second = dir.path().join("albo.csv");
    let body = lines.join("\r\n") + extra.split_once("\r\n").unwrap().1;
    std::fs::write(&second, body).unwrap();
    let rejects_file = dir.path().join("scarti.csv");
    let options = ImportOptions {
        rejects_file: Some(rejects_file.clone()),
        ..ImportOptions::default()
    };
    let summary = import(&second, &options);
    assert_eq!(summary.rejected, members.len());
    assert_eq!(summary.rejects.len(), REJECTS_KEPT);
    assert_eq!((summary.stored.new, summary.stored.removed), (1, 0));
    let written = std::fs::read_to_string(&rejects_file).unwrap();
    assert_eq!(written.trim_end().split("\r\n").count(), members.len() + 1);
    assert!(written.lines().last().unwrap().contains("31/02/1985"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A dry run writes the same file, and plans the same.
    std::fs::remove_file(&rejects_file).unwrap();
    let dry = dry_run_path(&store_path, &second, &options, |_| Ok(())).unwrap();
    assert_eq!(
        (dry.stored.new, dry.stored.removed, dry.rejected),
        (0, 0, members.len())
    );
    assert!(rejects_file.exists());
}
