//! Keys as data: which key runs which command on which screen, with the
//! defaults staff know from k9s and lazygit, overridable from the config file.
//! Typing in the search, the palette and modals is handled apart.

use std::collections::BTreeMap;

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use super::{members, view};
use crate::app::import_flow::ImportStep;
use crate::app::{Action, CHASE, CHASE_ARUBA, Command, Modal, Screen, State};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Dashboard,
    /// The member table and the detail (both show a selected member).
    Member,
}

impl Scope {
    fn covers(self, screen: Screen) -> bool {
        match self {
            Scope::Global => true,
            Scope::Dashboard => screen == Screen::Dashboard,
            Scope::Member => matches!(screen, Screen::Members | Screen::Detail),
        }
    }
}

/// One key with its modifiers, as written in the config (`ctrl-r`, `G`, `pgdn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn parse(text: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        let n: u8 = rest.strip_prefix(['f', 'F'])?.parse().ok()?;
                        KeyCode::F(n)
                    }
                }
            }
        };
        Some(Key { code, ctrl, alt })
    }

    fn from_event(key: &KeyEvent) -> Key {
        Key {
            code: key.code,
            ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
            alt: key.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// How the help shows the key.
    pub fn label(self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Invio".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "Shift-Tab".to_string(),
            KeyCode::Char(' ') => "Spazio".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("Ctrl-{base}"),
            (_, true) => format!("Alt-{base}"),
            _ => base,
        }
    }
}

/// A key override in the config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("file di configurazione, {0}")]
pub struct KeymapError(String);

#[derive(Debug, Clone)]
pub struct Binding {
    pub key: Key,
    pub scope: Scope,
    pub command: Command,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

fn scope_of(command: Command) -> Scope {
    match command {
        Command::Chase(_) => Scope::Dashboard,
        Command::Resend
        | Command::SortNext
        | Command::SortReverse
        | Command::Mark
        | Command::MarkAll
        | Command::SetRecovery
        | Command::ResetPassword
        | Command::CallScript => Scope::Member,
        _ => Scope::Global,
    }
}

/// The keys of the Aruba lists on the dashboard, after the digits 1-7.
pub const ARUBA_CHASE_KEYS: [&str; 4] = ["8", "9", "0", "-"];

const DEFAULTS: &[(&str, Command)] = &[
    ("q", Command::Quit),
    ("ctrl-c", Command::Quit),
    ("esc", Command::Back),
    ("?", Command::Help),
    ("tab", Command::NextScreen),
    ("backtab", Command::NextScreen),
    ("up", Command::Up),
    ("k", Command::Up),
    ("down", Command::Down),
    ("j", Command::Down),
    ("pgup", Command::PageUp),
    ("ctrl-b", Command::PageUp),
    ("pgdn", Command::PageDown),
    ("ctrl-f", Command::PageDown),
    ("g", Command::Top),
    ("home", Command::Top),
    ("G", Command::Bottom),
    ("end", Command::Bottom),
    ("/", Command::Search),
    (":", Command::Palette),
    ("enter", Command::Open),
    ("l", Command::Open),
    ("right", Command::Open),
    ("r", Command::Resend),
    ("s", Command::Sync),
    ("o", Command::SortNext),
    ("O", Command::SortReverse),
    ("f", Command::Filter),
    ("F", Command::ClearFilter),
    ("space", Command::Mark),
    ("a", Command::MarkAll),
    ("c", Command::SetRecovery),
    ("p", Command::ResetPassword),
    ("J", Command::Jobs),
    ("A", Command::Audit),
    ("I", Command::Import),
    ("d", Command::CallScript),
];

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings: Vec<Binding> = DEFAULTS
            .iter()
            .map(|&(key, command)| Binding {
                key: Key::parse(key).expect("default keys parse"),
                scope: scope_of(command),
                command,
            })
            .collect();
        bindings.extend(CHASE.iter().enumerate().map(|(i, &category)| Binding {
            key: Key {
                code: KeyCode::Char(char::from(b'1' + i as u8)),
                ctrl: false,
                alt: false,
            },
            scope: Scope::Dashboard,
            command: Command::Chase(category),
        }));
        bindings.extend(
            CHASE_ARUBA
                .iter()
                .zip(ARUBA_CHASE_KEYS)
                .map(|(&category, key)| Binding {
                    key: Key::parse(key).expect("default keys parse"),
                    scope: Scope::Dashboard,
                    command: Command::Chase(category),
                }),
        );
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with `overrides` (command name → keys) replacing the keys
    /// of the commands they name.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, KeymapError> {
        let mut keymap = Self::default();
        for (name, keys) in overrides {
            let command = Command::from_name(name)
                .ok_or_else(|| KeymapError(format!("[keys]: comando sconosciuto \"{name}\"")))?;
            let keys = keys
                .iter()
                .map(|k| {
                    Key::parse(k).ok_or_else(|| {
                        KeymapError(format!("[keys] {name}: tasto non valido \"{k}\""))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            keymap.bindings.retain(|b| b.command != command);
            keymap.bindings.extend(keys.into_iter().map(|key| Binding {
                key,
                scope: scope_of(command),
                command,
            }));
        }
        Ok(keymap)
    }

    pub fn command_for(&self, key: &KeyEvent, screen: Screen) -> Option<Command> {
        let pressed = Key::from_event(key);
        // The most specific scope wins, so a screen can reuse a global key.
        self.bindings
            .iter()
            .filter(|b| b.key == pressed && b.scope.covers(screen))
            .min_by_key(|b| b.scope == Scope::Global)
            .map(|b| b.command)
    }

    /// The first key bound to `command`, as the help shows it.
    pub fn key_for(&self, command: Command) -> Option<String> {
        self.bindings
            .iter()
            .find(|b| b.command == command)
            .map(|b| b.key.label())
    }

    /// The commands usable on `screen` with their keys, in help order.
    /// The help as `state` shows it: the Aruba lists' keys only once Aruba
    /// has been synced (before, they open nothing).
    pub fn help_for(&self, state: &State) -> Vec<(String, Command)> {
        let mut rows = self.help(state.screen);
        if !state.aruba_known() {
            rows.retain(|(_, c)| !matches!(c, Command::Chase(category) if category.is_aruba()));
        }
        rows
    }

    pub fn help(&self, screen: Screen) -> Vec<(String, Command)> {
        let mut rows: Vec<(String, Command)> = Vec::new();
        for binding in self.bindings.iter().filter(|b| b.scope.covers(screen)) {
            match rows.iter_mut().find(|(_, c)| *c == binding.command) {
                Some((keys, _)) => {
                    keys.push_str("  ");
                    keys.push_str(&binding.key.label());
                }
                None => rows.push((binding.key.label(), binding.command)),
            }
        }
        rows
    }
}

pub fn action_for(
    event: &Event,
    state: &State,
    keymap: &Keymap,
    terminal_area: Rect,
) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            key_action(key, state, keymap, event)
        }
        Event::Mouse(mouse) => mouse_action(mouse, state, terminal_area),
        _ => None,
    }
}

