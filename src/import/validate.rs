//! One record of any source (CSV, INI-PEC, SQLite row) into a validated member
//! or a reject naming line, field and reason.

use chrono::NaiveDate;
use csv::StringRecord;

use super::columns::{Field, HeaderMapping};
use super::{ParsedRoster, Reject, SourceLayout};
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::{Member, contact};
use crate::store::ProvidedFields;

/// Longest value accepted in a mapped field. Far above any real name or
/// address; a longer one is a broken export (or an attack), rejected before
/// it is copied into messages.
pub const MAX_FIELD_CHARS: usize = 1000;

/// Accepts `dd/mm/yyyy`, `d/m/yyyy`, `yyyy-mm-dd` (also with `-` or `.` as
/// separators) and ignores a time of day after the date, as spreadsheets and
/// databases add one. Hand-written: chrono's parser is the slowest part of a row.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    // Bytes: every character that matters is ASCII.
    let text = text.trim().as_bytes();
    let date = match text.iter().position(|&b| b == b' ' || b == b'T') {
        Some(i) if text.get(i + 1).is_some_and(u8::is_ascii_digit) => &text[..i],
        _ => text,
    };
    let mut parts = date.split(|&b| matches!(b, b'/' | b'-' | b'.'));
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (year, month, day) = if a.len() == 4 { (a, b, c) } else { (c, b, a) };
    let number = |s: &[u8], max_len: usize| -> Option<u32> {
        if s.is_empty() || s.len() > max_len {
            return None;
        }
        s.iter().try_fold(0, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if year.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(number(year, 4)? as i32, number(month, 2)?, number(day, 2)?)
}

/// Words in a "Stato" column that mean the member left the albo. Checked as
/// prefixes of the lower-cased value ("Cancellato", "cancellata", "CESSATO").
const LEFT_ALBO_STATES: [&str; 11] = [
    "cancellat",
    "cessat",
    "radiat",
    "decadut",
    "decedut",
    "defunt",
    "trasferit",
    "dimess",
    "revocat",
    "inattiv",
    "non iscritt",
];

/// INI-PEC's Stato code for "cancellation of a member no longer in the
/// albo" (`1` update and `2` new position both mean present).
const INIPEC_LEFT: &str = "3";

/// Whether a row says the member left the albo. "Sospeso" does not: a
/// suspended member is still registered.
pub fn has_left_albo(stato: &str, cancellazione: Option<NaiveDate>) -> bool {
    if cancellazione.is_some() {
        return true;
    }
    let stato = stato.trim();
    if stato.is_empty() {
        return false;
    }
    if stato == INIPEC_LEFT {
        return true;
    }
    let stato = stato.to_lowercase();
    LEFT_ALBO_STATES.iter().any(|w| stato.starts_with(w))
}

/// A field at fault and why.
type RowError = (Field, String);

/// The validated row: the member, and whether they are still in the albo.
fn validate_row<'r>(get: impl Fn(Field) -> &'r str) -> Result<(Member, bool), RowError> {
    for field in Field::ALL {
        let value = get(field);
        // Bytes bound chars from above: count chars only for long values.
        if value.len() <= MAX_FIELD_CHARS {
            continue;
        }
        let chars = value.chars().count();
        if chars > MAX_FIELD_CHARS {
            return Err((
                field,
                format!("valore troppo lungo ({chars} caratteri, al massimo {MAX_FIELD_CHARS})"),
            ));
        }
    }
    let required = |field: Field| -> Result<&str, RowError> {
        Some(get(field))
            .filter(|v| !v.is_empty())
            .ok_or((field, "valore obbligatorio mancante".to_string()))
    };
    let optional = |field: Field| Some(get(field)).filter(|v| !v.is_empty());
    let date = |field: Field| -> Result<Option<NaiveDate>, RowError> {
        optional(field)
            .map(|v| {
                parse_date(v).ok_or_else(|| {
                    (
                        field,
                        format!("data non valida \"{v}\" (atteso gg/mm/aaaa o aaaa-mm-gg)"),
                    )
                })
            })
            .transpose()
    };
    let cognome = required(Field::Cognome)?.to_string();
    let nome = required(Field::Nome)?.to_string();
    let codice_fiscale = CodiceFiscale::parse(required(Field::CodiceFiscale)?)
        .map_err(|e| (Field::CodiceFiscale, e.to_string()))?
        .into_string();
    let pec = contact::normalize_email(required(Field::Pec)?)
        .map_err(|e| (Field::Pec, format!("PEC non valida: {e}")))?;
    let email_servizio = optional(Field::EmailServizio)
        .map(contact::normalize_email)
        .transpose()
        .map_err(|e| (Field::EmailServizio, e.to_string()))?;
    let cellulare = optional(Field::Cellulare)
        .map(contact::normalize_mobile)
        .transpose()
        .map_err(|e| (Field::Cellulare, e.to_string()))?;
    let member = Member {
        numero_iscrizione: get(Field::NumeroIscrizione).to_string(),
        cognome,
        nome,
        codice_fiscale,
        data_nascita: date(Field::DataNascita)?,
        data_iscrizione: date(Field::DataIscrizione)?,
        pec,
        email_servizio,
        cellulare,
        provincia: optional(Field::Provincia).map(str::to_uppercase),
        data_cancellazione: date(Field::DataCancellazione)?,
    };
    let left = has_left_albo(get(Field::Stato), member.data_cancellazione);
    Ok((member, !left))
}

