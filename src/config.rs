//! The configuration file (TOML) and the environment variables that override it.

use std::collections::BTreeMap;
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
    /// Requests a bulk action keeps in flight at once.
    pub max_in_flight: Option<usize>,
    /// Requests per second to the provider at most (0: no limit).
    pub max_per_second: Option<u32>,
    /// Seconds a request may take before it is retried.
    pub request_timeout_secs: Option<u64>,
    /// Attempts of one request before giving up.
    pub max_attempts: Option<u32>,
    pub db: Option<PathBuf>,
    /// The day of the passage to the new provider, `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "date")]
    pub cutover: Option<chrono::NaiveDate>,
    /// OAuth2 client credentials for the provider.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Key overrides: command name to one key or a list of keys.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyList>,
    /// The Unix group a shared store is created for (`pecdesk init`).
    pub store_group: Option<String>,
    /// Aruba's partner API, the old provider's side.
    pub aruba: Option<ArubaFile>,
    /// Whether the file can be read by other users (a password in it is refused).
    #[serde(skip)]
    pub readable_by_others: bool,
    /// `[mail]`: the Ordine's ordinary mail server, for reminders by e-mail.
    pub mail: Option<crate::mail::ChannelFile>,
    /// `[pec]`: the Ordine's PEC mailbox, for reminders by PEC and for
    /// reading their receipts.
    pub pec: Option<PecFile>,
    /// How the mailboxes' states arrive: "api" (default) or "report".
    pub provider: Option<String>,
}

/// `[pec]` is one section read by two parts: sending takes the SMTP keys,
/// reading receipts the `imap_*` ones and `maildir` (`user` and `password`
/// serve both). serde's `flatten` would hand a shared key to one part only,
/// so each part reads the whole table.
#[derive(Debug, Clone, Default)]
pub struct PecFile {
    pub send: crate::mail::ChannelFile,
    pub receipts: crate::mail::receipts::PecReceiptsFile,
}

impl<'de> Deserialize<'de> for PecFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Value::Table(toml::Table::deserialize(deserializer)?);
        Ok(PecFile {
            send: crate::mail::ChannelFile::deserialize(table.clone()).map_err(D::Error::custom)?,
            receipts: crate::mail::receipts::PecReceiptsFile::deserialize(table)
                .map_err(D::Error::custom)?,
        })
    }
}

/// The `[aruba]` table.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArubaFile {
    pub url: Option<String>,
    pub username: Option<String>,
    /// The domain to list; default: `pec_domain`.
    pub domain: Option<String>,
    /// Only from a file readable by its owner alone; PECDESK_ARUBA_PASSWORD wins.
    pub password: Option<String>,
}

impl std::fmt::Debug for ArubaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaFile")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Aruba's partner API as configured: all of it, or nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct ArubaSettings {
    pub url: String,
    pub username: String,
    pub domain: String,
    pub password: String,
}

impl std::fmt::Debug for ArubaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaSettings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("password", &"***")
            .finish()
    }
}

/// `[aruba]` with its environment overrides (PECDESK_ARUBA_URL,
/// PECDESK_ARUBA_USERNAME, PECDESK_ARUBA_PASSWORD); None when no URL is set.
fn resolve_aruba(
    file: Option<ArubaFile>,
    readable_by_others: bool,
    pec_domain: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ArubaSettings>, ConfigError> {
    let file = file.unwrap_or_default();
    let Some(url) = env("PECDESK_ARUBA_URL").or(file.url) else {
        return Ok(None);
    };
    if file.password.is_some() && readable_by_others {
        return Err(ConfigError::Value {
            key: "aruba.password",
            message: "il file di configurazione è leggibile da altri utenti: chmod 600, \
                      oppure usare PECDESK_ARUBA_PASSWORD"
                .into(),
        });
    }
    let username = env("PECDESK_ARUBA_USERNAME")
        .or(file.username)
        .ok_or(ConfigError::Value {
            key: "aruba.username",
            message: "manca (l'utente dell'account partner Aruba)".into(),
        })?;
    let password = env("PECDESK_ARUBA_PASSWORD")
        .or(file.password)
        .ok_or(ConfigError::Value {
            key: "aruba.password",
            message: "manca: impostare PECDESK_ARUBA_PASSWORD (o password in un file chmod 600)"
                .into(),
        })?;
    Ok(Some(ArubaSettings {
        url,
        username,
        domain: file
            .domain
            .unwrap_or_else(|| pec_domain.to_string())
            .to_lowercase(),
        password,
    }))
}

/// A date as TOML writes it (`2027-01-31`) or as a string ("2027-01-31", "31/01/2027").
fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<chrono::NaiveDate>, D::Error> {
    use serde::de::Error;
    let text = match toml::Value::deserialize(d)? {
        toml::Value::Datetime(dt) if dt.time.is_none() => dt.to_string(),
        toml::Value::String(s) => s,
        other => {
            return Err(D::Error::custom(format!(
                "atteso una data AAAA-MM-GG, trovato {other}"
            )));
        }
    };
    ["%Y-%m-%d", "%d/%m/%Y"]
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(text.trim(), f).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("data non valida \"{text}\" (AAAA-MM-GG)")))
}

