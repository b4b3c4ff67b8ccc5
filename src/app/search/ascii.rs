//! nucleo-matcher 0.3.1's scores for the words the search tries most, on
//! lower-case ASCII haystacks (the search's texts: see `haystacks`; an upper
//! case letter in a haystack is taken as another character), computed
//! here without its general dispatch: one-letter and exact words
//! (`Matcher::substring_match`) and fuzzy words matched greedily
//! (`Matcher::fuzzy_match_greedy`), with nucleo's default configuration.
//! At a million members a first letter is scored against every entry, and
//! nucleo's per-call work (a `memmem` finder built for each entry, a
//! two-byte `memchr` for each letter, its Unicode dispatch) took most of
//! the time. The results are nucleo's to the point, quirks included (an
//! exact word whose first letter is past its second character is looked
//! for only where nucleo looks): the tests compare both on every word and
//! haystack of a small alphabet, and on the roster's own texts.
//!
//! Anything else (a word or text that is not ASCII, an operator, the
//! optimal fuzzy alignment) goes to nucleo.

const SCORE_MATCH: u16 = 16;
const PENALTY_GAP_START: u16 = 3;
const PENALTY_GAP_EXTENSION: u16 = 1;
const BONUS_BOUNDARY: u16 = SCORE_MATCH / 2;
const BONUS_BOUNDARY_WHITE: u16 = BONUS_BOUNDARY + 2;
const BONUS_BOUNDARY_DELIMITER: u16 = BONUS_BOUNDARY + 1;
const BONUS_CAMEL123: u16 = BONUS_BOUNDARY - PENALTY_GAP_START;
const BONUS_NON_WORD: u16 = BONUS_BOUNDARY;
const BONUS_CONSECUTIVE: u16 = PENALTY_GAP_START + PENALTY_GAP_EXTENSION;
const BONUS_FIRST_CHAR_MULTIPLIER: u16 = 2;

/// nucleo's character classes, in its order (the bonus compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Whitespace,
    NonWord,
    Delimiter,
    Lower,
    Upper,
    Number,
}

/// What precedes the first character: nucleo's `initial_char_class`.
const INITIAL: Class = Class::Whitespace;

/// nucleo's class of an ASCII character (looked up: it is asked for every
/// character of a fuzzy match).
fn class(c: u8) -> Class {
    CLASSES[c as usize]
}

const CLASSES: [Class; 256] = {
    let mut classes = [Class::NonWord; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        classes[c] = if b.is_ascii_lowercase() {
            Class::Lower
        } else if b.is_ascii_uppercase() {
            Class::Upper
        } else if b.is_ascii_digit() {
            Class::Number
        } else if b.is_ascii_whitespace() {
            Class::Whitespace
        } else if matches!(b, b'/' | b',' | b':' | b';' | b'|') {
            Class::Delimiter
        } else {
            Class::NonWord
        };
        c += 1;
    }
    classes
};

/// nucleo's `Config::bonus_for`, looked up.
fn bonus(prev: Class, class: Class) -> u16 {
    BONUSES[prev as usize][class as usize]
}

const CLASS_COUNT: usize = 6;

const BONUSES: [[u16; CLASS_COUNT]; CLASS_COUNT] = {
    let all = [
        Class::Whitespace,
        Class::NonWord,
        Class::Delimiter,
        Class::Lower,
        Class::Upper,
        Class::Number,
    ];
    let mut table = [[0; CLASS_COUNT]; CLASS_COUNT];
    let mut p = 0;
    while p < CLASS_COUNT {
        let mut c = 0;
        while c < CLASS_COUNT {
            table[p][c] = bonus_for(all[p], all[c]);
            c += 1;
        }
        p += 1;
    }
    table
};

/// nucleo's `Config::bonus_for` with its default configuration.
const fn bonus_for(prev: Class, class: Class) -> u16 {
    let (prev, class) = (prev as u8, class as u8);
    if class > Class::Delimiter as u8 {
        if prev == Class::Whitespace as u8 {
            return BONUS_BOUNDARY_WHITE;
        } else if prev == Class::Delimiter as u8 {
            return BONUS_BOUNDARY_DELIMITER;
        } else if prev == Class::NonWord as u8 {
            return BONUS_BOUNDARY;
        }
    }
    if prev == Class::Lower as u8 && class == Class::Upper as u8
        || prev != Class::Number as u8 && class == Class::Number as u8
    {
        BONUS_CAMEL123
    } else if class == Class::Whitespace as u8 {
        BONUS_BOUNDARY_WHITE
    } else if class == Class::NonWord as u8 {
        BONUS_NON_WORD
    } else {
        0
    }
}

