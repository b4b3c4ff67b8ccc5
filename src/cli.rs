//! Command-line interface: the console, the demo, and headless subcommands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::app::{Settings, State};
use crate::config::{self, Config};
use crate::i18n::Lang;
use crate::import;
use crate::provider::aruba::sim::{self as aruba_sim, ArubaSimConfig};
use crate::provider::aruba::{ArubaClient, ArubaConfig};
use crate::provider::sim::{self, SimConfig};
use crate::provider::{ClientConfig, Credentials, ProviderClient};
use crate::services::Services;
use crate::store::Store;
use crate::tui::Keymap;

/// The sample roster bundled for the demo (synthetic people, valid codici fiscali).
pub const SAMPLE_ROSTER: &[u8] = include_bytes!("../assets/sample-roster.csv");
pub const SAMPLE_ROSTER_NAME: &str = "sample-roster.csv";

/// The exit codes, as `--help` and the README document them.
pub const EXIT_CODES_HELP: &str = "\
Codici di uscita / exit codes:
  0  fatto / done
  1  fatto, ma con errori su alcune voci / done with failures
  2  errore d'uso o di configurazione / usage or configuration error
  3  gestore non raggiungibile / provider unreachable";

#[derive(Debug, Parser)]
#[command(
    name = "pecdesk",
    version,
    about = "Console per la migrazione delle caselle PEC dell'Ordine (Aruba → InfoCert)",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// The store (SQLite file). Default: pecdesk.db in the user's data directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Configuration file. Default: config.toml in the user's config directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Interface language: it (default) or en.
    #[arg(long, global = true, value_name = "it|en")]
    pub lang: Option<String>,
    /// Log level for the log file.
    #[arg(
        long,
        global = true,
        default_value = "info",
        value_parser = ["error", "warn", "info", "debug", "trace"]
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The full console on a bundled sample roster and a loopback provider simulator.
    Demo {
        /// Start after the passage to the new provider, when password resets are
        /// allowed (before it the provider refuses them, as the procedure says).
        #[arg(long)]
        after_cutover: bool,
    },
    /// The console on the configured store and provider (the default).
    Console,
    /// Import the roster (albo): a CSV, the INI-PEC layout or a SQLite database.
    Import(ImportArgs),
    /// Fetch the mailboxes' states from the provider and store them: every
    /// mailbox the first time and once a day, otherwise only what changed.
    Sync {
        /// Provider base URL (overrides config and PECDESK_PROVIDER_URL).
        #[arg(long, value_name = "URL")]
        provider: Option<String>,
        /// Fetch every mailbox, also noticing those no longer at the provider.
        #[arg(long)]
        full: bool,
        /// Sync the old provider's side instead: every mailbox of the domain at
        /// Aruba, its status and its owner's contacts ([aruba] in the config).
        #[arg(long, conflicts_with_all = ["report", "provider", "full"])]
        aruba: bool,
        /// Read the states from a provider's report file (CSV, or a
        /// workbook) instead of calling the provider.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["provider", "full"])]
        report: Option<PathBuf>,
        /// With --report: only update the mailboxes it lists.
        #[arg(long, requires = "report")]
        partial: bool,
        /// With --report: the date of its states when no column gives it
        /// (default: the file's modification time).
        #[arg(long, value_name = "DATE", requires = "report")]
        as_of: Option<String>,
        /// With --report: show what would change, store nothing.
        #[arg(long, requires = "report")]
        dry_run: bool,
        /// With --report: write the rejected rows, with the reason, to FILE.
        #[arg(long, value_name = "OUT", requires = "report")]
        rejects: Option<PathBuf>,
        /// With --report: the sheet of a workbook (default the first).
        #[arg(long, value_name = "NAME", requires = "report")]
        sheet: Option<String>,
    },
    /// Show the configuration.
    Config {
        /// Print a commented default configuration file.
        #[arg(long)]
        print_default: bool,
    },
    /// Export the entries in the given states, with contact data and state,
    /// as CSV, CSV for Italian Excel, JSON or the INI-PEC layout.
    Export {
        /// The file to write (replaced atomically, mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only entries in this state (repeatable: any of them; --help lists the states).
        #[arg(
            long = "state",
            value_name = "STATE",
            value_parser = crate::report::parse_state,
            long_help = crate::report::states_help()
        )]
        states: Vec<crate::domain::Category>,
        /// File format.
        #[arg(long, value_enum, default_value_t = crate::export::ExportFormat::Csv)]
        format: crate::export::ExportFormat,
        /// INI-PEC: every position in the albo (the first load), not only
        /// what changed since the last file.
        #[arg(long)]
        all: bool,
        /// INI-PEC: show the counts per Stato code; write and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The dashboard's figures: totals per state, migrated share, days to the
    /// cutover, pace, the "to chase" lists and the last sync.
    Report {
        /// Print one JSON object (state codes as keys) instead of text.
        #[arg(long)]
        json: bool,
        /// `xlsx`: write the report as a workbook (a summary sheet and a sheet
        /// per "to chase" list) to --out.
        #[arg(long, value_enum, requires = "out")]
        format: Option<ReportFormat>,
        /// Where --format xlsx writes (mode 0600, atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Resend the recovery e-mail to every mailbox in the given states, through
    /// the action queue. Without --yes it only lists what it would do.
    Resend {
        /// Only mailboxes in this state (repeatable: any of them; --help lists the states).
        #[arg(
            long = "state",
            value_name = "STATE",
            value_parser = crate::report::parse_state,
            long_help = crate::report::states_help()
        )]
        states: Vec<crate::domain::Category>,
        /// Only mailboxes whose last link was sent longer ago than this (2d, 12h, 30m).
        #[arg(long, value_name = "AGE", value_parser = crate::headless::parse_age)]
        older_than: Option<chrono::TimeDelta>,
        /// List what would be done and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Really do it.
        #[arg(long)]
        yes: bool,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The action queue.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Serve the provider simulator on 127.0.0.1.
    Sim(SimArgs),
    /// Who is calling: the members matching anything the caller says (name,
    /// mobile in any spelling, e-mail, codice fiscale or part of it, numero
    /// iscrizione, PEC), at most five, with their states and what to do.
    /// Exit code 0 with matches, 1 with none.
    Who {
        /// What the caller said; several words are all matched.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The old provider's side (Aruba), before the passage.
    Aruba {
        #[command(subcommand)]
        command: ArubaCommand,
    },
    /// Read the PEC receipts that arrived since the last run (IMAP or Maildir,
    /// from [pec]), store them on the reminders they answer, and list the
    /// members whose reminder was not delivered.
    Receipts {
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Send a reminder (e-mail or PEC) to every member in the given states,
    /// through the queue, at the channel's pace, exactly once. Without --yes
    /// it only shows what it would send. --in-doubt lists the reminders that
    /// went out with no reply from the server, for the operator to decide.
    Remind {
        /// Only members in this state (repeatable: any of them; --help lists the states).
        #[arg(
            long = "state",
            value_name = "STATE",
            value_parser = crate::report::parse_state,
            long_help = crate::report::states_help()
        )]
        states: Vec<crate::domain::Category>,
        /// migrazione, credenziali, doppio-fattore, link-scaduto,
        /// nessun-contatto, dopo-passaggio, conferma-recupero.
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        /// email (the service address, [mail]) or pec (the PEC address, [pec]).
        #[arg(long, value_name = "email|pec")]
        channel: Option<String>,
        /// Leave out members reminded more recently than this (3d, 12h).
        #[arg(long, value_name = "AGE", value_parser = crate::headless::parse_age)]
        not_reminded_for: Option<chrono::TimeDelta>,
        /// Show what would be sent and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Really send.
        #[arg(long)]
        yes: bool,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// List the reminders in doubt (after settling those a PEC receipt proves).
        #[arg(long, conflicts_with_all = ["template", "channel", "states"])]
        in_doubt: bool,
        /// Send these in-doubt reminders again (ids from --in-doubt).
        #[arg(long, value_name = "ID", num_args = 1.., requires = "in_doubt")]
        send_again: Vec<i64>,
        /// Count these in-doubt reminders as sent (ids from --in-doubt).
        #[arg(long, value_name = "ID", num_args = 1.., requires = "in_doubt")]
        mark_sent: Vec<i64>,
    },
    /// Create the store (or fix a shared one's group and mode): owner-only,
    /// or 0660 for a Unix group of colleagues (--group or `store_group`).
    Init {
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// Erase a member's personal data (codice fiscale or PEC); their events
    /// stay, pseudonymised. Asks for confirmation naming the member.
    Forget {
        #[arg(value_name = "CF|PEC")]
        query: String,
        #[arg(long)]
        yes: bool,
    },
    /// Erase every member who left the albo before DATE.
    Purge {
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        left_before: chrono::NaiveDate,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
    },
    /// Everything stored about one member, for an access request (0600, atomic).
    Access {
        #[arg(value_name = "CF|PEC")]
        query: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = crate::privacy::AccessFormat::Json)]
        format: crate::privacy::AccessFormat,
    },
    /// Consistent copy of the store (online, while others write), checked.
    Backup {
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Replace the store with a backup, keeping the current one beside it.
    Restore {
        #[arg(value_name = "IN")]
        input: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArubaCommand {
    /// Set owners' contact e-mail and mobile at Aruba from the roster, through
    /// the action queue (each owner is read first; only what differs changes).
    /// Without --yes it only lists.
    FixContacts {
        /// Only members in this Aruba list (repeatable). Default:
        /// aruba_no_contact and aruba_contact_differs.
        #[arg(
            long = "state",
            value_name = "STATE",
            value_parser = crate::report::parse_state,
            long_help = crate::report::states_help()
        )]
        states: Vec<crate::domain::Category>,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Finish the bulk jobs an earlier run left unfinished (same idempotency
    /// keys: nothing that reached the provider is repeated). Lists them without --yes.
    Resume {
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the event log as CSV (Italian Excel) for the Ordine's records.
    Export {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only events from this day on (YYYY-MM-DD or DD/MM/YYYY).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        since: Option<chrono::NaiveDate>,
    },
    /// Walk the hash chain: exit 0 when it holds, 1 naming the first event
    /// changed, removed or inserted.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

fn parse_day(text: &str) -> Result<chrono::NaiveDate, String> {
    crate::import::parse_date(text)
        .ok_or_else(|| format!("data non valida: \"{text}\" (AAAA-MM-GG)"))
}

/// `pecdesk sim`: its options.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Roster whose members get mailboxes. Default: the bundled sample.
    #[arg(long, value_name = "FILE")]
    pub roster: Option<PathBuf>,
    /// Seed for the spread of states and of the faults.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A static bearer token also accepted. Default: a random one, printed at start.
    #[arg(long)]
    pub token: Option<String>,
    /// OAuth2 client id accepted at /oauth/token.
    #[arg(long, default_value = sim::DEFAULT_CLIENT_ID, value_name = "ID")]
    pub client_id: String,
    /// OAuth2 client secret accepted at /oauth/token. Default: a random one, printed at start.
    #[arg(long, value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Lifetime of the issued tokens, in seconds of simulated time.
    #[arg(long, default_value_t = sim::DEFAULT_TOKEN_TTL.as_secs(), value_name = "SECS")]
    pub token_ttl: u64,
    /// The passage to the new provider: YYYY-MM-DD (00:00 UTC), an RFC 3339
    /// instant, or days from now (-1: already passed). Default: the config's
    /// cutover, else 30 days from now.
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    pub cutover: Option<String>,
    /// Let members migrate, use their recovery links and change temporary
    /// passwords over time, as in the demo.
    #[arg(long)]
    pub demo: bool,
    /// Delay added to every request, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Share of requests answered with a 5xx (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub fail_rate: f64,
    /// Share of requests answered too late (0 to 1), see --timeout-delay-ms.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub timeout_rate: f64,
    /// How late a "too late" answer is, in milliseconds.
    #[arg(long, default_value_t = sim::DEFAULT_LATE_ANSWER_DELAY.as_millis() as u64, value_name = "MS")]
    pub timeout_delay_ms: u64,
    /// Requests per second before answering 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// Also serve Aruba's partner API on this port of 127.0.0.1 (0 picks one).
    #[arg(long, value_name = "PORT")]
    pub aruba_port: Option<u16>,
    /// The partner username the Aruba simulator accepts.
    #[arg(long, default_value = "pecdesk-partner", value_name = "USER")]
    pub aruba_username: String,
    /// The partner password the Aruba simulator accepts. Default: a random one, printed at start.
    #[arg(long, value_name = "PASSWORD")]
    pub aruba_password: Option<String>,
    /// Lifetime of Aruba's access tokens, in seconds (the spec's: 300).
    #[arg(long, default_value_t = crate::provider::aruba::sim::ACCESS_TTL.as_secs(), value_name = "SECS")]
    pub aruba_token_ttl: u64,
    /// Lifetime of Aruba's refresh tokens, in seconds (the spec's: 43200).
    #[arg(long, default_value_t = crate::provider::aruba::sim::REFRESH_TTL.as_secs(), value_name = "SECS")]
    pub aruba_refresh_ttl: u64,
}

/// Where data files go by default.
fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("it", "pecdesk", "pecdesk")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = config::load(cli.config.as_deref())?;
    if let Some(code) = &cli.lang {
        config.lang = Lang::parse(code)
            .with_context(|| format!("--lang {code}: lingua non supportata (it, en)"))?;
    }
    Ok(config)
}

fn store_path(cli: &Cli, config: &Config) -> anyhow::Result<PathBuf> {
    cli.db
        .clone()
        .or_else(|| config.db.clone())
        .or_else(Store::default_path)
        .context("nessuna cartella dati: indicare --db PATH")
}

/// The provider client the configuration describes (None without a URL).
/// OAuth2 client credentials come first; a static token is the fallback.
fn client_from(
    config: &Config,
    url_override: Option<&str>,
) -> anyhow::Result<Option<ProviderClient>> {
    // An Ordine without an API: no client, so nothing can call out.
    if config.provider_mode == config::ProviderMode::Report {
        return Ok(None);
    }
    let url = url_override
        .map(str::to_string)
        .or(config.provider_url.clone());
    let Some(url) = url else {
        return Ok(None);
    };
    let credentials = match (
        &config.client_id,
        &config.client_secret,
        &config.provider_token,
    ) {
        (Some(client_id), Some(client_secret), _) => Credentials::ClientCredentials {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        },
        (Some(_), None, _) | (None, Some(_), _) => bail!(
            "client_id e client_secret del gestore vanno impostati insieme \
             (file di configurazione o PECDESK_CLIENT_ID e PECDESK_CLIENT_SECRET)"
        ),
        (None, None, Some(token)) => Credentials::StaticToken(token.clone()),
        (None, None, None) => bail!(
            "mancano le credenziali del gestore: impostare client_id e client_secret \
             (PECDESK_CLIENT_ID, PECDESK_CLIENT_SECRET) o provider_token (PECDESK_PROVIDER_TOKEN)"
        ),
    };
    let mut client_config = ClientConfig::with_credentials(url, credentials);
    // One limit for the queue and the client: a bulk job never floods the provider.
    client_config.max_in_flight = config.max_in_flight;
    client_config.max_per_second = config.max_per_second;
    if let Some(secs) = config.request_timeout_secs {
        client_config.request_timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(attempts) = config.max_attempts {
        client_config.max_attempts = attempts;
    }
    let client = ProviderClient::new(client_config)?;
    Ok(Some(client))
}

/// The Aruba client `[aruba]` describes (None when it has no URL).
fn aruba_client_from(config: &Config) -> anyhow::Result<Option<ArubaClient>> {
    let Some(aruba) = &config.aruba else {
        return Ok(None);
    };
    let mut client_config = ArubaConfig::new(
        aruba.url.clone(),
        aruba.username.clone(),
        aruba.password.clone(),
    );
    client_config.max_in_flight = config.max_in_flight;
    client_config.max_per_second = config.max_per_second;
    if let Some(secs) = config.request_timeout_secs {
        client_config.request_timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(attempts) = config.max_attempts {
        client_config.max_attempts = attempts;
    }
    Ok(Some(ArubaClient::new(client_config)?))
}

/// Whether the passage to the new provider has happened (Italian calendar).
fn after_cutover(config: &Config) -> bool {
    config
        .cutover
        .is_some_and(|day| crate::i18n::italian_time(Utc::now()).date() >= day)
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli)?;
    match &cli.command {
        Some(Command::Demo { after_cutover }) => demo(&cli, &config, *after_cutover).await,
        Some(Command::Config { print_default }) => {
            if *print_default {
                print!("{}", config::DEFAULT_FILE);
            } else {
                println!(
                    "file: {}",
                    cli.config
                        .clone()
                        .or_else(config::default_path)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
                println!("{config:#?}");
            }
            Ok(())
        }
        None | Some(Command::Console) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            // Open once here so a bad store is reported before the terminal is taken.
            Store::open(&path)?;
            let client = client_from(&config, None)?;
            let mut services = Services::new(path, client, config.operator.clone());
            services.max_in_flight = config.max_in_flight;
            services.report_mode = config.provider_mode == config::ProviderMode::Report;
            // After the passage Aruba is history: the console no longer calls it.
            if let (Some(aruba), Some(settings)) = (aruba_client_from(&config)?, &config.aruba)
                && !after_cutover(&config)
            {
                services.aruba = Some((aruba, settings.domain.clone()));
            }
            services.receipts = receipts_source(&config)?;
            let config_dir = cli
                .config
                .clone()
                .or_else(config::default_path)
                .and_then(|p| p.parent().map(Path::to_path_buf));
            services.campaigns =
                crate::services::CampaignChannels::from_config(&config, config_dir.as_deref());
            let mut state = State::new(settings(&config, config.ordine.clone()), Utc::now());
            state.report_mode = services.report_mode;
            if services.receipts.is_some() {
                state.outreach.receipts_every = Some(RECEIPTS_EVERY);
            }
            let keymap = Keymap::with_overrides(&config.keys)?;
            crate::tui::run_console(
                state,
                services,
                keymap,
                Some(Duration::from_secs(config.sync_interval_secs)),
            )
            .await
        }
        Some(Command::Import(args)) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            import_command(&path, args, &config.operator)
        }
        Some(Command::Sync { aruba: true, .. }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let client = aruba_client_from(&config)?.context(
                "Aruba non configurato: [aruba] url e username nel file di configurazione, \
                 password in PECDESK_ARUBA_PASSWORD",
            )?;
            let domain = config
                .aruba
                .as_ref()
                .map(|a| a.domain.clone())
                .unwrap_or_default();
            Store::open(&path)?;
            if after_cutover(&config) {
                eprintln!("Passaggio avvenuto: i dati di Aruba restano solo come storico.");
            }
            let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let outcome = crate::aruba::sync(&path, &client, &domain, &config.operator, |p| {
                if on_terminal {
                    show_sync_progress(p);
                }
            })
            .await;
            if on_terminal {
                eprintln!();
            }
            println!(
                "Sincronizzazione con Aruba completata: {}",
                outcome?.describe()
            );
            Ok(())
        }
        Some(Command::Aruba {
            command:
                ArubaCommand::FixContacts {
                    states,
                    dry_run,
                    yes,
                    json,
                },
        }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let client = aruba_client_from(&config)?;
            let options = crate::headless::ArubaFixOptions {
                states: states.clone(),
                dry_run: *dry_run,
                yes: *yes,
                json: *json,
                pec_domain: config.pec_domain.clone(),
                max_in_flight: config.max_in_flight,
                after_cutover: after_cutover(&config),
            };
            crate::headless::aruba_fix_contacts(&path, client.as_ref(), &config.operator, &options)
                .await
        }
        Some(Command::Sync {
            report: Some(file),
            partial,
            as_of,
            dry_run,
            rejects,
            sheet,
            ..
        }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let args = crate::headless::ReportSyncArgs {
                file: file.clone(),
                partial: *partial,
                as_of: as_of.clone(),
                dry_run: *dry_run,
                rejects: rejects.clone(),
                domain: Some(config.pec_domain.clone()),
                sheet: sheet.clone(),
            };
            // A report is a sync: never at the same time as another one.
            let _lock = crate::lock::lock(&path, "sync")?;
            crate::headless::sync_report(&path, &args, &config.operator).map(|_| ())
        }
        Some(Command::Sync { .. }) if config.provider_mode == config::ProviderMode::Report => {
            bail!("{}", crate::i18n::T::ReportModeSyncHint.get(config.lang))
        }
        Some(Command::Sync { provider, full, .. }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let client = client_from(&config, provider.as_deref())?.context(
                "nessun gestore configurato: indicare --provider URL o PECDESK_PROVIDER_URL",
            )?;
            Store::open(&path)?;
            // Two syncs of one store never overlap (cron and a person, or two cron lines).
            let _lock = crate::lock::lock(&path, "sync")?;
            let mode = if *full {
                crate::sync::SyncMode::Full
            } else {
                crate::sync::SyncMode::Auto
            };
            let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let outcome = crate::sync::run_with(&path, &client, &config.operator, mode, |p| {
                if on_terminal {
                    show_sync_progress(p);
                }
            })
            .await;
            if on_terminal {
                eprintln!();
            }
            println!("Sincronizzazione completata: {}", outcome?.describe());
            Ok(())
        }
        Some(Command::Sim(args)) => sim_command(&cli, &config, args).await,
        Some(Command::Who { query, json }) => who_command(&cli, &config, &query.join(" "), *json),
        Some(Command::Export {
            out,
            states,
            format: crate::export::ExportFormat::IniPec,
            all,
            dry_run,
        }) => {
            if !states.is_empty() {
                bail!(
                    "--state non si usa con --format inipec: il file riporta le variazioni dell'albo dall'ultimo invio"
                );
            }
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::headless::export_inipec(&path, out, *all, *dry_run, &config.operator).map(drop)
        }
        Some(Command::Export { all: true, .. } | Command::Export { dry_run: true, .. }) => {
            bail!("--all e --dry-run valgono solo con --format inipec")
        }
        Some(Command::Export {
            out,
            states,
            format,
            ..
        }) => export_command(&cli, &config, out, states, *format),
        Some(Command::Report {
            format: Some(ReportFormat::Xlsx),
            out: Some(out),
            ..
        }) => report_workbook_command(&cli, &config, out),
        Some(Command::Report { json, .. }) => report_command(&cli, &config, *json),
        Some(Command::Resend {
            states,
            older_than,
            dry_run,
            yes,
            json,
        }) => {
            if config.provider_mode == config::ProviderMode::Report {
                bail!("{}", crate::i18n::T::NeedsProviderApi.get(config.lang));
            }
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let client = client_from(&config, None)?;
            let options = crate::headless::ResendOptions {
                states: states.clone(),
                older_than: *older_than,
                dry_run: *dry_run,
                yes: *yes,
                json: *json,
                pec_domain: config.pec_domain.clone(),
                max_in_flight: config.max_in_flight,
            };
            crate::headless::resend(&path, client.as_ref(), &config.operator, &options).await
        }
        Some(Command::Queue {
            command: QueueCommand::Resume { yes, json },
        }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            // Jobs for the provider cannot run without its API: say so
            // rather than fail on a missing URL.
            if config.provider_mode == config::ProviderMode::Report
                && Store::open(&path)?
                    .unfinished_jobs()?
                    .iter()
                    .any(|job| crate::app::needs_provider_api(job.kind))
            {
                bail!("{}", crate::i18n::T::NeedsProviderApi.get(config.lang));
            }
            let client = client_from(&config, None)?;
            let aruba = aruba_client_from(&config)?;
            crate::headless::queue_resume(
                &path,
                client.as_ref(),
                aruba.as_ref(),
                &config.operator,
                *yes,
                *json,
                config.max_in_flight,
                Some(&config),
            )
            .await
        }
        Some(Command::Remind {
            states,
            template,
            channel,
            not_reminded_for,
            dry_run,
            yes,
            json,
            in_doubt,
            send_again,
            mark_sent,
        }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let config_dir = cli
                .config
                .clone()
                .or_else(config::default_path)
                .and_then(|p| p.parent().map(Path::to_path_buf));
            let options = crate::headless::RemindOptions {
                states: states.clone(),
                template: template.clone(),
                channel: channel.clone(),
                not_reminded_for: *not_reminded_for,
                dry_run: *dry_run,
                yes: *yes,
                json: *json,
                in_doubt: *in_doubt,
                send_again: send_again.clone(),
                mark_sent: mark_sent.clone(),
                pec_domain: config.pec_domain.clone(),
            };
            crate::headless::remind(
                &path,
                &config,
                config_dir.as_deref(),
                &config.operator,
                &options,
            )
            .await
        }
        Some(Command::Audit {
            command: AuditCommand::Export { out, since },
        }) => {
            let path = store_path(&cli, &config)?;
            let since = since.map(|day| day.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
            let count = crate::headless::audit_export(&path, out, since)?;
            println!("{count} eventi scritti in {}", out.display());
            Ok(())
        }
        Some(Command::Receipts { json }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let source = config
                .pec_receipts
                .resolve(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))?;
            Store::open(&path)?;
            crate::headless::receipts(&path, &source, *json).await
        }
        Some(Command::Audit {
            command: AuditCommand::Verify { json },
        }) => {
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::privacy::verify(&path, *json).map(drop)
        }
        Some(Command::Init { group }) => {
            let path = store_path(&cli, &config)?;
            crate::privacy::init(&path, group.as_deref().or(config.store_group.as_deref()))
        }
        Some(Command::Forget { query, yes }) => {
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::privacy::forget(&path, query, *yes, &config.operator)
        }
        Some(Command::Purge {
            left_before,
            dry_run,
            yes,
        }) => {
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::privacy::purge(&path, *left_before, *dry_run, *yes, &config.operator)
        }
        Some(Command::Access { query, out, format }) => {
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::privacy::access(&path, query, out, *format)
        }
        Some(Command::Backup { out }) => {
            let path = existing_store(&cli, &config)?.path().to_path_buf();
            crate::privacy::backup(&path, out)
        }
        Some(Command::Restore { input }) => {
            let path = store_path(&cli, &config)?;
            crate::privacy::restore(&path, input)
        }
    }
}

/// One line on stderr, rewritten in place, while a sync runs.
fn show_sync_progress(progress: crate::sync::SyncProgress) {
    use std::io::Write;
    match progress.total {
        Some(total) => eprint!(
            "\rCaselle ricevute dal gestore: {}/{total}   ",
            progress.fetched
        ),
        None => eprint!("\rCollegamento al gestore…"),
    }
    let _ = std::io::stderr().flush();
}

/// When the simulated cutover is: days from now, an RFC 3339 instant or a date.
fn parse_cutover(text: &str, now: chrono::DateTime<Utc>) -> anyhow::Result<chrono::DateTime<Utc>> {
    let text = text.trim();
    if let Ok(days) = text.parse::<i64>() {
        return chrono::TimeDelta::try_days(days)
            .and_then(|d| now.checked_add_signed(d))
            .with_context(|| format!("--cutover {text}: troppi giorni"));
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    ["%Y-%m-%d", "%d/%m/%Y"]
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(text, f).ok())
        .map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc())
        .with_context(|| {
            format!("--cutover {text}: attesa una data AAAA-MM-GG, un istante RFC 3339 o un numero di giorni")
        })
}

/// `pecdesk sim`: serves the simulator until Ctrl-C.
async fn sim_command(cli: &Cli, config: &Config, args: &SimArgs) -> anyhow::Result<()> {
    init_logging(&data_dir().join("pecdesk-sim.log"), &cli.log_level);
    let members = match &args.roster {
        Some(file) => import::read_file(file)?.members,
        None => import::parse_csv(SAMPLE_ROSTER, SAMPLE_ROSTER_NAME)?.members,
    };
    let now = Utc::now();
    let mut sim_config = SimConfig::new(args.token.clone().unwrap_or_else(sim::random_token));
    sim_config.seed = args.seed;
    sim_config.demo = args.demo;
    sim_config.pec_domain = config.pec_domain.clone();
    sim_config.client_id = args.client_id.clone();
    if let Some(secret) = &args.client_secret {
        sim_config.client_secret = secret.clone();
    }
    sim_config.token_ttl = Duration::from_secs(args.token_ttl);
    sim_config.cutover_at = match (&args.cutover, config.cutover) {
        (Some(text), _) => parse_cutover(text, now)?,
        (None, Some(day)) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
        (None, None) => now + sim::DEFAULT_CUTOVER_IN,
    };
    sim_config.faults = sim::Faults {
        latency: Duration::from_millis(args.latency_ms),
        fail_rate: args.fail_rate,
        timeout_rate: args.timeout_rate,
        late_answer_delay: Duration::from_millis(args.timeout_delay_ms),
        rate_limit: args.rate_limit,
    };
    let shown = sim_config.clone();
    let handle = sim::start(
        &members,
        sim_config,
        SocketAddr::from(([127, 0, 0, 1], args.port)),
    )
    .await?;
    println!("Simulatore del gestore in ascolto su {}", handle.base_url());
    // The simulator's own throwaway secrets are printed so staff can connect;
    // the ones given on the command line are not repeated.
    println!("client_id: {}", shown.client_id);
    if args.client_secret.is_none() {
        println!("client_secret: {}", shown.client_secret);
    }
    if args.token.is_none() {
        println!("Token statico: {}", shown.token);
    }
    println!(
        "Durata dei token: {} s. Passaggio al nuovo gestore: {}",
        args.token_ttl,
        crate::i18n::format_datetime(shown.cutover_at)
    );
    let faults = &shown.faults;
    if *faults != sim::Faults::default() {
        println!(
            "Guasti simulati: latenza {} ms, errori 5xx {:.0}%, risposte in ritardo {:.0}% (dopo {} ms), limite {}",
            faults.latency.as_millis(),
            faults.fail_rate * 100.0,
            faults.timeout_rate * 100.0,
            faults.late_answer_delay.as_millis(),
            faults
                .rate_limit
                .map_or("nessuno".to_string(), |n| format!("{n} richieste/s"))
        );
    }
    let aruba = match args.aruba_port {
        Some(port) => {
            let mut aruba_config = ArubaSimConfig::new(
                args.aruba_username.clone(),
                args.aruba_password
                    .clone()
                    .unwrap_or_else(sim::random_token),
            );
            aruba_config.seed = args.seed;
            aruba_config.pec_domain = config.pec_domain.clone();
            aruba_config.access_ttl = Duration::from_secs(args.aruba_token_ttl);
            aruba_config.refresh_ttl = Duration::from_secs(args.aruba_refresh_ttl);
            aruba_config.faults = shown.faults.clone();
            let password = aruba_config.password.clone();
            let handle = aruba_sim::start(
                &members,
                aruba_config,
                SocketAddr::from(([127, 0, 0, 1], port)),
            )
            .await?;
            println!("Simulatore di Aruba in ascolto su {}", handle.base_url());
            println!("Utente partner Aruba: {}", args.aruba_username);
            if args.aruba_password.is_none() {
                println!("Password partner Aruba: {password}");
            }
            Some(handle)
        }
        None => None,
    };
    println!("Ctrl-C per fermarlo.");
    tokio::signal::ctrl_c().await?;
    if let Some(aruba) = aruba {
        aruba.shutdown().await;
    }
    handle.shutdown().await;
    Ok(())
}

fn settings(config: &Config, ordine: String) -> Settings {
    Settings {
        lang: config.lang,
        pec_domain: config.pec_domain.clone(),
        ordine,
        cutover: config.cutover,
    }
}

fn init_logging(file: &Path, level: &str) {
    if let Err(e) = crate::logging::init(file, level) {
        eprintln!(
            "attenzione: impossibile scrivere il log {}: {e}",
            file.display()
        );
    }
}

/// `pecdesk import`: its options.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The roster file: CSV (header row; `;`, `,` or tab; UTF-8 or Windows-1252),
    /// INI-PEC layout, or SQLite database.
    pub file: PathBuf,
    /// Show what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Only add and update: members missing from the file are not marked removed.
    #[arg(long)]
    pub partial: bool,
    /// Write the rejected rows, as they were plus the reason, to this CSV file.
    #[arg(long, value_name = "OUT.csv")]
    pub rejects: Option<PathBuf>,
    /// How to read a text file.
    #[arg(long, default_value = "auto", value_name = "auto|csv|inipec")]
    pub format: import::Format,
    /// The table to read from a SQLite database (needed when it has several).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The sheet to read from a workbook (.xlsx, .xls, .ods); default the first.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

/// Rejects listed on the terminal; `--rejects` writes them all.
const REJECTS_SHOWN: usize = 50;

/// Reads, checks and imports (or with `--dry-run` previews) a roster file.
/// Fails, so exits non-zero, only when nothing could be imported.
fn import_command(store_path: &Path, args: &ImportArgs, operator: &str) -> anyhow::Result<()> {
    let options = import::ImportOptions {
        format: args.format,
        table: args.table.clone(),
        partial: args.partial,
        sheet: args.sheet.clone(),
        // Written as the rejects are found.
        rejects_file: args.rejects.clone(),
    };
    // Once the file is read: the rejects on stderr when nothing can be imported.
    let after_read = |parsed: &import::ParsedRoster| {
        if parsed.ensure_importable().is_err() {
            for reject in parsed.rejects.iter().take(REJECTS_SHOWN) {
                eprintln!("{}, {reject}", parsed.source);
            }
        }
        Ok(())
    };
    let summary = if args.dry_run {
        // Read as a stream and planned against the store as digests, as an
        // import is; a store that does not exist yet is not created.
        import::dry_run_path(store_path, &args.file, &options, after_read)?
    } else {
        // Two imports of one store never overlap; a dry run writes nothing.
        let _lock = crate::lock::lock(store_path, "import")?;
        // Rows are stored while the file is still being read.
        let (file, at) = (&args.file, Utc::now());
        import::import_path(store_path, file, &options, operator, at, |_| {}, after_read)?
    };
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.render(REJECTS_SHOWN));
        if let Some(out) = &args.rejects {
            println!("  righe scartate scritte in {}", out.display());
        }
    }
    Ok(())
}