/// Rows validated together; large enough that spreading a batch over the
/// cores costs little, small enough to keep memory flat.
const BATCH_ROWS: usize = 2048;
/// Below this many rows a batch is validated on the calling thread.
const PARALLEL_FROM: usize = 256;

use super::{REJECTS_KEPT, RejectsWriter, SourceKind};
use crate::store::digest::{DigestTable, KeyDigest, KeyHasher};

/// The line where a key first appeared, in 32 bits (rows past line 4
/// billion say the last line that fits).
type FirstLine = u32;

/// The keys seen so far, each with its first line.
type Seen = DigestTable<(KeyDigest, FirstLine)>;

/// Where accepted rows go instead of [`ParsedRoster::members`] and
/// [`ParsedRoster::left_albo`] when an import writes them while the file is
/// still being read: a batch at a time, in file order, each member with
/// whether they are in the albo, and the optional fields the file has. It
/// gives back an empty vector to fill with the next batch: one the store is
/// done with, so that its members are freed where they were allocated and
/// its room is used again.
pub type RowSink<'s> =
    &'s mut dyn FnMut(ProvidedFields, Vec<(Member, bool)>) -> Vec<(Member, bool)>;

/// Where a read sends what it finds as it finds it, instead of keeping it:
/// accepted rows (see [`RowSink`]), and rejected rows, written as a rejects
/// file (see [`RejectsWriter`]) to `rejects`.
#[derive(Default)]
pub struct Sinks<'s, 'w> {
    pub rows: Option<RowSink<'s>>,
    pub rejects: Option<&'w mut dyn std::io::Write>,
}

/// A row waiting in the batch: where it starts and what was read.
#[derive(Default)]
struct Pending {
    line: u64,
    record: StringRecord,
    /// Why the reader could not split the row, if it could not.
    unreadable: Option<String>,
}

/// Gathers the rows of one file into a [`ParsedRoster`]: rows are validated
/// in batches over all cores, then, in file order, repeated codici fiscali or
/// PEC addresses are rejected and the rest kept, or handed to the sink.
pub struct RowCollector<'m, 's, 'w> {
    mapping: &'m HeaderMapping,
    sink: Option<RowSink<'s>>,
    /// Writes every reject as it is found; a write error is kept by the
    /// writer given (see [`Sinks::rejects`]), and the rest not written.
    rejects: Option<RejectsWriter<&'w mut dyn std::io::Write>>,
    /// The vector the next batch of accepted rows goes to, with a sink.
    spare: Vec<(Member, bool)>,
    /// Line where each codice fiscale / PEC first appeared.
    seen_cf: Seen,
    seen_pec: Seen,
    keys: KeyHasher,
    /// Reused across batches so that reading a row allocates nothing.
    batch: Vec<Pending>,
    filled: usize,
    /// Each batch row's outcome; reused too (a fresh one per batch is an mmap).
    outcomes: Vec<Outcome>,
    /// The digests of each valid row's codice fiscale and PEC; reused too.
    digests: Vec<Option<(KeyDigest, KeyDigest)>>,
    workers: usize,
    parsed: ParsedRoster,
}

