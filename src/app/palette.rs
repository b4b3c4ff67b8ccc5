//! The `:` command line: what it understands, and completion of command names.

use std::collections::BTreeSet;

use super::{Action, Command, Sort, SortColumn};
use crate::domain::Category;
use crate::i18n::Lang;

/// Commands the palette completes, with their arguments.
pub const PALETTE_COMMANDS: &[(&str, &str)] = &[
    ("sync", "[report FILE [--as-of DATA] [--partial]]"),
    ("filter", "[stato ...]"),
    ("clear", ""),
    ("sort", "name|cf|pec|migration|password|recovery [desc]"),
    ("import", "[FILE]"),
    ("export", "FILE [csv|csv-excel|json|inipec [all]]"),
    ("audit", ""),
    ("who", "CELLULARE|E-MAIL|CF|N. ISCRIZIONE|NOME"),
    ("dashboard", ""),
    ("members", ""),
    ("lang", "it|en"),
    ("help", ""),
    ("quit", ""),
];

/// Completes the command name being typed, or the state name after `filter`.
pub fn complete(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let ends_with_space = line.ends_with(' ');
    let unique = |candidates: Vec<String>, prefix: &str| {
        let matching: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect();
        (matching.len() == 1).then(|| matching[0].clone())
    };
    match words.as_slice() {
        [word] if !ends_with_space => {
            let names = PALETTE_COMMANDS
                .iter()
                .map(|(n, _)| n.to_string())
                .collect();
            unique(names, word).map(|name| format!("{name} "))
        }
        ["filter", rest @ ..] if !ends_with_space && !rest.is_empty() => {
            let prefix = rest[rest.len() - 1];
            let codes = Category::ALL.iter().map(|c| c.code().to_string()).collect();
            unique(codes, prefix).map(|code| {
                let kept = &rest[..rest.len() - 1];
                format!(
                    "filter {}{code} ",
                    kept.iter().map(|w| format!("{w} ")).collect::<String>()
                )
            })
        }
        _ => None,
    }
}

