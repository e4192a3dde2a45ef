//! Bodies of the internal calls between services (`/internal/v1/...`), shared by the service
//! that answers and the clients that call it, in process or over HTTP.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Post, User};

/// Which of the viewer's own posts a timeline page also wants.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OwnAfter {
    /// Only posts newer than this one (all of the newest when `None`).
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// A home timeline page's posts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePage {
    /// The posts asked for that still exist, newest first.
    pub posts: Vec<Post>,
    /// The viewer's own newer posts, newest first.
    pub own: Vec<Post>,
}

/// `POST /internal/v1/users/lookup`: users by id and by username.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserLookup {
    /// User ids.
    #[serde(default)]
    pub ids: Vec<Uuid>,
    /// Usernames, any case, without `@`.
    #[serde(default)]
    pub usernames: Vec<String>,
}

/// The users a lookup found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Users {
    /// In no particular order; unknown ids and names are left out.
    pub users: Vec<User>,
}
