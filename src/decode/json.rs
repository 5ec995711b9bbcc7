//! JSON plumbing shared by the WebSocket and REST decoders: the one entry into the reader
//! ([`read`], with its UTF-8 and nesting checks), and the small field types every decoder
//! builds on ([`Text`], [`JId`], [`Stamp`], [`Capped`], [`Key`]). Owns no topic or endpoint
//! shapes (those are `ws` and `rest`) and no tokenizing (that is `reader`).
//!
//! # Why strings reach the field types raw
//! serde-json-core's `from_slice_escaped` unescapes *every* string it meets into one scratch
//! buffer, including strings in fields we skip; an escaped string longer than the buffer
//! fails the frame (`EscapedStringIsTooLong`) and an escaped emoji (`\ud83d\ude00`, a surrogate
//! pair) fails it too (`InvalidEscapeSequence`: 0.7 unescapes one `\u` at a time). So strings
//! are handed over raw, as borrowed slices of the input (serde-json-core's `from_slice`
//! semantics, which `reader` keeps), and [`Text`] unescapes only the strings we keep, into
//! their own capacity, surrogate pairs included. Every string field must therefore be a
//! [`Text`] (or built on it), never a bare `heapless::String`, which would receive the raw
//! escaped text.
//!
//! # Why no field type ever reports a serde "custom" error with input in it
//! The reader's error type is serde-json-core's. With `custom-error-messages`, serde-json-core
//! 0.7 formats custom errors into a
//! `heapless::String<64>` with `write!(..).unwrap()`: a message longer than 64 bytes (e.g.
//! heapless' "invalid length 3000, expected a string no more than 2048 bytes long", or a
//! derived enum's "unknown variant `<input>`…") **panics**. Hence: no derived enums, no heapless
//! containers deserialized directly, every field optional (missing fields are checked by the
//! decoders, with evidence), overflow recorded as a flag instead of an error.

use core::fmt;
use core::marker::PhantomData;

use heapless::String;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::reader::{closing_quote, find, Fault, Reader, Step};
use super::{parse_timestamp, Rejected};
use crate::event::{Id, Millis, Presence, Routing};
use crate::limits::MAX_JSON_DEPTH;

/// Reads one JSON document (no trailing data) from `bytes` with `f`, refusing in this order:
/// not UTF-8 (`NotUtf8`); nesting deeper than [`MAX_JSON_DEPTH`] anywhere (`TooDeep`, decided
/// exactly as the flat scan [`depth_exceeded`] over the whole input decides it); then what
/// `f` or the JSON grammar refuse (`Malformed`). One pass in the common case: the reader
/// counts nesting as it goes and stops past the limit, so the flat scan runs only when
/// reading failed (the input beyond the failure still counts) or an ignored scalar swallowed
/// a bracket or quote (the two counts can then differ).
pub(crate) fn read<'a, T>(
    bytes: &'a [u8],
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, serde_json_core::de::Error>,
) -> Result<T, Rejected> {
    let text = core::str::from_utf8(bytes).map_err(|e| Rejected::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let mut r = Reader::new(text, 0);
    let out = f(&mut r).and_then(|value| Ok(r.end().map(|_| value)?));
    if out.is_err() || r.desync {
        if let Some((depth, offset)) = depth_exceeded(bytes, MAX_JSON_DEPTH) {
            return Err(Rejected::TooDeep { depth, offset });
        }
    }
    out.map_err(|e| match r.deep_at {
        // Only below a skip after a swallowed quote (see `reader::SKIP_DEPTH`).
        Some(offset) => Rejected::TooDeep {
            depth: MAX_JSON_DEPTH + 1,
            offset,
        },
        None => Rejected::Malformed(e),
    })
}

/// Flat scan of bracket nesting, ignoring brackets inside strings and honouring `\` escapes.
/// Returns the depth and byte offset at which `max` is first exceeded. String bodies, most of
/// a frame, are crossed eight bytes at a time (issue 7: the byte-at-a-time form of this scan
/// cost ~17 instructions per byte).
pub(crate) fn depth_exceeded(bytes: &[u8], max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut offset = 0;
    while let Some(&b) = bytes.get(offset) {
        match b {
            b'"' => {
                // To the closing quote; a backslash escapes the byte after it, whatever it
                // is. `None`: the string runs to the end, where no bracket counts.
                offset = closing_quote(bytes, offset + 1)?;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some((depth, offset));
                }
            }
            // Unbalanced closers are the parser's to report; never underflow here.
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        offset += 1;
    }
    None
}

/// Deserializes one JSON document with the checks of [`read`].
pub(crate) fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Rejected> {
    from_seed(bytes, PhantomData::<T>)
}

/// Like [`from_json`], with a seed that carries context (the topic's user id).
pub(crate) fn from_seed<'a, S: DeserializeSeed<'a>>(
    bytes: &'a [u8],
    seed: S,
) -> Result<S::Value, Rejected> {
    read(bytes, |r| seed.deserialize(r))
}

/// A map key, borrowed raw from the input; `None` when the parser could not lend it (only
/// with a scratch buffer, which we never pass), so such a key matches nothing.
pub(crate) struct Key<'de>(pub Option<&'de str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Key<'de>, E> {
                Ok(Key(None))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON string unescaped into at most `N` bytes, cut at a char boundary when longer.
/// Never fails on length: `truncated` records it, and each decoder decides (ids and
/// timestamps reject, names keep the prefix, enum names become `Unknown`).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub(crate) struct Text<const N: usize> {
    /// The (possibly truncated) unescaped value.
    pub s: String<N>,
    /// The value was longer than `N` bytes.
    pub truncated: bool,
}

