//! Fuzzy search over the roster with nucleo: every word of the query must match
//! (cognome, nome, codice fiscale, PEC or numero iscrizione), results ranked by
//! score. Typing more narrows the previous result instead of starting over, so
//! a keystroke costs a fraction of a full pass even at 100k members.

use nucleo_matcher::pattern::{Atom, AtomKind, CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str, Utf32String};

use crate::store::RosterEntry;

#[derive(Clone)]
pub struct Search {
    haystacks: Vec<Utf32String>,
    /// The queries typed since the search started, each with every entry it
    /// matched (before any state filter): typing on narrows the last one,
    /// deleting goes back to an earlier one without matching again.
    history: Vec<(String, Vec<(u32, u32)>)>,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("entries", &self.haystacks.len())
            .finish()
    }
}

/// The text a query is matched against.
fn haystack(entry: &RosterEntry) -> String {
    match &entry.member {
        Some(m) => format!(
            "{} {} {} {} {}",
            m.cognome,
            m.nome,
            m.codice_fiscale,
            entry.address(),
            m.numero_iscrizione
        ),
        None => entry.address().to_string(),
    }
}

/// Queries using nucleo's operators (negation, anchors, exact) may match more
/// when extended, so they are never narrowed incrementally.
fn narrows(previous: &str, query: &str) -> bool {
    !previous.is_empty()
        && query.starts_with(previous)
        && !query.contains(['!', '^', '$', '\'', '\\'])
}

pub fn pattern(query: &str) -> Pattern {
    let mut pattern = Pattern::default();
    for word in query.split_whitespace() {
        let mut chars = word.chars();
        let atom = match (chars.next(), chars.next()) {
            // A one-letter word matches where a substring search does, and the
            // substring search is far cheaper: it is the first keystroke of
            // every search, over the whole roster.
            (Some(c), None) if c.is_alphanumeric() => Atom::new(
                word,
                CaseMatching::Ignore,
                Normalization::Smart,
                AtomKind::Substring,
                false,
            ),
            _ => Atom::parse(word, CaseMatching::Ignore, Normalization::Smart),
        };
        pattern.atoms.push(atom);
    }
    pattern
}

impl Search {
    pub fn new(entries: &[RosterEntry]) -> Self {
        Self {
            haystacks: entries
                .iter()
                .map(|e| Utf32String::from(haystack(e)))
                .collect(),
            history: Vec::new(),
        }
    }

    /// Entries matching `query`, with their scores, in entry order.
    pub fn matches(&mut self, query: &str) -> Vec<(u32, u32)> {
        // Back to an earlier query (Backspace): its result is still here.
        while let Some((previous, _)) = self.history.last() {
            if previous == query {
                return self
                    .history
                    .last()
                    .map(|(_, m)| m.clone())
                    .unwrap_or_default();
            }
            if narrows(previous, query) {
                break;
            }
            self.history.pop();
        }
        let pattern = pattern(query);
        let scored = match self.history.last() {
            Some((_, matched)) => {
                let pool: Vec<u32> = matched.iter().map(|&(i, _)| i).collect();
                score(&self.haystacks, &pattern, &pool)
            }
            None => {
                let pool: Vec<u32> = (0..self.haystacks.len() as u32).collect();
                score(&self.haystacks, &pattern, &pool)
            }
        };
        self.history.push((query.to_string(), scored.clone()));
        scored
    }
}

/// Below this many candidates one thread is quicker than two.
const PARALLEL_FROM: usize = 20_000;

/// Scores `pool` against the pattern, on two threads for large pools (the
/// first keystroke of a search runs over the whole roster).
fn score(haystacks: &[Utf32String], pattern: &Pattern, pool: &[u32]) -> Vec<(u32, u32)> {
    let run = |part: &[u32]| {
        let mut matcher = Matcher::new(Config::DEFAULT);
        part.iter()
            .filter_map(|&i| {
                score_one(pattern, haystacks[i as usize].slice(..), &mut matcher)
                    .map(|score| (i, score))
            })
            .collect::<Vec<_>>()
    };
    if pool.len() < PARALLEL_FROM {
        return run(pool);
    }
    let (left, right) = pool.split_at(pool.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| run(right));
        let mut scored = run(left);
        scored.extend(other.join().expect("scoring thread"));
        scored
    })
}

/// Every word must match; the score is their sum. Fuzzy words are scored
/// greedily: the optimal alignment nucleo also offers costs several times more
/// per row and ranks names no better.
fn score_one(pattern: &Pattern, haystack: Utf32Str<'_>, matcher: &mut Matcher) -> Option<u32> {
    let mut total = 0u32;
    for atom in &pattern.atoms {
        let score = if atom.kind == AtomKind::Fuzzy && !atom.negative {
            matcher.config.ignore_case = true;
            matcher.config.normalize = true;
            matcher.fuzzy_match_greedy(haystack, atom.needle_text())?
        } else {
            atom.score(haystack, matcher)?
        };
        total += score as u32;
    }
    Some(total)
}

/// Character positions of `text` that the query's words match, for highlighting.
pub fn highlights(pattern: &Pattern, matcher: &mut Matcher, text: &str) -> Vec<u32> {
    let mut buf = Vec::new();
    let mut indices = Vec::new();
    for atom in &pattern.atoms {
        atom.indices(Utf32Str::new(text, &mut buf), matcher, &mut indices);
    }
    indices.sort_unstable();
    indices.dedup();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_only_for_plain_extensions() {
        assert!(narrows("ros", "rossi"));
        assert!(narrows("rossi", "rossi m"));
        assert!(!narrows("", "r"));
        assert!(!narrows("rossi", "ross"));
        assert!(!narrows("ros", "ros !m"));
    }

    #[test]
    fn deleting_returns_the_earlier_result_and_typing_narrows() {
        let entries: Vec<RosterEntry> = crate::sample::generate_roster(300, 5, "pec.fofi.it")
            .into_iter()
            .map(|m| RosterEntry {
                member_id: None,
                member: Some(m),
                in_roster: true,
                mailbox: None,
                aruba: Default::default(),
            })
            .collect();
        let mut search = Search::new(&entries);
        let r = search.matches("r");
        let ro = search.matches("ro");
        assert!(ro.len() <= r.len());
        assert_eq!(search.matches("r"), r);
        // A fresh index gives the same answers as the incremental one.
        let mut fresh = Search::new(&entries);
        assert_eq!(fresh.matches("ro"), ro);
        assert_eq!(search.matches("rossi"), fresh.matches("rossi"));
    }
}
