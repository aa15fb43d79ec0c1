//! Bytes to UTF-8 for the XML parser: encoding detection from the BOM and the XML
//! declaration, streaming transcoding (ISO-8859-1 / windows-1252 / US-ASCII to UTF-8),
//! strict UTF-8 validation, and a limit on the length of a single token so that hostile
//! input cannot make the parser buffer unbounded data.

use std::io::{self, BufRead, Read};

/// The encodings a message may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEncoding {
    /// UTF-8 (the XML default).
    Utf8,
    /// ISO-8859-1 (the schema's own encoding); every byte is a character.
    Latin1,
    /// windows-1252 (a common mislabel of ISO-8859-1 from Windows systems).
    Windows1252,
    /// US-ASCII: bytes above 0x7F are errors.
    Ascii,
}

impl SourceEncoding {
    /// Map an encoding label from an XML declaration to a supported encoding.
    pub fn from_label(label: &str) -> Option<SourceEncoding> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(SourceEncoding::Utf8),
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1"
            | "iso-ir-100" | "ibm819" | "cp819" => Some(SourceEncoding::Latin1),
            "windows-1252" | "cp1252" => Some(SourceEncoding::Windows1252),
            "us-ascii" | "ascii" => Some(SourceEncoding::Ascii),
            _ => None,
        }
    }
}

/// Why the input could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A byte sequence that is not valid in the declared encoding.
    #[error("byte offset {offset}: {what} is not valid {encoding}")]
    InvalidBytes {
        /// Offset of the first bad byte in the file.
        offset: u64,
        /// The bad bytes, described.
        what: String,
        /// The encoding that was expected.
        encoding: &'static str,
    },
    /// The declaration names an encoding the harness does not read.
    #[error("encoding \"{0}\" is not supported (use UTF-8 or ISO-8859-1)")]
    Unsupported(String),
    /// The input starts with a UTF-16 or UTF-32 byte order mark.
    #[error("the file is UTF-16/UTF-32 encoded (byte order mark {0}); use UTF-8 or ISO-8859-1")]
    WideEncoding(&'static str),
    /// A run of bytes without any markup is longer than the limit.
    #[error("a single token is longer than {limit} bytes (at byte offset {offset})")]
    TokenTooLong {
        /// The limit in bytes.
        limit: usize,
        /// Where the run reached the limit.
        offset: u64,
    },
}

impl DecodeError {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Finds the declared encoding in the first bytes of a document.
/// Returns `Ok(None)` when there is no declaration (UTF-8 is then assumed).
pub fn sniff(head: &[u8]) -> Result<(SourceEncoding, usize), DecodeError> {
    if let Some(rest) = head.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        if rest.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return Err(DecodeError::InvalidBytes {
                offset: 3,
                what: "a second byte order mark".into(),
                encoding: "the start of an XML document",
            });
        }
        // libxml2 still honours the declared encoding after a UTF-8 byte order mark.
        return sniff_declaration(rest).map(|(e, skip)| (e, skip + 3));
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(DecodeError::WideEncoding(if head[0] == 0xFF {
            "FF FE"
        } else {
            "FE FF"
        }));
    }
    if head.starts_with(&[0, 0, 0xFE, 0xFF])
        || head.starts_with(&[0, b'<', 0, b'?'])
        || head.starts_with(&[b'<', 0, b'?', 0])
    {
        return Err(DecodeError::WideEncoding(
            "none, but NUL bytes in the declaration",
        ));
    }
    sniff_declaration(head)
}

