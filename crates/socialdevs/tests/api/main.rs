//! Black-box API tests: each test starts SocialDevs on port 0 with its own fresh SQLite
//! database and drives it over HTTP, as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod errors;
mod helpers;
mod openapi;
mod operations;
mod posts;
mod timeline;
mod users;
