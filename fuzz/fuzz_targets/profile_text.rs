//! `DisplayName::parse` and `Bio::parse` on arbitrary text: accepted values keep their
//! grapheme and byte caps, have no control or hidden format characters and reparse to
//! themselves; plain text within the limits is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = socialdevs_fuzz::text(data);
    socialdevs_fuzz::check_display_name(&text);
    socialdevs_fuzz::check_bio(&text);
});