/// The encoding an XML declaration at the start of `head` names (UTF-8 without one).
fn sniff_declaration(head: &[u8]) -> Result<(SourceEncoding, usize), DecodeError> {
    // `<?xml-stylesheet ...?>` and the like are processing instructions, not the declaration.
    if !head.starts_with(b"<?xml") || !head.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
        return Ok((SourceEncoding::Utf8, 0));
    }
    let end = head
        .windows(2)
        .position(|w| w == b"?>")
        .unwrap_or(head.len());
    let decl = &head[..end];
    let Some(pos) = find(decl, b"encoding") else {
        return Ok((SourceEncoding::Utf8, 0));
    };
    let rest = &decl[pos + b"encoding".len()..];
    let rest: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|b| b.is_ascii_whitespace())
        .collect();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Ok((SourceEncoding::Utf8, 0));
    };
    let rest: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|b| b.is_ascii_whitespace())
        .collect();
    let Some(&quote) = rest.first() else {
        return Ok((SourceEncoding::Utf8, 0));
    };
    if quote != b'"' && quote != b'\'' {
        return Ok((SourceEncoding::Utf8, 0));
    }
    let label: Vec<u8> = rest[1..]
        .iter()
        .copied()
        .take_while(|&b| b != quote)
        .collect();
    if 1 + label.len() >= rest.len() {
        // No closing quote: a cut-off declaration, not a label; the parser reports it.
        return Ok((SourceEncoding::Utf8, 0));
    }
    let label = String::from_utf8_lossy(&label).into_owned();
    match SourceEncoding::from_label(&label) {
        Some(e) => Ok((e, 0)),
        None => Err(DecodeError::Unsupported(label)),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// windows-1252 bytes 0x80..=0x9F (0 = undefined).
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

/// A `BufRead` that yields the document as validated UTF-8.
pub struct Utf8Input<R: Read> {
    inner: R,
    encoding: SourceEncoding,
    raw: Vec<u8>,
    raw_start: usize,
    raw_end: usize,
    out: Vec<u8>,
    out_pos: usize,
    /// Offset in the source of `raw[raw_start]`.
    consumed: u64,
    eof: bool,
    token_limit: usize,
    run: usize,
    /// Bytes handed out since [`Utf8Input::start_token`]; `None` until its first call.
    token_bytes: Option<usize>,
    error: Option<DecodeError>,
}

/// Default upper bound on a run of bytes without `<` or `>` (one text node or one tag).
pub const DEFAULT_TOKEN_LIMIT: usize = 16 * 1024 * 1024;

impl<R: Read> Utf8Input<R> {
    /// Wraps a reader, detecting the encoding from the first bytes.
    pub fn new(mut inner: R, token_limit: usize) -> Result<Self, (DecodeError, io::Error)> {
        let mut raw = vec![0u8; 64 * 1024];
        let mut filled = 0;
        // Read enough for the declaration (it is short), but do not require it.
        while filled < 512 {
            match inner.read(&mut raw[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err((DecodeError::Unsupported(String::new()), e));
                }
            }
        }
        let (encoding, skip) = match sniff(&raw[..filled]) {
            Ok(x) => x,
            Err(e) => {
                let io = e.clone().into_io();
                return Err((e, io));
            }
        };
        Ok(Utf8Input {
            inner,
            encoding,
            raw,
            raw_start: skip,
            raw_end: filled,
            out: Vec::with_capacity(128 * 1024),
            out_pos: 0,
            consumed: skip as u64,
            eof: false,
            token_limit,
            run: 0,
            token_bytes: None,
            error: None,
        })
    }

    /// The encoding in use.
    pub fn encoding(&self) -> SourceEncoding {
        self.encoding
    }

    /// Whether every byte of the input has been read and handed out.
    pub fn at_end(&self) -> bool {
        self.eof && self.raw_start == self.raw_end && self.out_pos >= self.out.len()
    }

    /// The decoding error that stopped the input, if any.
    pub fn error(&self) -> Option<&DecodeError> {
        self.error.as_ref()
    }

    /// Marks the start of a new token (the parser's next event). From the first call on,
    /// the token limit also bounds the bytes handed out for a single token: a run
    /// without `<` and `>` is not enough, since a text node may hold `>`, an attribute
    /// value `>` and a comment or CDATA section both, and the parser buffers the whole
    /// token.
    pub fn start_token(&mut self) {
        self.token_bytes = Some(0);
    }

    /// The offset in the source of the next byte to be handed out.
    fn source_offset(&self) -> u64 {
        let pending = self.out.get(self.out_pos..).unwrap_or_default();
        let pending_source = match self.encoding {
            SourceEncoding::Utf8 => pending.len(),
            // one character per source byte
            _ => pending.iter().filter(|&&b| b & 0xC0 != 0x80).count(),
        };
        self.consumed.saturating_sub(pending_source as u64)
    }

    fn fail(&mut self, e: DecodeError) -> io::Error {
        self.error = Some(e.clone());
        e.into_io()
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        loop {
            if self.raw_start == self.raw_end
                || (self.encoding == SourceEncoding::Utf8
                    && self.raw_end - self.raw_start < 4
                    && !self.eof)
            {
                // move the tail to the front and read more
                self.raw.copy_within(self.raw_start..self.raw_end, 0);
                self.raw_end -= self.raw_start;
                self.raw_start = 0;
                if !self.eof {
                    let n = loop {
                        match self.inner.read(&mut self.raw[self.raw_end..]) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        }
                    };
                    if n == 0 {
                        self.eof = true;
                    }
                    self.raw_end += n;
                }
                if self.raw_end == 0 {
                    return Ok(());
                }
            }
            let chunk_start = self.raw_start;
            let chunk = &self.raw[self.raw_start..self.raw_end];
            let used;
            match self.encoding {
                SourceEncoding::Utf8 => match std::str::from_utf8(chunk) {
                    Ok(_) => used = chunk.len(),
                    Err(e) => {
                        used = e.valid_up_to();
                        if used == 0 {
                            let incomplete = e.error_len().is_none();
                            if incomplete && !self.eof {
                                // need more bytes; loop reads more
                                if self.raw_end - self.raw_start >= 4 {
                                    // cannot happen for a valid prefix
                                } else {
                                    continue;
                                }
                            }
                            let bad: Vec<String> = chunk
                                .iter()
                                .take(e.error_len().unwrap_or(chunk.len()).min(4))
                                .map(|b| format!("0x{b:02X}"))
                                .collect();
                            let offset = self.consumed;
                            return Err(self.fail(DecodeError::InvalidBytes {
                                offset,
                                what: format!("byte sequence {}", bad.join(" ")),
                                encoding: "UTF-8",
                            }));
                        }
                    }
                },
                _ => used = chunk.len(),
            }
            let used_slice = &self.raw[chunk_start..chunk_start + used];
            for (i, &b) in used_slice.iter().enumerate() {
                if b == b'<' || b == b'>' {
                    self.run = 0;
                } else {
                    self.run += 1;
                    if self.run > self.token_limit {
                        let offset = self.consumed + i as u64;
                        let limit = self.token_limit;
                        return Err(self.fail(DecodeError::TokenTooLong { limit, offset }));
                    }
                }
            }
            match self.encoding {
                SourceEncoding::Utf8 => self.out.extend_from_slice(used_slice),
                SourceEncoding::Latin1 => {
                    for &b in used_slice {
                        push_char(&mut self.out, b as u32);
                    }
                }
                SourceEncoding::Windows1252 | SourceEncoding::Ascii => {
                    for (i, &b) in used_slice.iter().enumerate() {
                        let c = match (self.encoding, b) {
                            (_, 0..=0x7F) => b as u32,
                            (SourceEncoding::Windows1252, 0x80..=0x9F) => {
                                CP1252_HIGH[(b - 0x80) as usize] as u32
                            }
                            (SourceEncoding::Windows1252, _) => b as u32,
                            _ => 0,
                        };
                        if c == 0 {
                            let offset = self.consumed + i as u64;
                            let encoding = if self.encoding == SourceEncoding::Ascii {
                                "US-ASCII"
                            } else {
                                "windows-1252"
                            };
                            return Err(self.fail(DecodeError::InvalidBytes {
                                offset,
                                what: format!("byte 0x{b:02X}"),
                                encoding,
                            }));
                        }
                        push_char(&mut self.out, c);
                    }
                }
            }
            self.raw_start += used;
            self.consumed += used as u64;
            if !self.out.is_empty() || (self.eof && self.raw_start == self.raw_end) {
                return Ok(());
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: u32) {
    let ch = char::from_u32(c).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
}

impl<R: Read> Read for Utf8Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Utf8Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(e) = &self.error {
            return Err(e.clone().into_io());
        }
        if self.token_bytes.is_some_and(|n| n > self.token_limit) {
            let (limit, offset) = (self.token_limit, self.source_offset());
            return Err(self.fail(DecodeError::TokenTooLong { limit, offset }));
        }
        if self.out_pos >= self.out.len() {
            self.refill()?;
        }
        Ok(&self.out[self.out_pos..])
    }

    fn consume(&mut self, amt: usize) {
        if let Some(n) = &mut self.token_bytes {
            *n = n.saturating_add(amt);
        }
        self.out_pos = (self.out_pos + amt).min(self.out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<String, String> {
        let mut input = Utf8Input::new(bytes, 1024).map_err(|(e, _)| e.to_string())?;
        let mut s = String::new();
        input.read_to_string(&mut s).map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn latin1_is_transcoded() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a b=\"\xe6\xf8\xe5\"/>";
        assert_eq!(
            decode(doc).unwrap(),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a b=\"æøå\"/>"
        );
    }

    #[test]
    fn invalid_utf8_is_reported_with_offset() {
        let doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a b=\"\xe6x\"/>";
        let err = decode(doc).unwrap_err();
        assert!(err.contains("byte offset 44"), "{err}");
        assert!(err.contains("0xE6"), "{err}");
    }

    #[test]
    fn utf8_split_across_reads_is_fine() {
        let mut doc = b"<a>".to_vec();
        for _ in 0..40000 {
            doc.extend_from_slice("ø".as_bytes());
        }
        doc.extend_from_slice(b"</a>");
        let mut input = Utf8Input::new(&doc[..], usize::MAX).unwrap();
        let mut s = String::new();
        input.read_to_string(&mut s).unwrap();
        assert_eq!(s.len(), doc.len());
    }

    #[test]
    fn unsupported_and_wide_encodings_are_refused() {
        assert!(
            decode(b"<?xml version=\"1.0\" encoding=\"EBCDIC\"?><a/>")
                .unwrap_err()
                .contains("EBCDIC")
        );
        assert!(
            decode(b"\xff\xfe<\0a\0/\0>\0")
                .unwrap_err()
                .contains("UTF-16")
        );
    }

    #[test]
    fn a_cut_off_encoding_label_is_not_a_label() {
        for doc in [
            &b"<?xml version=\"1.0\" encoding=\"UT"[..],
            b"<?xml version=\"1.0\" encoding=\"",
            b"<?xml version=\"1.0\" encoding='ISO-8859-1",
        ] {
            assert_eq!(sniff(doc), Ok((SourceEncoding::Utf8, 0)));
        }
        assert_eq!(
            sniff(b"<?xml version=\"1.0\" encoding=\"UT\""),
            Err(DecodeError::Unsupported("UT".into()))
        );
    }

    #[test]
    fn token_limit_bounds_a_token_with_markup_characters() {
        // A text node full of '>' is one token for the parser.
        let doc = "<a>".to_string() + &"1 > 0 ".repeat(1000);
        let mut input = Utf8Input::new(doc.as_bytes(), 1024).unwrap();
        input.start_token();
        let mut s = String::new();
        let err = input.read_to_string(&mut s).unwrap_err().to_string();
        assert!(err.contains("longer than 1024"), "{err}");
        // Each new token starts counting again.
        let doc = "<a>".repeat(1000);
        let mut input = Utf8Input::new(doc.as_bytes(), 1024).unwrap();
        let mut buf = [0u8; 3];
        while input.read(&mut buf).unwrap() > 0 {
            input.start_token();
        }
    }

    #[test]
    fn token_limit_bounds_a_run_without_markup() {
        let mut doc = b"<a>".to_vec();
        doc.extend(std::iter::repeat_n(b'x', 5000));
        assert!(decode(&doc).unwrap_err().contains("longer than 1024"));
    }
}
