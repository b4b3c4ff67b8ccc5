//! A text roster read as a stream: the encoding is decided on the file's
//! first 64 KiB, the bytes are decoded to UTF-8 as the CSV reader asks for
//! them, and line numbers come from the line breaks seen on the way. Memory
//! stays the same whatever the file's size.

use std::collections::VecDeque;
use std::io::{self, Read};

use encoding_rs::{Decoder, Encoding, UTF_8, WINDOWS_1252};

use super::ImportError;
use super::text::{SNIFF_BYTES, looks_binary};

/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

/// How the bytes are turned into UTF-8.
enum Mode {
    /// UTF-8, checked as it goes. Text that stops being valid UTF-8 after a
    /// valid start (Excel's Windows-1252 with its first accent late in the
    /// file) is read as Windows-1252 from the first invalid byte on: what
    /// came before was ASCII, the same in both, unless the file mixes the two.
    Utf8,
    Decoder(Decoder),
}

/// The decoded text of a file, handed to the CSV reader piece by piece.
pub(super) struct DecodingReader<R> {
    inner: R,
    mode: Mode,
    /// The encoding the text is being read with (Windows-1252 once a UTF-8
    /// start turned out not to be).
    encoding: &'static Encoding,
    /// Raw bytes read but not yet decoded.
    raw: Vec<u8>,
    raw_start: usize,
    eof: bool,
    /// Decoded text not yet handed out.
    out: Vec<u8>,
    out_start: usize,
    /// Decoded bytes handed out so far.
    handed: u64,
    /// Offsets of the `\r` and `\n` handed out that no line query has passed
    /// yet; a `\n` is marked by the top bit.
    breaks: VecDeque<u64>,
    /// `\n` passed by line queries.
    newlines: u64,
}

const NEWLINE_BIT: u64 = 1 << 63;

impl<R: Read> DecodingReader<R> {
    /// Reads the start of `inner`, decides the encoding as [`super::text::decode`]
    /// does for a whole file (a BOM decides; otherwise UTF-8 when valid,
    /// Windows-1252 if not; binary refused), and decodes that start.
    pub(super) fn new(mut inner: R, source: &str) -> Result<Self, ImportError> {
        let mut raw = Vec::with_capacity(SNIFF_BYTES);
        let eof = fill(&mut inner, &mut raw, SNIFF_BYTES).map_err(|e| ImportError::Io {
            file: source.to_string(),
            source: e,
        })?;
        let binary = || ImportError::Binary {
            file: source.to_string(),
        };
        let (encoding, skip) = match Encoding::for_bom(&raw) {
            Some((encoding, bom_len)) => {
                let body = &raw[bom_len..];
                if encoding == UTF_8 {
                    (
                        if utf8_start(body, eof) {
                            UTF_8
                        } else {
                            WINDOWS_1252
                        },
                        bom_len,
                    )
                } else {
                    let (_, malformed) = encoding.decode_without_bom_handling(body);
                    // Only the prefix: a malformed end may be a cut code unit.
                    if malformed && eof {
                        return Err(binary());
                    }
                    (encoding, bom_len)
                }
            }
            None => {
                if looks_binary(&raw) {
                    return Err(binary());
                }
                (
                    if utf8_start(&raw, eof) {
                        UTF_8
                    } else {
                        WINDOWS_1252
                    },
                    0,
                )
            }
        };
        let mode = if encoding == UTF_8 {
            Mode::Utf8
        } else {
            Mode::Decoder(encoding.new_decoder_without_bom_handling())
        };
        let mut reader = Self {
            inner,
            mode,
            encoding,
            raw,
            raw_start: skip,
            eof,
            out: Vec::with_capacity(CHUNK * 3 + 16),
            out_start: 0,
            handed: 0,
            breaks: VecDeque::new(),
            newlines: 0,
        };
        reader.decode_more();
        Ok(reader)
    }

    /// The text decoded so far and not yet read: at the start, the file's
    /// first 64 KiB (for sniffing the delimiter and the layout).
    pub(super) fn prefix(&self) -> &str {
        // Decoding only ever emits whole characters.
        std::str::from_utf8(&self.out[self.out_start..]).unwrap_or_default()
    }

    /// Whether the whole file is in [`Self::prefix`].
    pub(super) fn prefix_is_all(&self) -> bool {
        self.eof && self.raw_start == self.raw.len()
    }

