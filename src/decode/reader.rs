//! The JSON reader every decode input goes through: a serde `Deserializer` over one UTF-8
//! text that accepts and refuses exactly what serde-json-core 0.7's `Deserializer` does
//! without a scratch buffer, and calls the same visitor methods, so every field type in `json`
//! and shape in `ws`/`rest` decodes as it did under serde-json-core. It also counts bracket
//! nesting as it reads, so the depth limit needs no pass of its own (see `json::read`). Owns
//! tokenizing and that count only: no shapes, no rejections beyond the JSON error.
//!
//! # Why not serde-json-core itself (issue 7)
//! Profiled with callgrind on the bench corpus, serde-json-core spent ~50 instructions per
//! frame byte: it reads one byte at a time through `Option` peeks, and runs `str::from_utf8`
//! over every string it meets, kept or skipped (~100 instructions a string, ~160 strings per
//! frame). Here the text is validated as UTF-8 once and strings are sliced from it; string
//! bodies are searched eight bytes at a time for their closing quote; skipped values are
//! walked by one loop over a local cursor ([`Reader::skip`]) instead of a recursion of serde
//! calls.
//!
//! # Grammar kept from serde-json-core 0.7 (checked against it by a differential run)
//! Whitespace is space, `\n`, `\t`, `\r`. A string ends at the first `"` not escaped by a
//! backslash; escapes are not checked here (`json::Text` checks the strings it keeps). An
//! ignored scalar is everything up to the next `,`, `}` or `]` (so `tru` or `1 2` pass where
//! they are skipped). An array may open with a comma (`[,1]`), and an element after such a
//! comma still counts as the first. Numbers are the characters `0-9+-.eE` given to
//! `f64::from_str`. Errors are serde-json-core's own [`Error`] values, at the same places.

use serde_json_core::de::Error;

use crate::limits::MAX_JSON_DEPTH;

/// The errors the tokenizer raises: serde-json-core's kinds, one byte each (serde-json-core's
/// [`Error`] is ~80 bytes: it can carry a custom message). Converted to the [`Error`] of the
/// same name at the serde boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    EofWhileParsingValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    ExpectedSomeValue,
    InvalidType,
    InvalidUnicodeCodePoint,
    KeyMustBeAString,
    TrailingCharacters,
    TrailingComma,
    /// Nesting past a limit ([`Reader::deep_at`] says where); serde-json-core has no such
    /// error, so it becomes its plain `CustomError`.
    TooDeep,
    /// A field met twice in a shape read by hand (its name in [`Reader::duplicate`]): serde's
    /// derive refuses it with `duplicate_field`, which [`Reader::error`] makes of this.
    Duplicate,
    /// A kept string with an invalid escape: `json::Text`'s custom error, which this becomes.
    BadEscape,
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Error {
        match f {
            Fault::EofWhileParsingList => Error::EofWhileParsingList,
            Fault::EofWhileParsingObject => Error::EofWhileParsingObject,
            Fault::EofWhileParsingString => Error::EofWhileParsingString,
            Fault::EofWhileParsingValue => Error::EofWhileParsingValue,
            Fault::ExpectedColon => Error::ExpectedColon,
            Fault::ExpectedListCommaOrEnd => Error::ExpectedListCommaOrEnd,
            Fault::ExpectedObjectCommaOrEnd => Error::ExpectedObjectCommaOrEnd,
            Fault::ExpectedSomeIdent => Error::ExpectedSomeIdent,
            Fault::ExpectedSomeValue => Error::ExpectedSomeValue,
            Fault::InvalidType => Error::InvalidType,
            Fault::InvalidUnicodeCodePoint => Error::InvalidUnicodeCodePoint,
            Fault::KeyMustBeAString => Error::KeyMustBeAString,
            Fault::TrailingCharacters => Error::TrailingCharacters,
            Fault::TrailingComma => Error::TrailingComma,
            Fault::TooDeep => Error::CustomError,
            // Without the reader at hand: the name is missing. See `Reader::error`.
            Fault::Duplicate => serde::de::Error::duplicate_field("?"),
            Fault::BadEscape => serde::de::Error::custom(super::json::BAD_ESCAPE),
        }
    }
}

/// Result of the tokenizer's own helpers.
pub(crate) type Step<T> = core::result::Result<T, Fault>;

