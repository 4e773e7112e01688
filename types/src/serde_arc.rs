//! Serde for shared buffers (`Arc<str>`, `Arc<[u8]>`) without serde's `rc` feature, which would
//! rebuild the whole dependency stack.

/// `#[serde(with = "itscam_types::serde_arc::arc_str")]` on an `Arc<str>` field.
pub mod arc_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;
    /// As a string.
    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }
    /// From a string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        Ok(String::deserialize(d)?.into())
    }
}

/// `#[serde(with = "itscam_types::serde_arc::arc_bytes")]` on an `Arc<[u8]>` field.
pub mod arc_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;
    /// As bytes.
    pub fn serialize<S: Serializer>(v: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    /// From bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        Ok(Vec::<u8>::deserialize(d)?.into())
    }
}

/// `#[serde(default, with = "itscam_types::serde_arc::opt_arc_str")]` on an `Option<Arc<str>>`.
pub mod opt_arc_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;
    /// As a string or null.
    pub fn serialize<S: Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&**v),
            None => s.serialize_none(),
        }
    }
    /// From a string or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Into::into))
    }
}
