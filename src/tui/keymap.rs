//! Turns terminal events into actions, depending on what has the focus.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use super::{members, view};
use crate::app::{Action, Modal, Screen, State};

pub fn action_for(event: &Event, state: &State, terminal_area: Rect) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(key, state, event),
        Event::Mouse(mouse) => mouse_action(mouse, state, terminal_area),
        _ => None,
    }
}

fn key_action(key: &KeyEvent, state: &State, event: &Event) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    match &state.modal {
        Some(Modal::ConfirmResend { .. }) => {
            return match key.code {
                KeyCode::Enter | KeyCode::Char('s' | 'S' | 'y' | 'Y') => Some(Action::Confirm),
                KeyCode::Esc | KeyCode::Char('n' | 'N') => Some(Action::Cancel),
                _ => None,
            };
        }
        Some(Modal::Help) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('?' | 'q') => Some(Action::ToggleHelp),
                _ => None,
            };
        }
        None => {}
    }
    if state.searching {
        return match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::SearchDone),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            _ => tui_input::backend::crossterm::to_input_request(event).map(Action::SearchEdit),
        };
    }
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Tab | KeyCode::BackTab => Action::NextScreen,
        KeyCode::Char('1') => Action::ShowDashboard,
        KeyCode::Char('2') => Action::ShowMembers,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char('f') if ctrl => Action::PageDown,
        KeyCode::Char('b') if ctrl => Action::PageUp,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Char('/') => Action::StartSearch,
        KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right if state.screen == Screen::Members => {
            Action::OpenDetail
        }
        KeyCode::Enter if state.screen == Screen::Dashboard => Action::ShowMembers,
        KeyCode::Char('r') if state.screen != Screen::Dashboard => Action::RequestResend,
        KeyCode::Char('s') => Action::SyncNow,
        _ => return None,
    };
    Some(action)
}

fn mouse_action(mouse: &MouseEvent, state: &State, terminal_area: Rect) -> Option<Action> {
    if state.modal.is_some() {
        return None;
    }
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::Down(MouseButton::Left) if state.screen == Screen::Members => {
            let body = view::areas(terminal_area).body;
            members::row_at(state, body, mouse.row).map(Action::SelectRow)
        }
        _ => None,
    }
}
