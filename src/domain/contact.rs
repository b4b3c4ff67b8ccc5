//! E-mail and mobile number validation, normalisation and masking.

/// Why an e-mail address or mobile number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("indirizzo e-mail non valido: {0}")]
    Email(String),
    #[error("numero di cellulare non valido: {0}")]
    Mobile(String),
}

/// Validates an e-mail address and returns it trimmed and lower-cased.
/// Deliberately simple: one '@', a non-empty local part of safe characters,
/// and a dotted domain of letters, digits and hyphens.
pub fn normalize_email(input: &str) -> Result<String, ContactError> {
    let trimmed = input.trim();
    // Nearly every address is ASCII, lowered without Unicode's tables (an
    // import checks two a row).
    let email = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        trimmed.to_lowercase()
    };
    if email_is_valid(email.as_bytes()) {
        Ok(email)
    } else {
        Err(ContactError::Email(trimmed.to_string()))
    }
}

/// The rules of [`normalize_email`] on the address lowered, byte by byte:
/// every character they allow is ASCII, so a byte of a longer character
/// fails them as the character would.
fn email_is_valid(email: &[u8]) -> bool {
    let Some(at) = email.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&email[..at], &email[at + 1..]);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.first() != Some(&b'.')
        && local.last() != Some(&b'.')
        && !local.windows(2).any(|pair| pair == b"..")
        && (local.iter()).all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
        });
    let domain_ok = domain.contains(&b'.')
        && domain.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.first() != Some(&b'-')
                && label.last() != Some(&b'-')
                && label
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
        && (domain.rsplit(|&b| b == b'.').next()).is_some_and(|tld| tld.len() >= 2);
    local_ok && domain_ok && email.len() <= 254
}

/// The domain of an address, lower case.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// Normalises an Italian mobile number to E.164 (+39...). Accepts spaces, dots,
/// dashes, slashes and a 0039 or +39 prefix.
pub fn normalize_mobile(input: &str) -> Result<String, ContactError> {
    let bad = || ContactError::Mobile(input.trim().to_string());
    // Room for a +39 prefix too, so that the usual number allocates once.
    let mut compact = String::with_capacity(input.len() + 3);
    compact.extend(input.trim().chars().filter(|c| !" .-/()".contains(*c)));
    let (national, prefix) = if let Some(rest) = compact.strip_prefix("+39") {
        (rest, 3)
    } else if let Some(rest) = compact.strip_prefix("0039") {
        (rest, 4)
    } else if let Some(digits) = compact.strip_prefix('+') {
        // A foreign mobile: keep it if it looks like E.164.
        return if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(compact)
        } else {
            Err(bad())
        };
    } else if compact.len() >= 11 && compact.starts_with("393") {
        // +39 written without the plus, as a number cell holds it
        // (393471234567): no national mobile has 11 or 12 digits.
        (&compact[2..], 2)
    } else {
        (compact.as_str(), 0)
    };
    // Italian mobiles start with 3 and have 9 or 10 digits.
    if national.starts_with('3')
        && (9..=10).contains(&national.len())
        && national.chars().all(|c| c.is_ascii_digit())
    {
        compact.replace_range(..prefix, "+39");
        Ok(compact)
    } else {
        Err(bad())
    }
}

/// Masks an e-mail address the way the provider's recovery page shows it:
/// `marisa@inwind.it` becomes `*****sa@i*****.it`.
pub fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return "*****".to_string();
    };
    // The last two characters (not bytes) of the local part; sliced, not
    // collected: a report masks one address per row.
    let tail = &local[local.char_indices().rev().nth(1).map_or(0, |(i, _)| i)..];
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let first = &host[..host.chars().next().map_or(0, char::len_utf8)];
    let mut masked = String::with_capacity(12 + tail.len() + first.len() + tld.len());
    for part in ["*****", tail, "@", first, "*****.", tld] {
        masked.push_str(part);
    }
    masked
}