fn key_action(key: &KeyEvent, state: &State, keymap: &Keymap, event: &Event) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Command(Command::Quit));
    }
    match &state.modal {
        Some(Modal::ConfirmResend { .. }) => return confirm_keys(key),
        Some(Modal::IniPec(_)) => return confirm_keys(key),
        Some(Modal::Filter { .. }) => {
            return match key.code {
                KeyCode::Up | KeyCode::Char('k') => Some(Action::ModalMove(-1)),
                KeyCode::Down | KeyCode::Char('j') => Some(Action::ModalMove(1)),
                KeyCode::Char(' ' | 'x') => Some(Action::ModalToggle),
                KeyCode::Enter => Some(Action::Confirm),
                KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
                _ => None,
            };
        }
        Some(Modal::Help) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('?' | 'q') => Some(Action::Cancel),
                _ => None,
            };
        }
        Some(
            Modal::ConfirmBulk { .. }
            | Modal::Resume { .. }
            | Modal::ConfirmRecovery { .. }
            | Modal::ConfirmReset { .. },
        ) => return confirm_keys(key),
        Some(Modal::Job) => {
            return match key.code {
                KeyCode::Char('p') => Some(Action::JobPause),
                KeyCode::Char('c') => Some(Action::JobCancel),
                KeyCode::Char('r') => Some(Action::JobRetry),
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Some(Action::Cancel),
                _ => None,
            };
        }
        Some(Modal::RecoveryForm(_)) => {
            return match key.code {
                KeyCode::Esc => Some(Action::Cancel),
                KeyCode::Enter => Some(Action::Confirm),
                KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                    Some(Action::FormNextField)
                }
                _ => tui_input::backend::crossterm::to_input_request(event).map(Action::FormEdit),
            };
        }
        Some(Modal::PasswordForm(_)) => {
            return match key.code {
                KeyCode::Esc => Some(Action::Cancel),
                KeyCode::Enter => Some(Action::Confirm),
                KeyCode::Char('g') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    Some(Action::FormGenerate)
                }
                _ => tui_input::backend::crossterm::to_input_request(event).map(Action::FormEdit),
            };
        }
        Some(Modal::Import(step)) => {
            return match (step, key.code) {
                (_, KeyCode::Esc) => Some(Action::Cancel),
                (_, KeyCode::Enter) => Some(Action::Confirm),
                (ImportStep::Path { .. }, KeyCode::Tab) => Some(Action::FormNextField),
                (ImportStep::Path { .. }, _) => {
                    tui_input::backend::crossterm::to_input_request(event).map(Action::FormEdit)
                }
                (ImportStep::Preview { .. }, KeyCode::Char('p')) => Some(Action::ModalToggle),
                (ImportStep::ReportPreview { .. }, KeyCode::Char('p')) => Some(Action::ModalToggle),
                _ => None,
            };
        }
        Some(Modal::CallScript { .. }) => {
            return match key.code {
                KeyCode::Char('y' | 'c') => Some(Action::Copy),
                KeyCode::Up | KeyCode::Char('k') => Some(Action::ModalMove(-1)),
                KeyCode::Down | KeyCode::Char('j') => Some(Action::ModalMove(1)),
                KeyCode::PageUp => Some(Action::ModalMove(-10)),
                KeyCode::PageDown => Some(Action::ModalMove(10)),
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | 'd') => Some(Action::Cancel),
                _ => None,
            };
        }
        Some(Modal::PasswordShown { .. }) => {
            return match key.code {
                KeyCode::Char('y' | 'c') => Some(Action::Copy),
                KeyCode::Esc | KeyCode::Enter => Some(Action::Cancel),
                _ => None,
            };
        }
        None => {}
    }
    if state.palette.is_some() {
        return match key.code {
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Enter => Some(Action::PaletteRun),
            KeyCode::Tab => Some(Action::PaletteComplete),
            _ => tui_input::backend::crossterm::to_input_request(event).map(Action::PaletteEdit),
        };
    }
    if state.searching {
        return match key.code {
            KeyCode::Esc => Some(Action::Command(Command::Back)),
            KeyCode::Enter => Some(Action::SearchDone),
            KeyCode::Up => Some(Action::Command(Command::Up)),
            KeyCode::Down => Some(Action::Command(Command::Down)),
            _ => tui_input::backend::crossterm::to_input_request(event).map(Action::SearchEdit),
        };
    }
    keymap.command_for(key, state.screen).map(Action::Command)
}

