//! Test support shared by the store conformance suites and the API suites.
//!
//! [`postgres`]: a real PostgreSQL server for tests — the one named by
//! `SOCIALDEVS_TEST_DATABASE_URL`, else a throwaway cluster started from the installed server
//! binaries — and a fresh database per test.
//!
//! [`kafka`]: a real Kafka-protocol broker for the event transport suite — the one named by
//! `SOCIALDEVS_TEST_KAFKA_BROKERS`, else a throwaway tansu broker per test.
//!
//! [`redis`]: a real Redis for the timeline store and API suites — the one named by
//! `SOCIALDEVS_TEST_REDIS_URL`, else a throwaway `redis-server` per test.
//!
//! [`mosquitto`]: a real MQTT broker for the notifications bridge — the one named by
//! `SOCIALDEVS_TEST_MQTT_URL`, else a throwaway `mosquitto` per test.
//!
//! [`smtp`]: a real SMTP server in the test's own process, keeping what it receives, for
//! the mail adapter and the sign-up verification suites.
//!
//! [`logs`]: log output kept in memory, for tests that read what a server logged.
//!
//! The throwaway brokers and Redis share one way of running a server process of the test's own
//! (a free port, a temporary folder with a log, a readiness probe, kill and restart, a
//! watchdog): the private `process` module.

pub mod kafka;
pub mod logs;
pub mod mosquitto;
pub mod postgres;
mod process;
pub mod redis;
pub mod smtp;
