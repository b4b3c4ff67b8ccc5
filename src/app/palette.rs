//! The `:` command line: what it understands, and completion of command names.

use std::collections::BTreeSet;

use super::import_flow::{ImportKind, RosterRequest};
use super::{Action, Command, Sort, SortColumn};
use crate::domain::Category;
use crate::i18n::Lang;
use crate::sync::report_load::ReportRequest;

/// Commands the palette completes, with their arguments.
pub const PALETTE_COMMANDS: &[(&str, &str)] = &[
    (
        "sync",
        "[report FILE [--as-of DATA] [--partial] [--sheet FOGLIO]]",
    ),
    ("filter", "[stato ...]"),
    ("clear", ""),
    ("sort", "name|cf|pec|migration|password|recovery [desc]"),
    (
        "import",
        "[FILE] [--partial] [--sheet FOGLIO] [--table TABELLA]",
    ),
    ("export", "FILE [csv|csv-excel|json|inipec [all]]"),
    ("audit", ""),
    ("who", "CELLULARE|E-MAIL|CF|N. ISCRIZIONE|NOME"),
    ("dashboard", ""),
    ("members", ""),
    ("lang", "it|en"),
    ("notreminded", "GIORNI|off"),
    ("receipts", ""),
    ("remind", ""),
    ("indoubt", ""),
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
        "sync" if args.first() == Some(&"report") => open_file(FileCommand::Report, &args[1..]),
        "sync" => command(Command::Sync),
        "help" => command(Command::Help),
        "dashboard" => command(Command::Dashboard),
        "members" => command(Command::Members),
        "audit" => command(Command::Audit),
        "who" if args.is_empty() => {
            Err("uso: who CELLULARE|E-MAIL|CF|N. ISCRIZIONE|NOME".to_string())
        }
        "who" => Ok(vec![Action::Who(args.join(" "))]),
        "import" => open_file(FileCommand::Roster, args),
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
        "notreminded" => {
            let days = match args.first().copied() {
                None | Some("off" | "0") => None,
                Some(n) => {
                    Some(n.trim_end_matches(['g', 'd']).parse::<u16>().map_err(|_| {
                        "uso: notreminded GIORNI|off (es. notreminded 7)".to_string()
                    })?)
                }
            };
            Ok(vec![Action::NotRemindedFor(days)])
        }
        "receipts" => Ok(vec![Action::ReadReceipts]),
        "indoubt" => Ok(vec![Action::OpenInDoubt]),
        other => match Command::from_name(other) {
            Some(c) => command(c),
            None => Err(format!(
                "comando sconosciuto: {other} (Tab completa, :help elenca i tasti)"
            )),
        },
    }
}

/// The two commands that read a file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileCommand {
    Roster,
    Report,
}

impl FileCommand {
    fn usage(self) -> &'static str {
        match self {
            Self::Roster => "uso: import FILE [--partial] [--sheet FOGLIO] [--table TABELLA]",
            Self::Report => {
                "uso: sync report FILE [--as-of GG/MM/AAAA] [--partial] [--sheet FOGLIO]"
            }
        }
    }
}

