//! Black-box API tests: each test starts SocialDevs on port 0 with its own fresh SQLite
//! database and drives it over HTTP, as a client would.

mod auth;
mod errors;
mod helpers;
mod openapi;
mod operations;
mod posts;
mod timeline;
mod users;
