//! Codice fiscale validation: format, omocodia and the check character.

use std::fmt;

/// Why a codice fiscale was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("deve avere 16 caratteri, ne ha {0}")]
    Length(usize),
    #[error("carattere non valido in posizione {position}: '{found}'")]
    Format { position: usize, found: char },
    #[error("carattere di controllo errato: atteso '{expected}', trovato '{found}'")]
    CheckCharacter { expected: char, found: char },
}

/// A syntactically valid codice fiscale, upper case, check character verified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodiceFiscale(String);

/// Letters that replace digits in omocodic codes, indexed by the digit they stand for.
const OMOCODIA: [u8; 10] = *b"LMNPQRSTUV";

/// Positions that hold digits in a regular code (and may hold OMOCODIA letters).
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

const ODD_VALUES: [u32; 36] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
    23, // A-Z
];

fn char_index(c: u8) -> usize {
    if c.is_ascii_digit() {
        (c - b'0') as usize
    } else {
        (c - b'A') as usize + 10
    }
}

/// The check character for the first 15 characters of a code (upper case ASCII).
pub fn check_character(first15: &str) -> char {
    let sum: u32 = first15
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let idx = char_index(c);
            if i % 2 == 0 {
                ODD_VALUES[idx]
            } else if idx < 10 {
                idx as u32
            } else {
                (idx - 10) as u32
            }
        })
        .sum();
    (b'A' + (sum % 26) as u8) as char
}

fn is_digit_position(i: usize) -> bool {
    DIGIT_POSITIONS.contains(&i)
}

impl CodiceFiscale {
    /// Parses a code, ignoring surrounding spaces and case.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        let code = input.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if len != 16 {
            return Err(CodiceFiscaleError::Length(len));
        }
        for (i, c) in code.chars().enumerate() {
            let ok = match i {
                15 => c.is_ascii_uppercase(),
                _ if is_digit_position(i) => c.is_ascii_digit() || OMOCODIA.contains(&(c as u8)),
                _ => c.is_ascii_uppercase(),
            };
            if !ok {
                return Err(CodiceFiscaleError::Format {
                    position: i + 1,
                    found: c,
                });
            }
        }
        let month = code.as_bytes()[8];
        if !b"ABCDEHLMPRST".contains(&month) {
            return Err(CodiceFiscaleError::Format {
                position: 9,
                found: month as char,
            });
        }
        let expected = check_character(&code[..15]);
        let found = code.as_bytes()[15] as char;
        if expected != found {
            return Err(CodiceFiscaleError::CheckCharacter { expected, found });
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code, upper case, as a String.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether some digits were replaced by letters (omocodia).
    pub fn is_omocodic(&self) -> bool {
        DIGIT_POSITIONS
            .iter()
            .any(|&i| !self.0.as_bytes()[i].is_ascii_digit())
    }

    /// The code with omocodic letters turned back into digits (check character recomputed).
    pub fn canonical(&self) -> String {
        let mut bytes = self.0.as_bytes()[..15].to_vec();
        for &i in &DIGIT_POSITIONS {
            if let Some(d) = OMOCODIA.iter().position(|&l| l == bytes[i]) {
                bytes[i] = b'0' + d as u8;
            }
        }
        let first15 = String::from_utf8(bytes).expect("ASCII");
        let check = check_character(&first15);
        format!("{first15}{check}")
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds a valid code from its 15 leading characters (for sample rosters and tests).
pub fn complete(first15: &str) -> String {
    let upper = first15.to_ascii_uppercase();
    let check = check_character(&upper);
    format!("{upper}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_code() {
        // The well-known example code of the Agenzia delle Entrate.
        let cf = CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
        assert!(!cf.is_omocodic());
    }

    #[test]
    fn accepts_lower_case_and_spaces() {
        assert!(CodiceFiscale::parse("  rssmra85t10a562s ").is_ok());
    }

    #[test]
    fn rejects_a_wrong_check_character() {
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562T"),
            Err(CodiceFiscaleError::CheckCharacter {
                expected: 'S',
                found: 'T'
            })
        );
    }

    #[test]
    fn rejects_wrong_length_and_format() {
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562"),
            Err(CodiceFiscaleError::Length(15))
        );
        assert!(matches!(
            CodiceFiscale::parse("RSSMRA8AT10A562S"),
            Err(CodiceFiscaleError::Format { position: 8, .. })
        ));
        assert!(matches!(
            CodiceFiscale::parse("RSSMRA85Z10A562S"),
            Err(CodiceFiscaleError::Format { position: 9, .. })
        ));
        assert!(matches!(
            CodiceFiscale::parse("RSSMRA85T10A56*S"),
            Err(CodiceFiscaleError::Format { .. })
        ));
    }

    #[test]
    fn accepts_omocodic_codes() {
        // Last digit 2 -> N, then 6 -> S: each variant has its own check character.
        let one = complete("RSSMRA85T10A56N");
        let two = complete("RSSMRA85T10A5SN");
        for code in [&one, &two] {
            let cf = CodiceFiscale::parse(code).unwrap();
            assert!(cf.is_omocodic());
            assert_eq!(cf.canonical(), "RSSMRA85T10A562S");
        }
        // A letter outside the omocodia set in a digit position is refused.
        assert!(CodiceFiscale::parse(&complete("RSSMRA85T10A56A")).is_err());
    }

    #[test]
    fn rejects_omocodic_code_with_wrong_check() {
        let good = complete("RSSMRA85T10A56N");
        let mut bad = good[..15].to_string();
        bad.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            CodiceFiscale::parse(&bad),
            Err(CodiceFiscaleError::CheckCharacter { .. })
        ));
    }
}
