//! Reminder templates' rules: their names, their text format, their
//! placeholders, rendering and the check done before a campaign is sent.
//! No I/O here: the bundled texts and the config directory's overrides are
//! read by `crate::mail::templates`.
//!
//! Format: the first line is `Oggetto: <subject>`, then an empty line, then
//! the body in plain text. Placeholders are `{name}` with a known name; `{{`
//! and `}}` write a literal brace.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{Member, mailbox::MailboxState};

coded_enum! {
    /// The seven situations a member can be reminded about (issue 13 §1).
    pub TemplateName {
        /// Not migrated, before the passage.
        Migrazione => "migrazione",
        /// Migration failed: "credenziali non valide".
        Credenziali => "credenziali",
        /// Migration failed: Aruba two-step verification on.
        DoppioFattore => "doppio-fattore",
        /// The 24-hour recovery link expired.
        LinkScaduto => "link-scaduto",
        /// No recovery contact on file.
        NessunContatto => "nessun-contatto",
        /// Not migrated after the passage: first password setting.
        DopoPassaggio => "dopo-passaggio",
        /// Confirm a mobile number or an e-mail at first access.
        ConfermaRecupero => "conferma-recupero",
    }
}

coded_enum! {
    /// What a template may ask for.
    pub Placeholder {
        Nome => "nome",
        Cognome => "cognome",
        Pec => "pec",
        Ordine => "ordine",
        DataPassaggio => "data_passaggio",
        GiorniAlPassaggio => "giorni_al_passaggio",
        /// The recovery e-mail masked as the provider shows it.
        EmailRecupero => "email_recupero",
    }
}

/// Why a template's text or a campaign's values are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template «{template}»: the first line must be «Oggetto: ...»")]
    NoSubject { template: String },
    #[error("template «{template}»: the subject line must be followed by an empty line")]
    NoBlankLine { template: String },
    #[error("template «{template}»: the body is empty")]
    EmptyBody { template: String },
    #[error("template «{template}», line {line}: unknown placeholder «{{{name}}}»")]
    UnknownPlaceholder {
        template: String,
        line: usize,
        name: String,
    },
    #[error("template «{template}», line {line}: unclosed «{{»")]
    Unclosed { template: String, line: usize },
}

/// One piece of a parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Placeholder),
}

/// A parsed text (subject or body).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text(Vec<Piece>);

impl Text {
    fn parse(template: &str, first_line: usize, src: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut line = first_line;
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => {
                    line += 1;
                    text.push(c);
                }
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('\n') | None => {
                                return Err(TemplateError::Unclosed {
                                    template: template.to_owned(),
                                    line,
                                });
                            }
                            Some(c) => name.push(c),
                        }
                    }
                    let slot = Placeholder::from_code(name.trim()).ok_or_else(|| {
                        TemplateError::UnknownPlaceholder {
                            template: template.to_owned(),
                            line,
                            name: name.clone(),
                        }
                    })?;
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Slot(slot));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Text(pieces))
    }

    fn slots(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Slot(s) => Some(*s),
            Piece::Text(_) => None,
        })
    }

    fn render(&self, values: &Values) -> Result<String, Placeholder> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(s) => out.push_str(values.get(*s).ok_or(*s)?),
            }
        }
        Ok(out)
    }
}

/// A reminder template, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    subject: Text,
    body: Text,
}

/// A rendered message, exactly as the member will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

impl Template {
    /// Parses a template file's text. `name` is only used in messages.
    pub fn parse(name: &str, src: &str) -> Result<Self, TemplateError> {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        let src = src.replace("\r\n", "\n");
        let (first, rest) = src.split_once('\n').unwrap_or((&src, ""));
        let subject = first
            .strip_prefix("Oggetto:")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TemplateError::NoSubject {
                template: name.to_owned(),
            })?;
        let body = rest
            .strip_prefix('\n')
            .ok_or_else(|| TemplateError::NoBlankLine {
                template: name.to_owned(),
            })?;
        let body = body.trim_end();
        if body.trim().is_empty() {
            return Err(TemplateError::EmptyBody {
                template: name.to_owned(),
            });
        }
        Ok(Template {
            name: name.to_owned(),
            subject: Text::parse(name, 1, subject)?,
            body: Text::parse(name, 3, &format!("{body}\n"))?,
        })
    }

    /// Every placeholder the template uses, once each.
    pub fn placeholders(&self) -> Vec<Placeholder> {
        let mut all: Vec<Placeholder> = self.subject.slots().chain(self.body.slots()).collect();
        all.sort_by_key(|p| p.code());
        all.dedup();
        all
    }

    /// Renders for one member; the error names the first placeholder with no value.
    pub fn render(&self, values: &Values) -> Result<Rendered, Placeholder> {
        Ok(Rendered {
            subject: self.subject.render(values)?,
            body: self.body.render(values)?,
        })
    }

    /// The placeholders this template needs that `values` lacks.
    pub fn missing(&self, values: &Values) -> Vec<Placeholder> {
        self.placeholders()
            .into_iter()
            .filter(|p| values.get(*p).is_none())
            .collect()
    }
}

/// The values of one member's placeholders. A value that is absent (no
/// recovery e-mail, no cutover date configured) makes the member's message
/// impossible for a template that asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<Placeholder, String>);

impl Values {
    pub fn get(&self, p: Placeholder) -> Option<&str> {
        self.0.get(&p).map(String::as_str)
    }

