//! The serde helpers of the OTLP/JSON messages: 64-bit integers as strings
//! or numbers, doubles with `"NaN"`/`"Infinity"`, hex ids (hex only), base64 bytes,
//! enums as numbers or names, `null` as the default, and repeated fields
//! under a [`JsonBudget`]. Use them with `#[serde(deserialize_with = "…")]`;
//! [`common`](super::common) re-exports them.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A proto enum that OTLP/JSON may spell as its name (`"SPAN_KIND_SERVER"`).
pub trait OtlpEnum {
    /// The number for a value name, if it is one.
    fn number_of(name: &str) -> Option<i32>;
}

/// `null` or a missing value as `T::default()`, else `T`'s own form.
pub fn de_nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

thread_local! {
    /// Bytes the repeated fields of the OTLP/JSON document being decoded on
    /// this thread may still take (`None`: no limit), and whether they ran out.
    static JSON_BUDGET: Cell<(Option<usize>, bool)> = const { Cell::new((None, false)) };
}

/// Bounds the memory of an OTLP/JSON decode on this thread while alive: every
/// element that [`de_seq`] reads is charged its `size_of`, and past `limit`
/// bytes the decode fails. `{}` is two bytes of JSON but a `LogRecord` is a
/// couple of hundred bytes of struct, so without this a body could decode to
/// a hundred times its size before any event limit applies.
#[derive(Debug)]
pub struct JsonBudget {
    previous: (Option<usize>, bool),
}

impl JsonBudget {
    /// Starts charging against `limit` bytes.
    pub fn start(limit: usize) -> JsonBudget {
        let previous = JSON_BUDGET.with(|b| b.replace((Some(limit), false)));
        JsonBudget { previous }
    }

    /// Whether a decode under this budget failed because it ran out.
    pub fn exceeded(&self) -> bool {
        JSON_BUDGET.with(|b| b.get().1)
    }
}

impl Drop for JsonBudget {
    fn drop(&mut self) {
        JSON_BUDGET.with(|b| b.set(self.previous));
    }
}

/// Charges `bytes` to the current [`JsonBudget`], failing the parse once it
/// is spent.
pub(crate) fn charge_or_fail<E: de::Error>(bytes: usize) -> Result<(), E> {
    if charge(bytes) {
        Ok(())
    } else {
        Err(E::custom("OTLP/JSON request over the decoded size limit"))
    }
}

/// Charges `bytes` to the current [`JsonBudget`]; false once it is spent.
fn charge(bytes: usize) -> bool {
    JSON_BUDGET.with(|b| match b.get() {
        (None, _) => true,
        (Some(left), _) if left >= bytes => {
            b.set((Some(left - bytes), false));
            true
        }
        (Some(_), _) => {
            b.set((Some(0), true));
            false
        }
    })
}

/// A repeated message field: a JSON array (`null` is empty) whose elements
/// are charged to the current [`JsonBudget`].
pub fn de_seq<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_option(SeqVisitor(PhantomData))
}

struct SeqVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        loop {
            charge_or_fail(size_of::<T>())?;
            match seq.next_element()? {
                Some(item) => out.push(item),
                None => return Ok(out),
            }
        }
    }
}

/// A `uint64`/`fixed64` as a JSON number or decimal string; `null` is 0.
pub fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<Int<u64>>::deserialize(d)?.map_or(0, |v| v.0))
}

/// An `int64`/`sfixed64` as a JSON number or decimal string; `null` is 0.
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<Int<i64>>::deserialize(d)?.map_or(0, |v| v.0))
}

/// A `uint32`/`fixed32` as a JSON number or decimal string; `null` is 0.
pub fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<Int<u32>>::deserialize(d)?.map_or(0, |v| v.0))
}

/// An `int32` as a JSON number or decimal string; `null` is 0.
pub fn de_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    Ok(Option::<Int<i32>>::deserialize(d)?.map_or(0, |v| v.0))
}

/// An optional `int64` (number or string); `null` is `None`.
pub fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Int<i64>>::deserialize(d)?.map(|v| v.0))
}

