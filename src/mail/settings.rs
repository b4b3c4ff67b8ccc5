//! The `[mail]` and `[pec]` sections of the config: how to reach the Ordine's
//! SMTP servers, and the pace each channel keeps. Passwords may come from the
//! environment (`PECDESK_MAIL_PASSWORD`, `PECDESK_PEC_PASSWORD`) and are never
//! printed: `Debug` shows `***`.

use std::net::IpAddr;

use serde::Deserialize;

/// The two channels a reminder can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Ordinary e-mail to the member's service address.
    Email,
    /// PEC to the member's PEC address.
    Pec,
}

impl Channel {
    pub fn code(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Pec => "pec",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "email" => Some(Channel::Email),
            "pec" => Some(Channel::Pec),
            _ => None,
        }
    }

    fn section(self) -> &'static str {
        match self {
            Channel::Email => "mail",
            Channel::Pec => "pec",
        }
    }

    fn password_env(self) -> &'static str {
        match self {
            Channel::Email => "PECDESK_MAIL_PASSWORD",
            Channel::Pec => "PECDESK_PEC_PASSWORD",
        }
    }

    /// Messages a minute when the config says nothing: Legalmail's terms
    /// allow six for PEC; ordinary mail servers take more.
    pub fn default_rate(self) -> u32 {
        match self {
            Channel::Email => 60,
            Channel::Pec => 6,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Implicit TLS (465), as PEC providers require.
    Tls,
    Starttls,
    /// Plain text: loopback only.
    None,
}

impl Security {
    fn default_port(self) -> u16 {
        match self {
            Security::Tls => 465,
            Security::Starttls => 587,
            Security::None => 25,
        }
    }
}

/// One section as written in the file; every key optional. Keys this module
/// does not know (the receipts' `imap_*` keys in `[pec]`) are left to others.
#[derive(Clone, Default, Deserialize)]
pub struct ChannelFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// Messages a minute at most (0: no limit).
    pub rate_per_minute: Option<u32>,
    /// Messages a day at most (0: no cap).
    pub daily_cap: Option<u32>,
    /// SMTP connections used at once.
    pub connections: Option<usize>,
}

