//! Rosters and mailbox reports straight from workbooks: `.xlsx` written here
//! with rust_xlsxwriter, an `.ods` built here as LibreOffice stores one, both
//! read back through calamine; typed cells (dates, mobiles and numeri as
//! numbers, formulas), an empty first row, two sheets and `--sheet`, errors
//! naming sheet, Excel row, column letter and header. Also the INI-PEC layout
//! with the numeric Stato the registry uses.

mod import_support;

use std::io::Write;

use chrono::{NaiveDate, TimeZone, Utc};
use import_support::{Workspace, stderr, stdout};
use pecdesk::domain::{Member, MigrationState};
use pecdesk::import::{self, ImportOptions, ReportOptions, SourceKind};
use pecdesk::sample::generate_roster;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet};

const DOMAIN: &str = "pec.fofi.it";

fn members(count: usize) -> Vec<Member> {
    let mut members = generate_roster(count, 7, DOMAIN);
    for (i, m) in members.iter_mut().enumerate() {
        m.numero_iscrizione = (1000 + i).to_string();
        m.data_nascita = NaiveDate::from_ymd_opt(1970 + i as i32 % 30, 1 + i as u32 % 12, 3);
        m.data_iscrizione = NaiveDate::from_ymd_opt(2000 + i as i32 % 20, 6, 15);
        m.cellulare = Some(format!("+3934712345{:02}", i % 100));
        m.email_servizio = Some(format!("socio{i}@example.it"));
        m.provincia = Some("RM".into());
    }
    members
}

fn date(d: NaiveDate) -> ExcelDateTime {
    use chrono::Datelike;
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).unwrap()
}

/// The roster as a secretary's sheet holds it, from `first_row` (0-based):
/// numeri and mobiles as numbers, dates as dates, the province as a formula.
fn write_roster(sheet: &mut Worksheet, members: &[Member], first_row: u32) {
    let dates = Format::new().set_num_format("dd/mm/yyyy");
    for (col, name) in import::ROSTER_HEADER.iter().enumerate() {
        sheet.write_string(first_row, col as u16, *name).unwrap();
    }
    for (i, m) in members.iter().enumerate() {
        let row = first_row + 1 + i as u32;
        let numero: f64 = m.numero_iscrizione.parse().unwrap();
        sheet.write_number(row, 0, numero).unwrap();
        sheet.write_string(row, 1, &m.cognome).unwrap();
        sheet.write_string(row, 2, &m.nome).unwrap();
        sheet.write_string(row, 3, &m.codice_fiscale).unwrap();
        sheet
            .write_datetime_with_format(row, 4, date(m.data_nascita.unwrap()), &dates)
            .unwrap();
        sheet
            .write_datetime_with_format(row, 5, date(m.data_iscrizione.unwrap()), &dates)
            .unwrap();
        sheet.write_string(row, 6, &m.pec).unwrap();
        sheet
            .write_string(row, 7, m.email_servizio.as_deref().unwrap())
            .unwrap();
        // Half the mobiles typed without +39, half with 39: both numbers.
        let digits = m.cellulare.as_deref().unwrap().trim_start_matches('+');
        let mobile: f64 = if i % 2 == 0 { &digits[2..] } else { digits }
            .parse()
            .unwrap();
        sheet.write_number(row, 8, mobile).unwrap();
        sheet
            .write_formula(row, 9, Formula::new("=UPPER(\"rm\")").set_result("RM"))
            .unwrap();
    }
}