/// A `double` as a JSON number or the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"` (or a decimal string); `null` is 0.
pub fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(de_opt_f64(d)?.unwrap_or(0.0))
}

/// An optional `double` (see [`de_f64`]); `null` is `None`.
pub fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(FloatVisitor)
}

/// A trace, span or parent span id: a hex string (either case; `""` and
/// `null` are empty). Anything else, base64 included, is an error: the body
/// is malformed (as the collector's OTLP/JSON receiver decides).
pub fn de_hex_id<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(Vec::new());
    };
    hex::decode(&text)
        .map_err(|_| de::Error::custom(format!("invalid hex id {:?}", clip(&text, 40))))
}

/// A `bytes` field as base64 (standard or URL-safe, padding optional);
/// `null` is empty.
pub fn de_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(de_opt_base64(d)?.unwrap_or_default())
}

/// An optional `bytes` field as base64; `null` is `None`.
pub fn de_opt_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => decode_base64(&text)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("invalid base64 {:?}", clip(&text, 40)))),
    }
}

/// An enum as its number (JSON number or decimal string) or its value name;
/// `null` is 0. Unknown numbers are kept (proto3 enums are open).
pub fn de_enum<'de, D: Deserializer<'de>, E: OtlpEnum>(d: D) -> Result<i32, D::Error> {
    d.deserialize_any(EnumVisitor::<E>(PhantomData))
}

const BASE64_INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, BASE64_INDIFFERENT);
const BASE64_URL_SAFE: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_INDIFFERENT);

/// Decodes standard or URL-safe base64, padded or not.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASE64_STANDARD
        .decode(text)
        .or_else(|_| BASE64_URL_SAFE.decode(text))
        .ok()
}

/// Encodes bytes as standard padded base64 (the proto3 JSON form).
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first `max` characters of `s`, for error messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// An integer read from a JSON number or a decimal string.
struct Int<T>(T);

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: TryFrom<i128> + std::str::FromStr,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData))
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> IntVisitor<T> {
    fn fit<E: de::Error>(v: i128) -> Result<Int<T>, E> {
        T::try_from(v)
            .map(Int)
            .map_err(|_| E::custom(format!("integer {v} out of range")))
    }
}

impl<T> Visitor<'_> for IntVisitor<T>
where
    T: TryFrom<i128> + std::str::FromStr,
{
    type Value = Int<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a decimal string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int<T>, E> {
        Self::fit(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int<T>, E> {
        Self::fit(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int<T>, E> {
        // 1e19 and the like: integral and within ±2^64.
        if v.fract() == 0.0 && v.abs() < 18_446_744_073_709_551_616.0 {
            Self::fit(v as i128)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Int<T>, E> {
        if let Ok(n) = v.parse::<T>() {
            return Ok(Int(n));
        }
        match v.parse::<f64>() {
            Ok(f) if f.is_finite() => self.visit_f64(f),
            _ => Err(E::custom(format!("invalid integer {:?}", clip(v, 40)))),
        }
    }
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<f64>, E> {
        match v {
            "NaN" => Ok(Some(f64::NAN)),
            "Infinity" => Ok(Some(f64::INFINITY)),
            "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
            _ => v
                .parse::<f64>()
                .map(Some)
                .map_err(|_| E::custom(format!("invalid double {:?}", clip(v, 40)))),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(self)
    }
}

struct EnumVisitor<E>(PhantomData<E>);

impl<'de, T: OtlpEnum> Visitor<'de> for EnumVisitor<T> {
    type Value = i32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enum number or name")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("enum value {v} out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("enum value {v} out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i32, E> {
        if v.fract() == 0.0 && v.abs() <= f64::from(i32::MAX) {
            Ok(v as i32)
        } else {
            Err(E::custom(format!("enum value {v} is not an int32")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
        T::number_of(v)
            .or_else(|| v.parse().ok())
            .ok_or_else(|| E::custom(format!("unknown enum value {:?}", clip(v, 40))))
    }

    fn visit_none<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<i32, D::Error> {
        d.deserialize_any(self)
    }
}
