//! The detail of one member: roster data, mailbox state, and the timeline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, Paragraph, Wrap};

use super::keymap::Keymap;
use super::labels;
use super::theme::Theme;
use crate::app::State;
use crate::domain::aruba::ArubaSide;
use crate::i18n::{T, format_date, format_datetime};
use crate::store::Outcome;

fn field<'a>(theme: &Theme, label: &'a str, value: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label}: "), theme.dim()),
        Span::raw(value),
    ])
}

/// What Aruba says of the mailbox, once Aruba has been synced: its status and
/// the owner's contacts there, in full beside the roster's (staff must see
/// which one is right).
fn aruba_lines<'a>(state: &'a State, side: &ArubaSide, theme: &Theme) -> Vec<Line<'a>> {
    let label = state.t(T::ArubaDetail);
    match side {
        ArubaSide::Unknown => Vec::new(),
        ArubaSide::Missing => vec![Line::from(vec![
            Span::styled(format!("{label}: "), theme.dim()),
            Span::styled(state.t(T::SkipNotAtAruba), theme.warn()),
        ])],
        ArubaSide::Present(m) => {
            let status_style = if m.status.blocks_migration() {
                theme.bad()
            } else {
                theme.good()
            };
            let contacts = [m.contact_email.clone(), m.contact_mobile.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
            let contacts = if contacts.is_empty() {
                Span::styled(state.t(T::CatArubaNoContact), theme.warn())
            } else {
                Span::raw(contacts.join(" · "))
            };
            vec![
                Line::from(vec![
                    Span::styled(format!("{label}: "), theme.dim()),
                    Span::styled(m.status.label_it(), status_style),
                ]),
                Line::from(vec![Span::raw("  "), contacts]),
            ]
        }
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme, keymap: &Keymap) {
    let Some((index, row)) = state.selected_entry() else {
        return;
    };
    // The rows hold what the table shows; the rest is read for the detail.
    let Some(entry) = state.full_entry(index) else {
        let title = row.full_name().unwrap_or_else(|| row.address().to_string());
        let lines = vec![
            Line::from(Span::styled(title, theme.title())),
            Line::from(Span::styled(row.address(), theme.dim())),
            Line::raw(state.t(T::Loading)),
        ];
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(state.t(T::MemberData))),
            area,
        );
        return;
    };
    // "Cosa fare" above the timeline: as tall as its text wrapped needs, but
    // the timeline keeps at least four rows.
    let aruba_lines = aruba_lines(state, &entry.aruba, theme);
    // The day a member left the albo, when they have.
    let left_on = entry.member.as_ref().and_then(|m| m.data_cancellazione);
    let info_height = 10 + u16::from(left_on.is_some()) + aruba_lines.len() as u16;
    let what_to_do = super::phone::what_to_do_lines(state, index, theme, keymap);
    let wrapped = super::phone::wrapped_height(&what_to_do, area.width.saturating_sub(2));
    let room = area.height.saturating_sub(info_height + 4);
    let [info, what_area, timeline_area] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Length((wrapped + 2).min(room)),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(what_to_do)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(state.t(T::DxWhatToDo))),
        what_area,
    );
    let [member_area, mailbox_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(info);
    let dash = || "—".to_string();
    let mut member_lines = match &entry.member {
        Some(m) => vec![
            Line::from(Span::styled(m.full_name(), theme.title())),
            field(theme, state.t(T::ColCf), m.codice_fiscale.clone()),
            field(theme, state.t(T::FieldNumero), m.numero_iscrizione.clone()),
            field(
                theme,
                state.t(T::FieldBirth),
                m.data_nascita.map(format_date).unwrap_or_else(dash),
            ),
            field(
                theme,
                state.t(T::FieldEnrolled),
                m.data_iscrizione.map(format_date).unwrap_or_else(dash),
            ),
            field(theme, state.t(T::ColPec), m.pec.clone()),
            field(
                theme,
                state.t(T::FieldServiceEmail),
                m.email_servizio.clone().unwrap_or_else(dash),
            ),
            field(
                theme,
                state.t(T::FieldMobile),
                m.cellulare.clone().unwrap_or_else(dash),
            ),
        ],
        None => vec![Line::from(Span::styled(
            state.t(T::NotInRoster),
            theme.warn(),
        ))],
    };
    if let Some(day) = left_on {
        // After "Iscritto/a dal", where staff look for the dates.
        member_lines.insert(
            5,
            Line::from(vec![
                Span::styled(format!("{}: ", state.t(T::FieldLeft)), theme.dim()),
                Span::styled(format_date(day), theme.warn()),
            ]),
        );
    }
    member_lines.extend(aruba_lines);
    frame.render_widget(
        Paragraph::new(member_lines).block(Block::bordered().title(state.t(T::MemberData))),
        member_area,
    );
    let mailbox_lines = match &entry.mailbox {
        Some(b) => {
            let yes_no = |v: bool| state.t(if v { T::Yes } else { T::No }).to_string();
            let mut migration = state.t(labels::migration(b.migration)).to_string();
            if let Some(at) = b.migration_at {
                migration.push_str(&format!(" ({})", format_datetime(at)));
            }
            let mut password = state
                .t(labels::password(b.password_at(state.now)))
                .to_string();
            if b.must_change_password {
                password.push_str(&format!(" · {}", state.t(T::DxMustChange)));
            }
            let mut lines = vec![
                Line::from(Span::styled(b.address.clone(), theme.title())),
                field(theme, state.t(T::Migration), migration),
                field(theme, state.t(T::Password), password),
            ];
            if let Some(expiry) = b.link_expires_at {
                lines.push(field(
                    theme,
                    state.t(T::FieldLinkExpires),
                    format_datetime(expiry),
                ));
            }
            lines.extend([
                field(
                    theme,
                    state.t(T::FieldRecoveryEmail),
                    b.recovery.email_masked.clone().unwrap_or_else(dash),
                ),
                field(
                    theme,
                    state.t(T::FieldRecoveryMobile),
                    b.recovery.mobile_masked.clone().unwrap_or_else(dash),
                ),
                field(
                    theme,
                    state.t(T::FieldConfirmed),
                    yes_no(b.recovery.confirmed),
                ),
                field(
                    theme,
                    state.t(T::FieldLastLogin),
                    b.last_login_at.map(format_datetime).unwrap_or_else(dash),
                ),
            ]);
            if state.in_flight.contains(&b.address) {
                lines.push(Line::from(Span::styled(
                    state.t(T::ResendInFlight),
                    theme.warn(),
                )));
            }
            lines
        }
        None => vec![Line::from(Span::styled(
            state.t(T::NoMailbox),
            theme.warn(),
        ))],
    };
    frame.render_widget(
        Paragraph::new(mailbox_lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(state.t(T::MailboxData))),
        mailbox_area,
    );
    let events = match &state.timeline {
        Some((entry_index, events)) if *entry_index == index => events.as_slice(),
        Some(_) | None => &[],
    };
    let reminders = super::outreach_view::trail_items(state, index, theme);
    let items: Vec<ListItem> = if events.is_empty() && reminders.is_empty() {
        vec![ListItem::new(Span::styled(
            state.t(T::NoEvents),
            theme.dim(),
        ))]
    } else {
        let mut rows: Vec<(chrono::DateTime<chrono::Utc>, ListItem)> = events
            .iter()
            // A reminder's own line (with its receipts) stands for its events.
            .filter(|e| reminders.is_empty() || e.kind != crate::store::EventKind::Reminder)
            .map(|e| {
                // The outcome goes before the detail so a narrow screen still shows it.
                let outcome = match e.outcome {
                    Some(Outcome::Ok) => {
                        Span::styled(format!("[{}] ", state.t(T::OutcomeOk)), theme.good())
                    }
                    Some(Outcome::Failed) => {
                        Span::styled(format!("[{}] ", state.t(T::OutcomeFailed)), theme.bad())
                    }
                    None => Span::raw(""),
                };
                let item = ListItem::new(Line::from(vec![
                    Span::styled(format!("{} ", format_datetime(e.at)), theme.dim()),
                    Span::styled(format!("{:<10} ", e.signed_by()), theme.dim()),
                    outcome,
                    Span::raw(e.detail.clone()),
                ]));
                (e.at, item)
            })
            .collect();
        // Reminders and their receipts among the events, newest first.
        rows.extend(reminders);
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        rows.into_iter().map(|(_, item)| item).collect()
    };
    frame.render_widget(
        List::new(items).block(Block::bordered().title(state.t(T::Timeline))),
        timeline_area,
    );
}