/// The class before position `i`.
fn class_before(haystack: &[u8], i: usize) -> Class {
    i.checked_sub(1).map_or(INITIAL, |i| class(haystack[i]))
}

/// The score of a match's first character at `i`, and its bonus.
fn first_char(haystack: &[u8], i: usize) -> (u16, u16) {
    let bonus = bonus(class_before(haystack, i), class(haystack[i]));
    (bonus * BONUS_FIRST_CHAR_MULTIPLIER + SCORE_MATCH, bonus)
}

/// nucleo's `calculate_score` for a match of `needle` from `start` to `end`.
fn calculate_score(haystack: &[u8], needle: &[u8], start: usize, end: usize) -> u16 {
    let mut prev_class = class_before(haystack, start);
    let mut next = 1;
    let mut needle_char = needle[0];
    let mut in_gap = false;
    let mut consecutive = 1;
    let class_start = class(haystack[start]);
    let mut first_bonus = bonus(prev_class, class_start);
    let mut score = SCORE_MATCH + first_bonus * BONUS_FIRST_CHAR_MULTIPLIER;
    prev_class = class_start;
    if let Some(&c) = needle.get(next) {
        needle_char = c;
        next += 1;
    }
    for &c in &haystack[start + 1..end] {
        let class = class(c);
        if c == needle_char {
            let mut bonus = bonus(prev_class, class);
            if consecutive != 0 {
                if bonus >= BONUS_BOUNDARY && bonus > first_bonus {
                    first_bonus = bonus
                }
                bonus = bonus.max(first_bonus).max(BONUS_CONSECUTIVE);
            } else {
                first_bonus = bonus;
            }
            score += SCORE_MATCH + bonus;
            in_gap = false;
            consecutive += 1;
            if let Some(&c) = needle.get(next) {
                needle_char = c;
                next += 1;
            }
        } else {
            let penalty = if in_gap {
                PENALTY_GAP_EXTENSION
            } else {
                PENALTY_GAP_START
            };
            score = score.saturating_sub(penalty);
            in_gap = true;
            consecutive = 0;
        }
        prev_class = class;
    }
    score
}

/// nucleo's `exact_match` of the whole haystack.
fn whole(haystack: &[u8], needle: &[u8]) -> Option<u16> {
    (haystack == needle).then(|| calculate_score(haystack, needle, 0, haystack.len()))
}

/// An ASCII word (in lower case, as nucleo keeps a case-ignoring needle)
/// scored as nucleo's substring atom.
pub(super) struct Substring {
    needle: Vec<u8>,
}

impl Substring {
    /// None for a word this module does not score.
    pub(super) fn new(needle: &str) -> Option<Self> {
        let ascii = !needle.is_empty()
            && needle.is_ascii()
            && !needle.bytes().any(|c| c.is_ascii_uppercase());
        ascii.then(|| Self {
            needle: needle.as_bytes().to_vec(),
        })
    }

    /// The word, in lower case.
    pub(super) fn needle(&self) -> &[u8] {
        &self.needle
    }

    /// `Matcher::substring_match` on a lower-case ASCII haystack.
    pub(super) fn score(&self, haystack: &[u8]) -> Option<u16> {
        let needle = &self.needle[..];
        if needle.len() > haystack.len() {
            return None;
        }
        if needle.len() == haystack.len() {
            return whole(haystack, needle);
        }
        if let &[c] = needle {
            return one_char(haystack, c);
        }
        let mut max_score = 0;
        let mut max_pos = 0;
        let mut consider = |i: usize, tail_matches: &dyn Fn(usize) -> bool| {
            let (score, bonus) = first_char(haystack, i);
            if score > max_score && tail_matches(i) {
                max_pos = i;
                max_score = score;
                // nucleo stops at the best possible first character.
                return bonus >= BONUS_BOUNDARY_WHITE;
            }
            false
        };
        let tail = |i: usize| same(&haystack[i + 1..i + needle.len()], &needle[1..]);
        let exact = |_: usize| true;
        match needle.iter().position(u8::is_ascii_lowercase) {
            // nucleo looks for the first character (either case when a
            // letter) where the whole word still fits, then at the rest.
            Some(0) | Some(1) => {
                let ends = haystack.len() - needle.len() + 1;
                for i in memchr::memchr_iter(needle[0], &haystack[..ends]) {
                    if consider(i, &tail) {
                        break;
                    }
                }
            }
            // The word's first letter later in it: nucleo looks for the word
            // as typed, in the haystack short of its last characters.
            Some(letter) => {
                let within = &haystack[..haystack.len() - needle.len() + letter];
                for i in occurrences(within, needle) {
                    if consider(i, &exact) {
                        break;
                    }
                }
            }
            // No letter: the word as typed, anywhere.
            None => {
                for i in occurrences(haystack, needle) {
                    if consider(i, &exact) {
                        break;
                    }
                }
            }
        }
        (max_score > 0).then(|| calculate_score(haystack, needle, max_pos, max_pos + needle.len()))
    }
}