impl<const N: usize> Text<N> {
    /// The value as `&str`.
    pub fn as_str(&self) -> &str {
        self.s.as_str()
    }

    /// The value if it fit, else `None`.
    pub fn whole(self) -> Option<String<N>> {
        (!self.truncated).then_some(self.s)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<const N: usize> Visitor<'_> for V<N> {
            type Value = Text<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, raw: &str) -> Result<Text<N>, E> {
                Text::from_raw(raw)
            }
        }
        d.deserialize_str(V::<N>)
    }
}

/// The message of the error a kept string with an invalid escape raises.
pub(crate) const BAD_ESCAPE: &str = "invalid escape in string";

impl<const N: usize> Text<N> {
    /// A string's raw body (escapes in) unescaped into `N` bytes: what deserializing a
    /// `Text<N>` keeps, or its error.
    fn from_raw<E: de::Error>(raw: &str) -> Result<Text<N>, E> {
        // A fixed short message: see the module docs on custom errors.
        Text::unescaped(raw).map_err(|_| E::custom(BAD_ESCAPE))
    }

    /// [`Text::from_raw`] for the shapes read by hand.
    fn unescaped(raw: &str) -> Step<Text<N>> {
        let mut s = String::new();
        match unescape_into(raw, &mut s) {
            Ok(truncated) => Ok(Text { s, truncated }),
            Err(()) => Err(Fault::BadEscape),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The same field types read straight from the reader (the hot shapes in `ws` are read by hand,
// not through serde's visitors, issue 16): each accepts, refuses and keeps exactly what its
// serde counterpart above does, with the same error values; a string without a backslash is
// not copied.

/// Whether `raw` (a string body) has no escape, so it is its own unescaped value.
fn plain(raw: &str) -> bool {
    find(raw.as_bytes(), 0, b'\\').is_none()
}

/// `raw` cut to at most `n` bytes at a char boundary, and whether it was cut: `Text<n>` of a
/// string without escapes.
fn cut(raw: &str, n: usize) -> (&str, bool) {
    if raw.len() <= n {
        return (raw, false);
    }
    let mut at = n;
    while !raw.is_char_boundary(at) {
        at -= 1;
    }
    (raw.get(..at).unwrap_or_default(), true)
}

/// The string `r` is at, as `Text<N>` keeps it, given to `f` as (text, truncated).
pub(crate) fn read_text<const N: usize, T>(
    r: &mut Reader<'_>,
    f: impl FnOnce(&str, bool) -> T,
) -> Step<T> {
    let raw = r.parse_str()?;
    if plain(raw) {
        let (s, truncated) = cut(raw, N);
        Ok(f(s, truncated))
    } else {
        let t = Text::<N>::unescaped(raw)?;
        Ok(f(t.as_str(), t.truncated))
    }
}

/// A [`JId`], read as its `Deserialize` reads it.
pub(crate) fn read_id(r: &mut Reader<'_>) -> Step<JId> {
    read_text::<SHORT, _>(r, |s, truncated| {
        JId((!truncated).then(|| Id::parse(s)).flatten())
    })
}

/// A [`Stamp`] whose parse waits until it is needed (most stamps of a conversation are other
/// participants'): the string and its escapes are read and checked now, as `Stamp`'s
/// `Deserialize` does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LazyStamp<'de> {
    /// A string without escapes: parsed by [`LazyStamp::stamp`].
    Raw(&'de str),
    /// A string with escapes: unescaped and parsed as it was read.
    Read(Stamp),
}

impl LazyStamp<'_> {
    /// The [`Stamp`] `Deserialize` would have made.
    pub fn stamp(self) -> Stamp {
        match self {
            // Longer than `Text<SHORT>` keeps: truncated, so not a time.
            LazyStamp::Raw(s) => Stamp((s.len() <= SHORT).then(|| parse_timestamp(s)).flatten()),
            LazyStamp::Read(s) => s,
        }
    }
}

/// A [`SysPresence`], read as its `Deserialize` reads it.
pub(crate) fn read_presence(r: &mut Reader<'_>) -> Step<SysPresence> {
    read_text::<ENUM_LEN, _>(r, |s, truncated| {
        SysPresence(if truncated {
            Presence::Unknown
        } else {
            presence_from_str(s)
        })
    })
}

/// A [`RoutingName`], read as its `Deserialize` reads it.
pub(crate) fn read_routing(r: &mut Reader<'_>) -> Step<RoutingName> {
    read_text::<ENUM_LEN, _>(r, |s, truncated| {
        RoutingName(if truncated {
            Routing::Unknown
        } else {
            routing_from_str(s)
        })
    })
}

/// A [`LazyStamp`], read as `Stamp`'s `Deserialize` reads it.
pub(crate) fn read_stamp<'de>(r: &mut Reader<'de>) -> Step<LazyStamp<'de>> {
    let raw = r.parse_str()?;
    if plain(raw) {
        return Ok(LazyStamp::Raw(raw));
    }
    let t = Text::<SHORT>::unescaped(raw)?;
    Ok(LazyStamp::Read(Stamp(
        t.whole().and_then(|s| parse_timestamp(&s)),
    )))
}

/// Appends as much of `s` as fits at a char boundary; `false` when something was cut.
fn push_cut<const N: usize>(out: &mut String<N>, s: &str) -> bool {
    let room = N - out.len();
    let mut cut = s.len().min(room);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    // Cannot fail: `cut` bytes fit in `room` by construction.
    let fitted = out.push_str(s.get(..cut).unwrap_or_default()).is_ok();
    fitted && cut == s.len()
}

/// Unescapes the raw body of a JSON string (between the quotes) into `out`. Returns whether
/// the value was cut to fit; `Err` on an invalid escape. Lone surrogates become U+FFFD.
pub(crate) fn unescape_into<const N: usize>(raw: &str, out: &mut String<N>) -> Result<bool, ()> {
    let mut rest = raw;
    while !rest.is_empty() {
        let plain_len = find(rest.as_bytes(), 0, b'\\').unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(plain_len);
        if !push_cut(out, plain) {
            return Ok(true);
        }
        rest = tail;
        let bytes = rest.as_bytes();
        if bytes.is_empty() {
            break;
        }
        // bytes[0] == b'\\'
        let (c, used) = match bytes.get(1) {
            Some(b'"') => ('"', 2),
            Some(b'\\') => ('\\', 2),
            Some(b'/') => ('/', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => {
                let hi = hex4(bytes.get(2..6)).ok_or(())?;
                if (0xD800..0xDC00).contains(&hi) {
                    let lo = match (bytes.get(6), bytes.get(7)) {
                        (Some(b'\\'), Some(b'u')) => hex4(bytes.get(8..12)),
                        _ => None,
                    };
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            (char::from_u32(cp).unwrap_or('\u{FFFD}'), 12)
                        }
                        _ => ('\u{FFFD}', 6),
                    }
                } else {
                    (char::from_u32(hi).unwrap_or('\u{FFFD}'), 6)
                }
            }
            _ => return Err(()),
        };
        if out.push(c).is_err() {
            return Ok(true);
        }
        rest = rest.get(used..).ok_or(())?;
    }
    Ok(false)
}

