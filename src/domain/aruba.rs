//! The old provider's side of a mailbox: what Aruba's partner API says about
//! it (status, owner's contact e-mail and mobile) and how that compares with
//! the roster. The new provider takes the recovery address from the Aruba
//! mailbox, so a missing or wrong contact there locks the member out after
//! the passage.

use super::Member;
use super::contact;

/// An account status as Aruba writes it (`CERTIFICATO`, ...). The published
/// spec gives no list; these are the states its descriptions name, the rest
/// are kept as Aruba sent them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArubaStatus {
    Certified,
    ToCertify,
    Suspended,
    CancellationRequested,
    CancellationRequestedSuspended,
    Cancelled,
    Other(String),
}

impl ArubaStatus {
    pub fn from_code(code: &str) -> Self {
        match code.trim().to_ascii_uppercase().replace(' ', "_").as_str() {
            "CERTIFICATO" => Self::Certified,
            "DA_CERTIFICARE" => Self::ToCertify,
            "SOSPESO" | "SOSPESA" => Self::Suspended,
            "RICHIESTA_DISDETTA" => Self::CancellationRequested,
            "RICHIESTA_DISDETTA_SOSPESA" => Self::CancellationRequestedSuspended,
            "DISDETTO" | "DISDETTA" | "CANCELLATO" => Self::Cancelled,
            _ => Self::Other(code.trim().to_string()),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Certified => "CERTIFICATO",
            Self::ToCertify => "DA_CERTIFICARE",
            Self::Suspended => "SOSPESO",
            Self::CancellationRequested => "RICHIESTA_DISDETTA",
            Self::CancellationRequestedSuspended => "RICHIESTA_DISDETTA_SOSPESA",
            Self::Cancelled => "DISDETTO",
            Self::Other(code) => code,
        }
    }

    /// In Italian, for the staff.
    pub fn label_it(&self) -> String {
        match self {
            Self::Certified => "certificata".into(),
            Self::ToCertify => "da certificare".into(),
            Self::Suspended => "sospesa".into(),
            Self::CancellationRequested => "disdetta richiesta".into(),
            Self::CancellationRequestedSuspended => "disdetta richiesta, sospesa".into(),
            Self::Cancelled => "disdetta".into(),
            Self::Other(code) => code.to_lowercase().replace('_', " "),
        }
    }

    /// Suspended or on its way out: the member cannot migrate from it.
    pub fn blocks_migration(&self) -> bool {
        !matches!(self, Self::Certified | Self::ToCertify)
    }
}

/// One mailbox of the Ordine's domain as Aruba lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArubaMailbox {
    /// The full address, lower case.
    pub address: String,
    pub status: ArubaStatus,
    /// Aruba's owner id, needed to change the contacts.
    pub owner_id: Option<i64>,
    /// The owner's contact e-mail (lower case), which the new provider inherits
    /// as the recovery address.
    pub contact_email: Option<String>,
    /// The owner's mobile, in E.164 when it reads as a mobile number.
    pub contact_mobile: Option<String>,
}

/// What is known of a roster entry's mailbox at Aruba.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ArubaSide {
    /// No complete Aruba listing stored yet (or Aruba not configured).
    #[default]
    Unknown,
    /// Listed the domain: this address was not there.
    Missing,
    Present(ArubaMailbox),
}

impl ArubaSide {
    pub fn mailbox(&self) -> Option<&ArubaMailbox> {
        match self {
            ArubaSide::Present(m) => Some(m),
            _ => None,
        }
    }
}

/// What the roster says the contacts should be, and how Aruba differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDiff {
    /// The roster's e-mail, when Aruba has another (or none).
    pub email: Option<String>,
    /// The roster's mobile, when Aruba has another (or none).
    pub mobile: Option<String>,
}

impl ContactDiff {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.mobile.is_none()
    }
}

