//! Synthetic but realistic rosters: the bundled demo roster, tests and benchmarks.
//! Every generated codice fiscale is valid (check character computed).

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::Member;
use crate::domain::codice_fiscale;

const SURNAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "De Santis",
    "D'Angelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
    "Messina",
    "Sala",
    "De Angelis",
    "Gatti",
    "Pellegrini",
    "Palumbo",
    "Sanna",
    "Farina",
    "Rizzi",
    "Monti",
    "Cattaneo",
    "Morelli",
    "Amato",
    "Silvestri",
    "Mazza",
    "Testa",
    "Mirò",
    "Niccolai",
    "Pagano",
    "Bellini",
];
const MALE_NAMES: &[&str] = &[
    "Marco",
    "Giuseppe",
    "Luca",
    "Andrea",
    "Francesco",
    "Alessandro",
    "Giovanni",
    "Matteo",
    "Lorenzo",
    "Davide",
    "Stefano",
    "Paolo",
    "Roberto",
    "Niccolò",
    "Simone",
    "Antonio",
    "Fabio",
    "Riccardo",
    "Federico",
    "Massimo",
];
const FEMALE_NAMES: &[&str] = &[
    "Maria",
    "Anna",
    "Giulia",
    "Francesca",
    "Chiara",
    "Sara",
    "Laura",
    "Elena",
    "Valentina",
    "Alessandra",
    "Martina",
    "Federica",
    "Silvia",
    "Paola",
    "Roberta",
    "Marisa",
    "Ilaria",
    "Serena",
    "Elisa",
    "Giorgia",
];
const PROVINCE: &[(&str, &str)] = &[
    ("RM", "H501"),
    ("MI", "F205"),
    ("NA", "F839"),
    ("TO", "L219"),
    ("PA", "G273"),
    ("GE", "D969"),
    ("BO", "A944"),
    ("FI", "D612"),
    ("BA", "A662"),
    ("VE", "L736"),
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "libero.it",
    "virgilio.it",
    "inwind.it",
    "alice.it",
    "tiscali.it",
    "yahoo.it",
    "hotmail.it",
    "outlook.it",
    "fastwebnet.it",
];
const MONTHS: &[u8] = b"ABCDEHLMPRST";

/// Consonants then vowels then X, three letters: the codice fiscale rule for a surname.
fn surname_code(surname: &str) -> String {
    let letters: Vec<char> = surname
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    let consonants = letters.iter().filter(|c| !"AEIOU".contains(**c));
    let vowels = letters.iter().filter(|c| "AEIOU".contains(**c));
    consonants
        .chain(vowels)
        .chain(std::iter::repeat(&'X'))
        .take(3)
        .collect()
}

/// The name rule: with four or more consonants take the 1st, 3rd and 4th.
fn name_code(name: &str) -> String {
    let letters: Vec<char> = name
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    let consonants: Vec<char> = letters
        .iter()
        .filter(|c| !"AEIOU".contains(**c))
        .copied()
        .collect();
    if consonants.len() >= 4 {
        return [consonants[0], consonants[2], consonants[3]]
            .iter()
            .collect();
    }
    surname_code(name)
}

/// A valid codice fiscale for these personal data.
pub fn codice_fiscale_for(
    cognome: &str,
    nome: &str,
    born: NaiveDate,
    female: bool,
    comune: &str,
) -> String {
    use chrono::Datelike;
    let day = born.day() + if female { 40 } else { 0 };
    let first15 = format!(
        "{}{}{:02}{}{:02}{}",
        surname_code(cognome),
        name_code(nome),
        born.year() % 100,
        MONTHS[born.month0() as usize] as char,
        day,
        comune
    );
    codice_fiscale::complete(&first15)
}

fn ascii_slug(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'à' | 'á' => Some('a'),
            'è' | 'é' => Some('e'),
            'ì' => Some('i'),
            'ò' | 'ó' => Some('o'),
            'ù' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// `count` members, reproducible from `seed`. About 2% have a PEC on another
/// provider's domain, about 5% no service e-mail, about 20% no mobile.
pub fn generate_roster(count: usize, seed: u64, pec_domain: &str) -> Vec<Member> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut members = Vec::with_capacity(count);
    let mut used_cf = std::collections::HashSet::with_capacity(count);
    let mut used_pec = std::collections::HashSet::with_capacity(count);
    let mut numero = 1000u32;
    while members.len() < count {
        numero += 1;
        let female = rng.random_bool(0.6);
        let cognome = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let names = if female { FEMALE_NAMES } else { MALE_NAMES };
        let nome = names[rng.random_range(0..names.len())];
        let born = NaiveDate::from_ymd_opt(
            rng.random_range(1950..2000),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
        )
        .expect("valid date");
        let (provincia, comune) = PROVINCE[rng.random_range(0..PROVINCE.len())];
        let cf = codice_fiscale_for(cognome, nome, born, female, comune);
        if !used_cf.insert(cf.clone()) {
            continue;
        }
        let base = format!("{}.{}", ascii_slug(nome), ascii_slug(cognome));
        let mut pec_local = base.clone();
        let mut n = 1;
        while used_pec.contains(&pec_local) {
            n += 1;
            pec_local = format!("{base}{n}");
        }
        used_pec.insert(pec_local.clone());
        let pec = if rng.random_bool(0.02) {
            format!("{pec_local}@pec.it")
        } else {
            format!("{pec_local}@{pec_domain}")
        };
        let email_servizio = rng.random_bool(0.95).then(|| {
            format!(
                "{}{}@{}",
                ascii_slug(nome),
                rng.random_range(10..99),
                MAIL_DOMAINS[rng.random_range(0..MAIL_DOMAINS.len())]
            )
        });
        let cellulare = rng
            .random_bool(0.8)
            .then(|| format!("+393{}", rng.random_range(200_000_000u64..499_999_999)));
        let data_iscrizione = NaiveDate::from_ymd_opt(
            rng.random_range(1975..2026),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
        );
        members.push(Member {
            numero_iscrizione: numero.to_string(),
            cognome: cognome.to_string(),
            nome: nome.to_string(),
            codice_fiscale: cf,
            data_nascita: Some(born),
            data_iscrizione,
            pec,
            email_servizio,
            cellulare,
            provincia: Some(provincia.to_string()),
            data_cancellazione: None,
        });
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::codice_fiscale::CodiceFiscale;

    #[test]
    fn generated_codes_are_valid_and_known_example_matches() {
        let born = NaiveDate::from_ymd_opt(1985, 12, 10).unwrap();
        assert_eq!(
            codice_fiscale_for("Rossi", "Mario", born, false, "A562"),
            "RSSMRA85T10A562S"
        );
        for m in generate_roster(500, 1, "pec.fofi.it") {
            CodiceFiscale::parse(&m.codice_fiscale).unwrap();
        }
    }

    #[test]
    fn generation_is_reproducible() {
        assert_eq!(
            generate_roster(50, 9, "pec.fofi.it"),
            generate_roster(50, 9, "pec.fofi.it")
        );
    }
}