#[test]
fn a_roster_workbook_reads_like_the_csv() {
    let ws = Workspace::new();
    let roster = members(40);
    let mut book = Workbook::new();
    // An empty first row, then the header.
    write_roster(book.add_worksheet().set_name("Albo").unwrap(), &roster, 1);
    let other = members(3);
    write_roster(
        book.add_worksheet().set_name("Cessati").unwrap(),
        &other[..2],
        0,
    );
    let path = ws.path("albo.xlsx");
    book.save(&path).unwrap();

    let parsed = import::read_path(&path, &ImportOptions::default()).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    assert_eq!(
        parsed.layout.kind,
        SourceKind::Workbook {
            sheet: "Albo".into()
        }
    );
    assert_eq!(parsed.members, roster);
    assert_eq!(parsed.members[0].numero_iscrizione, "1000");
    assert_eq!(
        parsed.members[1].cellulare.as_deref(),
        Some("+393471234501")
    );

    // The second sheet by name, in any case.
    let options = ImportOptions {
        sheet: Some("cessati".into()),
        ..ImportOptions::default()
    };
    let parsed = import::read_path(&path, &options).unwrap();
    assert_eq!(parsed.members, other[..2]);
    let options = ImportOptions {
        sheet: Some("Foglio9".into()),
        ..ImportOptions::default()
    };
    let error = import::read_path(&path, &options).unwrap_err().to_string();
    assert!(
        error.contains("nessun foglio \"Foglio9\"; fogli presenti: Albo, Cessati"),
        "{error}"
    );

    // Through the command, as staff run it.
    let output = ws
        .import_command(&["albo.xlsx", "--sheet", "Cessati", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["new"], 2, "{json}");
    assert_eq!(json["format"], "workbook");
}

#[test]
fn workbook_errors_name_sheet_row_column_letter_and_header() {
    let ws = Workspace::new();
    let mut roster = members(5);
    roster[2].codice_fiscale.replace_range(15.., "#");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("Iscritti").unwrap();
    write_roster(sheet, &roster, 1);
    // A formula whose cached value is an error.
    sheet
        .write_formula(6, 6, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    let path = ws.path("albo.xlsx");
    book.save(&path).unwrap();
    let parsed = import::read_path(&path, &ImportOptions::default()).unwrap();
    let shown: Vec<String> = parsed
        .rejects
        .iter()
        .map(|r| format!("{}, {r}", parsed.source))
        .collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    // Header on Excel row 2, members from row 3: the third member is row 5.
    assert!(
        shown[0].ends_with(
            "albo.xlsx, foglio Iscritti, riga 5, campo \"Codice Fiscale (colonna D)\": carattere non valido in posizione 16: '#'"
        ),
        "{shown:?}"
    );
    assert!(
        shown[1].contains("foglio Iscritti, riga 7")
            && shown[1].contains("Indirizzo PEC (colonna G)"),
        "{shown:?}"
    );
    assert_eq!(parsed.members.len(), 3);
}

#[test]
fn a_report_workbook_with_typed_cells() {
    let ws = Workspace::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("Caselle").unwrap();
    let stamp = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    for (col, name) in [
        "Casella",
        "Esito migrazione",
        "Data migrazione",
        "Cellulare",
        "Confermati",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    let at = ExcelDateTime::from_ymd(2026, 3, 5)
        .unwrap()
        .and_hms(9, 30, 0)
        .unwrap();
    sheet.write_string(1, 0, "mario.rossi").unwrap();
    sheet.write_string(1, 1, "Migrata").unwrap();
    sheet.write_datetime_with_format(1, 2, &at, &stamp).unwrap();
    sheet.write_number(1, 3, 393_471_234_567.0).unwrap();
    sheet.write_boolean(1, 4, true).unwrap();
    sheet.write_string(2, 0, "anna.bruno@pec.fofi.it").unwrap();
    sheet.write_string(2, 1, "Forse").unwrap();
    let path = ws.path("stati.xlsx");
    book.save(&path).unwrap();
    let options = ReportOptions {
        domain: Some(DOMAIN.into()),
        as_of: Some(Utc.with_ymd_and_hms(2026, 3, 6, 12, 0, 0).unwrap()),
        sheet: None,
    };
    let parsed = import::read_report_path(&path, &options).unwrap();
    assert_eq!(parsed.states.len(), 1);
    let mario = &parsed.states[0];
    assert_eq!(mario.address, "mario.rossi@pec.fofi.it");
    assert_eq!(mario.migration, MigrationState::Completed);
    // 09:30 in Rome in March is 08:30 UTC.
    assert_eq!(
        mario.migration_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 5, 8, 30, 0).unwrap())
    );
    assert_eq!(
        mario.recovery.mobile_masked.as_deref(),
        Some("+39*******567")
    );
    assert!(mario.recovery.confirmed);
    assert_eq!(
        parsed.rejects[0].to_string(),
        "riga 3, colonna \"Esito migrazione (colonna B)\", valore \"Forse\": stato di migrazione non riconosciuto"
    );

    // The command stores it.
    let output = ws
        .pecdesk(&[
            "sync",
            "--report",
            "stati.xlsx",
            "--partial",
            "--as-of",
            "06/03/2026",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("1 nuove"), "{}", stdout(&output));
}

/// A minimal OpenDocument spreadsheet, as LibreOffice stores one: a zip with
/// the mimetype first and uncompressed, a manifest and content.xml with typed
/// cells (office:value-type float and date, a repeated empty row).
fn ods(rows: &[&[(&str, &str)]]) -> Vec<u8> {
    let mut table = String::from(
        "<table:table table:name=\"Albo\"><table:table-row table:number-rows-repeated=\"1\"><table:table-cell/></table:table-row>",
    );
    for row in rows {
        table.push_str("<table:table-row>");
        for (kind, value) in *row {
            match *kind {
                "float" => table.push_str(&format!(
                    "<table:table-cell office:value-type=\"float\" office:value=\"{value}\"><text:p>{value}</text:p></table:table-cell>"
                )),
                "date" => table.push_str(&format!(
                    "<table:table-cell office:value-type=\"date\" office:date-value=\"{value}\"><text:p>{value}</text:p></table:table-cell>"
                )),
                _ => table.push_str(&format!(
                    "<table:table-cell office:value-type=\"string\"><text:p>{value}</text:p></table:table-cell>"
                )),
            }
        }
        table.push_str("</table:table-row>");
    }
    table.push_str("</table:table>");
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
         <office:body><office:spreadsheet>{table}</office:spreadsheet></office:body></office:document-content>"
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
        <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
        <manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
        </manifest:manifest>";
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", deflated).unwrap();
    zip.write_all(manifest.as_bytes()).unwrap();
    zip.start_file("content.xml", deflated).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn an_ods_roster_from_libreoffice() {
    let ws = Workspace::new();
    let roster = members(2);
    let header: Vec<(&str, &str)> = import::ROSTER_HEADER
        .iter()
        .map(|h| ("string", *h))
        .collect();
    let cells: Vec<Vec<(String, String)>> = roster
        .iter()
        .map(|m| {
            let digits = m.cellulare.as_deref().unwrap().trim_start_matches("+39");
            vec![
                ("float".into(), m.numero_iscrizione.clone()),
                ("string".into(), m.cognome.clone()),
                ("string".into(), m.nome.clone()),
                ("string".into(), m.codice_fiscale.clone()),
                (
                    "date".into(),
                    m.data_nascita.unwrap().format("%Y-%m-%d").to_string(),
                ),
                (
                    "date".into(),
                    m.data_iscrizione.unwrap().format("%Y-%m-%d").to_string(),
                ),
                ("string".into(), m.pec.clone()),
                ("string".into(), m.email_servizio.clone().unwrap()),
                ("float".into(), digits.to_string()),
                ("string".into(), "RM".into()),
            ]
        })
        .collect();
    let rows: Vec<Vec<(&str, &str)>> = cells
        .iter()
        .map(|r| r.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .collect();
    let mut all: Vec<&[(&str, &str)]> = vec![&header];
    all.extend(rows.iter().map(Vec::as_slice));
    let path = ws.write("albo.ods", ods(&all));
    let parsed = import::read_path(&path, &ImportOptions::default()).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    assert_eq!(parsed.members, roster);
}

#[test]
fn inipec_with_the_numeric_stato() {
    let roster = members(3);
    let line = |m: &Member, stato: &str, cancellazione: &str| {
        format!(
            "{};{};{};{};{};{stato};{};{cancellazione}\r\n",
            m.pec,
            m.nome,
            m.cognome,
            m.numero_iscrizione,
            m.codice_fiscale,
            m.data_iscrizione.unwrap().format("%d/%m/%Y"),
        )
    };
    let text = [
        line(&roster[0], "2", ""),
        line(&roster[1], "1", ""),
        line(&roster[2], "3", "31/01/2026"),
    ]
    .concat();
    let parsed =
        import::read_bytes(text.as_bytes(), "inipec.txt", &ImportOptions::default()).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    assert_eq!(parsed.layout.kind, SourceKind::IniPec);
    let pecs = |members: &[Member]| members.iter().map(|m| m.pec.clone()).collect::<Vec<_>>();
    assert_eq!(pecs(&parsed.members), pecs(&roster[..2]));
    assert_eq!(pecs(&parsed.left_albo), pecs(&roster[2..]));
    // Without Data Cancellazione, code 3 alone says the member left.
    let text = line(&roster[2], "3", "");
    let parsed =
        import::read_bytes(text.as_bytes(), "inipec.txt", &ImportOptions::default()).unwrap();
    assert_eq!(pecs(&parsed.left_albo), pecs(&roster[2..]));
    assert!(parsed.members.is_empty());
}

/// An `.xlsx` sheet is read as a stream, cell by cell; an `.ods` one whole.
/// The same sheet in both reads the same: a header from column B on row 3,
/// a blank row, a gap in a row, a note right of the header, a rejected row,
/// with Excel's row numbers and column letters in the messages.
#[test]
fn a_streamed_xlsx_sheet_reads_like_the_same_sheet_read_whole() {
    let ws = Workspace::new();
    let mut roster = members(4);
    roster[3].codice_fiscale = "NONVALIDO".into();
    let header: Vec<String> = import::ROSTER_HEADER
        .iter()
        .map(|h| h.to_string())
        .collect();
    let line = |m: &Member| -> Vec<String> {
        vec![
            m.numero_iscrizione.clone(),
            m.cognome.clone(),
            m.nome.clone(),
            m.codice_fiscale.clone(),
            m.data_nascita.unwrap().format("%d/%m/%Y").to_string(),
            m.data_iscrizione.unwrap().format("%d/%m/%Y").to_string(),
            m.pec.clone(),
            m.email_servizio.clone().unwrap(),
            m.cellulare.clone().unwrap(),
            "RM".into(),
        ]
    };
    // Sheet rows (0-based) with their cells from column B; None: a blank row.
    let mut gap = line(&roster[1]);
    gap[7].clear();
    let mut noted = line(&roster[2]);
    noted.extend(["".into(), "".into(), "richiamare".into()]);
    let sheet: Vec<(u32, Option<Vec<String>>)> = vec![
        (2, Some(header)),
        (3, Some(line(&roster[0]))),
        (4, None),
        (5, Some(gap)),
        (6, Some(noted)),
        (7, Some(line(&roster[3]))),
    ];

    let mut book = Workbook::new();
    let xlsx_sheet = book.add_worksheet().set_name("Albo").unwrap();
    for (row, cells) in &sheet {
        for (at, cell) in cells.iter().flatten().enumerate() {
            if !cell.is_empty() {
                xlsx_sheet.write_string(*row, 1 + at as u16, cell).unwrap();
            }
        }
    }
    let xlsx = ws.path("albo.xlsx");
    book.save(&xlsx).unwrap();

    // The .ods builder starts with one empty row; rows 2..=7 follow a second.
    let texts: Vec<Vec<(&str, &str)>> = std::iter::once(vec![])
        .chain(sheet.iter().map(|(_, cells)| {
            std::iter::once(("string", ""))
                .chain(cells.iter().flatten().map(|c| ("string", c.as_str())))
                .collect()
        }))
        .collect();
    let rows: Vec<&[(&str, &str)]> = texts.iter().map(Vec::as_slice).collect();
    let ods = ws.write("albo.ods", ods(&rows));

    let read = |path: &std::path::Path| {
        let parsed = import::read_path(path, &ImportOptions::default()).unwrap();
        let rejects: Vec<String> = parsed.rejects.iter().map(|r| r.to_string()).collect();
        (parsed.members, rejects)
    };
    let (members, rejects) = read(&xlsx);
    assert_eq!((members.clone(), rejects.clone()), read(&ods));
    assert_eq!(members.len(), 3);
    assert_eq!(members[1].email_servizio, None, "the gap stays a gap");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        rejects[0].starts_with("riga 8, campo \"Codice Fiscale (colonna E)\""),
        "{rejects:?}"
    );
}