impl<'m, 's, 'w> RowCollector<'m, 's, 'w> {
    /// Gathers the rows of `source`, read as `layout` says. `expected_rows`
    /// sizes the collections once instead of growing them. With a `sink`,
    /// accepted rows go there and the roster keeps only the rest.
    pub fn new(
        mapping: &'m HeaderMapping,
        source: &str,
        layout: SourceLayout,
        expected_rows: usize,
        sinks: Sinks<'s, 'w>,
    ) -> Self {
        let sink = sinks.rows;
        let rejects = sinks
            .rejects
            .and_then(|out| RejectsWriter::new(&layout, out).ok());
        let mut parsed = ParsedRoster {
            source: source.to_string(),
            layout,
            unknown_columns: mapping.unknown.clone(),
            provided: mapping.provided(),
            ..ParsedRoster::default()
        };
        if sink.is_none() {
            parsed.members.reserve(expected_rows);
        }
        // Rows stored while the file is read leave a core to the store's writer.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if sink.is_some() { cores - 1 } else { cores }.clamp(1, 4);
        Self {
            mapping,
            sink,
            rejects,
            spare: Vec::new(),
            seen_cf: Seen::with_capacity(expected_rows),
            seen_pec: Seen::with_capacity(expected_rows),
            keys: KeyHasher::new(),
            batch: Vec::new(),
            filled: 0,
            outcomes: Vec::new(),
            digests: Vec::new(),
            workers,
            parsed,
        }
    }

    /// Rows taken so far (validated or waiting).
    pub fn rows(&self) -> usize {
        self.parsed.rows_read + self.filled
    }

    /// The record to read the next row into; [`Self::keep`] takes it.
    pub fn slot(&mut self) -> &mut StringRecord {
        if self.filled == self.batch.len() {
            self.batch.push(Pending::default());
        }
        &mut self.batch[self.filled].record
    }

    /// Takes the non-blank row just read into [`Self::slot`], starting at `line`.
    pub fn keep(&mut self, line: u64) {
        self.keep_pending(line, None);
    }

    /// A row the reader could not split into fields.
    pub fn keep_unreadable(&mut self, line: u64, reason: String) {
        self.slot().clear();
        self.keep_pending(line, Some(reason));
    }

    fn keep_pending(&mut self, line: u64, unreadable: Option<String>) {
        let pending = &mut self.batch[self.filled];
        pending.line = line;
        pending.unreadable = unreadable;
        self.filled += 1;
        if self.filled == BATCH_ROWS {
            self.flush();
        }
    }

    /// Validates what is left and returns the roster.
    pub fn finish(mut self) -> ParsedRoster {
        self.flush();
        if let Some(rejects) = self.rejects.take() {
            // An error is kept by the writer given (see `Sinks::rejects`).
            let _ = rejects.finish();
        }
        self.parsed
    }

    fn flush(&mut self) {
        let batch = &self.batch[..self.filled];
        validate_batch(self.mapping, batch, self.workers, &mut self.outcomes);
        let mut accepted = std::mem::take(&mut self.spare);
        if self.sink.is_some() {
            accepted.reserve(batch.len());
        }
        let keys = &self.keys;
        self.digests.clear();
        self.digests
            .extend(self.outcomes.iter().map(|outcome| match outcome {
                Some(Ok((m, _))) => Some((keys.digest(&m.codice_fiscale), keys.digest(&m.pec))),
                _ => None,
            }));
        let rows = batch.iter().zip(self.outcomes.drain(..)).zip(&self.digests);
        for (row, ((pending, outcome), digests)) in rows.enumerate() {
            if row % TOUCHED_AHEAD == 0 {
                let ahead = &self.digests[row..(row + TOUCHED_AHEAD).min(self.digests.len())];
                touch_ahead(&self.seen_cf, &self.seen_pec, ahead);
            }
            self.parsed.rows_read += 1;
            let error = match (outcome, digests) {
                (Some(Ok((member, in_albo))), Some(digests)) => {
                    match duplicate_of(
                        &mut self.seen_cf,
                        &mut self.seen_pec,
                        *digests,
                        pending.line,
                    ) {
                        None if self.sink.is_some() => {
                            accepted.push((member, in_albo));
                            continue;
                        }
                        None => {
                            let list = if in_albo {
                                &mut self.parsed.members
                            } else {
                                &mut self.parsed.left_albo
                            };
                            list.push(member);
                            continue;
                        }
                        Some(error) => error,
                    }
                }
                (Some(Err(error)), _) => error,
                (Some(Ok(_)), None) => unreachable!("a digest for every valid row"),
                (None, _) => {
                    let unreadable = Reject {
                        line: pending.line,
                        field: None,
                        reason: pending.unreadable.clone().unwrap_or_default(),
                        record: Vec::new(),
                        keys: Vec::new(),
                    };
                    add_reject(&mut self.parsed, &mut self.rejects, unreadable);
                    continue;
                }
            };
            let rejected = reject(self.mapping, pending, error);
            add_reject(&mut self.parsed, &mut self.rejects, rejected);
        }
        self.filled = 0;
        self.spare = match &mut self.sink {
            Some(sink) if !accepted.is_empty() => sink(self.parsed.provided, accepted),
            _ => accepted,
        };
    }
}

