//! `Username::parse` against a model of the rules: exactly the strings of the right shape
//! that are not reserved are accepted, each reparses to itself, is found by a mention of it
//! and is a valid display name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    socialdevs_fuzz::check_username(&socialdevs_fuzz::text(data));
});