/// One key (`resend = "x"`) or several (`resend = ["x", "ctrl-r"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    fn into_vec(self) -> Vec<String> {
        match self {
            KeyList::One(key) => vec![key],
            KeyList::Many(keys) => keys,
        }
    }
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
    pub max_in_flight: usize,
    pub max_per_second: u32,
    pub request_timeout_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    pub db: Option<PathBuf>,
    pub cutover: Option<chrono::NaiveDate>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub keys: BTreeMap<String, Vec<String>>,
    pub store_group: Option<String>,
    /// Aruba's partner API, when `[aruba]` has a URL.
    pub aruba: Option<ArubaSettings>,
    /// `[mail]` and `[pec]` as written; checked when a campaign needs them.
    pub mail: Option<crate::mail::ChannelFile>,
    pub pec: Option<crate::mail::ChannelFile>,

    /// `[pec]` as written; resolved (with the environment) when receipts are read.
    pub pec_receipts: crate::mail::receipts::PecReceiptsFile,
    /// Whether the provider has an API or only sends reports.
    pub provider_mode: ProviderMode,
}

/// How an Ordine learns its mailboxes' states from the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderMode {
    /// The provider's HTTP API: syncs, resends, contacts, resets.
    #[default]
    Api,
    /// No API: the states come from report files (`pecdesk sync --report`);
    /// nothing calls the provider.
    Report,
}

impl ProviderMode {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "api" => Some(Self::Api),
            "report" => Some(Self::Report),
            _ => None,
        }
    }
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

/// The OS account, as the default display name. The audit trail records the
/// account itself beside any display name, from the system (see
/// [`crate::identity`]), whatever the environment says.
pub fn os_user() -> String {
    crate::identity::os_account().to_string()
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
        let readable_by_others = warn_if_readable_by_others(&path);
        let mut file = Self::parse(&text, &path)?;
        file.readable_by_others = readable_by_others;
        Ok(file)
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
        let pec_domain = self
            .pec_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_PEC_DOMAIN.to_string())
            .to_lowercase();
        let aruba = resolve_aruba(self.aruba, self.readable_by_others, &pec_domain, &env)?;
        Ok(Config {
            aruba,
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
            sync_interval_secs: match self.sync_interval_secs {
                Some(secs) if secs < 10 => {
                    return Err(ConfigError::Value {
                        key: "sync_interval_secs",
                        message: format!("{secs} (minimo 10 secondi)"),
                    });
                }
                Some(secs) => secs,
                None => 300,
            },
            max_in_flight: match self.max_in_flight {
                Some(n @ 1..=256) => n,
                Some(n) => {
                    return Err(ConfigError::Value {
                        key: "max_in_flight",
                        message: format!("{n} (da 1 a 256)"),
                    });
                }
                None => 8,
            },
            max_per_second: self.max_per_second.unwrap_or(20),
            request_timeout_secs: match self.request_timeout_secs {
                Some(0) => {
                    return Err(ConfigError::Value {
                        key: "request_timeout_secs",
                        message: "0 (almeno 1 secondo)".into(),
                    });
                }
                other => other,
            },
            max_attempts: match self.max_attempts {
                Some(0) => {
                    return Err(ConfigError::Value {
                        key: "max_attempts",
                        message: "0 (almeno 1)".into(),
                    });
                }
                other => other,
            },
            db: self.db,
            cutover: self.cutover,
            client_id: env("PECDESK_CLIENT_ID").or(self.client_id),
            client_secret: env("PECDESK_CLIENT_SECRET").or(self.client_secret),
            keys: self
                .keys
                .into_iter()
                .map(|(command, keys)| (command, keys.into_vec()))
                .collect(),
            mail: self.mail,
            pec: self.pec.clone().map(|pec| pec.send),
            pec_receipts: self.pec.map(|pec| pec.receipts).unwrap_or_default(),
            store_group: self.store_group,
            provider_mode: match env("PECDESK_PROVIDER").or(self.provider) {
                Some(text) => ProviderMode::parse(&text).ok_or(ConfigError::Value {
                    key: "provider",
                    message: format!("\"{text}\" (usare api o report)"),
                })?,
                None => ProviderMode::Api,
            },
        })
    }
}

/// The file may hold the provider's credentials: say so when others can read
/// it, and say whether they can.
fn warn_if_readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "attenzione: {} è leggibile da altri utenti; può contenere le credenziali del gestore: chmod 600 {}",
                path.display(),
                path.display()
            );
            tracing::warn!(path = %path.display(), "config file readable by others");
            return true;
        }
    }
    false
}

