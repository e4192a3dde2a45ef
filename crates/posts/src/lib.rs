//! The posts service: posts, replies, likes, hashtags, mentions and idempotency keys.
//!
//! Layout: [`model`] (records and the public `post` shape), [`store`] (the `PostStore` port
//! and its adapters), [`service`] (rules), [`http`] (routes), [`consumers`] (what it does
//! with other services' events).

pub mod authors;
pub mod consumers;
pub mod http;
pub mod migrations;
pub mod model;
pub mod service;
pub mod store;

pub use http::{router, PostsParts, PostsState};
pub use service::{AuthorDirectory, OwnAfter, PostsService, TimelinePage};

/// The service name used in metrics, logs and `--services`.
pub const SERVICE: &str = "posts";