/// Nesting [`Reader::skip`] follows below the value it starts on (one bit per level in a
/// `u64`, twice [`MAX_JSON_DEPTH`]). Within [`MAX_JSON_DEPTH`] always; deeper only after an
/// ignored scalar swallowed a bracket or a quote (`{"a":x"…}`, not JSON), where the reader's
/// count and the flat scan's disagree and the limit is the flat scan's. serde-json-core recursed without bound there (a stack
/// overflow on a 200 KB frame); beyond this depth the frame is refused as too deep.
pub(crate) const SKIP_DEPTH: usize = 64;

/// A cursor over one JSON text, and the serde `Deserializer` reading from it.
pub(crate) struct Reader<'de> {
    pub(super) text: &'de str,
    pub(super) pos: usize,
    /// Brackets read and not yet closed at `pos`, typed or skipped.
    pub(super) depth: usize,
    /// An ignored scalar swallowed a `"`, `[` or `{`: from there on `depth` is not the
    /// flat scan's count (`json::depth_exceeded`), which then decides alone.
    pub desync: bool,
    /// Where reading stopped for nesting: the bracket that took `depth` past
    /// [`MAX_JSON_DEPTH`] (in step with the flat scan), or past [`SKIP_DEPTH`] below a skip.
    pub deep_at: Option<usize>,
    /// The field a [`Fault::Duplicate`] is about (kept here so a fault stays one byte: results
    /// of every tokenizer step carry it).
    pub duplicate: &'static str,
}

/// Index of the first `byte` in `b` at or after `from`, eight bytes per step (a zero-byte
/// test on the word XOR the byte: its lowest flagged byte is always a true match, whatever
/// false flags the borrow leaves above it). Inlined: called once per string, most strings
/// are a few words long, and a call cost as much as the search (callgrind).
#[inline(always)]
pub(crate) fn find(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut at = from;
    // Whole words by `chunks_exact`: no bounds check per word (callgrind: ~12 → ~8
    // instructions a word).
    let mut words = b.get(from..)?.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w) ^ pattern;
        let hits = x.wrapping_sub(ONES) & !x & HIGH;
        if hits != 0 {
            // At most 7: the lowest flagged byte of an 8-byte word.
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == byte)
        .map(|k| at + k)
}

/// Index of the `"` that closes a string whose body starts at `from` (just after its opening
/// quote): the first `"` after an even run of backslashes. That is serde-json-core's rule,
/// and the same as reading each `\` as "escape the next byte"; searching for quotes alone
/// halves the work per word, and backslashes are rare.
#[inline(always)]
pub(crate) fn closing_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let quote = find(b, i, b'"')?;
        // Nearly always: no backslash just before the quote.
        if quote == from || b.get(quote - 1) != Some(&b'\\') {
            return Some(quote);
        }
        let run = b
            .get(from..quote)?
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count();
        if run % 2 == 0 {
            return Some(quote);
        }
        i = quote + 1;
    }
}

/// The first byte at or after `pos` that is not JSON whitespace (space, `\n`, `\t`, `\r`),
/// and its index (`b.len()` and `None` at the end).
#[inline(always)]
pub(super) fn non_space(b: &[u8], mut pos: usize) -> (usize, Option<u8>) {
    while let Some(&c) = b.get(pos) {
        if !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
            return (pos, Some(c));
        }
        pos += 1;
    }
    (pos, None)
}

impl<'de> Reader<'de> {
    /// A reader at the start of `text`, which is nested `depth` brackets deep in its
    /// document (0 for a whole document).
    pub fn new(text: &'de str, depth: usize) -> Self {
        Reader {
            text,
            pos: 0,
            depth,
            desync: false,
            deep_at: None,
            duplicate: "",
        }
    }

    /// The serde-json-core error of `fault`, met by this reader.
    pub fn error(&self, fault: Fault) -> Error {
        match fault {
            Fault::Duplicate => serde::de::Error::duplicate_field(self.duplicate),
            f => f.into(),
        }
    }

    /// Refuses `field` when `bit` is already in `seen` (a field met twice, refused as serde's
    /// derive does: before its colon is read), else records it.
    #[inline]
    pub(super) fn once(&mut self, seen: &mut u16, bit: u16, field: &'static str) -> Step<()> {
        if *seen & bit != 0 {
            self.duplicate = field;
            return Err(Fault::Duplicate);
        }
        *seen |= bit;
        Ok(())
    }

