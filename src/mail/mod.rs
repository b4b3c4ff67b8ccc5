//! Mail: the PEC receipts read from the Ordine's PEC inbox (IMAP) or a local
//! Maildir. Sending lives beside it.

pub mod receipts;
