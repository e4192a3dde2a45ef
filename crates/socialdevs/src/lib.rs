//! The `socialdevs` binary as a library: configuration, the service [`registry`] (one entry
//! per service; how to add a service is described there), storage, the wiring of services in
//! one process or across several, and [`Application`] — which `main` and the tests start the
//! same way.

pub mod app;
pub mod cli;
pub mod config;
pub mod keys;
pub mod openapi;
pub mod registry;
pub mod seed;
pub mod services;
pub mod storage;
pub mod web;
pub mod wiring;

pub use app::Application;
pub use config::Settings;