    pub fn set(&mut self, p: Placeholder, value: impl Into<String>) {
        let value = value.into();
        if value.trim().is_empty() {
            self.0.remove(&p);
        } else {
            self.0.insert(p, value);
        }
    }

    /// The values for `member`, with what the provider says of the mailbox.
    pub fn for_member(
        member: &Member,
        mailbox: Option<&MailboxState>,
        ordine: &str,
        cutover: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Self {
        let mut v = Values::default();
        v.set(Placeholder::Nome, member.nome.as_str());
        v.set(Placeholder::Cognome, member.cognome.as_str());
        v.set(Placeholder::Pec, member.pec.as_str());
        v.set(Placeholder::Ordine, ordine);
        if let Some(date) = cutover {
            v.set(
                Placeholder::DataPassaggio,
                date.format("%d/%m/%Y").to_string(),
            );
            let days = (date - today).num_days().max(0);
            v.set(Placeholder::GiorniAlPassaggio, days.to_string());
        }
        if let Some(email) = mailbox.and_then(|m| m.recovery.email_masked.as_deref()) {
            v.set(Placeholder::EmailRecupero, email);
        }
        v
    }
}

/// One member left out of a campaign because a placeholder has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValues {
    /// The member's index in the list given to [`check_campaign`].
    pub index: usize,
    pub missing: Vec<Placeholder>,
}

/// The check done when a campaign is prepared: every member whose message
/// could not be written in full, with what is missing. Unknown placeholders
/// were already refused by [`Template::parse`].
pub fn check_campaign(template: &Template, members: &[Values]) -> Vec<MissingValues> {
    members
        .iter()
        .enumerate()
        .filter_map(|(index, values)| {
            let missing = template.missing(values);
            (!missing.is_empty()).then_some(MissingValues { index, missing })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_values() -> Values {
        let mut v = Values::default();
        v.set(Placeholder::Nome, "Maria");
        v.set(Placeholder::Cognome, "Rossi");
        v.set(Placeholder::Pec, "maria.rossi@pec.fofi.it");
        v.set(Placeholder::Ordine, "Ordine dei Farmacisti di Roma");
        v.set(Placeholder::DataPassaggio, "15/12/2026");
        v.set(Placeholder::GiorniAlPassaggio, "16");
        v.set(Placeholder::EmailRecupero, "*****sa@i*****.it");
        v
    }

    #[test]
    fn parses_subject_and_body_and_renders() {
        let t = Template::parse(
            "x",
            "Oggetto: Casella {pec}\r\n\r\nGentile {nome} {cognome},\r\n{{letterale}}\r\n",
        )
        .unwrap();
        let r = t.render(&full_values()).unwrap();
        assert_eq!(r.subject, "Casella maria.rossi@pec.fofi.it");
        assert_eq!(r.body, "Gentile Maria Rossi,\n{letterale}\n");
        assert_eq!(
            t.placeholders(),
            vec![Placeholder::Cognome, Placeholder::Nome, Placeholder::Pec]
        );
    }

    #[test]
    fn unknown_placeholder_is_named_with_its_line() {
        let err = Template::parse("x", "Oggetto: a\n\nriga\nCiao {nomee}\n").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                template: "x".into(),
                line: 4,
                name: "nomee".into()
            }
        );
        assert!(matches!(
            Template::parse("x", "Oggetto: a\n\nCiao {nome\n"),
            Err(TemplateError::Unclosed { line: 3, .. })
        ));
    }

    #[test]
    fn malformed_files_are_refused() {
        assert!(matches!(
            Template::parse("x", "Ciao\n\ncorpo"),
            Err(TemplateError::NoSubject { .. })
        ));
        assert!(matches!(
            Template::parse("x", "Oggetto: a\ncorpo"),
            Err(TemplateError::NoBlankLine { .. })
        ));
        assert!(matches!(
            Template::parse("x", "Oggetto: a\n\n  \n"),
            Err(TemplateError::EmptyBody { .. })
        ));
    }

    #[test]
    fn a_member_without_a_value_is_reported_and_never_rendered() {
        let t = Template::parse("x", "Oggetto: a\n\n{nome}: {email_recupero}\n").unwrap();
        let mut without = full_values();
        without.set(Placeholder::EmailRecupero, "  ");
        let report = check_campaign(&t, &[full_values(), without.clone()]);
        assert_eq!(
            report,
            vec![MissingValues {
                index: 1,
                missing: vec![Placeholder::EmailRecupero]
            }]
        );
        assert_eq!(t.render(&without), Err(Placeholder::EmailRecupero));
    }

    #[test]
    fn values_for_a_member() {
        let m = Member {
            numero_iscrizione: "1".into(),
            cognome: "Rossi".into(),
            nome: "Maria".into(),
            codice_fiscale: String::new(),
            data_nascita: None,
            data_iscrizione: None,
            pec: "maria.rossi@pec.fofi.it".into(),
            email_servizio: None,
            cellulare: None,
            provincia: None,
            data_cancellazione: None,
        };
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let v = Values::for_member(&m, None, "Ordine", Some(d("2026-12-15")), d("2026-12-01"));
        assert_eq!(v.get(Placeholder::GiorniAlPassaggio), Some("14"));
        assert_eq!(v.get(Placeholder::DataPassaggio), Some("15/12/2026"));
        assert_eq!(v.get(Placeholder::EmailRecupero), None);
        let late = Values::for_member(&m, None, "Ordine", Some(d("2026-12-15")), d("2026-12-20"));
        assert_eq!(late.get(Placeholder::GiorniAlPassaggio), Some("0"));
    }
}
