//! Validated newtypes for everything a person types into SocialDevs.

use std::fmt;

use serde::Serialize;

use crate::text::grapheme_count;
use crate::Invalid;

pub(crate) const USERNAME_MIN: usize = 3;
pub(crate) const USERNAME_MAX: usize = 30;

/// Names that would collide with routes (`/users/me`) or mislead readers.
const RESERVED_USERNAMES: &[&str] = &[
    "me",
    "admin",
    "administrator",
    "api",
    "root",
    "settings",
    "support",
    "socialdevs",
    "system",
    "notifications",
    "explore",
    "login",
    "logout",
    "register",
    "timeline",
];

pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED_USERNAMES.contains(&name.to_ascii_lowercase().as_str())
}

fn has_control_chars(s: &str, allow_newline: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newline && (c == '\n' || c == '\r' || c == '\t')))
}

/// Invisible format characters that reorder or hide text rather than write it: bidi
/// embeddings, overrides and isolates (which make `gnp.exe` read as `exe.png`), the zero-width
/// space, word joiner and invisible operators, and the byte-order mark. The joiners emoji and
/// scripts need (ZWJ, ZWNJ) and the directional marks (LRM, RLM) stay allowed.
fn is_hidden_format_char(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}')
}

/// The most code points one user-perceived character may have: enough for any emoji
/// sequence (a family with skin tones has 11), not for a stack of thousands of combining marks.
pub(crate) const MAX_CHARS_PER_GRAPHEME: usize = 16;

/// The most bytes a text of `graphemes` user-perceived characters may have: each at its
/// largest (16 code points of 4 bytes), so every text the character count allows fits, and
/// none is larger than that.
const fn max_bytes(graphemes: usize) -> usize {
    graphemes * MAX_CHARS_PER_GRAPHEME * 4
}

/// Rejects text that looks short but is not: hidden format characters, a user-perceived
/// character made of too many code points, or more than `max_bytes` bytes.
fn check_hidden_weight(s: &str, max_bytes: usize) -> Result<(), Invalid> {
    use unicode_segmentation::UnicodeSegmentation;
    if s.chars().any(is_hidden_format_char) {
        return Err(Invalid::new(
            "must not contain invisible formatting characters (bidi overrides, zero-width spaces)",
        ));
    }
    if s.len() > max_bytes {
        return Err(Invalid::new(format!(
            "must be at most {max_bytes} bytes long"
        )));
    }
    if s.graphemes(true)
        .any(|g| g.chars().count() > MAX_CHARS_PER_GRAPHEME)
    {
        return Err(Invalid::new(format!(
            "must not stack more than {MAX_CHARS_PER_GRAPHEME} marks on one character"
        )));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The validated value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The validated value as an owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
    };
}

/// A username: 3–30 ASCII letters, digits or `_`, not reserved. Case is kept for display;
/// uniqueness and lookups ignore case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    /// Parses a username, trimming surrounding spaces and a leading `@`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        let len = s.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(Invalid::new(format!(
                "must be {USERNAME_MIN} to {USERNAME_MAX} characters long"
            )));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid::new(
                "may contain only letters a-z, digits and underscores",
            ));
        }
        if is_reserved(s) {
            return Err(Invalid::new("is reserved"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The case-folded form used for uniqueness and lookups.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// An e-mail address, lowercased. Checked for shape only; ownership is not verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    /// Parses an e-mail address of the form `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        let bad = || Invalid::new("must be a valid e-mail address");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        {
            return Err(bad());
        }
        Ok(Self(s))
    }
}