/// Counts a rejected row, remembers its keys, writes it to the rejects
/// file if there is one, and keeps it if fewer than [`REJECTS_KEPT`] are.
fn add_reject(
    parsed: &mut ParsedRoster,
    rejects: &mut Option<RejectsWriter<&mut dyn std::io::Write>>,
    mut reject: Reject,
) {
    if let (SourceKind::Workbook { .. }, Some(header), Some(field)) =
        (&parsed.layout.kind, &parsed.layout.header, &reject.field)
    {
        // Name each faulty column by its letter too, as Excel shows it.
        if let Some(name) = super::workbook::name_column(header, field) {
            reject.field = Some(name);
        }
    }
    parsed.rejected += 1;
    for key in &reject.keys {
        parsed.rejected_keys.insert(key);
    }
    if let Some(writer) = rejects
        && writer.write(&reject).is_err()
    {
        // Kept by the writer given; nothing more is written.
        *rejects = None;
    }
    if parsed.rejects.len() < REJECTS_KEPT {
        parsed.rejects.push(reject);
    }
}

fn field_of<'r>(mapping: &HeaderMapping, record: &'r StringRecord, field: Field) -> &'r str {
    mapping
        .column(field)
        .and_then(|i| record.get(i))
        .map(|value| without_formula_guard(trimmed(value)))
        .unwrap_or_default()
}

/// `value.trim()`, without looking at each end's characters when they are
/// visible ASCII, as they are in most values.
fn trimmed(value: &str) -> &str {
    match value.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        [only] if only.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// pecdesk's exports put a `'` before a cell a spreadsheet would run as a
/// formula (`'+393471234567`, see [`crate::export::escape_formula`]); read
/// back, the guard goes, so an exported roster imports as it was.
pub fn without_formula_guard(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => value,
    }
}

/// None for an unreadable row.
type Outcome = Option<Result<(Member, bool), RowError>>;

fn validate_pending(mapping: &HeaderMapping, pending: &Pending) -> Outcome {
    if pending.unreadable.is_some() {
        return None;
    }
    // Each field trimmed once, not at each look.
    let values = Field::ALL.map(|field| field_of(mapping, &pending.record, field));
    Some(validate_row(|field| values[field as usize]))
}

/// Fills `outcomes` with each row's outcome, in order, using up to `workers` threads.
fn validate_batch(
    mapping: &HeaderMapping,
    batch: &[Pending],
    workers: usize,
    outcomes: &mut Vec<Outcome>,
) {
    outcomes.clear();
    if workers < 2 || batch.len() < PARALLEL_FROM {
        outcomes.extend(batch.iter().map(|p| validate_pending(mapping, p)));
        return;
    }
    outcomes.resize_with(batch.len(), || None);
    let chunk = batch.len().div_ceil(workers);
    std::thread::scope(|scope| {
        for (rows, slots) in batch.chunks(chunk).zip(outcomes.chunks_mut(chunk)) {
            scope.spawn(move || {
                for (pending, slot) in rows.iter().zip(slots) {
                    *slot = validate_pending(mapping, pending);
                }
            });
        }
    });
}

