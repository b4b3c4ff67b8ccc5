use super::*;

const HEADER: &str = "Numero Iscrizione;Cognome;Nome;Codice Fiscale;Data di nascita;Data iscrizione;Indirizzo PEC;E-mail;Cellulare;Provincia;Note\n";

fn parse(body: &str) -> ParsedRoster {
    parse_csv(format!("{HEADER}{body}").as_bytes(), "albo.csv").unwrap()
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
    assert_eq!(m.data_iscrizione, NaiveDate::from_ymd_opt(2010, 3, 1));
    assert_eq!(m.provincia.as_deref(), Some("RM"));
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
    let reasons: Vec<String> = parsed.rejects.iter().map(|r| r.to_string()).collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[0].starts_with("riga 2, campo \"Codice Fiscale\": carattere di controllo"));
    assert!(reasons[1].starts_with("riga 3, campo \"Indirizzo PEC\""));
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
fn a_missing_required_column_is_one_error() {
    let err = parse_csv(b"Cognome;Nome;PEC\nRossi;Mario;a@pec.fofi.it\n", "albo.csv").unwrap_err();
    assert_eq!(
        err.to_string(),
        "albo.csv: mancano le colonne obbligatorie: codice fiscale"
    );
}

#[test]
fn header_synonyms_and_comma_delimiter() {
    let parsed = parse_csv(
        "\u{feff}COGNOME,NOME,C.F.,PEC,Email ordinaria,Telefono cellulare,N. iscrizione\r\nRossi,Mario,RSSMRA85T10A562S,a@pec.fofi.it,m@x.it,3471234567,77\r\n".as_bytes(),
        "x.csv",
    )
    .unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.members[0].numero_iscrizione, "77");
    assert_eq!(parsed.members[0].email_servizio.as_deref(), Some("m@x.it"));
}

#[test]
fn empty_and_non_utf8_files_are_clear_errors() {
    assert!(matches!(
        parse_csv(b"", "e.csv"),
        Err(ImportError::Empty { .. })
    ));
    assert!(matches!(
        parse_csv(b"Cognome;Nome\nNiccol\xf2;x\n", "w.csv"),
        Err(ImportError::NotUtf8 { line: 2, .. })
    ));
}

#[test]
fn line_numbers_are_right_with_crlf_and_multiline_fields() {
    let parsed = parse_csv(
        "Cognome;Nome;Codice Fiscale;Indirizzo PEC\r\n\"Rossi\r\nbis\";Mario;RSSMRA85T10A562S;a@pec.fofi.it\r\nRossi;Mario;RSSMRA85T10A562X;b@pec.fofi.it\r\n".as_bytes(),
        "crlf.csv",
    )
    .unwrap();
    assert_eq!(parsed.rejects[0].line, 4);
}

#[test]
fn quoted_fields_and_blank_lines() {
    let parsed = parse("1;\"D'Angelo; junior\";Mario;RSSMRA85T10A562S;;;a@pec.fofi.it;;;;\n\n\n");
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    assert_eq!(parsed.members[0].cognome, "D'Angelo; junior");
    assert_eq!(parsed.rows_read, 1);
}

#[test]
fn stores_valid_rows_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let parsed = parse(
        "1;Rossi;Mario;RSSMRA85T10A562S;;;a@pec.fofi.it;;;;\n2;X;Y;bad;;;b@pec.fofi.it;;;;\n",
    );
    let summary = store_roster(&mut store, parsed, "anna", Utc::now()).unwrap();
    assert_eq!(summary.stored.new, 1);
    assert_eq!(summary.rejects.len(), 1);
    assert_eq!(store.member_count().unwrap(), 1);
}
