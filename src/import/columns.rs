//! Mapping of the many header spellings found in Ordini's exports to roster fields.

use crate::store::ProvidedFields;

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
    /// Whether the member is still in the albo ("attivo", "cancellato", ...).
    Stato,
    /// When the member left the albo; any date means they did.
    DataCancellazione,
}

impl Field {
    /// How many fields there are.
    pub const COUNT: usize = 12;

    pub const ALL: [Field; Field::COUNT] = [
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
        Field::Stato,
        Field::DataCancellazione,
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
            Field::Stato => "stato",
            Field::DataCancellazione => "data cancellazione",
        }
    }

    /// Header spellings, already in [`normalize`]d form (tested).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::NumeroIscrizione => &[
                "numeroiscrizione",
                "niscrizione",
                "nriscrizione",
                "nroiscrizione",
                "numiscrizione",
                "numeroiscrizionealbo",
                "niscrizionealbo",
                "numeroalbo",
                "nalbo",
                "iscrizione",
                "numero",
                "matricola",
                "registrationnumber",
                "membershipnumber",
                "membernumber",
            ],
            Field::Cognome => &["cognome", "surname", "lastname", "familyname"],
            Field::Nome => &["nome", "name", "firstname", "givenname"],
            Field::CodiceFiscale => &[
                "codicefiscale",
                "cf",
                "codfiscale",
                "codfisc",
                "codfis",
                "cfiscale",
                "taxcode",
                "fiscalcode",
                "taxid",
            ],
            Field::DataNascita => &[
                "datanascita",
                "datadinascita",
                "dtnascita",
                "natoil",
                "natail",
                "nascita",
                "birthdate",
                "dateofbirth",
            ],
            Field::DataIscrizione => &[
                "dataiscrizione",
                "datadiiscrizione",
                "dataiscrizionealbo",
                "dtiscrizione",
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
                "postaelettronicacertificata",
                "indirizzopostacertificata",
                "emailcertificata",
                "domiciliodigitale",
            ],
            Field::EmailServizio => &[
                "email",
                "mail",
                "emailordinaria",
                "mailordinaria",
                "emailservizio",
                "emaildiservizio",
                "indirizzoemail",
                "posta",
                "postaelettronica",
                "emailpersonale",
                "emailprivata",
                "emailnonpec",
                "emailrecupero",
                "serviceemail",
            ],
            Field::Cellulare => &[
                "cellulare",
                "telefonocellulare",
                "numerocellulare",
                "telcellulare",
                "telefonomobile",
                "cell",
                "cel",
                "mobile",
                "cellphone",
                "mobilephone",
            ],
            Field::Provincia => &[
                "provincia",
                "prov",
                "pr",
                "province",
                "siglaprovincia",
                "provinciaresidenza",
                "provinciadiresidenza",
            ],
            Field::Stato => &[
                "stato",
                "statoiscrizione",
                "statoiscritto",
                "statoalbo",
                "status",
            ],
            Field::DataCancellazione => &[
                "datacancellazione",
                "datadicancellazione",
                "cancellatoil",
                "datacessazione",
                "cancellationdate",
            ],
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

/// Longest column name repeated in messages: a 10 MB "header" stays readable.
const MAX_NAME_IN_MESSAGES: usize = 60;

/// A header as messages show it: trimmed and cut to a readable length.
pub fn display_name(header: &str) -> String {
    let trimmed = header.trim();
    match trimmed.char_indices().nth(MAX_NAME_IN_MESSAGES) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// Which column holds each field, and what the file calls every column.
#[derive(Debug, Clone, Default)]
pub struct HeaderMapping {
    /// Column of each field, indexed by `Field as usize`: an array, not a map,
    /// because every row looks up every field.
    index: [Option<usize>; Field::COUNT],
    pub missing: Vec<Field>,
    /// Columns that map to no field (or repeat a mapped one), as displayed.
    pub unknown: Vec<String>,
    /// Every column's name as displayed, for rejects ("campo ...").
    pub names: Vec<String>,
}

impl HeaderMapping {
    /// The column holding `field`, if the file has it.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.index[field as usize]
    }

    /// The optional member fields the file has a column for.
    pub fn provided(&self) -> ProvidedFields {
        let has = |field| self.column(field).is_some();
        ProvidedFields {
            numero_iscrizione: has(Field::NumeroIscrizione),
            data_nascita: has(Field::DataNascita),
            data_iscrizione: has(Field::DataIscrizione),
            email_servizio: has(Field::EmailServizio),
            cellulare: has(Field::Cellulare),
            provincia: has(Field::Provincia),
        }
    }

    /// Refuses a source without the required columns.
    pub fn require(&self, file: &str) -> Result<(), super::ImportError> {
        if self.missing.is_empty() {
            return Ok(());
        }
        Err(super::ImportError::MissingColumns {
            file: file.to_string(),
            missing: self.missing.iter().map(|f| f.label().to_string()).collect(),
        })
    }

    /// What the file calls `field`, or the field's own label.
    pub fn name_of(&self, field: Field) -> String {
        self.column(field)
            .and_then(|i| self.names.get(i))
            .cloned()
            .unwrap_or_else(|| field.label().to_string())
    }
}

pub fn map_headers<'a>(headers: impl Iterator<Item = &'a str>) -> HeaderMapping {
    let mut mapping = HeaderMapping::default();
    for (i, header) in headers.enumerate() {
        let key = normalize(header);
        let field = Field::ALL
            .into_iter()
            .find(|f| f.synonyms().contains(&key.as_str()));
        let name = display_name(header);
        match field {
            Some(field) if mapping.column(field).is_none() => {
                mapping.index[field as usize] = Some(i);
            }
            _ if !name.is_empty() => mapping.unknown.push(name.clone()),
            _ => {}
        }
        mapping.names.push(name);
    }
    mapping.missing = Field::REQUIRED
        .into_iter()
        .filter(|f| mapping.column(*f).is_none())
        .collect();
    mapping
}

/// The INI-PEC layout: no header, these fields in this order.
pub const INIPEC_COLUMNS: [(Field, &str); 8] = [
    (Field::Pec, "Indirizzo PEC"),
    (Field::Nome, "Nome"),
    (Field::Cognome, "Cognome"),
    (Field::NumeroIscrizione, "Numero Iscrizione"),
    (Field::CodiceFiscale, "Codice Fiscale"),
    (Field::Stato, "Stato"),
    (Field::DataIscrizione, "Data Iscrizione"),
    (Field::DataCancellazione, "Data Cancellazione"),
];

pub fn inipec_mapping() -> HeaderMapping {
    let mut mapping = HeaderMapping {
        names: INIPEC_COLUMNS
            .iter()
            .map(|(_, name)| name.to_string())
            .collect(),
        ..HeaderMapping::default()
    };
    for (i, (field, _)) in INIPEC_COLUMNS.iter().enumerate() {
        mapping.index[*field as usize] = Some(i);
    }
    mapping
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn synonyms_are_stored_normalized_and_unambiguous() {
        let mut seen = HashMap::new();
        for field in Field::ALL {
            for synonym in field.synonyms() {
                assert_eq!(&normalize(synonym), synonym, "{field:?}");
                assert_eq!(seen.insert(*synonym, field), None, "{synonym} twice");
            }
        }
    }

    #[test]
    fn all_lists_every_field_at_its_index() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, i);
        }
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        let long = "x".repeat(10_000);
        assert_eq!(
            display_name(&long).chars().count(),
            MAX_NAME_IN_MESSAGES + 1
        );
        assert_eq!(display_name("  Note "), "Note");
    }
}