impl Substring {
    /// `Matcher::substring_match` on a text nucleo holds as Unicode (it has
    /// a character that is not ASCII), given as its [`fold`]: nucleo's
    /// non-ASCII path, which looks at other occurrences than the ASCII one
    /// (never one that ends the text, the class before an occurrence taken
    /// from the occurrence before it) and so may score the same word on
    /// the same letters otherwise.
    pub(super) fn score_folded(&self, folded: &[u8]) -> Option<u16> {
        let needle = &self.needle[..];
        let n = needle.len();
        if n > folded.len() {
            return None;
        }
        if n == folded.len() {
            return whole(folded, needle);
        }
        // nucleo's `prefilter_non_ascii`: the first character where the
        // word still fits, and (for a longer word) its last character after it.
        let start = memchr::memchr(needle[0], &folded[..folded.len() - n + 1])?;
        let mut prev_class = class_before(folded, start);
        let first_class = class(needle[0]);
        let mut max_score = 0;
        let mut max_pos = 0;
        if let &[c] = needle {
            // `substring_match_1_non_ascii`.
            for _ in memchr::memchr_iter(c, &folded[start..]) {
                let bonus = bonus(prev_class, first_class);
                prev_class = first_class;
                let score = bonus * BONUS_FIRST_CHAR_MULTIPLIER + SCORE_MATCH;
                if score > max_score {
                    max_score = score;
                    if bonus >= BONUS_BOUNDARY_WHITE {
                        break;
                    }
                }
            }
            return Some(max_score);
        }
        let end = start + 1 + memchr::memrchr(needle[n - 1], &folded[start + 1..])? + 1;
        if end - start < n {
            return None;
        }
        // `substring_match_non_ascii`: starts short of the text's last `n`.
        for i in memchr::memchr_iter(needle[0], &folded[start..folded.len() - n]) {
            let i = start + i;
            let bonus = bonus(prev_class, first_class);
            prev_class = first_class;
            let score = bonus * BONUS_FIRST_CHAR_MULTIPLIER + SCORE_MATCH;
            if score > max_score && same(&folded[i + 1..i + n], &needle[1..]) {
                max_pos = i;
                max_score = score;
                if bonus >= BONUS_BOUNDARY_WHITE {
                    break;
                }
            }
        }
        (max_score > 0).then(|| calculate_score(folded, needle, max_pos, max_pos + n))
    }
}

/// Whether two short byte strings are equal: a loop, where a slice
/// comparison calls `memcmp` (a call per candidate, for two or three bytes).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The ASCII character nucleo compares `c` as, with case ignored and
/// normalisation on (as for every ASCII word: `Normalization::Smart`),
/// when its class is also that character's: then nucleo scores an ASCII
/// word on a text of such characters as on their folds (with its
/// non-ASCII path for exact words, [`Substring::score_folded`]). None for
/// anything else (`À`, whose class is upper case; a letter with no ASCII
/// form): nucleo scores such a text.
pub(super) fn fold(c: char) -> Option<u8> {
    use nucleo_matcher::chars;
    if c.is_ascii() {
        return (!c.is_ascii_uppercase()).then_some(c as u8);
    }
    // nucleo's `char_class_non_ascii`.
    let own = if c.is_lowercase() {
        Class::Lower
    } else if chars::is_upper_case(c) {
        Class::Upper
    } else if c.is_numeric() {
        Class::Number
    } else if c.is_alphabetic() {
        // nucleo's `Letter`, which no ASCII character has.
        return None;
    } else if c.is_whitespace() {
        Class::Whitespace
    } else {
        Class::NonWord
    };
    let folded = chars::to_lower_case(chars::normalize(c));
    (folded.is_ascii() && class(folded as u8) == own).then_some(folded as u8)
}