fn hex4(b: Option<&[u8]>) -> Option<u32> {
    let b = b?;
    let mut v = 0u32;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u32::from(d);
    }
    Some(v)
}

/// Longest string inspected as an id or timestamp: a UUID is 36 bytes, an ISO timestamp
/// with nanoseconds and `+00:00` 35; anything longer is invalid, not truncated.
const SHORT: usize = 40;

/// An id field: `Some(id)` when it is a canonical UUID, `None` when present but invalid
/// (the decoder rejects with `BadId`). Absence is the enclosing `Option`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct JId(pub Option<Id>);

impl<'de> Deserialize<'de> for JId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::<SHORT>::deserialize(d)?;
        Ok(JId(t.whole().and_then(|s| Id::parse(&s))))
    }
}

/// Resolves an optional id field: absent → `MissingField`, invalid → `BadId`.
pub(crate) fn need_id(v: Option<JId>, field: &'static str) -> Result<Id, Rejected> {
    match v {
        None => Err(Rejected::MissingField(field)),
        Some(JId(None)) => Err(Rejected::BadId(field)),
        Some(JId(Some(id))) => Ok(id),
    }
}

/// A timestamp field: `Some(ms)` when [`parse_timestamp`] accepts it, `None` when present
/// but invalid (the decoder rejects with `BadTimestamp`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Stamp(pub Option<Millis>);

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::<SHORT>::deserialize(d)?;
        Ok(Stamp(t.whole().and_then(|s| parse_timestamp(&s))))
    }
}

