//! `#[serde(deserialize_with = "crate::whole_number::opt_u64")]`: an optional `u64` that also
//! takes a whole number written with a fraction (`1000.0`). JSON Schema counts `1000.0` as an
//! integer, and so does the API's document: a client (or a JSON library) that writes it so is
//! understood.

use serde::Deserializer;
use serde::de::{Error, Visitor};
use std::fmt;

/// An optional whole number ≥ 0 (`null` or missing: `None`).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(OptU64)
}

struct OptU64;

impl<'de> Visitor<'de> for OptU64 {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number ≥ 0")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v).map(Some).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
        // 2^64 is the first float past u64::MAX.
        if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
            Ok(Some(v as u64))
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_u64")]
        ms: Option<u64>,
    }

    fn ms(json: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<T>(json).map(|t| t.ms).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_taken_with_or_without_a_fraction() {
        assert_eq!(ms(r#"{"ms": 1000}"#), Ok(Some(1000)));
        assert_eq!(ms(r#"{"ms": 1000.0}"#), Ok(Some(1000)));
        assert_eq!(ms(r#"{"ms": null}"#), Ok(None));
        assert_eq!(ms("{}"), Ok(None));
        for bad in [r#"{"ms": 1.5}"#, r#"{"ms": -1}"#, r#"{"ms": -1.0}"#, r#"{"ms": 1e30}"#, r#"{"ms": "1"}"#] {
            assert!(ms(bad).unwrap_err().contains("a whole number"), "{bad}: {:?}", ms(bad));
        }
    }
}