/// A new password: 12 to 128 characters (OWASP ASVS 2.1.1), not only spaces. Never printed.
/// Only passwords being chosen are checked: signing in accepts whatever was chosen before.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The fewest characters a new password may have.
    pub const MIN_CHARS: usize = 12;
    /// The most characters a password may have (hashing cost stays bounded).
    pub const MAX_CHARS: usize = 128;

    /// Checks the length rules; the password itself is kept exactly as typed.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if len < Self::MIN_CHARS {
            return Err(Invalid::new("must be at least 12 characters long"));
        }
        if len > Self::MAX_CHARS {
            return Err(Invalid::new("must be at most 128 characters long"));
        }
        if raw.trim().is_empty() {
            return Err(Invalid::new("must not be only spaces"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret, for hashing or verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: 1 to 50 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    /// Parses a display name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let len = grapheme_count(s);
        if len == 0 {
            return Err(Invalid::new("must not be empty"));
        }
        if len > 50 {
            return Err(Invalid::new("must be at most 50 characters long"));
        }
        if has_control_chars(s, false) {
            return Err(Invalid::new("must not contain control characters"));
        }
        check_hidden_weight(s, max_bytes(50))?;
        Ok(Self(s.to_owned()))
    }
}

/// A profile bio: up to 160 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bio(String);
string_newtype!(Bio);

impl Bio {
    /// Parses a bio.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if grapheme_count(s) > 160 {
            return Err(Invalid::new("must be at most 160 characters long"));
        }
        if has_control_chars(s, true) {
            return Err(Invalid::new("must not contain control characters"));
        }
        check_hidden_weight(s, max_bytes(160))?;
        Ok(Self(s.to_owned()))
    }
}

/// The text of a post: 1 to 280 user-perceived characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostText(String);
string_newtype!(PostText);

impl PostText {
    /// The most characters (grapheme clusters) a post may have.
    pub const MAX_GRAPHEMES: usize = 280;
    /// The most bytes a post may have (280 of the largest characters allowed: under 18 KiB).
    pub const MAX_BYTES: usize = max_bytes(Self::MAX_GRAPHEMES);

    /// Parses post text.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let len = grapheme_count(s);
        if len == 0 {
            return Err(Invalid::new("must not be empty"));
        }
        if len > Self::MAX_GRAPHEMES {
            return Err(Invalid::new(format!(
                "must be at most {} characters long (it has {len})",
                Self::MAX_GRAPHEMES
            )));
        }
        if has_control_chars(s, true) {
            return Err(Invalid::new("must not contain control characters"));
        }
        check_hidden_weight(s, Self::MAX_BYTES)?;
        Ok(Self(s.to_owned()))
    }

    /// The hashtags in this text, lowercased and distinct.
    pub fn hashtags(&self) -> Vec<String> {
        crate::extract_hashtags(&self.0)
    }

    /// The mentioned usernames in this text, lowercased and distinct.
    pub fn mentions(&self) -> Vec<String> {
        crate::extract_mentions(&self.0)
    }
}

/// A hashtag as used in a query (`?tag=rust` or `?tag=%23rust`), lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag(String);
string_newtype!(Tag);