/// Resolves an optional ordering timestamp: absent → 0 ("unordered"), invalid → `BadTimestamp`.
pub(crate) fn stamp_or_zero(v: Option<Stamp>, field: &'static str) -> Result<Millis, Rejected> {
    match v {
        None => Ok(0),
        Some(Stamp(None)) => Err(Rejected::BadTimestamp(field)),
        Some(Stamp(Some(ms))) => Ok(ms),
    }
}

/// Longest enum name we compare (`NOT_RESPONDING` is 14); longer values are unknown.
const ENUM_LEN: usize = 32;

/// A `systemPresence` value, normalised with [`presence_from_str`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SysPresence(pub Presence);

impl<'de> Deserialize<'de> for SysPresence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::<ENUM_LEN>::deserialize(d)?;
        Ok(SysPresence(match t.whole() {
            Some(s) => presence_from_str(&s),
            None => Presence::Unknown,
        }))
    }
}

/// A routing `status` value, normalised with [`routing_from_str`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RoutingName(pub Routing);

impl<'de> Deserialize<'de> for RoutingName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::<ENUM_LEN>::deserialize(d)?;
        Ok(RoutingName(match t.whole() {
            Some(s) => routing_from_str(&s),
            None => Routing::Unknown,
        }))
    }
}

/// Longest name [`loose`] normalises for comparison; longer input matches no name.
pub(crate) const LOOSE_LEN: usize = 16;

/// `s` lower-cased without spaces and underscores, into `buf`: the form enum names are
/// compared in (`ON_QUEUE`, `On Queue`, `OnQueue` → `onqueue`), made once per value rather
/// than once per candidate name. `None` when it does not fit (no name is that long).
pub(crate) fn loose<'b>(s: &str, buf: &'b mut [u8; LOOSE_LEN]) -> Option<&'b [u8]> {
    let mut n = 0;
    for c in s.bytes().filter(|c| !matches!(c, b' ' | b'_')) {
        *buf.get_mut(n)? = c.to_ascii_lowercase();
        n += 1;
    }
    buf.get(..n)
}

