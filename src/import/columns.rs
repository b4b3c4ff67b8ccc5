//! Mapping of the many header spellings found in Ordini's exports to roster fields.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    NumeroIscrizione,
    Cognome,
    Nome,
    CodiceFiscale,
    DataNascita,
    DataIscrizione,
    Pec,
    EmailServizio,
    Cellulare,
    Provincia,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::NumeroIscrizione,
        Field::Cognome,
        Field::Nome,
        Field::CodiceFiscale,
        Field::DataNascita,
        Field::DataIscrizione,
        Field::Pec,
        Field::EmailServizio,
        Field::Cellulare,
        Field::Provincia,
    ];

    /// Without these a roster is unusable.
    pub const REQUIRED: [Field; 4] = [
        Field::Cognome,
        Field::Nome,
        Field::CodiceFiscale,
        Field::Pec,
    ];

    /// The field's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Field::NumeroIscrizione => "numero iscrizione",
            Field::Cognome => "cognome",
            Field::Nome => "nome",
            Field::CodiceFiscale => "codice fiscale",
            Field::DataNascita => "data di nascita",
            Field::DataIscrizione => "data iscrizione",
            Field::Pec => "indirizzo PEC",
            Field::EmailServizio => "e-mail di servizio",
            Field::Cellulare => "cellulare",
            Field::Provincia => "provincia",
        }
    }

    /// Header spellings, compared after [`normalize`].
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::NumeroIscrizione => &[
                "numeroiscrizione",
                "niscrizione",
                "nroiscrizione",
                "numiscrizione",
                "iscrizione",
                "numero",
                "matricola",
                "registrationnumber",
                "membershipnumber",
            ],
            Field::Cognome => &["cognome", "surname", "lastname", "familyname"],
            Field::Nome => &["nome", "name", "firstname", "givenname"],
            Field::CodiceFiscale => &[
                "codicefiscale",
                "cf",
                "codfiscale",
                "codfisc",
                "taxcode",
                "fiscalcode",
            ],
            Field::DataNascita => &[
                "datanascita",
                "datadinascita",
                "natoil",
                "birthdate",
                "dateofbirth",
            ],
            Field::DataIscrizione => &[
                "dataiscrizione",
                "datadiiscrizione",
                "iscrittodal",
                "registrationdate",
            ],
            Field::Pec => &[
                "pec",
                "indirizzopec",
                "emailpec",
                "mailpec",
                "pecaddress",
                "postacertificata",
            ],
            Field::EmailServizio => &[
                "email",
                "mail",
                "emailordinaria",
                "emailservizio",
                "emaildiservizio",
                "indirizzoemail",
                "posta",
                "emailpersonale",
                "serviceemail",
            ],
            Field::Cellulare => &[
                "cellulare",
                "telefonocellulare",
                "cell",
                "mobile",
                "cellphone",
                "telcellulare",
                "mobilephone",
            ],
            Field::Provincia => &["provincia", "prov", "province", "siglaprovincia"],
        }
    }
}

/// Lower case, letters and digits only: "N. Iscrizione" -> "niscrizione".
pub fn normalize(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

pub struct HeaderMapping {
    pub index: HashMap<Field, usize>,
    pub missing: Vec<Field>,
    pub unknown: Vec<String>,
}

pub fn map_headers<'a>(headers: impl Iterator<Item = &'a str>) -> HeaderMapping {
    let mut index = HashMap::new();
    let mut unknown = Vec::new();
    for (i, header) in headers.enumerate() {
        let key = normalize(header);
        let field = Field::ALL
            .into_iter()
            .find(|f| f.synonyms().iter().any(|s| normalize(s) == key));
        match field {
            Some(field) if !index.contains_key(&field) => {
                index.insert(field, i);
            }
            _ if !header.trim().is_empty() => unknown.push(header.trim().to_string()),
            _ => {}
        }
    }
    let missing = Field::REQUIRED
        .into_iter()
        .filter(|f| !index.contains_key(f))
        .collect();
    HeaderMapping {
        index,
        missing,
        unknown,
    }
}
