//! What the posts service stores and returns.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use socialdevs_api::{Author, Post};

/// A stored post with its counts, before its author is attached.
#[derive(Debug, Clone)]
pub struct PostRow {
    /// Id.
    pub id: Uuid,
    /// Author id.
    pub author_id: Uuid,
    /// Text.
    pub text: String,
    /// Parent post.
    pub reply_to: Option<Uuid>,
    /// Hashtags.
    pub hashtags: Vec<String>,
    /// Mentions.
    pub mentions: Vec<String>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Likes.
    pub like_count: i64,
    /// Direct replies.
    pub reply_count: i64,
    /// Liked by the viewer.
    pub liked_by_me: bool,
}

impl PostRow {
    /// The client shape, given the author.
    pub fn into_post(self, author: Author) -> Post {
        Post {
            id: self.id,
            author,
            text: self.text,
            created_at: self.created_at,
            reply_to: self.reply_to,
            like_count: self.like_count,
            reply_count: self.reply_count,
            liked_by_me: self.liked_by_me,
            hashtags: self.hashtags,
            mentions: self.mentions,
        }
    }
}

/// A validated new post.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// UUIDv7.
    pub id: Uuid,
    /// Author.
    pub author_id: Uuid,
    /// The author's username (for the `post.created` event).
    pub author_username: String,
    /// The author's display name (for the `post.created` event).
    pub author_display_name: String,
    /// Text.
    pub text: String,
    /// Parent.
    pub reply_to: Option<Uuid>,
    /// Hashtags.
    pub hashtags: Vec<String>,
    /// Mentions (usernames).
    pub mentions: Vec<String>,
    /// Ids of the mentioned users, in the order of `mentions`.
    pub mentioned_user_ids: Vec<Uuid>,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

/// Who likes or unlikes a post.
#[derive(Debug, Clone)]
pub struct Liker {
    /// User id.
    pub id: Uuid,
    /// Username (for the `post.liked` event).
    pub username: String,
}

/// An `Idempotency-Key` and the fingerprint of the request that first used it.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key as sent.
    pub key: String,
    /// SHA-256 of the request body fields.
    pub request_hash: String,
}

/// Which posts a listing shows.
#[derive(Debug, Clone)]
pub enum PostFilter {
    /// Everyone's (explore).
    All,
    /// One author's.
    Author(Uuid),
    /// Several authors' (the home timeline).
    Authors(Vec<Uuid>),
    /// One hashtag's.
    Tag(String),
    /// One author's posts with one hashtag.
    AuthorTag(Uuid, String),
    /// Direct replies to a post, oldest first.
    Replies(Uuid),
    /// These posts (those that still exist), newest first: a home timeline page.
    Ids(Vec<Uuid>),
    /// These posts, and `author`'s own posts newer than `after` (all, when `None`), newest
    /// first: a first home timeline page with its reader's newest posts, in one statement.
    IdsOrOwn {
        /// The page's posts.
        ids: Vec<Uuid>,
        /// The reader.
        author: Uuid,
        /// Only the reader's posts newer than this one.
        after: Option<Uuid>,
    },
}
