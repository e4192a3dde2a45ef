//! The invariants the fuzz targets check, one function per parser. Each takes raw input,
//! parses it the way the services do, and panics (which libFuzzer reports as a crash) when
//! the outcome breaks a rule: an accepted value outside its limits, a value that does not
//! parse back to itself, two parsers that disagree about the same string, or plain input
//! within the limits that is rejected. A rejection itself must be an `Err` with a message,
//! never a panic.

use socialdevs_domain::{
    extract_hashtags, extract_mentions, grapheme_count, Bio, DisplayName, Email, Password,
    PostText, Tag, Username,
};

/// Raw input as text, the way it reaches a parser (JSON strings and query parameters are
/// always UTF-8; invalid bytes become U+FFFD).
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Invisible format characters that every free-text field refuses (bidi controls, zero-width
/// space, word joiner and invisible operators, byte-order mark).
fn is_hidden_format_char(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}')
}

/// Text that no rule beyond the length limits can refuse: printable ASCII and spaces.
fn is_plain(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// Post text: accepted text is the trimmed input, 1 to 280 graphemes and at most
/// `PostText::MAX_BYTES` bytes, without control characters other than line breaks and tabs or
/// hidden format characters, and parses to itself; its hashtags and mentions obey
/// [`check_hashtags`] and [`check_mentions`]. Plain text within the limits is accepted.
pub fn check_post_text(raw: &str) -> Option<PostText> {
    let trimmed = raw.trim();
    let graphemes = grapheme_count(trimmed);
    match PostText::parse(raw) {
        Ok(text) => {
            let s = text.as_str();
            assert_eq!(s, trimmed, "accepted post text is the trimmed input");
            assert!(
                (1..=PostText::MAX_GRAPHEMES).contains(&graphemes),
                "accepted post text has {graphemes} graphemes"
            );
            assert!(
                s.len() <= PostText::MAX_BYTES,
                "accepted post text has {} bytes",
                s.len()
            );
            assert!(
                !s.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
                "accepted post text has a control character"
            );
            assert!(
                !s.chars().any(is_hidden_format_char),
                "accepted post text has a hidden format character"
            );
            assert_eq!(PostText::parse(s).as_ref(), Ok(&text), "post text reparses");
            check_hashtags(s, &text.hashtags());
            check_mentions(s, &text.mentions());
            Some(text)
        }
        Err(e) => {
            assert!(!e.0.is_empty(), "a rejection says why");
            assert!(
                !(is_plain(trimmed) && (1..=PostText::MAX_GRAPHEMES).contains(&graphemes)),
                "plain post text of {graphemes} characters rejected: {}",
                e.0
            );
            None
        }
    }
}

/// Hashtags found in `text`: distinct, lowercase, made of letters, digits and `_` with at
/// least one letter, and each one is a [`Tag`] that parses to itself (with or without `#`),
/// so `GET /api/v1/posts?tag=` finds the posts stored under it.
pub fn check_hashtags(text: &str, tags: &[String]) {
    for (i, tag) in tags.iter().enumerate() {
        assert!(!tag.is_empty(), "empty hashtag in {text:?}");
        assert!(!tags[i + 1..].contains(tag), "hashtag {tag:?} found twice");
        assert_eq!(&tag.to_lowercase(), tag, "hashtag {tag:?} is not lowercase");
        assert!(
            tag.chars().all(|c| c.is_alphanumeric() || c == '_'),
            "hashtag {tag:?} of {text:?} has a character a tag cannot have"
        );
        assert!(
            tag.chars().any(char::is_alphabetic),
            "hashtag {tag:?} has no letter"
        );
        for query in [tag.clone(), format!("#{tag}")] {
            assert_eq!(
                Tag::parse(&query).map(Tag::into_inner).as_ref(),
                Ok(tag),
                "the hashtag {tag:?} of {text:?} cannot be searched as {query:?}"
            );
        }
    }
}

/// Mentions found in `text`: distinct, lowercase usernames (or reserved names, which no
/// account has), 3 to 30 characters.
pub fn check_mentions(text: &str, mentions: &[String]) {
    for (i, mention) in mentions.iter().enumerate() {
        assert!(
            !mentions[i + 1..].contains(mention),
            "mention {mention:?} found twice"
        );
        assert_eq!(
            &mention.to_ascii_lowercase(),
            mention,
            "mention {mention:?} is not lowercase"
        );
        match Username::parse(mention) {
            Ok(username) => assert_eq!(username.as_str(), mention),
            Err(e) => assert_eq!(
                e.0, "is reserved",
                "mention {mention:?} of {text:?} is not a username"
            ),
        }
    }
}

/// A hashtag query (`?tag=`): an accepted tag is lowercase, parses to itself and is exactly
/// what the hashtag scanner finds after `#`.
pub fn check_tag(raw: &str) -> Option<Tag> {
    match Tag::parse(raw) {
        Ok(tag) => {
            let s = tag.as_str();
            assert!(!s.is_empty());
            assert_eq!(s.to_lowercase(), s, "tag {s:?} is not lowercase");
            assert_eq!(Tag::parse(s).as_ref(), Ok(&tag), "tag {s:?} reparses");
            assert_eq!(
                extract_hashtags(&format!("#{s}")),
                [s],
                "tag {s:?} is not what a post's #{s} is stored under"
            );
            Some(tag)
        }
        Err(e) => {
            assert!(!e.0.is_empty(), "a rejection says why");
            None
        }
    }
}

/// A username: 3 to 30 ASCII letters, digits or `_` once trimmed and stripped of one `@`,
/// not reserved; it parses to itself, its canonical form is its lowercase, a mention of it
/// finds exactly it, and it is a valid display name (registering without one uses it). Any
/// string of that shape is accepted unless reserved.
pub fn check_username(raw: &str) -> Option<Username> {
    let s = raw.trim();
    let s = s.strip_prefix('@').unwrap_or(s);
    let shaped =
        (3..=30).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match Username::parse(raw) {
        Ok(username) => {
            let u = username.as_str();
            assert!(shaped, "username {u:?} accepted from {raw:?}");
            assert_eq!(u, s);
            assert_eq!(Username::parse(u).as_ref(), Ok(&username));
            assert_eq!(Username::parse(&format!(" @{u} ")).as_ref(), Ok(&username));
            assert_eq!(username.canonical(), u.to_ascii_lowercase());
            assert_eq!(
                extract_mentions(&format!("hi @{u}!")),
                [username.canonical()],
                "a mention of {u:?} does not find it"
            );
            assert!(
                DisplayName::parse(u).is_ok(),
                "username {u:?} is not a valid display name"
            );
            Some(username)
        }
        Err(e) => {
            assert!(
                !shaped || e.0 == "is reserved",
                "username {s:?} rejected: {}",
                e.0
            );
            None
        }
    }
}

/// A display name: the trimmed input, 1 to 50 graphemes, no control or hidden format
/// characters, at most 16 code points per grapheme; parses to itself. Plain names within the
/// limit are accepted.
pub fn check_display_name(raw: &str) -> Option<DisplayName> {
    let trimmed = raw.trim();
    let graphemes = grapheme_count(trimmed);
    match DisplayName::parse(raw) {
        Ok(name) => {
            let s = name.as_str();
            assert_eq!(s, trimmed);
            assert!((1..=50).contains(&graphemes), "{graphemes} graphemes");
            assert!(s.len() <= 50 * 16 * 4, "{} bytes", s.len());
            assert!(!s.chars().any(char::is_control), "control character");
            assert!(!s.chars().any(is_hidden_format_char), "hidden format char");
            assert_eq!(DisplayName::parse(s).as_ref(), Ok(&name));
            Some(name)
        }
        Err(e) => {
            assert!(
                !(is_plain(trimmed) && (1..=50).contains(&graphemes)),
                "plain display name rejected: {}",
                e.0
            );
            None
        }
    }
}

/// A bio: the trimmed input, at most 160 graphemes (may be empty), no control characters
/// other than line breaks and tabs, no hidden format characters; parses to itself. Plain bios
/// within the limit are accepted.
pub fn check_bio(raw: &str) -> Option<Bio> {
    let trimmed = raw.trim();
    let graphemes = grapheme_count(trimmed);
    match Bio::parse(raw) {
        Ok(bio) => {
            let s = bio.as_str();
            assert_eq!(s, trimmed);
            assert!(graphemes <= 160, "{graphemes} graphemes");
            assert!(s.len() <= 160 * 16 * 4, "{} bytes", s.len());
            assert!(
                !s.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
                "control character"
            );
            assert!(!s.chars().any(is_hidden_format_char), "hidden format char");
            assert_eq!(Bio::parse(s).as_ref(), Ok(&bio));
            Some(bio)
        }
        Err(e) => {
            assert!(
                !(is_plain(trimmed) && graphemes <= 160),
                "plain bio rejected: {}",
                e.0
            );
            None
        }
    }
}

/// How the users service turns a login (username or e-mail) into its lookup key
/// (`UsersService::login`).
pub fn login_key(login: &str) -> String {
    login.trim().trim_start_matches('@').to_lowercase()
}

/// An e-mail address: the trimmed, lowercased input, at most 254 bytes, one `@` between a
/// local part of 1 to 64 bytes and a domain of two or more labels, none empty or starting or
/// ending with `-`, no spaces or control characters; parses to itself, and signing in with
/// what was typed at registration finds it.
pub fn check_email(raw: &str) -> Option<Email> {
    match Email::parse(raw) {
        Ok(email) => {
            let s = email.as_str();
            assert_eq!(s, raw.trim().to_lowercase());
            assert!(s.len() <= 254);
            assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
            let (local, domain) = s.split_once('@').unwrap_or_default();
            assert!((1..=64).contains(&local.len()), "local part {local:?}");
            assert!(!domain.contains('@'));
            let labels: Vec<&str> = domain.split('.').collect();
            assert!(labels.len() >= 2);
            assert!(labels
                .iter()
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-')));
            assert_eq!(Email::parse(s).as_ref(), Ok(&email), "e-mail reparses");
            assert_eq!(
                login_key(raw),
                s,
                "signing in as {raw:?} does not find the account it registered"
            );
            Some(email)
        }
        Err(e) => {
            assert!(!e.0.is_empty());
            None
        }
    }
}

/// A new password: kept exactly as typed, 12 to 128 characters, not only whitespace, never
/// printed by `Debug`. Every string of that length with a non-space character is accepted.
pub fn check_password(raw: &str) -> Option<Password> {
    let chars = raw.chars().count();
    let allowed =
        (Password::MIN_CHARS..=Password::MAX_CHARS).contains(&chars) && !raw.trim().is_empty();
    match Password::parse(raw) {
        Ok(password) => {
            assert!(allowed, "password of {chars} characters accepted");
            assert_eq!(password.expose(), raw, "a password is kept as typed");
            assert_eq!(format!("{password:?}"), "Password(***)");
            Some(password)
        }
        Err(e) => {
            assert!(!allowed, "password of {chars} characters rejected: {}", e.0);
            None
        }
    }
}
