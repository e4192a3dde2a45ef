//! The `socialdevs` binary as a library: configuration, the service registry, wiring of the
//! in-process adapters, and [`Application`] — which `main` and the tests start the same way.

pub mod app;
pub mod cli;
pub mod config;
pub mod keys;
pub mod openapi;
pub mod seed;
pub mod services;
pub mod web;
pub mod wiring;

pub use app::Application;
pub use config::Settings;