/// A commented default configuration, for `pecdesk config --print-default`.
pub const DEFAULT_FILE: &str = r#"# pecdesk configuration (TOML). Every key is optional.
# Environment variables override the file where noted.

# The Ordine's name, shown in the console's header.
ordine = "Ordine dei Farmacisti della Provincia di ..."

# The Ordine's own PEC domain: mailboxes elsewhere are outside the migration.
pec_domain = "pec.fofi.it"

# The day of the passage to the new provider (YYYY-MM-DD): the dashboard counts
# the days left and checks whether the pace is enough.
# cutover = "2027-01-31"

# How the mailboxes' states arrive (PECDESK_PROVIDER): "api" (default), or
# "report" for an Ordine with no API: states come from the provider's report
# files (`pecdesk sync --report FILE`, `:sync report FILE` in the console),
# nothing calls the provider, and resend, contacts and reset are unavailable.
# provider = "report"

# The provider's API (PECDESK_PROVIDER_URL). Plain http:// only to 127.0.0.1.
# provider_url = "https://..."

# OAuth2 client credentials (PECDESK_CLIENT_ID, PECDESK_CLIENT_SECRET), or a
# static bearer token (PECDESK_PROVIDER_TOKEN). Keep this file chmod 600.
# client_id = "..."
# client_secret = "..."
# provider_token = "..."

# A display name shown beside the OS account in the audit trail
# (PECDESK_OPERATOR). The trail always records the OS account that ran
# pecdesk, from the system: this name is never instead of it.
# operator = "Mario Rossi"

# The Unix group that shares the store: `pecdesk init` creates it 0660 for
# this group (same as `pecdesk init --group NAME`).
# store_group = "segreteria"

# Interface language: "it" or "en" (PECDESK_LANG, --lang).
lang = "it"

# Seconds between background syncs in the console (at least 10).
sync_interval_secs = 300

# Requests a bulk action keeps in flight at once (1-256).
max_in_flight = 8

# Requests per second to the provider at most (0: no limit).
max_per_second = 20

# Seconds a request may take before it is retried, and attempts before giving up.
# request_timeout_secs = 15
# max_attempts = 8

# The store. Default: pecdesk.db in the user's data directory (--db).
# db = "/srv/ordine/pecdesk.db"

# Key overrides: command = key or [keys]. Keys: a letter, "ctrl-x", "alt-x",
# "enter", "esc", "tab", "space", "up", "down", "pgup", "pgdn", "home", "end", "f1"...
# Commands: quit back help next_screen dashboard members up down page_up page_down
# top bottom search palette open resend sync sort_next sort_reverse filter
# clear_filter chase_not_migrated chase_failed_credentials chase_failed_2fa
# chase_link_expired chase_no_recovery_contact chase_no_mailbox chase_no_member
[keys]
# resend = ["r", "ctrl-r"]

# Aruba's partner API (the old provider), before the passage: needs a partner
# account with the "Accesso API PEC" permission. The password comes from
# PECDESK_ARUBA_PASSWORD, or from here only if this file is chmod 600.
# [aruba]
# url = "https://publicapi-areaclienti.arubapec.it/service"   # PECDESK_ARUBA_URL
# username = "..."                                            # PECDESK_ARUBA_USERNAME
# domain = "pec.fofi.it"                                      # default: pec_domain
# Reminders by e-mail through the Ordine's mail server. security: tls
# (implicit, default), starttls or none (plain text: loopback only). The
# password may instead come from PECDESK_MAIL_PASSWORD; it is never shown.
# rate_per_minute: 0 for no limit; daily_cap: 0 for none.
# [mail]
# host = "smtp.ordine.it"
# port = 465
# security = "tls"
# user = "segreteria@ordine.it"
# password = "..."
# from = "Ordine dei Farmacisti <segreteria@ordine.it>"
# reply_to = "segreteria@ordine.it"
# rate_per_minute = 60
# daily_cap = 2000
# connections = 1

