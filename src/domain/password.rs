//! The password policy of both procedures, and a generator of compliant
//! temporary passwords. A password is never stored: these functions only look.

use rand::Rng;
use rand::seq::SliceRandom;

/// The six rules, in the order the procedures list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordRule {
    /// Must not contain the user id (the mailbox name).
    NoUserId,
    /// At least 8 characters.
    MinLength,
    /// At least one upper-case and one lower-case letter.
    UpperAndLower,
    /// At least one digit.
    Digit,
    /// At least one special character.
    Special,
    /// No more than two identical characters in a row.
    NoTripleRepeat,
}

impl PasswordRule {
    pub const ALL: [PasswordRule; 6] = [
        PasswordRule::NoUserId,
        PasswordRule::MinLength,
        PasswordRule::UpperAndLower,
        PasswordRule::Digit,
        PasswordRule::Special,
        PasswordRule::NoTripleRepeat,
    ];

    /// Stable machine name, used in the provider contract.
    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::NoUserId => "contains_user_id",
            PasswordRule::MinLength => "too_short",
            PasswordRule::UpperAndLower => "missing_upper_or_lower",
            PasswordRule::Digit => "missing_digit",
            PasswordRule::Special => "missing_special",
            PasswordRule::NoTripleRepeat => "repeated_characters",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The rule as the procedures word it, in Italian.
    pub fn description_it(self) -> &'static str {
        match self {
            PasswordRule::NoUserId => "non deve contenere l'user id",
            PasswordRule::MinLength => "almeno 8 caratteri",
            PasswordRule::UpperAndLower => "almeno una lettera maiuscola e una minuscola",
            PasswordRule::Digit => "almeno un numero (0-9)",
            PasswordRule::Special => "almeno un carattere speciale (es. ? ! / ; @)",
            PasswordRule::NoTripleRepeat => "non più di due caratteri uguali consecutivi",
        }
    }
}

pub const MIN_LENGTH: usize = 8;

fn is_special(c: char) -> bool {
    !c.is_ascii_alphanumeric() && !c.is_whitespace() && c.is_ascii_graphic()
}

/// The mailbox name (user id) of an address: the part before '@', lower case.
pub fn user_id_of(address: &str) -> String {
    address
        .split('@')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase()
}

/// Every rule the password breaks, in policy order (empty when it complies).
pub fn check(password: &str, user_id: &str) -> Vec<PasswordRule> {
    let mut broken = Vec::new();
    let user_id = user_id.trim().to_lowercase();
    if !user_id.is_empty() && password.to_lowercase().contains(&user_id) {
        broken.push(PasswordRule::NoUserId);
    }
    if password.chars().count() < MIN_LENGTH {
        broken.push(PasswordRule::MinLength);
    }
    let has_upper = password.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = password.chars().any(|c| c.is_ascii_lowercase());
    if !(has_upper && has_lower) {
        broken.push(PasswordRule::UpperAndLower);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        broken.push(PasswordRule::Digit);
    }
    if !password.chars().any(is_special) {
        broken.push(PasswordRule::Special);
    }
    let chars: Vec<char> = password.chars().collect();
    if chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        broken.push(PasswordRule::NoTripleRepeat);
    }
    broken
}

// Characters easy to read out on the phone: no 0/O, 1/l/I.
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SPECIAL: &[u8] = b"?!/;@#+*";

/// A temporary password of `length` (at least 12 is advised) that complies with
/// every rule for `user_id`.
pub fn generate(rng: &mut impl Rng, user_id: &str, length: usize) -> String {
    let length = length.max(MIN_LENGTH);
    loop {
        let mut chars: Vec<u8> = vec![
            UPPER[rng.random_range(0..UPPER.len())],
            LOWER[rng.random_range(0..LOWER.len())],
            DIGITS[rng.random_range(0..DIGITS.len())],
            SPECIAL[rng.random_range(0..SPECIAL.len())],
        ];
        let all: Vec<u8> = [UPPER, LOWER, DIGITS, SPECIAL].concat();
        while chars.len() < length {
            chars.push(all[rng.random_range(0..all.len())]);
        }
        chars.shuffle(rng);
        let candidate = String::from_utf8(chars).expect("ASCII");
        if check(&candidate, user_id).is_empty() {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PasswordRule::*;
    use super::*;
    use rand::SeedableRng;

    const USER: &str = "mario.rossi";

    #[test]
    fn a_compliant_password_breaks_nothing() {
        assert!(check("Farm4cia!2025", USER).is_empty());
    }

    #[test]
    fn rule_no_user_id() {
        assert_eq!(check("Xmario.rossi1!", USER), vec![NoUserId]);
        assert_eq!(check("MARIO.ROSSI1!a", USER), vec![NoUserId]);
    }

    #[test]
    fn rule_min_length() {
        assert_eq!(check("Ab1!xyz", USER), vec![MinLength]);
        assert!(check("Ab1!xyzw", USER).is_empty());
    }

    #[test]
    fn rule_upper_and_lower() {
        assert_eq!(check("abcdef1!", USER), vec![UpperAndLower]);
        assert_eq!(check("ABCDEF1!", USER), vec![UpperAndLower]);
    }

    #[test]
    fn rule_digit() {
        assert_eq!(check("Abcdefg!", USER), vec![Digit]);
    }

    #[test]
    fn rule_special() {
        assert_eq!(check("Abcdefg1", USER), vec![Special]);
    }

    #[test]
    fn rule_no_triple_repeat() {
        assert_eq!(check("Abbbcd1!", USER), vec![NoTripleRepeat]);
        assert!(check("Abbcdd1!", USER).is_empty());
    }

    #[test]
    fn every_broken_rule_is_reported() {
        assert_eq!(
            check("aaa", "aaa"),
            vec![
                NoUserId,
                MinLength,
                UpperAndLower,
                Digit,
                Special,
                NoTripleRepeat
            ]
        );
    }

    #[test]
    fn codes_round_trip() {
        for rule in PasswordRule::ALL {
            assert_eq!(PasswordRule::from_code(rule.code()), Some(rule));
        }
    }

    #[test]
    fn generated_passwords_comply() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let pw = generate(&mut rng, USER, 12);
            assert_eq!(pw.len(), 12);
            assert!(check(&pw, USER).is_empty(), "{pw}");
        }
    }
}
