//! The terminal side: setup and restore, the event loop, and drawing.
//! The loop never waits on I/O: effects run as tokio tasks that report back
//! through a channel as actions.

mod actions_view;
mod audit;
mod dashboard;
mod detail;
mod inipec_view;
pub mod keymap;
pub(crate) mod labels;
mod members;
pub mod phone;
pub mod popup;
mod report_view;
pub mod theme;
pub mod view;

use std::io::{self, Stdout};
use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use tokio::sync::mpsc;

use crate::app::{self, Action, Command, Effect, State};
use crate::services::Services;
pub use keymap::Keymap;
pub use theme::Theme;

/// How the console looks and which keys it answers to.
#[derive(Debug, Clone)]
pub struct Ui {
    pub theme: Theme,
    pub keymap: Keymap,
}

/// Puts the terminal back as it was: cooked mode, main screen, cursor shown.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal before a panic message is printed, so it is readable
/// and the shell is usable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

/// Takes over the terminal: raw mode, alternate screen, mouse.
pub fn setup_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    install_panic_hook();
    enable_raw_mode()?;
    if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture) {
        restore_terminal();
        return Err(e);
    }
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// How often the clock in the state moves (link expiry, "last sync" ages).
const TICK: Duration = Duration::from_secs(1);

/// Runs the console on a real terminal until the user quits.
pub async fn run_console(
    state: State,
    mut services: Services,
    keymap: Keymap,
    sync_interval: Option<Duration>,
) -> anyhow::Result<()> {
    let ui = Ui {
        theme: Theme::from_env(),
        keymap,
    };
    // A real terminal: the password can be copied with OSC 52.
    services.terminal_clipboard = true;
    let mut terminal = setup_terminal()?;
    let result = run_loop(
        &mut terminal,
        state,
        &services,
        EventStream::new(),
        &ui,
        sync_interval,
    )
    .await;
    restore_terminal();
    result.map(drop)
}

/// The event loop, generic over the backend so tests can drive it on a
/// `TestBackend` with a scripted event stream. Returns the final state.
pub async fn run_loop<B, E>(
    terminal: &mut Terminal<B>,
    mut state: State,
    services: &Services,
    mut events: E,
    ui: &Ui,
    sync_interval: Option<Duration>,
) -> anyhow::Result<State>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let mut tick = tokio::time::interval(TICK);
    let mut sync_timer = tokio::time::interval(sync_interval.unwrap_or(Duration::from_secs(3600)));
    sync_timer.tick().await;
    let mut terminate = terminate_signal();
    services.perform(Effect::Load, &tx);
    services.perform(Effect::CheckUnfinished, &tx);
    if services.can_sync() {
        for effect in app::update(&mut state, Action::Command(Command::Sync)) {
            services.perform(effect, &tx);
        }
    }
    loop {
        terminal.draw(|frame| view::draw(frame, &state, ui))?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => {
                    let size = terminal.size()?;
                    keymap::action_for(&event, &state, &ui.keymap, ratatui::layout::Rect::new(0, 0, size.width, size.height))
                }
                Some(Err(e)) => return Err(e.into()),
                None => Some(Action::Command(Command::Quit)),
            },
            Some(action) = rx.recv() => Some(action),
            _ = tick.tick() => Some(Action::Tick(chrono::Utc::now())),
            _ = sync_timer.tick(), if sync_interval.is_some() && services.can_sync() => Some(Action::Command(Command::Sync)),
            _ = &mut terminate => Some(Action::Command(Command::Quit)),
        };
        if let Some(action) = action {
            for effect in app::update(&mut state, action) {
                services.perform(effect, &tx);
            }
        }
        if state.quit {
            return Ok(state);
        }
    }
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP on a dropped SSH
/// session), so the terminal is restored on the way out.
fn terminate_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut hup)) => Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = hup.recv() => {},
                }
            }),
            _ => Box::pin(std::future::pending()),
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(std::future::pending())
    }
}
#[cfg(test)]
mod tests;