fn confirm_keys(key: &KeyEvent) -> Option<Action> {
    match key.code {
        KeyCode::Enter | KeyCode::Char('s' | 'S' | 'y' | 'Y') => Some(Action::Confirm),
        KeyCode::Esc | KeyCode::Char('n' | 'N') => Some(Action::Cancel),
        _ => None,
    }
}

fn mouse_action(mouse: &MouseEvent, state: &State, terminal_area: Rect) -> Option<Action> {
    if state.modal.is_some() || state.palette.is_some() {
        return None;
    }
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::Command(Command::Up)),
        MouseEventKind::ScrollDown => Some(Action::Command(Command::Down)),
        MouseEventKind::Down(MouseButton::Left) if state.screen == Screen::Members => {
            let body = view::areas(terminal_area).body;
            members::row_at(state, body, mouse.row).map(Action::SelectRow)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_and_scopes() {
        let keymap = Keymap::default();
        let j = press(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(keymap.command_for(&j, Screen::Members), Some(Command::Down));
        let one = press(KeyCode::Char('1'), KeyModifiers::NONE);
        assert!(matches!(
            keymap.command_for(&one, Screen::Dashboard),
            Some(Command::Chase(_))
        ));
        assert_eq!(keymap.command_for(&one, Screen::Members), None);
        let r = press(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(keymap.command_for(&r, Screen::Dashboard), None);
        let big_g = press(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(
            keymap.command_for(&big_g, Screen::Members),
            Some(Command::Bottom)
        );
    }

    #[test]
    fn overrides_replace_the_default_keys() {
        let overrides = BTreeMap::from([(
            "resend".to_string(),
            vec!["ctrl-r".to_string(), "x".to_string()],
        )]);
        let keymap = Keymap::with_overrides(&overrides).unwrap();
        let r = press(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(keymap.command_for(&r, Screen::Members), None);
        let ctrl_r = press(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(
            keymap.command_for(&ctrl_r, Screen::Detail),
            Some(Command::Resend)
        );
        let help = keymap.help(Screen::Members);
        assert!(
            help.iter()
                .any(|(keys, c)| *c == Command::Resend && keys == "Ctrl-r  x")
        );
        assert!(
            Keymap::with_overrides(&BTreeMap::from([("nope".into(), vec!["x".into()])])).is_err()
        );
        assert!(
            Keymap::with_overrides(&BTreeMap::from([("sync".into(), vec!["ctrl-".into()])]))
                .is_err()
        );
    }
}
