//! Fuzzy search over the roster with nucleo: every word of the query must match
//! (cognome, nome, codice fiscale, PEC or numero iscrizione), results ranked by
//! score. Typing more narrows the previous result instead of starting over, so
//! a keystroke costs a fraction of a full pass even at 100k members.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str, Utf32String};

use crate::store::RosterEntry;

pub struct Search {
    haystacks: Vec<Utf32String>,
    matcher: Matcher,
    /// The last query and every entry it matched (before any state filter).
    last: Option<(String, Vec<u32>)>,
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
    Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart)
}

impl Search {
    pub fn new(entries: &[RosterEntry]) -> Self {
        Self {
            haystacks: entries
                .iter()
                .map(|e| Utf32String::from(haystack(e)))
                .collect(),
            matcher: Matcher::new(Config::DEFAULT),
            last: None,
        }
    }

    /// Entries matching `query`, with their scores, in entry order.
    pub fn matches(&mut self, query: &str) -> Vec<(u32, u32)> {
        let pattern = pattern(query);
        let pool: Vec<u32> = match &self.last {
            Some((previous, matched)) if narrows(previous, query) => matched.clone(),
            _ => (0..self.haystacks.len() as u32).collect(),
        };
        let mut scored = Vec::with_capacity(pool.len());
        for index in pool {
            let haystack = self.haystacks[index as usize].slice(..);
            if let Some(score) = pattern.score(haystack, &mut self.matcher) {
                scored.push((index, score));
            }
        }
        self.last = Some((
            query.to_string(),
            scored.iter().map(|&(index, _)| index).collect(),
        ));
        scored
    }
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
}
