//! The configuration file (TOML) and the environment variables that override it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::DEFAULT_PEC_DOMAIN;
use crate::i18n::Lang;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("impossibile leggere il file di configurazione {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("file di configurazione {path} non valido: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("valore non valido per {key}: {message}")]
    Value { key: &'static str, message: String },
}

/// The file's contents; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub ordine: Option<String>,
    pub pec_domain: Option<String>,
    pub provider_url: Option<String>,
    pub provider_token: Option<String>,
    pub operator: Option<String>,
    pub lang: Option<String>,
    pub sync_interval_secs: Option<u64>,
    pub db: Option<PathBuf>,
}

/// The settings in force, after file, environment and defaults.
#[derive(Clone)]
pub struct Config {
    pub ordine: String,
    pub pec_domain: String,
    pub provider_url: Option<String>,
    pub provider_token: Option<String>,
    pub operator: String,
    pub lang: Lang,
    pub sync_interval_secs: u64,
    pub db: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("ordine", &self.ordine)
            .field("pec_domain", &self.pec_domain)
            .field("provider_url", &self.provider_url)
            .field(
                "provider_token",
                &self.provider_token.as_ref().map(|_| "***"),
            )
            .field("operator", &self.operator)
            .field("lang", &self.lang)
            .finish()
    }
}

/// The config file's default location in the user's config directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("it", "pecdesk", "pecdesk")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// The OS user, as the default operator name in the audit trail.
pub fn os_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "operatore".to_string())
}

impl ConfigFile {
    /// Reads `explicit` (which must exist) or the default file (which may not).
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(Self::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })
    }

    /// Applies environment overrides and defaults.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let lang = match env("PECDESK_LANG").or(self.lang) {
            Some(code) => Lang::parse(&code).ok_or(ConfigError::Value {
                key: "lang",
                message: format!("\"{code}\" (usare it o en)"),
            })?,
            None => Lang::It,
        };
        Ok(Config {
            ordine: self
                .ordine
                .unwrap_or_else(|| "Ordine dei Farmacisti".to_string()),
            pec_domain: self
                .pec_domain
                .unwrap_or_else(|| DEFAULT_PEC_DOMAIN.to_string())
                .to_lowercase(),
            provider_url: env("PECDESK_PROVIDER_URL").or(self.provider_url),
            provider_token: env("PECDESK_PROVIDER_TOKEN").or(self.provider_token),
            operator: env("PECDESK_OPERATOR")
                .or(self.operator)
                .unwrap_or_else(os_user),
            lang,
            sync_interval_secs: self.sync_interval_secs.unwrap_or(300).max(10),
            db: self.db,
        })
    }
}

/// Loads the file and the process environment.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    ConfigFile::load(explicit)?.resolve(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let file = ConfigFile::parse(
            "provider_url = \"https://a.example\"\nprovider_token = \"file\"\noperator = \"anna\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let config = file
            .resolve(|k| (k == "PECDESK_PROVIDER_TOKEN").then(|| "env".to_string()))
            .unwrap();
        assert_eq!(config.provider_token.as_deref(), Some("env"));
        assert_eq!(config.provider_url.as_deref(), Some("https://a.example"));
        assert_eq!(config.operator, "anna");
        assert_eq!(config.pec_domain, "pec.fofi.it");
        assert!(!format!("{config:?}").contains("env\""));
    }

    #[test]
    fn a_broken_file_names_the_problem() {
        let err = ConfigFile::parse("operator = 3\n", Path::new("c.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("c.toml") && text.contains("line 1"), "{text}");
        let err = ConfigFile::parse("colour = \"red\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