impl std::fmt::Debug for ChannelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelFile")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// A channel's settings, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelSettings {
    pub channel: Channel,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub reply_to: String,
    pub rate_per_minute: u32,
    pub daily_cap: u32,
    pub connections: usize,
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSettings")
            .field("channel", &self.channel)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("rate_per_minute", &self.rate_per_minute)
            .field("daily_cap", &self.daily_cap)
            .field("connections", &self.connections)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("[{section}]: manca la chiave «{key}»")]
    Missing {
        section: &'static str,
        key: &'static str,
    },
    #[error("[{section}]: security = \"none\" è ammesso solo verso loopback, non verso {host}")]
    PlainTextNotLoopback { section: &'static str, host: String },
    #[error("[{section}]: «{key}» non è un indirizzo e-mail valido: {value}")]
    BadAddress {
        section: &'static str,
        key: &'static str,
        value: String,
    },
    #[error("[{section}]: connections {value} (da 1 a 16)")]
    Connections { section: &'static str, value: usize },
}

/// Whether `host` names this machine: `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_address(value: &str) -> bool {
    let addr = value
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>'))
        .unwrap_or(value)
        .trim();
    matches!(addr.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@'))
}

impl ChannelFile {
    /// Checks the section of `channel`; `env` gives the password override.
    pub fn resolve(
        self,
        channel: Channel,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ChannelSettings, SettingsError> {
        let section = channel.section();
        let host = self
            .host
            .filter(|h| !h.trim().is_empty())
            .ok_or(SettingsError::Missing {
                section,
                key: "host",
            })?;
        let security = self.security.unwrap_or(Security::Tls);
        if security == Security::None && !is_loopback_host(&host) {
            return Err(SettingsError::PlainTextNotLoopback { section, host });
        }
        let from = self.from.ok_or(SettingsError::Missing {
            section,
            key: "from",
        })?;
        let reply_to = self.reply_to.unwrap_or_else(|| from.clone());
        for (key, value) in [("from", &from), ("reply_to", &reply_to)] {
            if !is_address(value) {
                return Err(SettingsError::BadAddress {
                    section,
                    key,
                    value: value.clone(),
                });
            }
        }
        let connections = match self.connections {
            None => 1,
            Some(n @ 1..=16) => n,
            Some(value) => return Err(SettingsError::Connections { section, value }),
        };
        Ok(ChannelSettings {
            channel,
            port: self.port.unwrap_or(security.default_port()),
            host,
            security,
            user: self.user.filter(|u| !u.is_empty()),
            password: env(channel.password_env())
                .or(self.password)
                .filter(|p| !p.is_empty()),
            from,
            reply_to,
            rate_per_minute: self.rate_per_minute.unwrap_or(channel.default_rate()),
            daily_cap: self.daily_cap.unwrap_or(0),
            connections,
        })
    }
}

impl ChannelSettings {
    /// How long `count` messages take at this channel's rate (the first goes at once).
    pub fn duration_for(&self, count: usize) -> std::time::Duration {
        if self.rate_per_minute == 0 || count <= 1 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64((count - 1) as f64 * 60.0 / self.rate_per_minute as f64)
    }
}

impl crate::config::Config {
    /// The checked settings of `channel`, the password from the environment
    /// first. A console without `[mail]` or `[pec]` works until a campaign
    /// needs the channel.
    pub fn channel(&self, channel: Channel) -> Result<ChannelSettings, SettingsError> {
        let section = match channel {
            Channel::Email => &self.mail,
            Channel::Pec => &self.pec,
        };
        section
            .clone()
            .ok_or(SettingsError::Missing {
                section: channel.section(),
                key: "host",
            })?
            .resolve(channel, |k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ChannelFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_env_password() {
        let s = file("host = \"smtps.pec.aruba.it\"\nfrom = \"Ordine <ordine@pec.fofi.it>\"\npassword = \"from-file\"\nimap_host = \"x\"\n")
            .resolve(Channel::Pec, |k| (k == "PECDESK_PEC_PASSWORD").then(|| "segreta".to_string()))
            .unwrap();
        assert_eq!(
            (s.port, s.security, s.rate_per_minute),
            (465, Security::Tls, 6)
        );
        assert_eq!(s.password.as_deref(), Some("segreta"));
        assert_eq!(s.reply_to, "Ordine <ordine@pec.fofi.it>");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("segreta") && shown.contains("***"),
            "{shown}"
        );
        assert_eq!(s.duration_for(7), std::time::Duration::from_secs(60));
        let mail = file("host = \"mail.ordine.it\"\nfrom = \"a@ordine.it\"\n")
            .resolve(Channel::Email, |_| None)
            .unwrap();
        assert_eq!(mail.rate_per_minute, 60);
        assert_eq!(mail.password, None);
    }

    #[test]
    fn sections_in_the_config_file() {
        let text = "ordine = \"Ordine\"\n[pec]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\nfrom = \"ordine@pec.fofi.it\"\npassword = \"pw-in-file\"\n";
        let file = crate::config::ConfigFile::parse(text, std::path::Path::new("c.toml")).unwrap();
        assert!(!format!("{file:?}").contains("pw-in-file"));
        let config = file.resolve(|_| None).unwrap();
        let pec = config.channel(Channel::Pec).unwrap();
        assert_eq!((pec.port, pec.security), (2525, Security::None));
        assert!(matches!(
            config.channel(Channel::Email),
            Err(SettingsError::Missing {
                section: "mail",
                ..
            })
        ));
    }

    #[test]
    fn plain_text_only_to_loopback() {
        let err = file("host = \"mail.ordine.it\"\nsecurity = \"none\"\nfrom = \"a@ordine.it\"\n")
            .resolve(Channel::Email, |_| None)
            .unwrap_err();
        assert!(matches!(err, SettingsError::PlainTextNotLoopback { .. }));
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            let s = file(&format!(
                "host = \"{host}\"\nsecurity = \"none\"\nfrom = \"a@ordine.it\"\n"
            ))
            .resolve(Channel::Email, |_| None)
            .unwrap();
            assert_eq!(s.port, 25);
        }
    }

    #[test]
    fn missing_and_bad_keys_are_named() {
        assert_eq!(
            file("from = \"a@ordine.it\"\n").resolve(Channel::Pec, |_| None),
            Err(SettingsError::Missing {
                section: "pec",
                key: "host"
            })
        );
        assert!(matches!(
            file("host = \"h.it\"\nfrom = \"ordine\"\n").resolve(Channel::Pec, |_| None),
            Err(SettingsError::BadAddress { key: "from", .. })
        ));
        assert!(matches!(
            file("host = \"h.it\"\nfrom = \"a@b.it\"\nconnections = 0\n")
                .resolve(Channel::Pec, |_| None),
            Err(SettingsError::Connections { .. })
        ));
    }
}