/// Where `needle` (two characters or more) is in `haystack`, left to right
/// and not overlapping, as memchr's `memmem::find_iter` (which nucleo uses)
/// finds it: a one-byte search and a comparison are quicker than a finder
/// on texts this short.
fn occurrences<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(found) = haystack
            .get(at..)
            .and_then(|rest| memchr::memchr(needle[0], rest))
        {
            let i = at + found;
            if haystack.len() - i >= needle.len() && same(&haystack[i..i + needle.len()], needle) {
                at = i + needle.len();
                return Some(i);
            }
            at = i + 1;
        }
        None
    })
}

/// nucleo's `substring_match_1_ascii`: the best-placed occurrence of `c`.
fn one_char(haystack: &[u8], c: u8) -> Option<u16> {
    let mut max_score = 0;
    for i in memchr::memchr_iter(c, haystack) {
        let (score, bonus) = first_char(haystack, i);
        if score > max_score {
            max_score = score;
            if bonus >= BONUS_BOUNDARY_WHITE {
                break;
            }
        }
    }
    (max_score > 0).then_some(max_score)
}

/// `Matcher::fuzzy_match_greedy` of an ASCII word (in lower case) on a
/// lower-case ASCII haystack; None for a word this module does not score.
pub(super) fn fuzzy_greedy(haystack: &[u8], needle: &[u8]) -> Option<u16> {
    if needle.len() > haystack.len() {
        return None;
    }
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() == haystack.len() {
        return whole(haystack, needle);
    }
    // nucleo's prefilter: the first character where the word still fits,
    // then each next one after the last.
    let find = |c: u8, within: &[u8]| memchr::memchr(c, within);
    let mut start = find(needle[0], &haystack[..haystack.len() - needle.len() + 1])?;
    let mut end = start + 1;
    for &c in &needle[1..] {
        end += find(c, &haystack[end..])? + 1;
    }
    if needle.len() != end - start {
        // The greedy match, made as short as it goes from its end back.
        let mut wanted = needle.iter().rev();
        let mut needle_char = *wanted.next().expect("not empty");
        for (i, &c) in haystack[start..end].iter().enumerate().rev() {
            if c == needle_char {
                match wanted.next() {
                    Some(&c) => needle_char = c,
                    None => {
                        start += i;
                        break;
                    }
                }
            }
        }
    }
    Some(calculate_score(haystack, needle, start, end))
}

/// Which characters of a text follow what, so that a one-character word is
/// scored from the text's bits without reading it: nucleo scores its best
/// occurrence, and that depends only on the class of the character before
/// it. Bits as `char_bit` gives them; the digits that follow a letter (the
/// one bonus that tells letters from digits before a character) above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Starts {
    /// Characters at the start or after whitespace.
    after_space: u64,
    /// Characters after a character of nucleo's `NonWord` class (`.`,
    /// `@`, `_`, `-`, `'`...), and at [`DIGIT_AFTER_LETTER`] + d the
    /// digits d that follow a letter.
    after_other: u64,
}

/// Where [`Starts::after_other`] keeps the digits that follow a letter.
const DIGIT_AFTER_LETTER: u32 = 48;

impl Starts {
    /// For a text these do not describe (a delimiter in it: nucleo gives a
    /// character after `/,:;|` a bonus of its own): the text is read.
    pub(super) const UNKNOWN: Starts = Starts {
        after_space: u64::MAX,
        after_other: u64::MAX,
    };

    /// The starts of a lower-case ASCII text.
    pub(super) fn of(text: &[u8]) -> Self {
        let mut starts = Starts {
            after_space: 0,
            after_other: 0,
        };
        let mut prev = INITIAL;
        for &c in text {
            let class = class(c);
            match (prev, super::char_bit(c as char)) {
                (Class::Delimiter, _) | (Class::Upper, _) => return Self::UNKNOWN,
                (Class::Whitespace, Some(bit)) => starts.after_space |= bit,
                (Class::NonWord, Some(bit)) => starts.after_other |= bit,
                (Class::Lower, _) if class == Class::Number => {
                    starts.after_other |= 1 << (DIGIT_AFTER_LETTER + u32::from(c - b'0'))
                }
                _ => (),
            }
            prev = class;
        }
        if prev == Class::Delimiter || prev == Class::Upper {
            return Self::UNKNOWN;
        }
        starts
    }

