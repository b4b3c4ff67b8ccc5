//! Where a reminder template's text comes from: a file of the same name in
//! `<config dir>/templates/` when the Ordine wrote one, else the text bundled
//! in the binary from `assets/templates/`.

use std::path::{Path, PathBuf};

use crate::domain::template::{Template, TemplateError, TemplateName};

/// The bundled texts, one per [`TemplateName`].
fn bundled(name: TemplateName) -> &'static str {
    match name {
        TemplateName::Migrazione => include_str!("../../assets/templates/migrazione.txt"),
        TemplateName::Credenziali => include_str!("../../assets/templates/credenziali.txt"),
        TemplateName::DoppioFattore => include_str!("../../assets/templates/doppio-fattore.txt"),
        TemplateName::LinkScaduto => include_str!("../../assets/templates/link-scaduto.txt"),
        TemplateName::NessunContatto => include_str!("../../assets/templates/nessun-contatto.txt"),
        TemplateName::DopoPassaggio => include_str!("../../assets/templates/dopo-passaggio.txt"),
        TemplateName::ConfermaRecupero => {
            include_str!("../../assets/templates/conferma-recupero.txt")
        }
    }
}

/// Where the text of a loaded template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Bundled,
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    #[error(
        "unknown template «{0}» (known: migrazione, credenziali, doppio-fattore, link-scaduto, nessun-contatto, dopo-passaggio, conferma-recupero)"
    )]
    UnknownName(String),
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid { path: String, source: TemplateError },
}

/// The override directory for `config_dir`: `<config_dir>/templates`.
pub fn override_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("templates")
}

/// Loads the template called `name`: `<config_dir>/templates/<name>.txt` if
/// it exists, else the bundled text. An override that does not parse is an
/// error (never silently replaced by the bundled one).
pub fn load_template(
    name: &str,
    config_dir: Option<&Path>,
) -> Result<(Template, TemplateSource), TemplatesError> {
    let known =
        TemplateName::from_code(name).ok_or_else(|| TemplatesError::UnknownName(name.into()))?;
    if let Some(dir) = config_dir {
        let path = override_dir(dir).join(format!("{name}.txt"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let template =
                    Template::parse(name, &text).map_err(|source| TemplatesError::Invalid {
                        path: path.display().to_string(),
                        source,
                    })?;
                return Ok((template, TemplateSource::File(path)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(TemplatesError::Read { path, source }),
        }
    }
    let template =
        Template::parse(name, bundled(known)).map_err(|source| TemplatesError::Invalid {
            path: format!("assets/templates/{name}.txt"),
            source,
        })?;
    Ok((template, TemplateSource::Bundled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::template::{Placeholder, Values};

    fn values_with(absent: &[Placeholder]) -> Values {
        let mut v = Values::default();
        for p in Placeholder::ALL {
            if !absent.contains(p) {
                v.set(*p, format!("<{}>", p.code()));
            }
        }
        v
    }

    /// Every template, for every member situation a value may be missing in,
    /// either renders with no placeholder left or is refused by the check.
    #[test]
    fn every_template_renders_with_no_leftover_placeholder() {
        for name in TemplateName::ALL {
            let (t, source) = load_template(name.code(), None).unwrap();
            assert_eq!(source, TemplateSource::Bundled);
            let r = t.render(&values_with(&[])).unwrap();
            for text in [&r.subject, &r.body] {
                assert!(
                    !text.contains('{') && !text.contains('}'),
                    "{}: {text}",
                    name.code()
                );
                assert!(text.contains('<'), "{} uses no placeholder", name.code());
            }
            assert!(r.body.contains("<nome> <cognome>"), "{}", name.code());
            // A member lacking any one value the template needs is caught.
            for p in Placeholder::ALL {
                let without = values_with(&[*p]);
                let needs = t.placeholders().contains(p);
                assert_eq!(t.missing(&without).contains(p), needs);
                assert_eq!(t.render(&without).is_err(), needs);
            }
        }
    }

    /// The facts the procedures fix appear in the templates that need them.
    #[test]
    fn templates_carry_the_procedures_facts() {
        let body = |n: TemplateName| {
            load_template(n.code(), None)
                .unwrap()
                .0
                .render(&values_with(&[]))
                .unwrap()
                .body
        };
        let migr = "https://migrazionepec.infocert.it/webapp/?ui=fofi";
        let webmail = "https://webmail.infocert.it/legalmail/#/login";
        for n in [
            TemplateName::Migrazione,
            TemplateName::Credenziali,
            TemplateName::DoppioFattore,
        ] {
            assert!(body(n).contains(migr));
            assert!(body(n).contains("non più di due caratteri uguali consecutivi"));
            assert!(body(n).contains("continui ad usare la sua password attuale"));
        }
        assert!(body(TemplateName::Credenziali).contains("credenziali non valide"));
        assert!(body(TemplateName::DoppioFattore).contains("verifica in due passaggi"));
        assert!(body(TemplateName::LinkScaduto).contains("24 ore"));
        assert!(body(TemplateName::LinkScaduto).contains("Non riesco ad accedere"));
        assert!(body(TemplateName::DopoPassaggio).contains(webmail));
        assert!(body(TemplateName::DopoPassaggio).contains("Non riesco ad accedere"));
        assert!(body(TemplateName::NessunContatto).contains("reset della password"));
        assert!(body(TemplateName::ConfermaRecupero).contains("numero di cellulare"));
    }

    #[test]
    fn an_override_in_the_config_dir_wins_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(override_dir(dir.path())).unwrap();
        let file = override_dir(dir.path()).join("migrazione.txt");
        std::fs::write(&file, "Oggetto: Promemoria {pec}\n\nCiao {nome}\n").unwrap();
        let (t, source) = load_template("migrazione", Some(dir.path())).unwrap();
        assert_eq!(source, TemplateSource::File(file.clone()));
        assert_eq!(
            t.render(&values_with(&[])).unwrap().subject,
            "Promemoria <pec>"
        );
        // Others still come from the bundle.
        let (_, source) = load_template("credenziali", Some(dir.path())).unwrap();
        assert_eq!(source, TemplateSource::Bundled);
        std::fs::write(&file, "Oggetto: x\n\nCiao {name}\n").unwrap();
        let err = load_template("migrazione", Some(dir.path())).unwrap_err();
        assert!(
            err.to_string().contains("unknown placeholder «{name}»"),
            "{err}"
        );
        assert!(matches!(
            load_template("sollecito", None),
            Err(TemplatesError::UnknownName(_))
        ));
    }
}
