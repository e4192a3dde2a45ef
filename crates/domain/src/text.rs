//! Counting and scanning post text the way a person reads it.

use unicode_segmentation::UnicodeSegmentation;

/// Number of user-perceived characters (extended grapheme clusters) in `text`.
///
/// "👍🏽", "é" written as `e` + combining accent, and a family emoji joined with ZWJ
/// each count as one, which is what the 280 limit means.
pub fn grapheme_count(text: &str) -> usize {
    text.graphemes(true).count()
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lowercases the body of a tag or mention. Lowercasing keeps a letter a single letter except
/// for `İ` (U+0130), which becomes `i` and a combining dot above (U+0307): not a word
/// character, so a tag holding it could never be searched. Dropping what is not a word
/// character stores `#İstanbul` under `istanbul`, where `?tag=İstanbul` finds it.
fn fold(body: &str) -> String {
    body.to_lowercase()
        .chars()
        .filter(|&c| is_word_char(c))
        .collect()
}

/// Scans `text` for `marker` followed by word characters, where the marker is not glued
/// to a preceding word character (so `a#b` and `me@example.com` are not tags or mentions).
fn scan(text: &str, marker: char, accept: impl Fn(char) -> bool, max_len: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let glued = prev.is_some_and(|p| is_word_char(p) || p == marker);
        if c == marker && !glued {
            let body_start = start + c.len_utf8();
            let mut end = body_start;
            while let Some(&(i, n)) = chars.peek() {
                if accept(n) {
                    end = i + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let body = &text[body_start..end];
            prev = text[..end].chars().next_back();
            let len = body.chars().count();
            if len > 0 && len <= max_len {
                let lowered = fold(body);
                if !found.contains(&lowered) {
                    found.push(lowered);
                }
            }
            continue;
        }
        prev = Some(c);
    }
    found
}

/// The distinct `#hashtags` in `text`, lowercased, in order of first appearance.
///
/// A tag is letters, digits and `_` (any script) and must contain at least one letter,
/// so `#1` is not a tag but `#rust2024` is.
pub fn extract_hashtags(text: &str) -> Vec<String> {
    scan(text, '#', is_word_char, 100)
        .into_iter()
        .filter(|t| t.chars().any(char::is_alphabetic))
        .collect()
}

/// The distinct `@mentions` in `text`, lowercased, in order of first appearance.
///
/// Only strings that could be usernames count (ASCII letters, digits, `_`, 3 to 30 long).
pub fn extract_mentions(text: &str) -> Vec<String> {
    scan(
        text,
        '@',
        |c| c.is_ascii_alphanumeric() || c == '_',
        crate::values::USERNAME_MAX,
    )
    .into_iter()
    .filter(|m| m.len() >= crate::values::USERNAME_MIN)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_graphemes_not_bytes_or_chars() {
        assert_eq!(grapheme_count("hello"), 5);
        assert_eq!(grapheme_count("👍🏽"), 1, "emoji with skin tone modifier");
        assert_eq!(grapheme_count("e\u{301}"), 1, "e + combining acute accent");
        assert_eq!(grapheme_count("👨‍👩‍👧‍👦"), 1, "ZWJ family sequence");
        assert_eq!(grapheme_count("🇪🇸🇫🇷"), 2, "two flags");
        assert_eq!(grapheme_count("한국어"), 3);
        assert_eq!(grapheme_count(""), 0);
    }

    #[test]
    fn finds_hashtags() {
        assert_eq!(
            extract_hashtags("Learning #Rust and #rust with #Vue3! #1 a#b #café"),
            vec!["rust", "vue3", "café"]
        );
        assert_eq!(extract_hashtags("##double #_ok"), vec!["_ok"]);
        assert!(extract_hashtags("no tags here # #").is_empty());
    }

    #[test]
    fn finds_mentions_but_not_emails() {
        assert_eq!(
            extract_mentions("hi @Alice and @bob_99, mail me@example.com @al @alice"),
            vec!["alice", "bob_99"]
        );
        assert_eq!(extract_mentions("(@carol)"), vec!["carol"]);
    }

    /// Found by fuzzing (`hashtags_mentions`): `#İ` was stored as the hashtag `i\u{307}`, whose
    /// combining dot no tag query can contain, so its posts could not be listed by tag.
    #[test]
    fn dotted_capital_i_hashtags_are_plain_letters() {
        assert_eq!(
            extract_hashtags("\t#İ\u{FFFD}\tʵ\u{FFFD}#\u{FFFD}"),
            vec!["i"]
        );
        assert_eq!(
            extract_hashtags("#İstanbul #Istanbul #İZMİR"),
            vec!["istanbul", "izmir"]
        );
        for tag in extract_hashtags("#İstanbul #ΟΔΟΣ #Ⅻ_a") {
            assert!(tag.chars().all(is_word_char), "{tag:?}");
        }
    }

    proptest! {
        #[test]
        fn grapheme_count_never_exceeds_char_count(s in "\\PC*") {
            prop_assert!(grapheme_count(&s) <= s.chars().count());
        }

        #[test]
        fn extracted_tags_are_lowercase_unique_and_present(s in "[a-zA-Z #_@.0-9é]{0,80}") {
            let tags = extract_hashtags(&s);
            let lowered = s.to_lowercase();
            for (i, t) in tags.iter().enumerate() {
                prop_assert!(!t.is_empty());
                prop_assert_eq!(t.to_lowercase(), t.clone());
                let needle = format!("#{t}");
                prop_assert!(lowered.contains(&needle));
                prop_assert!(!tags[i + 1..].contains(t));
            }
        }

        #[test]
        fn mentions_are_valid_usernames(s in "[a-zA-Z @_.0-9]{0,80}") {
            for m in extract_mentions(&s) {
                prop_assert!(crate::Username::parse(&m).is_ok() || crate::values::is_reserved(&m), "{m}");
            }
        }
    }
}
