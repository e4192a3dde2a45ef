//! Black-box API tests: each test starts SocialDevs on free ports with its own fresh
//! database and drives it over HTTP, as a client would. The same suite runs twice: all-in-one
//! in this process on SQLite, and with `SOCIALDEVS_TEST_TOPOLOGY=distributed` as one process
//! per service on PostgreSQL behind the nginx edge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod errors;
mod helpers;
mod internal;
mod model;
mod notifications;
mod openapi;
mod operations;
mod posts;
mod rate_limits;
mod signup;
mod timeline;
mod topology;
mod users;
