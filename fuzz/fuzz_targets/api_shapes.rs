//! Arbitrary bytes as the JSON the services exchange (`socialdevs_api`): the internal calls'
//! bodies and the public resources another service decodes (a user, an author, a post, a
//! timeline page). Whatever decodes must encode and decode again to the same value, so a
//! resource passed on by one service reaches the next unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use socialdevs_api::internal::{OwnAfter, TimelinePage, UserLookup, Users};
use socialdevs_api::{Author, Post, User};

/// Decodes `data` as a `T`; when it does, the value re-encodes to JSON that decodes to a
/// value encoding the same way.
fn roundtrip<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_vec(&value).unwrap_or_else(|e| panic!("cannot encode: {e}"));
    let again: T = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "{} does not decode its own encoding {}: {e}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&json)
        )
    });
    let json_again = serde_json::to_vec(&again).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&json),
        String::from_utf8_lossy(&json_again),
        "{} changes on a round trip",
        std::any::type_name::<T>()
    );
    Some(again)
}

fn same<T: PartialEq + std::fmt::Debug + Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        assert_eq!(roundtrip::<T>(data).as_ref(), Some(&value));
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip::<UserLookup>(data);
    roundtrip::<OwnAfter>(data);
    roundtrip::<Users>(data);
    roundtrip::<TimelinePage>(data);
    same::<User>(data);
    same::<Author>(data);
    same::<Post>(data);
});