/// Parses a command line into actions, or an error message naming what is wrong.
pub fn parse(line: &str) -> Result<Vec<Action>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, args)) = words.split_first() else {
        return Ok(vec![]);
    };
    let command = |c: Command| Ok(vec![Action::Command(c)]);
    match name {
        "q" | "quit" => command(Command::Quit),
        "sync" if args.first() == Some(&"report") => sync_report(&args[1..]),
        "sync" => command(Command::Sync),
        "help" => command(Command::Help),
        "dashboard" => command(Command::Dashboard),
        "members" => command(Command::Members),
        "audit" => command(Command::Audit),
        "who" if args.is_empty() => {
            Err("uso: who CELLULARE|E-MAIL|CF|N. ISCRIZIONE|NOME".to_string())
        }
        "who" => Ok(vec![Action::Who(args.join(" "))]),
        "import" => Ok(vec![Action::Import(args.first().map(|p| p.to_string()))]),
        "export" if super::inipec_flow::parse(args).is_some() => {
            let (path, all) = super::inipec_flow::parse(args).expect("checked");
            Ok(vec![Action::IniPec(
                super::inipec_flow::IniPecAction::Open { path, all },
            )])
        }
        "export" => {
            let path = args
                .first()
                .ok_or_else(|| "uso: export FILE [csv|csv-excel|json|inipec]".to_string())?;
            let format = match args.get(1) {
                None => crate::export::ExportFormat::CsvExcel,
                Some(name) => {
                    <crate::export::ExportFormat as clap::ValueEnum>::from_str(name, true)
                        .map_err(|_| format!("formato sconosciuto: {name}"))?
                }
            };
            Ok(vec![Action::Export {
                path: path.into(),
                format,
            }])
        }
        "clear" => Ok(vec![
            Action::Command(Command::ClearFilter),
            Action::Command(Command::Back),
        ]),
        "filter" if args.is_empty() => command(Command::Filter),
        "filter" => {
            let categories = args
                .iter()
                .map(|code| {
                    Category::from_code(code).ok_or_else(|| format!("stato sconosciuto: {code}"))
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            Ok(vec![Action::SetFilter(categories)])
        }
        "sort" => {
            let column = args
                .first()
                .and_then(|c| SortColumn::from_name(c))
                .ok_or_else(|| {
                    "uso: sort name|cf|pec|migration|password|recovery [desc]".to_string()
                })?;
            let descending = args.get(1).is_some_and(|d| *d == "desc");
            Ok(vec![Action::SetSort(Sort { column, descending })])
        }
        "lang" => {
            let lang = args
                .first()
                .and_then(|l| Lang::parse(l))
                .ok_or_else(|| "uso: lang it|en".to_string())?;
            Ok(vec![Action::SetLang(lang)])
        }
        other => match Command::from_name(other) {
            Some(c) => command(c),
            None => Err(format!(
                "comando sconosciuto: {other} (Tab completa, :help elenca i tasti)"
            )),
        },
    }
}

/// `sync report [FILE] [--as-of DATE] [--partial]`; the words left are the
/// path (a path with spaces needs no quotes).
fn sync_report(args: &[&str]) -> Result<Vec<Action>, String> {
    const USAGE: &str = "uso: sync report FILE [--as-of GG/MM/AAAA] [--partial]";
    let (mut path, mut as_of, mut partial) = (Vec::new(), None, false);
    let mut words = args.iter();
    while let Some(&word) = words.next() {
        match word {
            "--partial" => partial = true,
            "--as-of" => {
                let text = words.next().ok_or_else(|| USAGE.to_string())?;
                as_of = Some(
                    crate::import::parse_instant(text)
                        .ok_or_else(|| format!("--as-of: data non riconosciuta \"{text}\""))?,
                );
            }
            other => path.push(other),
        }
    }
    Ok(vec![Action::SyncReport {
        path: (!path.is_empty()).then(|| path.join(" ")),
        as_of,
        partial,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_and_states() {
        assert_eq!(complete("sy").as_deref(), Some("sync "));
        assert_eq!(complete("s"), None, "sync and sort are both possible");
        assert_eq!(
            complete("filter link_e").as_deref(),
            Some("filter link_expired ")
        );
        assert_eq!(
            complete("filter failed_2fa no_rec").as_deref(),
            Some("filter failed_2fa no_recovery_contact ")
        );
    }

    #[test]
    fn parses_and_reports_mistakes() {
        assert!(matches!(
            parse("sync").unwrap()[..],
            [Action::Command(Command::Sync)]
        ));
        assert!(
            matches!(&parse("filter link_expired failed_2fa").unwrap()[..], [Action::SetFilter(f)] if f.len() == 2)
        );
        assert_eq!(parse("filter boh").unwrap_err(), "stato sconosciuto: boh");
        assert!(
            matches!(&parse("who 347 123 4567").unwrap()[..], [Action::Who(q)] if q == "347 123 4567")
        );
        assert!(parse("who").unwrap_err().starts_with("uso: who"));
        assert!(parse("frobnicate").unwrap_err().contains("frobnicate"));
        assert!(matches!(
            &parse("sync report /tmp/stati novembre.csv --as-of 27/11/2026 --partial").unwrap()[..],
            [Action::SyncReport { path: Some(p), as_of: Some(_), partial: true }]
                if p == "/tmp/stati novembre.csv"
        ));
        assert!(matches!(
            &parse("sync report").unwrap()[..],
            [Action::SyncReport {
                path: None,
                as_of: None,
                partial: false
            }]
        ));
        assert!(
            parse("sync report r.csv --as-of ieri")
                .unwrap_err()
                .contains("ieri")
        );
        assert!(matches!(
            parse("sort pec desc").unwrap()[..],
            [Action::SetSort(Sort {
                column: SortColumn::Pec,
                descending: true
            })]
        ));
    }
}