# The Ordine's PEC mailbox: reminders by PEC are sent through it
# (PECDESK_PEC_PASSWORD; Legalmail's terms allow six messages a minute, the
# default rate) and their receipts are read from it over IMAP (read-only:
# nothing is moved, deleted or marked as read). imap_user/imap_password fall
# back to user/password; PECDESK_PEC_IMAP_PASSWORD also works. imap_security:
# tls (993), starttls or none (143, loopback only). maildir: read a local
# Maildir instead (PECDESK_PEC_MAILDIR).
# [pec]
# host = "sendm.cert.legalmail.it"
# port = 465
# security = "tls"
# user = "ordine@pec.fofi.it"
# from = "Ordine dei Farmacisti <ordine@pec.fofi.it>"
# rate_per_minute = 6
# daily_cap = 500
# imap_host = "mbox.cert.legalmail.it"
# imap_port = 993
# imap_security = "tls"
# imap_folder = "INBOX"
# maildir = "/var/mail/pec"
"#;

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
    fn one_pec_section_serves_sending_and_receipts() {
        let file = ConfigFile::parse(
            "[pec]\nhost = \"smtp.example\"\nuser = \"ordine@pec.example\"\npassword = \"segreta\"\nimap_host = \"imap.example\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let config = file.resolve(|_| None).unwrap();
        let send = config.pec.as_ref().expect("the sending side");
        assert_eq!(send.host.as_deref(), Some("smtp.example"));
        assert_eq!(send.user.as_deref(), Some("ordine@pec.example"));
        assert_eq!(
            config.pec_receipts.imap_host.as_deref(),
            Some("imap.example")
        );
        assert_eq!(
            config.pec_receipts.user.as_deref(),
            Some("ordine@pec.example")
        );
        assert_eq!(config.pec_receipts.password.as_deref(), Some("segreta"));
        assert!(!format!("{config:?}").contains("segreta"));
    }

    #[test]
    fn the_default_file_parses() {
        let file = ConfigFile::parse(DEFAULT_FILE, Path::new("default.toml")).unwrap();
        let config = file.resolve(|_| None).unwrap();
        assert_eq!(config.sync_interval_secs, 300);
        assert!(config.keys.is_empty());
    }

    #[test]
    fn the_provider_mode_is_api_unless_report_is_asked() {
        let resolve = |text: &str| {
            ConfigFile::parse(text, Path::new("c.toml"))
                .unwrap()
                .resolve(|_| None)
        };
        assert_eq!(resolve("").unwrap().provider_mode, ProviderMode::Api);
        assert_eq!(
            resolve("provider = \"Report\"\n").unwrap().provider_mode,
            ProviderMode::Report
        );
        let err = resolve("provider = \"excel\"\n").unwrap_err().to_string();
        assert!(err.contains("provider") && err.contains("excel"), "{err}");
    }

    #[test]
    fn keys_and_cutover() {
        let file = ConfigFile::parse(
            "cutover = 2027-01-31\n[keys]\nresend = \"x\"\nsync = [\"ctrl-s\", \"S\"]\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let config = file.resolve(|_| None).unwrap();
        assert_eq!(config.cutover, chrono::NaiveDate::from_ymd_opt(2027, 1, 31));
        assert_eq!(config.keys["sync"], vec!["ctrl-s", "S"]);
        assert_eq!(config.keys["resend"], vec!["x"]);
    }

    #[test]
    fn out_of_range_and_wrong_types_are_named() {
        let err = ConfigFile::parse("sync_interval_secs = 1\n", Path::new("c.toml"))
            .unwrap()
            .resolve(|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("sync_interval_secs"), "{err}");
        let err = ConfigFile::parse("cutover = \"domani\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("cutover"), "{err}");
        let err = ConfigFile::parse("lang = \"fr\"\n", Path::new("c.toml"))
            .unwrap()
            .resolve(|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("fr"), "{err}");
        assert!(ConfigFile::parse("", Path::new("c.toml")).is_ok());
    }

    #[test]
    fn aruba_is_all_or_nothing_and_its_password_stays_private() {
        let text = "pec_domain = \"pec.fofi.it\"\n[aruba]\nurl = \"https://a.example/service\"\nusername = \"partner\"\npassword = \"segreta\"\n";
        let file = ConfigFile::parse(text, Path::new("c.toml")).unwrap();
        let aruba = file.clone().resolve(|_| None).unwrap().aruba.unwrap();
        assert_eq!(aruba.domain, "pec.fofi.it");
        assert_eq!(aruba.password, "segreta");
        assert!(!format!("{aruba:?}").contains("segreta"));
        let env = |k: &str| (k == "PECDESK_ARUBA_PASSWORD").then(|| "da-env".to_string());
        assert_eq!(
            file.clone().resolve(env).unwrap().aruba.unwrap().password,
            "da-env"
        );
        // In a file others can read, a password is refused.
        let mut shared = file;
        shared.readable_by_others = true;
        let err = shared.resolve(|_| None).unwrap_err();
        assert!(err.to_string().contains("aruba.password"), "{err}");
        let no_password = ConfigFile::parse(
            "[aruba]\nurl = \"https://a.example\"\nusername = \"p\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let err = no_password.resolve(|_| None).unwrap_err();
        assert!(err.to_string().contains("PECDESK_ARUBA_PASSWORD"), "{err}");
        let none = ConfigFile::parse("", Path::new("c.toml")).unwrap();
        assert!(none.resolve(|_| None).unwrap().aruba.is_none());
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
