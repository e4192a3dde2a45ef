//! Page cursors: opaque to clients, the base64url (unpadded) JSON of the last key a page
//! showed. Lists are ordered by keys that only grow, so a cursor stays valid while rows arrive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a list key as a cursor.
pub fn encode<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor (surrounding spaces ignored); `None` for anything that is not the
/// encoding of a `K`.
pub fn decode<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_rejects_what_it_did_not_produce() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(decode::<uuid::Uuid>(&encode(&id)), Some(id));
        assert_eq!(decode::<String>(&encode(&"ada")), Some("ada".to_owned()));
        assert_eq!(decode::<uuid::Uuid>("!!!"), None);
        assert_eq!(decode::<uuid::Uuid>(&encode(&"x")), None);
    }
}