/// The reject for a row, with its fields as read for the rejects file.
fn reject(mapping: &HeaderMapping, pending: &Pending, (field, reason): RowError) -> Reject {
    let get = |field| field_of(mapping, &pending.record, field);
    Reject {
        line: pending.line,
        field: Some(mapping.name_of(field)),
        reason,
        record: pending.record.iter().map(str::to_string).collect(),
        keys: [
            get(Field::CodiceFiscale).to_uppercase(),
            get(Field::Pec).to_lowercase(),
        ]
        .into_iter()
        .filter(|k| !k.is_empty() && k.len() <= MAX_FIELD_CHARS)
        .collect(),
    }
}

/// The error for a repeated codice fiscale or PEC; records the member's keys otherwise.
/// Rows whose places in the duplicate checks' tables are touched together
/// before they are checked one by one (see [`touch_ahead`]).
const TOUCHED_AHEAD: usize = 128;

/// Loads the slots (and the entries they point to) where the keys of the
/// next rows go, all at once: at a million rows each table is far larger
/// than the CPU's caches, and a check a row at a time waited for one miss
/// after another (three quarters of [`RowCollector::flush`] at 1M, perf).
fn touch_ahead(seen_cf: &Seen, seen_pec: &Seen, ahead: &[Option<(KeyDigest, KeyDigest)>]) {
    let mut touched = 0u32;
    for (cf, pec) in ahead.iter().flatten() {
        touched = touched
            .wrapping_add(seen_cf.touch(cf))
            .wrapping_add(seen_pec.touch(pec));
    }
    std::hint::black_box(touched);
}

/// Whether the row's codice fiscale or PEC (`digests`) came before; if
/// not, both are remembered with the row's `line`.
fn duplicate_of(
    seen_cf: &mut Seen,
    seen_pec: &mut Seen,
    (cf, pec): (KeyDigest, KeyDigest),
    line: u64,
) -> Option<RowError> {
    if let Some(first) = seen_cf.get(&cf) {
        return Some((
            Field::CodiceFiscale,
            format!(
                "codice fiscale già presente alla riga {}",
                seen_cf.entries()[first].1
            ),
        ));
    }
    if let Some(first) = seen_pec.get(&pec) {
        return Some((
            Field::Pec,
            format!(
                "indirizzo PEC già presente alla riga {}",
                seen_pec.entries()[first].1
            ),
        ));
    }
    let line = FirstLine::try_from(line).unwrap_or(FirstLine::MAX);
    // Neither is there: both go in.
    let _ = seen_cf.insert((cf, line));
    let _ = seen_pec.insert((pec, line));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_every_accepted_form() {
        let d = NaiveDate::from_ymd_opt(1985, 3, 1);
        for text in [
            "01/03/1985",
            "1/3/1985",
            "1985-03-01",
            "01-03-1985",
            "01.03.1985",
            " 1/03/1985 ",
            "01/03/1985 00:00:00",
            "1985-03-01T00:00:00",
            "1985-03-01 00:00",
        ] {
            assert_eq!(parse_date(text), d, "{text}");
        }
        for bad in [
            "",
            "31/02/1985",
            "1/3/85",
            "1985/3",
            "1/3/1985/2",
            "a/b/cccc",
            "+1/3/1985",
            "1985-03-01 ore 10",
            "001/03/1985",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_export_formula_guard_is_undone() {
        for cell in ["=1+1", "+393471234567", "-x", "@SUM(A1)"] {
            let guarded = crate::export::escape_formula(cell);
            assert_eq!(without_formula_guard(&guarded), cell);
        }
        for cell in ["'Ndrangheta", "D'Angelo", "'", ""] {
            assert_eq!(without_formula_guard(cell), cell);
        }
    }

    #[test]
    fn states_that_mean_the_member_left() {
        for stato in [
            "Cancellato",
            "CANCELLATA",
            "cessato",
            "Radiato",
            "trasferito",
        ] {
            assert!(has_left_albo(stato, None), "{stato}");
        }
        for stato in ["", "Attivo", "iscritto", "Sospeso", "ATTIVA"] {
            assert!(!has_left_albo(stato, None), "{stato}");
        }
        assert!(has_left_albo("Attivo", NaiveDate::from_ymd_opt(2024, 1, 1)));
    }
}
