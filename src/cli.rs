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
use crate::provider::sim::{self, SimConfig};
use crate::provider::{ClientConfig, ProviderClient};
use crate::services::Services;
use crate::store::Store;
use crate::tui::Keymap;

/// The sample roster bundled for the demo (synthetic people, valid codici fiscali).
pub const SAMPLE_ROSTER: &[u8] = include_bytes!("../assets/sample-roster.csv");
pub const SAMPLE_ROSTER_NAME: &str = "sample-roster.csv";

#[derive(Debug, Parser)]
#[command(
    name = "pecdesk",
    version,
    about = "Console per la migrazione delle caselle PEC dell'Ordine (Aruba → InfoCert)"
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
    /// Log level for the log file (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The full console on a bundled sample roster and a loopback provider simulator.
    Demo,
    /// The console on the configured store and provider (the default).
    Console,
    /// Import a roster CSV into the store.
    Import {
        /// The roster file (CSV with a header row).
        file: PathBuf,
    },
    /// Fetch every mailbox's state from the provider and store it.
    Sync {
        /// Provider base URL (overrides config and PECDESK_PROVIDER_URL).
        #[arg(long, value_name = "URL")]
        provider: Option<String>,
    },
    /// Show the configuration.
    Config {
        /// Print a commented default configuration file.
        #[arg(long)]
        print_default: bool,
    },
    /// Serve the provider simulator on 127.0.0.1.
    Sim {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// Roster whose members get mailboxes. Default: the bundled sample.
        #[arg(long, value_name = "FILE")]
        roster: Option<PathBuf>,
        /// Seed for the spread of states.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Bearer token to accept. Default: a random one, printed at start.
        #[arg(long)]
        token: Option<String>,
        /// Let members migrate over time, as in the demo.
        #[arg(long)]
        demo: bool,
    },
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

fn client_from(
    config: &Config,
    url_override: Option<&str>,
) -> anyhow::Result<Option<ProviderClient>> {
    let url = url_override
        .map(str::to_string)
        .or(config.provider_url.clone());
    match (url, &config.provider_token) {
        (Some(url), Some(token)) => Ok(Some(ProviderClient::new(ClientConfig::new(
            url,
            token.clone(),
        ))?)),
        (Some(_), None) => bail!(
            "manca il token del gestore: impostare provider_token nel file di configurazione o PECDESK_PROVIDER_TOKEN"
        ),
        (None, _) => Ok(None),
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli)?;
    match &cli.command {
        Some(Command::Demo) => demo(&cli, &config).await,
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
            let services = Services {
                store_path: path,
                client,
                operator: config.operator.clone(),
            };
            let state = State::new(settings(&config, config.ordine.clone()), Utc::now());
            let keymap = Keymap::with_overrides(&config.keys)?;
            crate::tui::run_console(
                state,
                services,
                keymap,
                Some(Duration::from_secs(config.sync_interval_secs)),
            )
            .await
        }
        Some(Command::Import { file }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            import_command(&path, file, &config.operator)
        }
        Some(Command::Sync { provider }) => {
            let path = store_path(&cli, &config)?;
            init_logging(&data_dir().join("pecdesk.log"), &cli.log_level);
            let client = client_from(&config, provider.as_deref())?.context(
                "nessun gestore configurato: indicare --provider URL o PECDESK_PROVIDER_URL",
            )?;
            Store::open(&path)?;
            let outcome = crate::sync::run(&path, &client, &config.operator).await?;
            println!("Sincronizzazione completata: {}", outcome.describe());
            Ok(())
        }
        Some(Command::Sim {
            port,
            roster,
            seed,
            token,
            demo,
        }) => {
            init_logging(&data_dir().join("pecdesk-sim.log"), &cli.log_level);
            let members = match roster {
                Some(file) => import::read_file(file)?.members,
                None => import::parse_csv(SAMPLE_ROSTER, SAMPLE_ROSTER_NAME)?.members,
            };
            let token_given = token.is_some();
            let mut sim_config = SimConfig::new(token.clone().unwrap_or_else(sim::random_token));
            sim_config.seed = *seed;
            sim_config.demo = *demo;
            sim_config.pec_domain = config.pec_domain.clone();
            let token = sim_config.token.clone();
            let handle = sim::start(
                &members,
                sim_config,
                SocketAddr::from(([127, 0, 0, 1], *port)),
            )
            .await?;
            println!("Simulatore del gestore in ascolto su {}", handle.base_url());
            if !token_given {
                // The simulator's own throwaway token, printed so staff can connect.
                println!("Token: {token}");
            }
            println!("Ctrl-C per fermarlo.");
            tokio::signal::ctrl_c().await?;
            handle.shutdown().await;
            Ok(())
        }
    }
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

fn import_command(store_path: &Path, file: &Path, operator: &str) -> anyhow::Result<()> {
    let parsed = import::read_file(file)?;
    let mut store = Store::open(store_path)?;
    let summary = import::store_roster(&mut store, parsed, operator, Utc::now())?;
    println!("Importazione di {}", summary.source);
    println!("  righe lette:  {}", summary.rows_read);
    println!(
        "  importate:    {} (nuove {}, aggiornate {}, invariate {})",
        summary.stored.new + summary.stored.updated + summary.stored.unchanged,
        summary.stored.new,
        summary.stored.updated,
        summary.stored.unchanged
    );
    println!("  scartate:     {}", summary.rejects.len());
    for reject in &summary.rejects {
        println!("    {}: {reject}", summary.source);
    }
    if !summary.unknown_columns.is_empty() {
        println!("  colonne ignorate: {}", summary.unknown_columns.join(", "));
    }
    Ok(())
}

/// The demo: a temporary store seeded from the bundled roster, the simulator on a
/// free loopback port, and the console. Everything is removed on exit.
async fn demo(cli: &Cli, config: &Config) -> anyhow::Result<()> {
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
    let token = sim_config.token.clone();
    let handle = sim::start(&members, sim_config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let client = ProviderClient::new(ClientConfig::new(handle.base_url(), token))?;
    let services = Services {
        store_path,
        client: Some(client),
        operator: config.operator.clone(),
    };
    let ordine = format!("{} (demo)", config.ordine);
    let state = State::new(settings(config, ordine), Utc::now());
    let keymap = Keymap::with_overrides(&config.keys)?;
    let result =
        crate::tui::run_console(state, services, keymap, Some(Duration::from_secs(5))).await;
    handle.shutdown().await;
    drop(dir);
    result
}