/// `import [FILE] [--partial] [--sheet FOGLIO] [--table TABELLA]` and
/// `sync report [FILE] [--as-of DATA] [--partial] [--sheet FOGLIO]`. The
/// path comes first; neither it nor a sheet's or table's name needs quotes
/// for its spaces: a value runs to the next option.
fn open_file(command: FileCommand, args: &[&str]) -> Result<Vec<Action>, String> {
    let usage = || command.usage().to_string();
    let (mut path, mut as_of, mut partial) = (Vec::new(), None, false);
    let (mut sheet, mut table) = (None, None);
    let mut words = args.iter().copied().peekable();
    while let Some(word) = words.next() {
        let mut value = || {
            let mut taken = Vec::new();
            while let Some(next) = words.next_if(|w| !w.starts_with("--")) {
                taken.push(next);
            }
            (!taken.is_empty())
                .then(|| taken.join(" "))
                .ok_or_else(usage)
        };
        match word {
            "--partial" => partial = true,
            "--sheet" => sheet = Some(value()?),
            "--table" if command == FileCommand::Roster => table = Some(value()?),
            "--as-of" if command == FileCommand::Report => {
                let text = value()?;
                as_of = Some(
                    crate::import::parse_instant(&text)
                        .ok_or_else(|| format!("--as-of: data non riconosciuta \"{text}\""))?,
                );
            }
            option if option.starts_with("--") => return Err(usage()),
            other => path.push(other),
        }
    }
    let kind = match command {
        FileCommand::Roster => ImportKind::Roster(RosterRequest {
            partial,
            sheet,
            table,
            ..Default::default()
        }),
        FileCommand::Report => ImportKind::Report(ReportRequest {
            as_of,
            partial,
            sheet,
            ..Default::default()
        }),
    };
    Ok(vec![Action::Import {
        path: (!path.is_empty()).then(|| path.join(" ")),
        kind,
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
            parse("notreminded 7d").unwrap()[..],
            [Action::NotRemindedFor(Some(7))]
        ));
        assert!(matches!(
            parse("notreminded off").unwrap()[..],
            [Action::NotRemindedFor(None)]
        ));
        assert!(
            parse("notreminded ieri")
                .unwrap_err()
                .starts_with("uso: notreminded")
        );
        assert!(matches!(
            &parse("sync report /tmp/stati novembre.csv --as-of 27/11/2026 --partial").unwrap()[..],
            [Action::Import { path: Some(p), kind: ImportKind::Report(ReportRequest { as_of: Some(_), partial: true, sheet: None, .. }) }]
                if p == "/tmp/stati novembre.csv"
        ));
        assert!(matches!(
            &parse("sync report").unwrap()[..],
            [Action::Import {
                path: None,
                kind: ImportKind::Report(ReportRequest {
                    as_of: None,
                    partial: false,
                    sheet: None,
                    ..
                })
            }]
        ));
        assert!(
            parse("sync report r.csv --as-of ieri")
                .unwrap_err()
                .contains("ieri")
        );
        assert_eq!(
            parse("sync report r.xlsx --sheet").unwrap_err(),
            FileCommand::Report.usage()
        );
        assert_eq!(
            parse("sync report r.xlsx --table stati").unwrap_err(),
            FileCommand::Report.usage(),
            "a report is never read from a database's table"
        );
    }

    #[test]
    fn file_commands_take_paths_and_names_with_spaces() {
        let [Action::Import { path, kind }] =
            &parse("import /tmp/Albo 2026.xlsx --sheet Iscritti attivi --partial").unwrap()[..]
        else {
            panic!()
        };
        assert_eq!(path.as_deref(), Some("/tmp/Albo 2026.xlsx"));
        assert_eq!(
            kind,
            &ImportKind::Roster(RosterRequest {
                partial: true,
                sheet: Some("Iscritti attivi".into()),
                ..Default::default()
            })
        );
        let [Action::Import { path, kind }] =
            &parse("sync report stati.xlsx --sheet Foglio2 --as-of 27/11/2026").unwrap()[..]
        else {
            panic!()
        };
        assert_eq!(path.as_deref(), Some("stati.xlsx"));
        assert!(
            matches!(kind, ImportKind::Report(ReportRequest { sheet: Some(s), as_of: Some(_), partial: false, .. }) if s == "Foglio2")
        );
        let [Action::Import { kind, .. }] = &parse("import albo.db --table iscritti").unwrap()[..]
        else {
            panic!()
        };
        assert!(
            matches!(kind, ImportKind::Roster(RosterRequest { table: Some(t), .. }) if t == "iscritti")
        );
        assert_eq!(
            parse("import albo.xlsx --foglio X").unwrap_err(),
            FileCommand::Roster.usage()
        );
        assert!(matches!(
            &parse("import").unwrap()[..],
            [Action::Import { path: None, kind }] if *kind == ImportKind::default()
        ));
    }

    #[test]
    fn sorts_by_a_named_column() {
        assert!(matches!(
            parse("sort pec desc").unwrap()[..],
            [Action::SetSort(Sort {
                column: SortColumn::Pec,
                descending: true
            })]
        ));
    }
}
