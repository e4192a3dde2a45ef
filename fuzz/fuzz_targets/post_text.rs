//! `PostText::parse` on arbitrary text: accepted text keeps its grapheme and byte caps and
//! reparses to itself, its hashtags are searchable tags and its mentions are usernames;
//! rejected text gets an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    socialdevs_fuzz::check_post_text(&socialdevs_fuzz::text(data));
});