/// Normalises a system presence from any Genesys casing (`ON_QUEUE`, `On Queue`, `OnQueue`,
/// …): compares case-insensitively ignoring spaces and underscores; unknown → `Unknown`.
pub fn presence_from_str(s: &str) -> Presence {
    const NAMES: [(&str, Presence); 10] = [
        ("available", Presence::Available),
        ("away", Presence::Away),
        ("busy", Presence::Busy),
        ("offline", Presence::Offline),
        ("idle", Presence::Idle),
        ("onqueue", Presence::OnQueue),
        ("meal", Presence::Meal),
        ("training", Presence::Training),
        ("meeting", Presence::Meeting),
        ("break", Presence::Break),
    ];
    let mut buf = [0; LOOSE_LEN];
    let key = loose(s, &mut buf).unwrap_or_default();
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes() == key)
        .map_or(Presence::Unknown, |&(_, p)| p)
}

/// Normalises a routing status (`OFF_QUEUE`, `IDLE`, `INTERACTING`, `NOT_RESPONDING`,
/// `COMMUNICATING`, any casing); unknown → `Unknown`.
pub fn routing_from_str(s: &str) -> Routing {
    const NAMES: [(&str, Routing); 5] = [
        ("offqueue", Routing::OffQueue),
        ("idle", Routing::Idle),
        ("interacting", Routing::Interacting),
        ("notresponding", Routing::NotResponding),
        ("communicating", Routing::Communicating),
    ];
    let mut buf = [0; LOOSE_LEN];
    let key = loose(s, &mut buf).unwrap_or_default();
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes() == key)
        .map_or(Routing::Unknown, |&(_, r)| r)
}

/// A JSON array kept up to `N` elements: the tail beyond `N` is skipped unparsed (as
/// [`IgnoredAny`]) and counted in `dropped`, so a long array loses its tail, not the frame.
/// A missing array is empty (use with `#[serde(default)]`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Capped<T, const N: usize> {
    /// The first `N` elements (or all, when fewer).
    pub items: heapless::Vec<T, N>,
    /// How many elements were skipped after the first `N`.
    pub dropped: usize,
}

