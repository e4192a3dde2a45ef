//! The users service: accounts, credentials, refresh tokens, profiles and the follow graph.
//!
//! Layout: [`model`] (records), [`store`] (the `UserStore` port and its adapters),
//! [`service`] (rules: registration, login, token rotation, follows), [`http`] (routes).

pub mod http;
pub mod migrations;
pub mod model;
pub mod passwords;
pub mod service;
pub mod store;

pub use http::{router, UsersParts, UsersState};
pub use service::{EmailVerification, PostCounts, UsersService};

/// The service name used in metrics, logs and `--services`.
pub const SERVICE: &str = "users";