    /// The whole text this reader reads.
    pub fn text(&self) -> &'de str {
        self.text
    }

    /// Byte offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips whitespace; the next byte, not consumed.
    #[inline]
    pub fn whitespace(&mut self) -> Option<u8> {
        let next;
        (self.pos, next) = non_space(self.text.as_bytes(), self.pos);
        next
    }

    /// Checks that only whitespace is left; the length read.
    pub fn end(&mut self) -> Step<usize> {
        match self.whitespace() {
            Some(_) => Err(Fault::TrailingCharacters),
            None => Ok(self.pos),
        }
    }

    /// Consumes the `[` or `{` at `pos` and counts it. Past [`MAX_JSON_DEPTH`] (while the
    /// count is the flat scan's) reading stops: the caller reports the frame too deep.
    pub(super) fn open(&mut self) -> Step<()> {
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH && !self.desync {
            self.deep_at = Some(self.pos);
            return Err(Fault::TooDeep);
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes the `]` or `}` at `pos`.
    pub(super) fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.pos += 1;
    }

    pub(super) fn ident(&mut self, rest: &[u8]) -> Step<()> {
        for &c in rest {
            if self.peek() != Some(c) {
                return Err(Fault::ExpectedSomeIdent);
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// Index of the closing quote of the string whose body starts at `from`.
    #[inline(always)]
    pub(super) fn string_end(&self, from: usize) -> Step<usize> {
        closing_quote(self.text.as_bytes(), from).ok_or(Fault::EofWhileParsingString)
    }

    /// Moves past a string that is not kept (the `"` at `pos` included).
    #[inline(always)]
    pub(super) fn skip_string(&mut self) -> Step<()> {
        self.pos = self.string_end(self.pos + 1)? + 1;
        Ok(())
    }

    /// Moves past the string whose body starts at `self.pos` (just after its `"`); where its
    /// raw body starts and ends.
    #[inline(always)]
    fn string_span(&mut self) -> Step<(usize, usize)> {
        let start = self.pos;
        let end = self.string_end(start)?;
        self.pos = end + 1;
        Ok((start, end))
    }

    /// Moves past the string whose body starts at `self.pos` (just after its `"`); its raw
    /// body.
    #[inline(always)]
    pub(super) fn string_body(&mut self) -> Step<&'de str> {
        let (start, end) = self.string_span()?;
        // Both ends are ASCII quotes in valid UTF-8, so this slice is always whole.
        self.text
            .get(start..end)
            .ok_or(Fault::InvalidUnicodeCodePoint)
    }

    /// A string value, raw (escapes left in).
    #[inline(always)]
    pub(super) fn parse_str(&mut self) -> Step<&'de str> {
        match self.whitespace() {
            None => Err(Fault::EofWhileParsingValue),
            Some(b'"') => {
                self.pos += 1;
                self.string_body()
            }
            Some(_) => Err(Fault::InvalidType),
        }
    }

    /// An ignored scalar: everything up to the next `,`, `}` or `]`.
    pub(super) fn chomp(&mut self) -> Step<()> {
        let b = self.text.as_bytes();
        loop {
            match b.get(self.pos) {
                Some(b',' | b'}' | b']') => return Ok(()),
                Some(c) => {
                    if matches!(c, b'"' | b'[' | b'{') {
                        self.desync = true;
                    }
                    self.pos += 1;
                }
                None => return Err(Fault::EofWhileParsingString),
            }
        }
    }

    /// Opens an object: `{`.
    pub fn begin_object(&mut self) -> Step<()> {
        match self.whitespace() {
            None => Err(Fault::EofWhileParsingValue),
            Some(b'{') => self.open(),
            Some(_) => Err(Fault::InvalidType),
        }
    }

    /// The next key of an open object (its raw bytes, escapes left in: compared as bytes, so
    /// no `str` is made), or `None` at its `}` (not consumed: see [`Reader::end_object`]).
    /// `first` is the object's own flag, initially `true`.
    #[inline(always)]
    pub fn next_key(&mut self, first: &mut bool) -> Step<Option<&'de [u8]>> {
        if self.key_start(first)? {
            self.pos += 1;
            let (start, end) = self.string_span()?;
            Ok(Some(
                self.text.as_bytes().get(start..end).unwrap_or_default(),
            ))
        } else {
            Ok(None)
        }
    }

    /// Positions on the next key's `"` (`true`) or finds the object's `}` (`false`).
    #[inline(always)]
    pub(super) fn key_start(&mut self, first: &mut bool) -> Step<bool> {
        let peek = match self.whitespace().ok_or(Fault::EofWhileParsingObject)? {
            b'}' => return Ok(false),
            b',' if !*first => {
                self.pos += 1;
                self.whitespace()
            }
            b if *first => {
                *first = false;
                Some(b)
            }
            _ => return Err(Fault::ExpectedObjectCommaOrEnd),
        };
        match peek.ok_or(Fault::EofWhileParsingValue)? {
            b'"' => Ok(true),
            b'}' => Err(Fault::TrailingComma),
            _ => Err(Fault::KeyMustBeAString),
        }
    }

    /// The `:` between a key and its value.
    #[inline(always)]
    pub fn colon(&mut self) -> Step<()> {
        match self.whitespace().ok_or(Fault::EofWhileParsingObject)? {
            b':' => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(Fault::ExpectedColon),
        }
    }

    /// Closes an object after [`Reader::next_key`] returned `None`.
    pub fn end_object(&mut self) -> Step<()> {
        match self.whitespace().ok_or(Fault::EofWhileParsingObject)? {
            b'}' => {
                self.close();
                Ok(())
            }
            b',' => Err(Fault::TrailingComma),
            _ => Err(Fault::TrailingCharacters),
        }
    }

    /// Closes an array after [`Reader::next_element`] returned `false`.
    pub(super) fn end_array(&mut self) -> Step<()> {
        match self.whitespace().ok_or(Fault::EofWhileParsingList)? {
            b']' => {
                self.close();
                Ok(())
            }
            b',' => {
                self.pos += 1;
                match self.whitespace() {
                    Some(b']') => Err(Fault::TrailingComma),
                    _ => Err(Fault::TrailingCharacters),
                }
            }
            _ => Err(Fault::TrailingCharacters),
        }
    }

    /// Opens an array: `[` (serde-json-core's `deserialize_seq`).
    pub(super) fn begin_array(&mut self) -> Step<()> {
        match self.whitespace().ok_or(Fault::EofWhileParsingValue)? {
            b'[' => self.open(),
            _ => Err(Fault::InvalidType),
        }
    }

    /// Whether another element of an open array follows (positioned on it), or its `]` (not
    /// consumed: see `end_array`): serde-json-core's `next_element_seed`, so a leading comma is
    /// taken (`[,1]`) and an element after it still counts as the first. `first` is the
    /// array's own flag, initially `true`.
    pub(super) fn next_element(&mut self, first: &mut bool) -> Step<bool> {
        let peek = match self.whitespace().ok_or(Fault::EofWhileParsingList)? {
            b']' => return Ok(false),
            b',' => {
                self.pos += 1;
                self.whitespace().ok_or(Fault::EofWhileParsingValue)?
            }
            c if *first => {
                *first = false;
                c
            }
            _ => return Err(Fault::ExpectedListCommaOrEnd),
        };
        match peek {
            b']' => Err(Fault::TrailingComma),
            _ => Ok(true),
        }
    }

    /// `null` read and consumed (`true`), or the start of some other value (`false`, nothing
    /// consumed): serde-json-core's `deserialize_option`.
    pub(super) fn null(&mut self) -> Step<bool> {
        match self.whitespace().ok_or(Fault::EofWhileParsingValue)? {
            b'n' => {
                self.pos += 1;
                self.ident(b"ull")?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Reads the object at `pos`, for a shape read by hand: `field` is called with each key
    /// (raw bytes) and the bit set of the fields seen so far, reads the value of a key it keeps
    /// (`Some`), or says `None` and the value is skipped.
    #[inline]
    pub(super) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'de [u8], &mut u16) -> Step<Option<()>>,
    ) -> Step<()> {
        self.begin_object()?;
        let (mut seen, mut first) = (0u16, true);
        while let Some(key) = self.next_key(&mut first)? {
            if field(self, key, &mut seen)?.is_none() {
                self.colon()?;
                self.skip()?;
            }
        }
        self.end_object()
    }

    /// One optional field of a shape read by hand, its key just read: refused if met before
    /// (`once`), then its colon, then the value (`opt`), in the derive's order.
    #[inline]
    pub(super) fn field<T>(
        &mut self,
        seen: &mut u16,
        bit: u16,
        name: &'static str,
        read: impl FnOnce(&mut Self) -> Step<T>,
    ) -> Step<Option<T>> {
        self.once(seen, bit, name)?;
        self.colon()?;
        self.opt(read)
    }

    /// An optional value: `None` for `null`, else what `read` reads (serde's `Option`).
    #[inline]
    pub(super) fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Step<T>) -> Step<Option<T>> {
        if self.null()? {
            Ok(None)
        } else {
            read(self).map(Some)
        }
    }

    /// A boolean (serde-json-core's `deserialize_bool`).
    pub(super) fn boolean(&mut self) -> Step<bool> {
        match self.whitespace().ok_or(Fault::EofWhileParsingValue)? {
            b't' => {
                self.pos += 1;
                self.ident(b"rue")?;
                Ok(true)
            }
            b'f' => {
                self.pos += 1;
                self.ident(b"alse")?;
                Ok(false)
            }
            _ => Err(Fault::InvalidType),
        }
    }

    /// Reads past one value of any shape without keeping it: what serde-json-core does for
    /// `IgnoredAny`, without its recursion.
    pub fn skip(&mut self) -> Step<()> {
        match self.whitespace().ok_or(Fault::EofWhileParsingValue)? {
            b'"' => self.skip_string(),
            b'[' | b'{' => self.skip_nested(),
            b',' | b'}' | b']' => Err(Fault::ExpectedSomeValue),
            _ => self.chomp(),
        }
    }

    /// [`Reader::skip`] of an array or object, as one loop over an explicit stack: bit `d` of
    /// `arrays` says whether the container `d` levels below the first is an array, bit `d` of
    /// `firsts` holds its serde-json-core `first` flag. Works on local copies of the cursor
    /// (written back at the end) so they stay in registers: most of a frame is skipped here.
    pub(super) fn skip_nested(&mut self) -> Step<()> {
        let b = self.text.as_bytes();
        let (mut pos, mut depth, mut desync) = (self.pos, self.depth, self.desync);
        let (mut arrays, mut firsts) = (0u64, 0u64);
        let mut open = 0usize;
        let out = 'skip: loop {
            // One value starts here.
            let c;
            (pos, c) = non_space(b, pos);
            match c {
                None => break 'skip Err(Fault::EofWhileParsingValue),
                Some(b'"') => match closing_quote(b, pos + 1) {
                    Some(end) => pos = end + 1,
                    None => break 'skip Err(Fault::EofWhileParsingString),
                },
                Some(bracket @ (b'[' | b'{')) => {
                    depth += 1;
                    if open == SKIP_DEPTH || (depth > MAX_JSON_DEPTH && !desync) {
                        self.deep_at = Some(pos);
                        break 'skip Err(Fault::TooDeep);
                    }
                    let bit = 1u64 << open;
                    if bracket == b'[' {
                        arrays |= bit;
                    } else {
                        arrays &= !bit;
                    }
                    firsts |= bit;
                    open += 1;
                    pos += 1;
                }
                Some(b',' | b'}' | b']') => break 'skip Err(Fault::ExpectedSomeValue),
                // An ignored scalar: everything up to the next `,`, `}` or `]`.
                Some(_) => loop {
                    match b.get(pos) {
                        Some(b',' | b'}' | b']') => break,
                        Some(c) => {
                            desync |= matches!(c, b'"' | b'[' | b'{');
                            pos += 1;
                        }
                        None => break 'skip Err(Fault::EofWhileParsingString),
                    }
                },
            }
            // Then the innermost open container goes on: another element or key, or its end.
            while let Some(inner) = open.checked_sub(1) {
                let bit = 1u64 << inner;
                let first = firsts & bit != 0;
                let c;
                (pos, c) = non_space(b, pos);
                if arrays & bit != 0 {
                    let peek = match c {
                        None => break 'skip Err(Fault::EofWhileParsingList),
                        Some(b']') => {
                            depth = depth.saturating_sub(1);
                            pos += 1;
                            open = inner;
                            continue;
                        }
                        Some(b',') => {
                            let next;
                            (pos, next) = non_space(b, pos + 1);
                            match next {
                                Some(c) => c,
                                None => break 'skip Err(Fault::EofWhileParsingValue),
                            }
                        }
                        Some(c) if first => {
                            firsts &= !bit;
                            c
                        }
                        Some(_) => break 'skip Err(Fault::ExpectedListCommaOrEnd),
                    };
                    if peek == b']' {
                        break 'skip Err(Fault::TrailingComma);
                    }
                    continue 'skip;
                }
                // An object: a key (as `key_start` reads it), its colon, then its value.
                let peek = match c {
                    None => break 'skip Err(Fault::EofWhileParsingObject),
                    Some(b'}') => {
                        depth = depth.saturating_sub(1);
                        pos += 1;
                        open = inner;
                        continue;
                    }
                    Some(b',') if !first => {
                        let next;
                        (pos, next) = non_space(b, pos + 1);
                        next
                    }
                    Some(c) if first => {
                        firsts &= !bit;
                        Some(c)
                    }
                    Some(_) => break 'skip Err(Fault::ExpectedObjectCommaOrEnd),
                };
                match peek {
                    None => break 'skip Err(Fault::EofWhileParsingValue),
                    Some(b'"') => {}
                    Some(b'}') => break 'skip Err(Fault::TrailingComma),
                    Some(_) => break 'skip Err(Fault::KeyMustBeAString),
                }
                match closing_quote(b, pos + 1) {
                    Some(end) => pos = end + 1,
                    None => break 'skip Err(Fault::EofWhileParsingString),
                }
                let colon;
                (pos, colon) = non_space(b, pos);
                match colon {
                    Some(b':') => pos += 1,
                    None => break 'skip Err(Fault::EofWhileParsingObject),
                    Some(_) => break 'skip Err(Fault::ExpectedColon),
                }
                continue 'skip;
            }
            break Ok(());
        };
        (self.pos, self.depth, self.desync) = (pos, depth, desync);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{self, Visitor};

    type Result<T> = core::result::Result<T, Error>;
    use serde::de::IgnoredAny;
    use serde::Deserialize;

    fn skip(json: &str) -> Result<usize> {
        let mut r = Reader::new(json, 0);
        r.skip()?;
        Ok(r.end()?)
    }

    #[test]
    fn finds_bytes_in_every_lane() {
        for len in 0..20 {
            for at in 0..len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[at] = c;
                    assert_eq!(find(&v, 0, c), Some(at));
                    assert_eq!(find(&v, at + 1, c), None);
                    assert_eq!(find(&v, 0, b'x'), None);
                }
            }
        }
        // Bytes just above and below the target never match.
        let near = [b'!', b'#', b'[', b']', 0x80, 0xff, 0, b'a', b'!', b'#'];
        assert_eq!(find(&near, 0, b'"'), None);
        assert_eq!(find(&near, 99, b'"'), None);
    }

    #[test]
    fn closing_quote_counts_the_backslashes_before_it() {
        for (body, end) in [
            ("\"", 0),
            ("a\"", 1),
            ("\\\"\"", 2),
            ("\\\\\"", 2),
            ("\\\\\\\"\"", 4),
            ("0123456789\\\"abcdefgh\"", 20),
        ] {
            assert_eq!(closing_quote(body.as_bytes(), 0), Some(end), "{body}");
            // The same as the flat scan's "a backslash escapes the next byte".
            let mut i = 0;
            let b = body.as_bytes();
            while b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            assert_eq!(i, end, "{body}");
        }
        assert_eq!(closing_quote(b"\\\"", 0), None);
        assert_eq!(closing_quote(b"abc", 0), None);
        // Backslashes before the body do not count.
        assert_eq!(closing_quote(b"\\\"", 1), Some(1));
    }

    #[test]
    fn strings_end_at_the_first_unescaped_quote() {
        for (json, body) in [
            (r#""""#, ""),
            (r#""abc""#, "abc"),
            (r#""a\"b""#, r#"a\"b"#),
            (r#""a\\""#, r#"a\\"#),
            (r#""a\\\"b""#, r#"a\\\"b"#),
            (r#""0123456789abcdef\"0123""#, r#"0123456789abcdef\"0123"#),
        ] {
            let mut r = Reader::new(json, 0);
            assert_eq!(r.parse_str(), Ok(body), "{json}");
            assert_eq!(r.end(), Ok(json.len()));
        }
        for bad in [r#"""#, r#""abc"#, r#""abc\""#, r#""abc\"#] {
            assert_eq!(
                Reader::new(bad, 0).parse_str(),
                Err(Fault::EofWhileParsingString),
                "{bad}"
            );
        }
    }

    #[test]
    fn skip_accepts_what_serde_json_core_ignores() {
        for json in [
            r#""s""#,
            "[]",
            "{}",
            "[1,-1.5e3,tru,null]",
            r#"[1,"a",[{"b":[]}],{"c":{"d":null}}]"#,
            "[,1]",
            "[,1 2]",
            r#"{"a":1 2}"#,
            r#"{ "a" : [ 1 , 2 ] , "b" : { } }"#,
        ] {
            assert!(skip(json).is_ok(), "{json}");
            // The same verdict as serde-json-core's own IgnoredAny.
            assert!(
                serde_json_core::from_str::<IgnoredAny>(json).is_ok(),
                "{json}"
            );
        }
        for (json, e) in [
            ("", Error::EofWhileParsingValue),
            // A bare scalar runs to the end of the text: serde-json-core calls that EOF.
            ("1", Error::EofWhileParsingString),
            ("[1,]", Error::TrailingComma),
            (r#"["a" "b"]"#, Error::ExpectedListCommaOrEnd),
            ("[,]", Error::TrailingComma),
            ("[", Error::EofWhileParsingList),
            ("{", Error::EofWhileParsingObject),
            (r#"{"a":1,}"#, Error::TrailingComma),
            (r#"{"a" 1}"#, Error::ExpectedColon),
            (r#"{"a":"x" "b":2}"#, Error::ExpectedObjectCommaOrEnd),
            ("{1:2}", Error::KeyMustBeAString),
            ("{,}", Error::KeyMustBeAString),
            (r#"{"a":}"#, Error::ExpectedSomeValue),
            ("[1] x", Error::TrailingCharacters),
        ] {
            assert_eq!(skip(json), Err(e.clone()), "{json}");
            assert_eq!(
                serde_json_core::from_str::<IgnoredAny>(json).map(|_| ()),
                Err(e),
                "{json}"
            );
        }
    }

    #[test]
    fn nesting_is_counted_as_the_flat_scan_counts_it() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(skip(&nest(MAX_JSON_DEPTH)).is_ok());
        let deep = nest(MAX_JSON_DEPTH + 1);
        let mut r = Reader::new(&deep, 0);
        assert_eq!(r.skip(), Err(Fault::TooDeep));
        // The bracket that went past the limit, where the flat scan finds it too.
        assert_eq!(r.deep_at, Some(MAX_JSON_DEPTH));
        assert_eq!(
            super::super::json::depth_exceeded(deep.as_bytes(), MAX_JSON_DEPTH),
            Some((MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH))
        );
        // A reader inside a document starts at that document's depth.
        let mut r = Reader::new(&deep[1..deep.len() - 1], 1);
        assert_eq!(r.skip(), Err(Fault::TooDeep));
        assert_eq!(r.deep_at, Some(MAX_JSON_DEPTH - 1));
    }

    #[test]
    fn a_swallowed_quote_leaves_the_depth_to_the_flat_scan_up_to_the_stack() {
        // `x"` is an ignored scalar (not JSON) that the flat scan reads as a string opening:
        // the brackets after it are nesting for the reader only.
        let nest = |n: usize| format!(r#"[x",{}{}]"#, "[".repeat(n), "]".repeat(n));
        let ok = nest(SKIP_DEPTH - 1);
        let mut r = Reader::new(&ok, 0);
        assert_eq!(r.skip().and_then(|()| r.end()), Ok(ok.len()));
        assert!(r.desync);
        let deep = nest(SKIP_DEPTH);
        let mut r = Reader::new(&deep, 0);
        assert_eq!(r.skip(), Err(Fault::TooDeep));
        assert_eq!(r.deep_at, Some(4 + SKIP_DEPTH - 1));
    }

    #[test]
    fn typed_values_read_as_serde_json_core_reads_them() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct S {
            b: Option<bool>,
            f: Option<f64>,
            u: Option<u32>,
            i: Option<i16>,
            v: Option<[u8; 2]>,
        }
        for json in [
            r#"{"b":true,"f":-1.5e3,"u":42,"i":-7,"v":[1,2],"x":{"y":[null]}}"#,
            r#"{"b":null,"f":null,"u":null}"#,
            r#"{"f":nan}"#,
            r#"{"b":tru}"#,
            r#"{"u":-1}"#,
            r#"{"u":4294967296}"#,
            r#"{"i":-32769}"#,
            r#"{"f":1.2.3}"#,
            r#"{"b":true,"b":false}"#,
            r#"{"v":[1,2,3]}"#,
            r#"{"v":[1]}"#,
        ] {
            let mut r = Reader::new(json, 0);
            let ours = S::deserialize(&mut r).and_then(|s| Ok(r.end().map(|_| s)?));
            let theirs = serde_json_core::from_str::<S>(json).map(|(s, _)| s);
            assert_eq!(ours, theirs, "{json}");
        }
    }

    /// The reader against serde-json-core itself on mutated JSON: the same verdict for
    /// `skip` (serde-json-core's `IgnoredAny`), and the same value or error for a typed shape
    /// made of the decode field types, on every input the nesting limits leave to both.
    #[test]
    fn agrees_with_serde_json_core_on_mutated_input() {
        use super::super::json::{Capped, Key, Text};

        #[derive(Deserialize, Debug)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)] // Read through `Debug` only.
        struct Shape {
            topic_name: Option<Text<8>>,
            ok: Option<bool>,
            n: Option<f64>,
            u: Option<u16>,
            list: Option<Capped<Inner, 2>>,
            any: Option<IgnoredAny>,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            x: Option<i32>,
            t: Option<Text<4>>,
        }
        /// The first key's raw text, through the `Key` field type.
        #[derive(Debug)]
        struct FirstKey(#[allow(dead_code)] Option<std::string::String>);
        impl<'de> Deserialize<'de> for FirstKey {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = FirstKey;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> core::result::Result<FirstKey, A::Error> {
                        let first = m
                            .next_key::<Key<'de>>()?
                            .and_then(|k| k.0.map(str::to_string));
                        if first.is_some() {
                            m.next_value::<IgnoredAny>()?;
                        }
                        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        Ok(FirstKey(first))
                    }
                }
                d.deserialize_map(V)
            }
        }

        fn ours<T: for<'a> Deserialize<'a> + core::fmt::Debug>(text: &str) -> Option<String> {
            let mut r = Reader::new(text, 0);
            let got = T::deserialize(&mut r).and_then(|v| Ok(r.end().map(|_| v)?));
            // Past a nesting limit the reader refuses where serde-json-core recurses.
            r.deep_at.is_none().then(|| format!("{got:?}"))
        }
        fn theirs<T: for<'a> Deserialize<'a> + core::fmt::Debug>(text: &str) -> String {
            format!("{:?}", serde_json_core::from_str::<T>(text).map(|(v, _)| v))
        }

        let seeds = [
            r#"{"topicName":"v2.x","ok":true,"n":-1.5e3,"u":7,"list":[{"x":-3,"t":"ab\"c"},{"x":1},{"t":"zz"}],"any":{"q":[1,"s",{"r":null}]}}"#,
            r#"{ "list" : [ ] , "any" : "\ud83d\ude00" , "n" : null , "ok" : false }"#,
            r#"{"topicName":"caf\u00e9\n","u":65535,"any":[[[],{}],[{"a":[true]}]],"x":1}"#,
        ];
        const TOKENS: [&str; 24] = [
            "{", "}", "[", "]", "\"", ",", ":", "\\", "\\\"", " ", "\n", "null", "nul", "true",
            "tru", "1", "-", "1e9", "[,", "\\u12", "\\x", "x\"", "{\"a\":", "\u{e9}",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rand = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % (n as u64)).unwrap_or(0)
        };
        let mut checked = 0;
        for round in 0..6000 {
            let mut text = seeds[round % seeds.len()].to_string();
            for _ in 0..1 + rand(3) {
                let at = rand(text.len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                match rand(3) {
                    0 => text.insert_str(at, TOKENS[rand(TOKENS.len())]),
                    1 => {
                        let end = (at + 1 + rand(6)).min(text.len());
                        if let Some(end) = (end..=text.len()).find(|&i| text.is_char_boundary(i)) {
                            text.replace_range(at..end, "");
                        }
                    }
                    _ => text.truncate(at),
                }
            }
            let Some(skipped) = ({
                let mut r = Reader::new(&text, 0);
                let got = r
                    .skip()
                    .and_then(|()| r.end())
                    .map(drop)
                    .map_err(Error::from);
                r.deep_at.is_none().then_some(got)
            }) else {
                continue;
            };
            let text = text.as_str();
            assert_eq!(
                skipped,
                serde_json_core::from_str::<IgnoredAny>(text).map(drop),
                "skip: {text}"
            );
            if let Some(got) = ours::<Shape>(text) {
                assert_eq!(got, theirs::<Shape>(text), "Shape: {text}");
            }
            if let Some(got) = ours::<FirstKey>(text) {
                assert_eq!(got, theirs::<FirstKey>(text), "Key: {text}");
            }
            checked += 1;
        }
        assert!(checked > 5000, "{checked}");
    }
}
