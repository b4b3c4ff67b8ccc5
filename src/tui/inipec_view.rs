//! The INI-PEC export's window: the counts per Stato code before writing.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::actions_view::window;
use super::theme::Theme;
use crate::app::State;
use crate::app::inipec_flow::IniPecStep;
use crate::domain::inipec::{IniPecCode, Unsendable};
use crate::i18n::T;

/// How many held-back positions are named.
const HELD_BACK_SHOWN: usize = 6;

pub fn render(frame: &mut Frame, state: &State, theme: &Theme, step: &IniPecStep) {
    let mut lines: Vec<Line> = Vec::new();
    match step {
        IniPecStep::Planning { path, .. } => {
            lines.push(Line::styled(path.display().to_string(), theme.title()));
            lines.push(Line::raw(state.t(T::IniPecPlanning)));
        }
        IniPecStep::Writing { path } => {
            lines.push(Line::styled(path.display().to_string(), theme.title()));
            lines.push(Line::raw(state.t(T::IniPecWriting)));
        }
        IniPecStep::Preview { path, planned } => {
            lines.push(Line::styled(path.display().to_string(), theme.title()));
            lines.push(Line::styled(
                state.t(if planned.all {
                    T::IniPecAll
                } else {
                    T::IniPecUpdate
                }),
                theme.dim(),
            ));
            lines.push(Line::raw(""));
            for (code, text) in [
                (IniPecCode::New, T::IniPecCodeNew),
                (IniPecCode::Update, T::IniPecCodeUpdate),
                (IniPecCode::Cancel, T::IniPecCodeCancel),
            ] {
                let count = planned.plan.count(code);
                lines.push(Line::from(vec![
                    Span::styled(format!("  {}  ", code.digit()), theme.key()),
                    Span::styled(
                        format!("{count:>7}  "),
                        if count > 0 { theme.good() } else { theme.dim() },
                    ),
                    Span::raw(state.t(text)),
                ]));
            }
            let held = &planned.plan.held_back;
            if !held.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("{} {}:", held.len(), state.t(T::IniPecHeldBack)),
                    theme.bad(),
                ));
                for h in held.iter().take(HELD_BACK_SHOWN) {
                    let reason = state.t(match h.reason {
                        Unsendable::Separator => T::IniPecSeparator,
                        Unsendable::Formula => T::IniPecFormula,
                    });
                    lines.push(Line::raw(format!(
                        "  {} ({}): {} {reason}",
                        h.name, h.codice_fiscale, h.field
                    )));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(state.t(T::IniPecKeys), theme.key()));
        }
    }
    let inner = window(frame, state.t(T::IniPecTitle), 84, lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::app::inipec_flow::{IniPecAction, IniPecStep};
    use crate::app::{Action, Modal, fixtures, update};
    use crate::domain::inipec::{Position, SentPosition, plan};
    use crate::i18n::Lang;

    /// The preview over the fixture's roster: the first member already sent
    /// with another PEC, the second holding a formula in the surname.
    fn preview(lang: Lang) -> String {
        let mut state = fixtures::state(lang);
        let mut members: Vec<_> = fixtures::entries()
            .into_iter()
            .filter_map(|e| Some((e.member?, e.in_roster)))
            .collect();
        members[1].0.cognome = "=SUM(1)".into();
        let first = &members[0].0;
        let ledger: HashMap<String, SentPosition> = [(
            first.codice_fiscale.clone(),
            SentPosition {
                pec: "vecchia@pec.fofi.it".into(),
                nome: first.nome.clone(),
                cognome: first.cognome.clone(),
                numero_iscrizione: first.numero_iscrizione.clone(),
                code: crate::domain::inipec::IniPecCode::New,
            },
        )]
        .into();
        let positions = members.iter().map(|(member, in_albo)| Position {
            member,
            in_albo: *in_albo,
        });
        let planned =
            crate::export::inipec::PlannedFile::for_tests(plan(positions, &ledger, false));
        update(
            &mut state,
            Action::IniPec(IniPecAction::Open {
                path: None,
                all: false,
            }),
        );
        update(
            &mut state,
            Action::IniPec(IniPecAction::Planned(Ok(Box::new(planned)))),
        );
        assert!(matches!(
            state.modal,
            Some(Modal::IniPec(IniPecStep::Preview { .. }))
        ));
        super::super::tests::snapshot(&state, 100, 24)
    }

    #[test]
    fn inipec_preview_italian() {
        insta::assert_snapshot!(preview(Lang::It));
    }

    #[test]
    fn inipec_preview_english() {
        insta::assert_snapshot!(preview(Lang::En));
    }
}
