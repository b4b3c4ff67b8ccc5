//! Writes the bundled demo roster, `assets/sample-roster.csv`: synthetic members
//! (valid codici fiscali) as an Ordine's software exports them, plus a few rows
//! with the mistakes real exports contain, so the demo shows rejections too.
//!
//! cargo run --example make_sample_roster -- [OUT] [COUNT]

use pecdesk::domain::DEFAULT_PEC_DOMAIN;
use pecdesk::i18n::format_date;
use pecdesk::sample::generate_roster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "assets/sample-roster.csv".into());
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(1500);
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_path(&out)?;
    writer.write_record([
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
    ])?;
    let date = |d: Option<chrono::NaiveDate>| d.map(format_date).unwrap_or_default();
    for m in generate_roster(count, 2026, DEFAULT_PEC_DOMAIN) {
        writer.write_record([
            m.numero_iscrizione.as_str(),
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &date(m.data_nascita),
            &date(m.data_iscrizione),
            &m.pec,
            m.email_servizio.as_deref().unwrap_or_default(),
            m.cellulare.as_deref().unwrap_or_default(),
            m.provincia.as_deref().unwrap_or_default(),
        ])?;
    }
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
    writer.flush()?;
    println!("{count} members (+3 rejected rows) written to {out}");
    Ok(())
}
