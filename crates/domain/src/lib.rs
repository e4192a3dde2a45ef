//! The SocialDevs domain: values that are valid once they exist.
//!
//! Every type here is parsed from raw input (`Username::parse`, `PostText::parse`, ...) and
//! cannot be built otherwise, so code that holds one never re-checks it. This crate does no
//! I/O: no database, HTTP or broker crates may be added to it (CI checks this).

mod text;
mod values;

pub use text::{extract_hashtags, extract_mentions, grapheme_count};
pub use values::{Bio, DisplayName, Email, Password, PostText, Tag, Username};

/// Why a raw value was rejected; the message is safe to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
