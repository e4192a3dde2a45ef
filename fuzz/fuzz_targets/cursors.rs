//! Page cursors (`socialdevs_api::cursor`), for both key types the lists use (post, user and
//! notification ids; usernames): decoding arbitrary text never panics; a cursor that decodes
//! re-encodes to the canonical cursor of its key, which decodes to the same key; and any key
//! made from the input round-trips through its cursor, which is URL- and header-safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socialdevs_api::cursor::{decode, encode};
use uuid::Uuid;

fn is_url_safe(cursor: &str) -> bool {
    cursor
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn roundtrip<K>(key: &K)
where
    K: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let cursor = encode(key);
    assert!(!cursor.is_empty(), "{key:?} has an empty cursor");
    assert!(is_url_safe(&cursor), "cursor {cursor:?} is not URL-safe");
    assert_eq!(
        decode::<K>(&cursor).as_ref(),
        Some(key),
        "cursor {cursor:?}"
    );
    assert_eq!(decode::<K>(&format!(" {cursor} ")).as_ref(), Some(key));
}

fuzz_target!(|data: &[u8]| {
    let text = socialdevs_fuzz::text(data);
    if let Some(id) = decode::<Uuid>(&text) {
        roundtrip(&id);
    }
    if let Some(name) = decode::<String>(&text) {
        roundtrip(&name);
    }
    roundtrip(&text.clone().into_owned());
    if let Ok(id) = Uuid::from_slice(data.get(..16).unwrap_or_default()) {
        roundtrip(&id);
    }
});