/// A mobile as Aruba may write it (`+39.3331234567`, `3331234567`) in the
/// roster's form, E.164; unreadable ones are kept as they are.
pub fn normalize_aruba_mobile(mobile: &str) -> String {
    contact::normalize_mobile(mobile).unwrap_or_else(|_| mobile.trim().to_string())
}

/// A mobile in the form Aruba's example shows (`3334445556`): national digits
/// for an Italian number, E.164 otherwise.
pub fn aruba_mobile_form(e164: &str) -> String {
    e164.strip_prefix("+39").unwrap_or(e164).to_string()
}

fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn same_mobile(a: &str, b: &str) -> bool {
    normalize_aruba_mobile(a) == normalize_aruba_mobile(b)
}

/// The changes that would make Aruba's contacts the roster's: only fields the
/// roster has, and only where Aruba has something else.
pub fn contact_diff(
    roster_email: Option<&str>,
    roster_mobile: Option<&str>,
    aruba_email: Option<&str>,
    aruba_mobile: Option<&str>,
) -> ContactDiff {
    let email = roster_email
        .filter(|r| !aruba_email.is_some_and(|a| same_email(r, a)))
        .map(|r| r.trim().to_lowercase());
    let mobile = roster_mobile
        .filter(|r| !aruba_mobile.is_some_and(|a| same_mobile(r, a)))
        .map(|r| r.trim().to_string());
    ContactDiff { email, mobile }
}

/// No e-mail at Aruba: the new provider will have no address to send the
/// recovery link to, and the member will be locked out after the passage.
pub fn has_no_contact(aruba: &ArubaMailbox) -> bool {
    aruba.contact_email.is_none()
}

/// Aruba has a contact, and it is not the roster's (e-mail or mobile, where
/// both sides have one).
pub fn contact_differs(member: &Member, aruba: &ArubaMailbox) -> bool {
    contacts_differ(
        member.email_servizio.as_deref(),
        member.cellulare.as_deref(),
        aruba.contact_email.as_deref(),
        aruba.contact_mobile.as_deref(),
    )
}

/// [`contact_differs`], on the contacts' texts.
pub fn contacts_differ(
    roster_email: Option<&str>,
    roster_mobile: Option<&str>,
    aruba_email: Option<&str>,
    aruba_mobile: Option<&str>,
) -> bool {
    let email_differs = matches!(
        (roster_email, aruba_email),
        (Some(r), Some(a)) if !same_email(r, a)
    );
    let mobile_differs = matches!(
        (roster_mobile, aruba_mobile),
        (Some(r), Some(a)) if !same_mobile(r, a)
    );
    email_differs || mobile_differs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_aruba_writes_them() {
        assert_eq!(
            ArubaStatus::from_code("CERTIFICATO"),
            ArubaStatus::Certified
        );
        assert_eq!(
            ArubaStatus::from_code("Richiesta Disdetta"),
            ArubaStatus::CancellationRequested
        );
        assert!(ArubaStatus::from_code("SOSPESO").blocks_migration());
        assert!(!ArubaStatus::from_code("DA_CERTIFICARE").blocks_migration());
        let other = ArubaStatus::from_code("IN_LAVORAZIONE");
        assert_eq!(other.code(), "IN_LAVORAZIONE");
        assert!(other.blocks_migration());
    }

    #[test]
    fn the_diff_names_only_what_differs() {
        let d = contact_diff(
            Some("a@b.it"),
            Some("+393331234567"),
            Some("A@B.IT"),
            Some("+39.3331234567"),
        );
        assert!(d.is_empty(), "{d:?}");
        let d = contact_diff(
            Some("a@b.it"),
            Some("+393331234567"),
            None,
            Some("3339999999"),
        );
        assert_eq!(d.email.as_deref(), Some("a@b.it"));
        assert_eq!(d.mobile.as_deref(), Some("+393331234567"));
        let d = contact_diff(None, None, Some("x@y.it"), None);
        assert!(d.is_empty());
        assert_eq!(aruba_mobile_form("+393331234567"), "3331234567");
    }
}
