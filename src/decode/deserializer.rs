//! The serde side of the JSON reader: `Deserializer` for [`Reader`] (and the sequence, map
//! and map-key accessors), calling the same visitor methods serde-json-core 0.7's
//! `Deserializer` calls, so every field type in `json` and shape in `ws`/`rest` decodes as it
//! did under serde-json-core. The tokenizing is `reader`'s.

use core::str::FromStr;

use serde::de::{self, DeserializeSeed, Visitor};
use serde_json_core::de::Error;

use super::reader::*;

type Result<T> = core::result::Result<T, Error>;

macro_rules! deserialize_unsigned {
    ($self:ident, $visitor:ident, $uxx:ident, $visit_uxx:ident) => {{
        let peek = $self.whitespace().ok_or(Error::EofWhileParsingValue)?;
        match peek {
            b'-' => Err(Error::InvalidNumber),
            b'0' => {
                $self.pos += 1;
                $visitor.$visit_uxx(0)
            }
            b'1'..=b'9' => {
                $self.pos += 1;
                let mut number = $uxx::from(peek - b'0');
                loop {
                    match $self.peek() {
                        Some(c @ b'0'..=b'9') => {
                            $self.pos += 1;
                            number = number
                                .checked_mul(10)
                                .and_then(|n| n.checked_add($uxx::from(c - b'0')))
                                .ok_or(Error::InvalidNumber)?;
                        }
                        _ => return $visitor.$visit_uxx(number),
                    }
                }
            }
            _ => Err(Error::InvalidType),
        }
    }};
}

macro_rules! deserialize_signed {
    ($self:ident, $visitor:ident, $ixx:ident, $visit_ixx:ident) => {{
        let signed = match $self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b'-' => {
                $self.pos += 1;
                true
            }
            _ => false,
        };
        let sign: $ixx = if signed { -1 } else { 1 };
        match $self.peek().ok_or(Error::EofWhileParsingValue)? {
            b'0' => {
                $self.pos += 1;
                $visitor.$visit_ixx(0)
            }
            c @ b'1'..=b'9' => {
                $self.pos += 1;
                // A digit, 0..=9: fits every signed type.
                let digit = |c: u8| $ixx::try_from(c - b'0').unwrap_or(0);
                let mut number = digit(c) * sign;
                loop {
                    match $self.peek() {
                        Some(c @ b'0'..=b'9') => {
                            $self.pos += 1;
                            number = number
                                .checked_mul(10)
                                .and_then(|n| n.checked_add(digit(c) * sign))
                                .ok_or(Error::InvalidNumber)?;
                        }
                        _ => return $visitor.$visit_ixx(number),
                    }
                }
            }
            _ => Err(Error::InvalidType),
        }
    }};
}

macro_rules! deserialize_float {
    ($self:ident, $visitor:ident, $fxx:ident, $visit_fxx:ident) => {{
        match $self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b'n' => {
                $self.pos += 1;
                $self.ident(b"ull")?;
                $visitor.$visit_fxx($fxx::NAN)
            }
            _ => {
                let start = $self.pos;
                while matches!(
                    $self.peek(),
                    Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E')
                ) {
                    $self.pos += 1;
                }
                let s = $self.text.get(start..$self.pos).unwrap_or_default();
                let v = $fxx::from_str(s).map_err(|_| Error::InvalidNumber)?;
                $visitor.$visit_fxx(v)
            }
        }
    }};
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::AnyIsUnsupported)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b't' => {
                self.pos += 1;
                self.ident(b"rue")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.pos += 1;
                self.ident(b"alse")?;
                visitor.visit_bool(false)
            }
            _ => Err(Error::InvalidType),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_signed!(self, visitor, i8, visit_i8)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_signed!(self, visitor, i16, visit_i16)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_signed!(self, visitor, i32, visit_i32)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_signed!(self, visitor, i64, visit_i64)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_unsigned!(self, visitor, u8, visit_u8)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_unsigned!(self, visitor, u16, visit_u16)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_unsigned!(self, visitor, u32, visit_u32)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_unsigned!(self, visitor, u64, visit_u64)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_float!(self, visitor, f32, visit_f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        deserialize_float!(self, visitor, f64, visit_f64)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.parse_str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::BytesIsUnsupported)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error::BytesIsUnsupported)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b'n' => {
                self.pos += 1;
                self.ident(b"ull")?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b'n' => {
                self.pos += 1;
                self.ident(b"ull")?;
                visitor.visit_unit()
            }
            _ => Err(Error::InvalidType),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    // serde-json-core special-cases its own `EscapedStr` here; no decode type uses it.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.whitespace().ok_or(Error::EofWhileParsingValue)? {
            b'[' => {
                self.open()?;
                let value = visitor.visit_seq(Seq {
                    r: &mut *self,
                    first: true,
                })?;
                self.end_array()?;
                Ok(value)
            }
            _ => Err(Error::InvalidType),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.begin_object()?;
        let value = visitor.visit_map(Map {
            r: &mut *self,
            first: true,
        })?;
        self.end_object()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    /// No decode shape is an enum (see `json`: derived enums could raise custom errors that
    /// embed input), so enums are refused outright.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Error::InvalidType)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    /// Only ever called with serde's `IgnoredAny` visitor, whose every `visit_*` discards:
    /// the value is skipped in one loop and the visitor told "unit".
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip()?;
        visitor.visit_unit()
    }
}

/// Elements of an array being deserialized.
struct Seq<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let peek = match self.r.whitespace().ok_or(Error::EofWhileParsingList)? {
            b']' => return Ok(None),
            b',' => {
                self.r.pos += 1;
                self.r.whitespace().ok_or(Error::EofWhileParsingValue)?
            }
            c if self.first => {
                self.first = false;
                c
            }
            _ => return Err(Error::ExpectedListCommaOrEnd),
        };
        if peek == b']' {
            Err(Error::TrailingComma)
        } else {
            seed.deserialize(&mut *self.r).map(Some)
        }
    }
}

/// Entries of an object being deserialized.
struct Map<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.r.key_start(&mut self.first)? {
            seed.deserialize(MapKey(&mut *self.r)).map(Some)
        } else {
            Ok(None)
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.r.colon()?;
        seed.deserialize(&mut *self.r)
    }
}

/// A key, read as a string whatever the key type asks for (serde-json-core panics on the
/// requests no decode key makes; this reads them as strings instead). Made only once
/// `key_start` found the key's opening quote at `pos`.
struct MapKey<'a, 'de>(&'a mut Reader<'de>);

impl<'de> de::Deserializer<'de> for MapKey<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.0.pos += 1; // the opening quote
        visitor.visit_borrowed_str(self.0.string_body()?)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}
