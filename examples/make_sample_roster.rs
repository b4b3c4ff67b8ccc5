//! Writes the bundled demo roster, `assets/sample-roster.csv`: synthetic members
//! (valid codici fiscali) as an Ordine's software exports them, plus a few rows
//! with the mistakes real exports contain, so the demo shows rejections too.
//!
//! cargo run --example make_sample_roster -- [OUT] [COUNT]

use pecdesk::domain::DEFAULT_PEC_DOMAIN;
use pecdesk::import::{CsvStyle, roster_csv};
use pecdesk::sample::generate_roster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "assets/sample-roster.csv".into());
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(1500);
    let members = generate_roster(count, 2026, DEFAULT_PEC_DOMAIN);
    // Excel's layout, kept in UTF-8 so the bundled file reads well anywhere.
    let style = CsvStyle {
        encoding: encoding_rs::UTF_8,
        ..CsvStyle::EXCEL_IT
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(style.delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(roster_csv(&members, style));
    // Rows as they come from hand-edited exports: each is rejected with a reason.
    for bad in [
        [
            "9001",
            "Verdi",
            "Giuseppe",
            "VRDGPP80A01H501X",
            "01/01/1980",
            "",
            "giuseppe.verdi@pec.fofi.it",
            "",
            "",
            "RM",
        ],
        [
            "9002",
            "Neri",
            "Anna",
            "NRENNA75B41F205",
            "",
            "",
            "anna.neri@pec.fofi.it",
            "",
            "",
            "MI",
        ],
        [
            "9003",
            "Gialli",
            "Paolo",
            "GLLPLA70C10A944Q",
            "",
            "",
            "paolo.gialli(at)pec.fofi.it",
            "",
            "",
            "BO",
        ],
    ] {
        writer.write_record(bad)?;
    }
    std::fs::write(&out, writer.into_inner()?)?;
    println!("{count} members (+3 rejected rows) written to {out}");
    Ok(())
}
