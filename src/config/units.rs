//! Human-readable units in configuration files: durations (`"30s"`, `"5m"`, `"30d"`) and byte
//! sizes (`"8MiB"`, `"512k"`, or a plain number of bytes).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the humantime way (`"1s"`, `"5m"`, `"1h 30m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Span).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); write e.g. \"30s\", \"5m\", \"1h\""
            ))
        })
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A number of bytes: an integer, or text with a binary unit (`"8M"`, `"8MiB"`, `"1G"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub usize);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size such as 8388608, \"512k\", \"8MiB\" or \"1G\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Bytes, E> {
                usize::try_from(v).map(Bytes).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Bytes, E> {
                usize::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom(format!("{v} is not a byte size")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bytes, E> {
                parse_size(v).map(Bytes).map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let text = if n != 0 && n.is_multiple_of(1 << 30) {
            format!("{}GiB", n >> 30)
        } else if n != 0 && n.is_multiple_of(1 << 20) {
            format!("{}MiB", n >> 20)
        } else if n != 0 && n.is_multiple_of(1 << 10) {
            format!("{}KiB", n >> 10)
        } else {
            n.to_string()
        };
        s.serialize_str(&text)
    }
}

/// Parses a byte size such as `8388608`, `512k`, `8M`, `8MiB` or `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let value: usize = digits.parse().map_err(|_| format!("not a size: {text:?}"))?;
    let shift = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn sizes_and_spans_round_trip_through_toml() {
        #[derive(Debug, PartialEq, Deserialize, Serialize)]
        struct T {
            a: Bytes,
            b: Bytes,
            c: Span,
        }
        let t: T = toml::from_str("a = \"8MiB\"\nb = 1000\nc = \"1h 30m\"").unwrap();
        assert_eq!(
            t,
            T {
                a: Bytes(8 << 20),
                b: Bytes(1000),
                c: Span(Duration::from_secs(5400))
            }
        );
        let again: T = toml::from_str(&toml::to_string(&t).unwrap()).unwrap();
        assert_eq!(again, t);
        let err = toml::from_str::<T>("a = \"8MiB\"\nb = 1\nc = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"soon\" is not a duration"), "{err}");
    }
}