    pub(super) fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// The 1-based line of the record the CSV reader reports at `byte` of
    /// the decoded text (see [`super::text::LineCounter`]: the same rule, on
    /// the breaks seen instead of the whole text). Queries go forward.
    pub(super) fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = byte;
        while let Some(&front) = self.breaks.front() {
            let offset = front & !NEWLINE_BIT;
            if offset > start {
                break;
            }
            // A break at the record's start is skipped over, as one before it.
            if offset == start {
                start += 1;
            }
            self.newlines += u64::from(front & NEWLINE_BIT != 0);
            self.breaks.pop_front();
        }
        1 + self.newlines
    }

    /// Decodes the next chunk into `out`; false at the end of the file.
    fn decode_more(&mut self) -> bool {
        if self.raw_start == self.raw.len() {
            if self.eof {
                return false;
            }
            self.raw.clear();
            self.raw_start = 0;
            match fill(&mut self.inner, &mut self.raw, CHUNK) {
                Ok(eof) => self.eof = eof,
                // Reported by the CSV reader through `read`.
                Err(_) => return false,
            }
        }
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        }
        let input = &self.raw[self.raw_start..];
        let consumed = match &mut self.mode {
            Mode::Utf8 => {
                let (valid, rest) = match std::str::from_utf8(input) {
                    Ok(_) => (input.len(), None),
                    Err(e) => (e.valid_up_to(), e.error_len()),
                };
                self.out.extend_from_slice(&input[..valid]);
                match rest {
                    // A character cut by the chunk's end: wait for the rest.
                    None if valid < input.len() && !self.eof => {
                        let tail = input[valid..].to_vec();
                        self.raw.clear();
                        self.raw.extend_from_slice(&tail);
                        self.raw_start = 0;
                        match fill(&mut self.inner, &mut self.raw, CHUNK) {
                            Ok(eof) => self.eof = eof,
                            Err(_) => return valid > 0,
                        }
                        return true;
                    }
                    None if valid == input.len() => valid,
                    // Not UTF-8 after all.
                    _ => {
                        self.encoding = WINDOWS_1252;
                        self.mode = Mode::Decoder(WINDOWS_1252.new_decoder_without_bom_handling());
                        valid
                    }
                }
            }
            Mode::Decoder(decoder) => {
                let input = &self.raw[self.raw_start..];
                let room = decoder
                    .max_utf8_buffer_length(input.len())
                    .unwrap_or(input.len() * 3 + 16);
                let at = self.out.len();
                self.out.resize(at + room, 0);
                let (_, read, written, _) =
                    decoder.decode_to_utf8(input, &mut self.out[at..], self.eof);
                self.out.truncate(at + written);
                read
            }
        };
        self.raw_start += consumed;
        true
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out.len() {
            if !self.decode_more() {
                return Ok(0);
            }
        }
        let available = &self.out[self.out_start..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        for (i, &b) in available[..n].iter().enumerate() {
            match b {
                b'\n' => self
                    .breaks
                    .push_back((self.handed + i as u64) | NEWLINE_BIT),
                b'\r' => self.breaks.push_back(self.handed + i as u64),
                _ => {}
            }
        }
        self.out_start += n;
        self.handed += n as u64;
        Ok(n)
    }
}

/// Reads into `buf` until it holds `want` bytes or the input ends; true at the end.
fn fill(inner: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let mut limited = inner.take(want.saturating_sub(buf.len()) as u64);
    limited.read_to_end(buf)?;
    Ok(buf.len() < want)
}

/// Whether a file's start is UTF-8: valid, allowing a character cut at the
/// end of the sample when the file goes on.
fn utf8_start(bytes: &[u8], eof: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !eof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (String, &'static Encoding) {
        let mut reader = DecodingReader::new(bytes, "t").unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        (text, reader.encoding())
    }

    #[test]
    fn a_late_accent_turns_a_utf8_start_into_windows_1252() {
        let mut text = "a;b\r\n".repeat(40_000);
        text.push_str("Nicolò;x\r\n");
        let bytes = WINDOWS_1252.encode(&text).0;
        let (decoded, encoding) = read_all(&bytes);
        assert_eq!(decoded, text);
        assert_eq!(encoding, WINDOWS_1252);
    }

    #[test]
    fn utf8_cut_between_chunks_and_utf16_decode_whole() {
        let text = "è".repeat(100_000);
        assert_eq!(read_all(text.as_bytes()), (text.clone(), UTF_8));
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(read_all(&utf16).0, text);
    }

    #[test]
    fn lines_follow_the_breaks_read() {
        let mut reader = DecodingReader::new(&b"a\r\nb\r\n\r\n\nc\r\n"[..], "t").unwrap();
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).unwrap();
        assert_eq!(reader.line_at(0), 1);
        assert_eq!(reader.line_at(2), 2, "at the \\n of the CRLF before");
        assert_eq!(reader.line_at(3), 2);
        assert_eq!(reader.line_at(5), 5, "after blank lines");
    }
}