/// Masks a mobile number, keeping the last three digits: `+39*******567`.
pub fn mask_mobile(mobile: &str) -> String {
    // Three kept, or fewer when the whole number (prefix included) is shorter.
    let keep = mobile.chars().take(3).count();
    let (prefix, rest) = match mobile.strip_prefix("+39") {
        Some(rest) => ("+39", rest),
        None => ("", mobile),
    };
    let hidden = rest.chars().count().saturating_sub(keep);
    let shown = &rest[rest
        .char_indices()
        .nth(hidden)
        .map_or(rest.len(), |(i, _)| i)..];
    let mut masked = String::with_capacity(prefix.len() + hidden + shown.len());
    masked.push_str(prefix);
    masked.extend(std::iter::repeat_n('*', hidden));
    masked.push_str(shown);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Mario.Rossi@Example.IT ").unwrap(),
            "mario.rossi@example.it"
        );
        assert_eq!(
            normalize_email("d'angelo@libero.it").unwrap(),
            "d'angelo@libero.it"
        );
        for bad in [
            "", "mario", "mario@", "@x.it", "a@b", "a@@b.it", "a b@c.it", "a@b..it", "a@-b.it",
            "a@b.i",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        // Unicode's lower case still applies beyond ASCII (the Kelvin sign
        // is a k), and a letter beyond ASCII is refused.
        assert_eq!(normalize_email("MAR\u{212A}@X.IT").unwrap(), "mark@x.it");
        assert!(normalize_email("zoè@x.it").is_err());
    }

    /// The rules as first written, on characters: the byte-wise check must
    /// agree with them on every input.
    fn email_is_valid_by_chars(email: &str) -> bool {
        let Some((local, domain)) = email.split_once('@') else {
            return false;
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.as_bytes().windows(2).any(|pair| pair == b"..")
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'')
            });
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
        local_ok && domain_ok && email.len() <= 254
    }

    #[test]
    fn emails_are_checked_byte_by_byte_as_by_characters() {
        let long_local = format!("{}@x.it", "a".repeat(65));
        let long = format!("a@{}.it", "b".repeat(252));
        let mut cases = vec![
            "mario.rossi@example.it",
            "m@x.it",
            "",
            "@",
            "a@",
            "@b.it",
            "a@b",
            "a@b.",
            "a@.b.it",
            "a@b.c",
            "a@b.cd",
            "a@@b.it",
            "a@b@c.it",
            ".a@b.it",
            "a.@b.it",
            "a..b@c.it",
            "a.b@c.it",
            "a@b..it",
            "a@-b.it",
            "a@b-.it",
            "a@b-c.it",
            "a@b_c.it",
            "a b@c.it",
            "a%b+c-d'e_f@g.it",
            "a!b@c.it",
            "a@b.i-t",
            "a@b.-it",
            "è@b.it",
            "a@bè.it",
            "a@b.itè",
            "\u{212a}@b.it",
            "ä@ö.ü",
            "a@b.IT",
            "a@1.23",
            "a@b.c-",
            &long_local,
            &long,
        ];
        let sixty_four = format!("{}@x.it", "a".repeat(64));
        cases.push(&sixty_four);
        for case in cases {
            assert_eq!(
                email_is_valid(case.as_bytes()),
                email_is_valid_by_chars(case),
                "{case}"
            );
            let by_chars = email_is_valid_by_chars(&case.trim().to_lowercase())
                .then(|| case.trim().to_lowercase());
            assert_eq!(normalize_email(case).ok(), by_chars, "{case}");
        }
    }

    #[test]
    fn mobiles() {
        assert_eq!(normalize_mobile("347 123 4567").unwrap(), "+393471234567");
        assert_eq!(
            normalize_mobile("+39 347-1234567").unwrap(),
            "+393471234567"
        );
        assert_eq!(
            normalize_mobile("0039.347.123.4567").unwrap(),
            "+393471234567"
        );
        // +39 without the plus, as a number cell in a workbook holds it.
        assert_eq!(normalize_mobile("393471234567").unwrap(), "+393471234567");
        assert_eq!(
            normalize_mobile("+41 79 123 45 67").unwrap(),
            "+41791234567"
        );
        for bad in ["", "06 1234567", "347", "34712345678901", "abc"] {
            assert!(normalize_mobile(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask_email("marisa@inwind.it"), "*****sa@i*****.it");
        assert_eq!(mask_email("a@b.com"), "*****a@b*****.com");
        assert_eq!(mask_mobile("+393471234567"), "+39*******567");
        // Characters, not bytes, and short or odd values.
        assert_eq!(mask_email("zoè@cà.it"), "*****oè@c*****.it");
        assert_eq!(mask_email("è@àb"), "*****è@à*****.");
        assert_eq!(mask_email("@.x"), "*****@*****.x");
        assert_eq!(mask_email("mario"), "*****");
        assert_eq!(mask_mobile("+41791234567"), "*********567");
        assert_eq!(mask_mobile("+39"), "+39");
        assert_eq!(mask_mobile("+391"), "+391");
        assert_eq!(mask_mobile("12"), "12");
        assert_eq!(mask_mobile("+39³²¹⁰"), "+39*²¹⁰");
        assert_eq!(mask_mobile(""), "");
    }
}