impl Tag {
    /// Parses a tag, accepting an optional leading `#`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let s = s.strip_prefix('#').unwrap_or(s);
        // The whole of `s` must be one tag: what the scanner finds after `#` in a post.
        let found = crate::extract_hashtags(&format!("#{s}"));
        match found.as_slice() {
            [one] if s.chars().all(crate::text::is_word_char) => Ok(Self(one.clone())),
            _ => Err(Invalid::new(
                "must be letters, digits or underscores with at least one letter",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn username_rules() {
        assert_eq!(
            Username::parse(" @Alice_1 ").map(|u| u.into_inner()),
            Ok("Alice_1".into())
        );
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(31)).is_err());
        assert!(Username::parse("bad-name").is_err());
        assert!(Username::parse("josé").is_err());
        assert!(Username::parse("Admin").is_err());
        assert!(Username::parse("me").is_err());
        assert_eq!(
            Username::parse("BoB").map(|u| u.canonical()),
            Ok("bob".into())
        );
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").map(|e| e.into_inner()),
            Ok("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "a@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rules_and_secrecy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("eleven char").is_err());
        assert!(Password::parse(&" ".repeat(12)).is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        let p = Password::parse("correct horse").map_err(|e| e.0);
        assert_eq!(p.as_ref().map(|p| p.expose()), Ok("correct horse"));
        assert_eq!(format!("{:?}", p), "Ok(Password(***))");
    }

    #[test]
    fn post_text_counts_graphemes() {
        assert!(PostText::parse(&"👍🏽".repeat(280)).is_ok());
        assert!(PostText::parse(&"👍🏽".repeat(281)).is_err());
        assert!(PostText::parse(&"e\u{301}".repeat(280)).is_ok());
        assert!(PostText::parse("   ").is_err());
        assert!(PostText::parse("bell\u{7}").is_err());
        assert!(PostText::parse("two\nlines").is_ok());
    }

    #[test]
    fn text_that_looks_short_but_is_not_is_rejected() {
        // One visible character carrying 30,000 combining marks.
        let zalgo = format!("a{}", "\u{301}".repeat(30_000));
        assert!(PostText::parse(&zalgo).is_err());
        assert!(DisplayName::parse(&zalgo).is_err());
        assert!(Bio::parse(&zalgo).is_err());
        // Bidi overrides and zero-width spaces hide or reorder what readers see.
        for hidden in [
            "report\u{202E}fdp.exe",
            "ad\u{200B}min",
            "\u{2066}x\u{2069}",
            "\u{FEFF}hi",
        ] {
            assert!(PostText::parse(hidden).is_err(), "{hidden:?}");
            assert!(DisplayName::parse(hidden).is_err(), "{hidden:?}");
            assert!(Bio::parse(hidden).is_err(), "{hidden:?}");
        }
        // What real text needs stays allowed: emoji sequences, joiners, RTL marks, accents.
        let family = "\u{1F468}\u{1F3FD}\u{200D}\u{1F469}\u{1F3FD}\u{200D}\u{1F467}\u{1F3FD}\u{200D}\u{1F466}\u{1F3FD}";
        assert!(PostText::parse(family).is_ok());
        assert!(PostText::parse("\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200F} hello").is_ok());
        assert!(PostText::parse(
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"
        )
        .is_ok());
        assert!(PostText::parse(&"e\u{301}".repeat(280)).is_ok());
        assert!(DisplayName::parse("Zo\u{00EB} \u{1F469}\u{200D}\u{1F4BB}").is_ok());
        // 280 of the longest emoji (a family with skin tones: 11 code points, 41 bytes) fit.
        assert!(PostText::parse(&family.repeat(280)).is_ok());
        assert!(PostText::parse(
            &"\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}".repeat(280)
        )
        .is_ok());
        assert!(PostText::parse(&"x".repeat(PostText::MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn tag_parsing() {
        assert_eq!(
            Tag::parse("#Rust").map(|t| t.into_inner()),
            Ok("rust".into())
        );
        assert!(Tag::parse("rust lang").is_err());
        assert!(Tag::parse("123").is_err());
        assert!(Tag::parse("").is_err());
    }

    /// Found by fuzzing (`hashtags_mentions`): a tag whose lowercase is longer than itself
    /// (`İ` lowercases to `i` and a combining dot) was refused, so `?tag=İstanbul` answered
    /// 422 although posts carry that hashtag.
    #[test]
    fn tags_whose_lowercase_grows_are_accepted_and_match_posts() {
        for query in ["İstanbul", "#İstanbul", "istanbul", "Istanbul"] {
            assert_eq!(
                Tag::parse(query).map(Tag::into_inner),
                Ok("istanbul".into()),
                "{query}"
            );
        }
        let post = PostText::parse("Greetings from #İstanbul").map_err(|e| e.0);
        assert_eq!(post.map(|p| p.hashtags()), Ok(vec!["istanbul".to_owned()]));
        assert!(
            Tag::parse("İ\u{307}").is_err(),
            "a combining mark is not part of a tag"
        );
    }

    proptest! {
        #[test]
        fn valid_usernames_roundtrip(s in "[A-Za-z0-9_]{3,30}") {
            prop_assume!(!is_reserved(&s));
            let u = Username::parse(&s).map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert_eq!(u.as_str(), s.as_str());
        }

        #[test]
        fn usernames_with_other_chars_are_rejected(a in "[a-z]{2,10}", c in "[^A-Za-z0-9_ @]", b in "[a-z]{1,10}") {
            let raw = format!("{a}{c}{b}");
            prop_assert!(Username::parse(&raw).is_err());
        }

        #[test]
        fn post_text_accepts_exactly_up_to_280(n in 1usize..400) {
            let raw = "é".repeat(n);
            prop_assert_eq!(PostText::parse(&raw).is_ok(), n <= 280);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = Username::parse(&s);
            let _ = Email::parse(&s);
            let _ = Password::parse(&s);
            let _ = DisplayName::parse(&s);
            let _ = Bio::parse(&s);
            let _ = PostText::parse(&s);
            let _ = Tag::parse(&s);
        }
    }
}
