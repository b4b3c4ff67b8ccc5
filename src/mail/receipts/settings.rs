//! Where receipts are read from: the `[pec]` section's IMAP keys (`imap_`
//! in front where they differ from the SMTP ones), or a local Maildir.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("[pec] {key}: {message}")]
    Value { key: &'static str, message: String },
    #[error(
        "[pec] imap_security = \"none\" (IMAP in chiaro, password compresa) è ammesso solo verso questo computer (127.0.0.1, ::1, localhost), non verso {0}"
    )]
    PlainNotLoopback(String),
    #[error(
        "nessuna casella PEC da cui leggere le ricevute: impostare [pec] imap_host (o maildir) nel file di configurazione"
    )]
    NotConfigured,
}

/// The `[pec]` keys this part reads. Other keys of the section (the SMTP
/// ones) are read by the sending side.
#[derive(Clone, Default, Deserialize)]
pub struct PecReceiptsFile {
    pub imap_host: Option<String>,
    pub imap_port: Option<u16>,
    /// `tls` (default, port 993), `starttls` or `none` (port 143).
    pub imap_security: Option<String>,
    /// Default `INBOX`.
    pub imap_folder: Option<String>,
    pub imap_user: Option<String>,
    pub imap_password: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// A local Maildir to read receipts from instead of IMAP.
    pub maildir: Option<PathBuf>,
}

impl std::fmt::Debug for PecReceiptsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |p: &Option<String>| p.as_ref().map(|_| "***");
        f.debug_struct("PecReceiptsFile")
            .field("imap_host", &self.imap_host)
            .field("imap_port", &self.imap_port)
            .field("imap_security", &self.imap_security)
            .field("imap_folder", &self.imap_folder)
            .field("imap_user", &self.imap_user)
            .field("imap_password", &masked(&self.imap_password))
            .field("user", &self.user)
            .field("password", &masked(&self.password))
            .field("maildir", &self.maildir)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Tls,
    Starttls,
    None,
}

/// An IMAP account. Its Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub folder: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("folder", &self.folder)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

impl ImapSettings {
    /// The folder, named without credentials: the key of its read position.
    pub fn source_name(&self) -> String {
        format!(
            "imap://{}@{}:{}/{}",
            self.user, self.host, self.port, self.folder
        )
    }

    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptSource {
    Imap(ImapSettings),
    Maildir(PathBuf),
}

impl ReceiptSource {
    pub fn describe(&self) -> String {
        match self {
            ReceiptSource::Imap(s) => s.source_name(),
            ReceiptSource::Maildir(dir) => format!("maildir:{}", dir.display()),
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl PecReceiptsFile {
    /// The source in force: the Maildir if set, else the IMAP account.
    /// Passwords from the environment (`PECDESK_PEC_IMAP_PASSWORD`, then
    /// `PECDESK_PEC_PASSWORD`) win over the file.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ReceiptSource, SettingsError> {
        if let Some(dir) = env("PECDESK_PEC_MAILDIR")
            .map(PathBuf::from)
            .or_else(|| self.maildir.clone())
        {
            return Ok(ReceiptSource::Maildir(dir));
        }
        let host = self
            .imap_host
            .clone()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .ok_or(SettingsError::NotConfigured)?;
        let security = match self
            .imap_security
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("tls") => Security::Tls,
            Some("starttls") => Security::Starttls,
            Some("none") => Security::None,
            Some(other) => {
                return Err(SettingsError::Value {
                    key: "imap_security",
                    message: format!("\"{other}\" (usare tls, starttls o none)"),
                });
            }
        };
        if security == Security::None && !is_loopback(&host) {
            return Err(SettingsError::PlainNotLoopback(host));
        }
        let port = self.imap_port.unwrap_or(match security {
            Security::Tls => 993,
            Security::Starttls | Security::None => 143,
        });
        let user = self
            .imap_user
            .clone()
            .or_else(|| self.user.clone())
            .filter(|u| !u.trim().is_empty())
            .ok_or(SettingsError::Value {
                key: "imap_user",
                message: "mancante (né imap_user né user)".into(),
            })?;
        let password = env("PECDESK_PEC_IMAP_PASSWORD")
            .or_else(|| env("PECDESK_PEC_PASSWORD"))
            .or_else(|| self.imap_password.clone())
            .or_else(|| self.password.clone())
            .filter(|p| !p.is_empty())
            .ok_or(SettingsError::Value {
                key: "imap_password",
                message: "mancante (né imap_password né password, né PECDESK_PEC_IMAP_PASSWORD)"
                    .into(),
            })?;
        Ok(ReceiptSource::Imap(ImapSettings {
            host,
            port,
            security,
            folder: self
                .imap_folder
                .clone()
                .filter(|f| !f.trim().is_empty())
                .unwrap_or_else(|| "INBOX".into()),
            user,
            password,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> PecReceiptsFile {
        PecReceiptsFile {
            imap_host: Some("imaps.pec.aruba.it".into()),
            user: Some("segreteria@pec.ordine.it".into()),
            password: Some("smtp-and-imap".into()),
            ..Default::default()
        }
    }

    #[test]
    fn imap_keys_fall_back_to_the_shared_ones() {
        let ReceiptSource::Imap(s) = file().resolve(|_| None).unwrap() else {
            panic!("imap")
        };
        assert_eq!((s.port, s.security), (993, Security::Tls));
        assert_eq!(s.folder, "INBOX");
        assert_eq!(s.user, "segreteria@pec.ordine.it");
        assert_eq!(s.password, "smtp-and-imap");
        assert!(!format!("{s:?}").contains("smtp-and-imap"));
        let mut f = file();
        f.imap_user = Some("ricevute@pec.ordine.it".into());
        f.imap_password = Some("only-imap".into());
        let ReceiptSource::Imap(s) = f
            .resolve(|k| (k == "PECDESK_PEC_IMAP_PASSWORD").then(|| "from-env".into()))
            .unwrap()
        else {
            panic!("imap")
        };
        assert_eq!(s.user, "ricevute@pec.ordine.it");
        assert_eq!(s.password, "from-env");
    }

    #[test]
    fn plain_imap_only_to_loopback() {
        let mut f = file();
        f.imap_security = Some("none".into());
        assert_eq!(
            f.resolve(|_| None).unwrap_err(),
            SettingsError::PlainNotLoopback("imaps.pec.aruba.it".into())
        );
        for host in ["127.0.0.1", "localhost", "::1"] {
            f.imap_host = Some(host.into());
            let ReceiptSource::Imap(s) = f.resolve(|_| None).unwrap() else {
                panic!("imap")
            };
            assert_eq!(s.port, 143);
        }
        f.imap_security = Some("ssl".into());
        assert!(matches!(
            f.resolve(|_| None).unwrap_err(),
            SettingsError::Value {
                key: "imap_security",
                ..
            }
        ));
        assert_eq!(
            PecReceiptsFile::default().resolve(|_| None).unwrap_err(),
            SettingsError::NotConfigured
        );
    }
}
