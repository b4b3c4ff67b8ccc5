//! A member of the Ordine as the roster (albo) describes them.

use chrono::NaiveDate;

/// One row of the albo degli iscritti, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    pub numero_iscrizione: String,
    pub cognome: String,
    pub nome: String,
    /// Upper case, check character verified.
    pub codice_fiscale: String,
    pub data_nascita: Option<NaiveDate>,
    pub data_iscrizione: Option<NaiveDate>,
    /// The member's PEC address, lower case.
    pub pec: String,
    /// The ordinary e-mail (service mailbox), lower case.
    pub email_servizio: Option<String>,
    /// Mobile number in E.164.
    pub cellulare: Option<String>,
    pub provincia: Option<String>,
    /// The day the member left the albo: the file's Data cancellazione, else
    /// the day of the import that found them gone. None while in the albo.
    pub data_cancellazione: Option<NaiveDate>,
}

impl Member {
    /// "Cognome Nome", as staff say it.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.cognome, self.nome)
    }

    /// Whether the member's PEC is on the Ordine's domain, so part of the migration.
    pub fn pec_on_domain(&self, pec_domain: &str) -> bool {
        super::contact::domain_of(&self.pec).eq_ignore_ascii_case(pec_domain)
    }
}