    /// nucleo's score of the one-character word `c` (whose bit is `bit`)
    /// on the text these describe, whose characters' bits are `mask`; None
    /// when unknown (read the text then).
    pub(super) fn one_char(&self, mask: u64, c: u8, bit: u64) -> Option<Option<u16>> {
        if *self == Self::UNKNOWN {
            return None;
        }
        if mask & bit == 0 {
            return Some(None);
        }
        let class = class(c);
        // Any occurrence follows a letter or a digit at worst.
        let mut best = bonus(Class::Lower, class).min(bonus(Class::Number, class));
        if self.after_space & bit != 0 {
            best = best.max(bonus(Class::Whitespace, class));
        }
        if self.after_other & bit != 0 {
            best = best.max(bonus(Class::NonWord, class));
        }
        if c.is_ascii_digit()
            && self.after_other & (1 << (DIGIT_AFTER_LETTER + u32::from(c - b'0'))) != 0
        {
            best = best.max(bonus(Class::Lower, class));
        }
        Some(Some(best * BONUS_FIRST_CHAR_MULTIPLIER + SCORE_MATCH))
    }
}

/// Whether a fuzzy word is scored here: ASCII, no upper case (nucleo's
/// needle when case is ignored).
pub(super) fn fuzzy_word(needle: &str) -> bool {
    !needle.is_empty() && needle.is_ascii() && !needle.bytes().any(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nucleo_matcher::{Config, Matcher, Utf32Str};

    /// Every haystack of up to `len` characters over `alphabet`.
    fn all_strings(alphabet: &[u8], len: usize) -> Vec<Vec<u8>> {
        let mut out = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..len {
            let mut next = Vec::new();
            for s in &last {
                for &c in alphabet {
                    let mut t: Vec<u8> = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            out.extend(next.iter().cloned());
            last = next;
        }
        out
    }

    fn nucleo_substring(matcher: &mut Matcher, haystack: &[u8], needle: &[u8]) -> Option<u16> {
        matcher.substring_match(Utf32Str::Ascii(haystack), Utf32Str::Ascii(needle))
    }

    /// The word's score here and nucleo's, alike.
    fn assert_substring_as_nucleo(matcher: &mut Matcher, haystack: &[u8], needle: &[u8]) {
        let word = Substring::new(std::str::from_utf8(needle).unwrap()).unwrap();
        assert_eq!(
            word.score(haystack),
            nucleo_substring(matcher, haystack, needle),
            "substring {:?} in {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(haystack)
        );
    }

    fn nucleo_fuzzy(matcher: &mut Matcher, haystack: &[u8], needle: &[u8]) -> Option<u16> {
        matcher.fuzzy_match_greedy(Utf32Str::Ascii(haystack), Utf32Str::Ascii(needle))
    }

    /// Every word of up to 3 characters on every haystack of up to 5, over
    /// an alphabet with a character of each class: the same scores.
    #[test]
    fn the_same_scores_as_nucleo_on_every_short_text() {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let haystacks = all_strings(b"ab1 .,-", 5);
        let needles = all_strings(b"ab1.", 3);
        for needle in needles.iter().filter(|n| !n.is_empty()) {
            for haystack in &haystacks {
                assert_substring_as_nucleo(&mut matcher, haystack, needle);
                assert_eq!(
                    fuzzy_greedy(haystack, needle),
                    nucleo_fuzzy(&mut matcher, haystack, needle),
                    "fuzzy {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(haystack)
                );
            }
        }
    }

    /// Occurrences that overlap are looked at as memmem's iterator finds
    /// them (after the end of the one before), also when a later one would
    /// score better.
    #[test]
    fn overlapping_occurrences_as_nucleo() {
        let mut matcher = Matcher::new(Config::DEFAULT);
        for (haystack, needle) in [
            ("11.1.1", "1.1"),
            ("a1.1.1", "1.1"),
            ("x00.00.00", "00.00"),
            ("a1a1a", "1a1"),
            ("b.1.1.1", ".1.1"),
        ] {
            assert_substring_as_nucleo(&mut matcher, haystack.as_bytes(), needle.as_bytes());
        }
    }

    /// A one-character word scored from a text's starts: as nucleo scores it
    /// on the text, on every text of a small alphabet with a character of
    /// each class (delimiters among them: read then).
    #[test]
    fn one_character_words_from_the_starts_as_nucleo() {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut known = 0;
        for haystack in all_strings(b"ab12 .'/", 5) {
            let starts = Starts::of(&haystack);
            let mask = super::super::mask_of(&haystack);
            for c in *b"ab12.'-@" {
                let bit = super::super::char_bit(c as char).unwrap();
                let Some(score) = starts.one_char(mask, c, bit) else {
                    assert!(haystack.contains(&b'/'), "{haystack:?}");
                    continue;
                };
                known += 1;
                assert_eq!(
                    score,
                    nucleo_substring(&mut matcher, &haystack, &[c]),
                    "{:?} in {:?}",
                    c as char,
                    String::from_utf8_lossy(&haystack)
                );
            }
        }
        assert!(known > 100_000);
    }

    /// A text that is not ASCII, scored on its fold as nucleo scores it as
    /// it is (its non-ASCII paths): every word of up to 3 characters on
    /// every text of up to 5 over an alphabet with accented letters and a
    /// character of each class; texts that do not fold are left to nucleo.
    #[test]
    fn folded_texts_score_as_nucleo_scores_them() {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let alphabet = ['a', 'ò', '1', ' ', '.', 'é', 'À', ','];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .filter(|t| t.chars().count() == texts.last().unwrap().chars().count())
                .flat_map(|t| alphabet.iter().map(move |&c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        let needles = all_strings(b"ao1.e", 3);
        let (mut compared, mut unlike_ascii) = (0, 0);
        for text in texts.iter().filter(|t| !t.is_ascii()) {
            let original = nucleo_matcher::Utf32String::from(text.as_str());
            let folded: Option<Vec<u8>> = text.chars().map(fold).collect();
            let Some(folded) = folded else {
                assert!(text.contains('À'), "{text:?}");
                continue;
            };
            for needle in needles.iter().filter(|n| !n.is_empty()) {
                let word = Substring::new(std::str::from_utf8(needle).unwrap()).unwrap();
                assert_eq!(
                    word.score_folded(&folded),
                    matcher.substring_match(original.slice(..), Utf32Str::Ascii(needle)),
                    "substring {:?} in {text:?}",
                    String::from_utf8_lossy(needle),
                );
                assert_eq!(
                    fuzzy_greedy(&folded, needle),
                    matcher.fuzzy_match_greedy(original.slice(..), Utf32Str::Ascii(needle)),
                    "fuzzy {:?} in {text:?}",
                    String::from_utf8_lossy(needle),
                );
                compared += 1;
                unlike_ascii += usize::from(word.score_folded(&folded) != word.score(&folded));
            }
        }
        assert!(compared > 100_000, "{compared}");
        // nucleo's two paths differ: the fold needs its own.
        assert!(unlike_ascii > 0);
        assert_eq!(fold('ò'), Some(b'o'));
        assert_eq!(fold('À'), None, "upper case: nucleo's class is another");
        assert_eq!(fold('A'), None, "the texts are in lower case");
    }

    /// The roster's own texts, with the words people type.
    #[test]
    fn the_same_scores_as_nucleo_on_roster_texts() {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let members = crate::sample::generate_roster(3000, 11, "pec.fofi.it");
        let words = [
            "r",
            "ro",
            "ros",
            "rossi",
            "mar",
            "rossi.m",
            "c",
            "co",
            "z",
            "1",
            "3",
            "34",
            "347",
            "12",
            "1234",
            "+3",
            "+39",
            "+393",
            "@",
            "@pec",
            "pec.fofi",
            ".",
            "_",
            "-",
            "rss",
            "rssmra",
            "rssmra80",
            "80a",
            "a41",
            "h501",
            "giulia42@libero",
            "libero.it",
            "a",
            "ia",
            "mra80a",
            "0",
            "00",
            "x",
            "'",
            "d'",
            "luca.rossi@pec",
            "nicol",
            "e4",
            "a1b",
            "mrs80a41h501x",
            "it",
        ];
        for m in &members {
            let names = format!(
                "{} {} {} {} {}",
                m.cognome, m.nome, m.codice_fiscale, m.pec, m.numero_iscrizione
            )
            .to_ascii_lowercase();
            let contacts = [m.email_servizio.as_deref(), m.cellulare.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            for text in [names, contacts] {
                if !text.is_ascii() {
                    continue;
                }
                for word in words {
                    let needle = word.as_bytes();
                    assert_substring_as_nucleo(&mut matcher, text.as_bytes(), needle);
                    assert_eq!(
                        fuzzy_greedy(text.as_bytes(), needle),
                        nucleo_fuzzy(&mut matcher, text.as_bytes(), needle),
                        "fuzzy {word:?} in {text:?}"
                    );
                }
            }
        }
    }
}