/// The demo: a temporary store seeded from the bundled roster, the simulator on a
/// free loopback port, and the console. Everything is removed on exit.
async fn demo(cli: &Cli, config: &Config, after_cutover: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("pecdesk-demo-").tempdir()?;
    init_logging(&dir.path().join("pecdesk.log"), &cli.log_level);
    let store_path = dir.path().join("demo.db");
    let parsed = import::parse_csv(SAMPLE_ROSTER, SAMPLE_ROSTER_NAME)?;
    let members = parsed.members.clone();
    {
        let mut store = Store::open(&store_path)?;
        import::store_roster(&mut store, parsed, &config.operator, Utc::now())?;
    }
    let mut sim_config = SimConfig::new(sim::random_token());
    sim_config.demo = true;
    sim_config.pec_domain = config.pec_domain.clone();
    // The dashboard and the simulator agree on the cutover: three weeks ahead
    // (migrations under way, no password changes) or a week past.
    let cutover = config.cutover.unwrap_or_else(|| {
        let today = crate::i18n::italian_time(Utc::now()).date();
        if after_cutover {
            today - chrono::TimeDelta::days(7)
        } else {
            today + chrono::TimeDelta::days(21)
        }
    });
    sim_config.cutover_at = cutover.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let token = sim_config.token.clone();
    let handle = sim::start(&members, sim_config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let client = ProviderClient::new(ClientConfig::new(handle.base_url(), token))?;
    // The old provider's side too: Aruba's simulator on another loopback port.
    let aruba_password = sim::random_token();
    let mut aruba_config = ArubaSimConfig::new("pecdesk-demo", aruba_password.clone());
    aruba_config.pec_domain = config.pec_domain.clone();
    let aruba_handle = aruba_sim::start(
        &members,
        aruba_config,
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await?;
    let mut aruba_client_config =
        ArubaConfig::new(aruba_handle.base_url(), "pecdesk-demo", aruba_password);
    // The simulator is on this computer: no need to pace the demo's requests.
    aruba_client_config.max_per_second = 0;
    aruba_client_config.max_in_flight = 8;
    let aruba = ArubaClient::new(aruba_client_config)?;
    let mut services = Services::new(store_path.clone(), Some(client), config.operator.clone());
    services.max_in_flight = config.max_in_flight;
    if after_cutover {
        // History only: one sync in the background, shown at the next reload.
        let (domain, operator) = (config.pec_domain.clone(), config.operator.clone());
        tokio::spawn(async move {
            if let Err(error) =
                crate::aruba::sync(&store_path, &aruba, &domain, &operator, |_| {}).await
            {
                tracing::warn!(%error, "sincronizzazione Aruba della demo non riuscita");
            }
        });
    } else {
        // The console's syncs (the first at start) cover Aruba too.
        services.aruba = Some((aruba, config.pec_domain.clone()));
    }
    // Mail with no network: a local outbox, PEC receipts into a local Maildir.
    let demo_mail = crate::mail::demo::start(dir.path())?;
    services.campaigns =
        crate::services::CampaignChannels::demo(&demo_mail.outbox, &config.ordine, Some(cutover));
    services.receipts = Some(crate::mail::receipts::ReceiptSource::Maildir(
        demo_mail.maildir.clone(),
    ));
    let ordine = format!("{} (demo)", config.ordine);
    let mut settings = settings(config, ordine);
    settings.cutover = Some(cutover);
    let mut state = State::new(settings, Utc::now());
    state.outreach.receipts_every = Some(Duration::from_secs(3));
    let keymap = Keymap::with_overrides(&config.keys)?;
    let result =
        crate::tui::run_console(state, services, keymap, Some(Duration::from_secs(5))).await;
    aruba_handle.shutdown().await;
    handle.shutdown().await;
    drop(dir);
    result
}

/// How often the console reads the PEC receipts in the background.
const RECEIPTS_EVERY: Duration = Duration::from_secs(60);

/// Where the console reads PEC receipts from: none when `[pec]` names no
/// IMAP inbox or Maildir; a setting that cannot be used is an error before
/// the terminal is taken.
fn receipts_source(
    config: &Config,
) -> anyhow::Result<Option<crate::mail::receipts::ReceiptSource>> {
    match config
        .pec_receipts
        .resolve(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    {
        Ok(source) => Ok(Some(source)),
        Err(crate::mail::receipts::SettingsError::NotConfigured) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The store for a read-only command: it must exist already.
fn existing_store(cli: &Cli, config: &Config) -> anyhow::Result<Store> {
    let path = store_path(cli, config)?;
    if !path.exists() {
        bail!(
            "l'archivio {} non esiste: importare prima l'albo (pecdesk import FILE) o indicare --db PATH",
            path.display()
        );
    }
    Ok(Store::open(&path)?)
}

/// `pecdesk export`.
fn export_command(
    cli: &Cli,
    config: &Config,
    out: &Path,
    states: &[crate::domain::Category],
    format: crate::export::ExportFormat,
) -> anyhow::Result<()> {
    let store = existing_store(cli, config)?;
    let options = crate::export::ExportOptions {
        format,
        states: states.to_vec(),
        pec_domain: config.pec_domain.clone(),
        now: Utc::now(),
    };
    let written = crate::export::export_store(&store, out, &options)?;
    println!(
        "Esportate {written} voci in {} (formato {})",
        out.display(),
        format.name()
    );
    Ok(())
}

/// The formats `pecdesk report --format` writes to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Xlsx,
}

/// `pecdesk report --format xlsx --out FILE`.
fn report_workbook_command(cli: &Cli, config: &Config, out: &Path) -> anyhow::Result<()> {
    let store = existing_store(cli, config)?;
    let settings = settings(config, config.ordine.clone());
    crate::export::xlsx::write_report(&store, &settings, out, Utc::now())?;
    println!("Riepilogo scritto in {}", out.display());
    Ok(())
}

/// `pecdesk report`.
fn report_command(cli: &Cli, config: &Config, json: bool) -> anyhow::Result<()> {
    let store = existing_store(cli, config)?;
    let settings = settings(config, config.ordine.clone());
    let report = crate::report::Report::from_store(&store, &settings, Utc::now())?;
    let head = store.chain_head()?;
    if json {
        // The report's object with the chain's head added as "chain".
        let mut value: serde_json::Value = serde_json::from_str(&report.to_json())?;
        if let Some(object) = value.as_object_mut() {
            object.insert("chain".into(), serde_json::to_value(&head)?);
        }
        println!("{value}");
    } else {
        print!("{}", report.to_text(config.lang));
        println!("{head}");
    }
    Ok(())
}

/// `pecdesk who`.
fn who_command(cli: &Cli, config: &Config, query: &str, json: bool) -> anyhow::Result<()> {
    let store = existing_store(cli, config)?;
    let options = crate::who::WhoOptions {
        pec_domain: config.pec_domain.clone(),
        cutover: config.cutover,
        lang: config.lang,
        now: Utc::now(),
    };
    let report = crate::who::who_in_store(&store, query, &options)?;
    if json {
        println!("{}", report.to_json());
    } else {
        let keymap = Keymap::with_overrides(&config.keys)?;
        let key_of = |action| keymap.key_for(crate::tui::phone::command_of(action));
        print!("{}", report.to_text(config.lang, &key_of));
    }
    Ok(())
}

#[cfg(test)]
mod report_mode_tests {
    use super::*;

    /// With `provider = "report"` no provider client exists, whatever URL
    /// and credentials are set: nothing can call out.
    #[test]
    fn no_provider_client_is_built_in_report_mode() {
        let config = |extra: &str| {
            config::ConfigFile::parse(
                &format!("{extra}provider_url = \"http://127.0.0.1:9\"\nprovider_token = \"t\"\n"),
                std::path::Path::new("c.toml"),
            )
            .unwrap()
            .resolve(|_| None)
            .unwrap()
        };
        assert!(client_from(&config(""), None).unwrap().is_some());
        let report = config("provider = \"report\"\n");
        assert!(client_from(&report, None).unwrap().is_none());
        assert!(
            client_from(&report, Some("http://127.0.0.1:9"))
                .unwrap()
                .is_none()
        );
    }
}