impl<T, const N: usize> Default for Capped<T, N> {
    fn default() -> Self {
        Capped {
            items: heapless::Vec::new(),
            dropped: 0,
        }
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Capped<T, N>, A::Error> {
                let mut out = Capped::default();
                while !out.items.is_full() {
                    match seq.next_element::<T>()? {
                        // Cannot fail: checked `!is_full()` above.
                        Some(item) => {
                            let _ = out.items.push(item);
                        }
                        None => return Ok(out),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.dropped = out.dropped.saturating_add(1);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// Converts a JSON count to `u32`: `None` unless finite, non-negative and in range.
pub(crate) fn count_u32(x: f64) -> Option<u32> {
    // In range and non-negative, so the cast neither truncates beyond the fraction nor wraps.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (x.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&x)).then(|| x.round() as u32)
}

/// Converts a JSON duration in ms to `u64`: `None` unless finite, non-negative and below 2^53.
pub(crate) fn count_u64(x: f64) -> Option<u64> {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (x.is_finite() && (0.0..MAX_EXACT).contains(&x)).then(|| x.round() as u64)
}

/// Converts a ratio in 0..=1 to per mille; `None` outside that range.
pub(crate) fn permille(x: f64) -> Option<u16> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (x.is_finite() && (0.0..=1.0).contains(&x)).then(|| (x * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<const N: usize>(json: &str) -> Text<N> {
        from_json::<Text<N>>(json.as_bytes()).unwrap()
    }

    #[test]
    fn text_unescapes_and_truncates_at_char_boundary() {
        assert_eq!(
            text::<32>(r#""He said \"hi\" caf\u00e9""#).as_str(),
            "He said \"hi\" café"
        );
        assert_eq!(text::<8>(r#""a\\b\/c\n\t""#).as_str(), "a\\b/c\n\t");
        // Surrogate pair → one 4-byte char; lone surrogate → U+FFFD.
        assert_eq!(text::<8>(r#""\ud83d\ude00""#).as_str(), "😀");
        assert_eq!(text::<8>(r#""\ud83dx""#).as_str(), "\u{FFFD}x");
        assert_eq!(text::<8>(r#""\ude00""#).as_str(), "\u{FFFD}");
        // "é" is 2 bytes: 5 bytes of room keeps "abc" + "é" only when it fits whole.
        let t = text::<4>(r#""abcé""#);
        assert_eq!((t.as_str(), t.truncated), ("abc", true));
        let t = text::<4>(r#""ab\u00e9x""#);
        assert_eq!((t.as_str(), t.truncated), ("abé", true));
        let t = text::<4>(r#""abcd""#);
        assert_eq!((t.as_str(), t.truncated), ("abcd", false));
    }

    #[test]
    fn text_rejects_bad_escapes_without_panicking() {
        for bad in [r#""\x""#, r#""\u12""#, r#""\u12G4""#, r#""\u+123""#] {
            assert!(matches!(
                from_json::<Text<8>>(bad.as_bytes()),
                Err(Rejected::Malformed(_))
            ));
        }
    }

    #[test]
    fn depth_scan_ignores_strings_and_escapes() {
        assert_eq!(depth_exceeded(b"[[[]]]", 3), None);
        assert_eq!(depth_exceeded(b"[[[[]]]]", 3), Some((4, 3)));
        assert_eq!(depth_exceeded(br#"["[[[[[[", "\"[[[["]"#, 1), None);
        assert_eq!(depth_exceeded(br#"{"a\\":[["#, 3), None);
        assert_eq!(depth_exceeded(br#"{"a\\":[[["#, 3), Some((4, 9)));
        assert_eq!(depth_exceeded(b"]]]]", 0), None);
    }

    #[test]
    fn names_normalise_across_casings() {
        for s in ["ON_QUEUE", "On Queue", "OnQueue", "onqueue", "on_queue"] {
            assert_eq!(presence_from_str(s), Presence::OnQueue, "{s}");
        }
        assert_eq!(presence_from_str("AVAILABLE"), Presence::Available);
        assert_eq!(presence_from_str("Break"), Presence::Break);
        assert_eq!(presence_from_str("On Queues"), Presence::Unknown);
        assert_eq!(presence_from_str(""), Presence::Unknown);
        assert_eq!(routing_from_str("NOT_RESPONDING"), Routing::NotResponding);
        assert_eq!(routing_from_str("Off Queue"), Routing::OffQueue);
        assert_eq!(routing_from_str("BUSY"), Routing::Unknown);
    }

    #[test]
    fn capped_keeps_head_and_counts_tail() {
        // N + 5 elements, including nested junk in the skipped tail.
        let json = br#"[1,2,3,4,{"x":[1,2]},"s",[3],null,true]"#;
        let c: Capped<u8, 4> = from_json(b"[1,2,3,4]").unwrap();
        assert_eq!((c.items.as_slice(), c.dropped), (&[1, 2, 3, 4][..], 0));
        let c: Capped<u8, 4> = from_json(json).unwrap();
        assert_eq!((c.items.as_slice(), c.dropped), (&[1, 2, 3, 4][..], 5));
        let c: Capped<u8, 4> = from_json(b"[]").unwrap();
        assert_eq!((c.items.len(), c.dropped), (0, 0));
    }

    #[test]
    fn numbers_convert_only_in_range() {
        assert_eq!(count_u32(3.0), Some(3));
        assert_eq!(count_u32(-1.0), None);
        assert_eq!(count_u32(f64::NAN), None);
        assert_eq!(count_u32(5e9), None);
        assert_eq!(count_u64(12_345.4), Some(12_345));
        assert_eq!(count_u64(f64::INFINITY), None);
        assert_eq!(permille(0.8567), Some(857));
        assert_eq!(permille(1.0), Some(1000));
        assert_eq!(permille(1.5), None);
    }
}
