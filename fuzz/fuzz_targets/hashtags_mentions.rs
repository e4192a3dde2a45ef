//! The hashtag and mention scanners on arbitrary text (not only text a post accepts), and
//! `Tag::parse` on the same input as a `?tag=` query: every hashtag found is a tag that
//! parses to itself, every mention a username, every accepted tag what a post's `#tag` is
//! stored under.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socialdevs_domain::{extract_hashtags, extract_mentions};

fuzz_target!(|data: &[u8]| {
    let text = socialdevs_fuzz::text(data);
    socialdevs_fuzz::check_hashtags(&text, &extract_hashtags(&text));
    socialdevs_fuzz::check_mentions(&text, &extract_mentions(&text));
    socialdevs_fuzz::check_tag(&text);
});
