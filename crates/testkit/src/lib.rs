//! Test support shared by the store conformance suites and the API suites.
//!
//! [`postgres`]: a real PostgreSQL server for tests — the one named by
//! `SOCIALDEVS_TEST_DATABASE_URL`, else a throwaway cluster started from the installed server
//! binaries — and a fresh database per test.
//!
//! [`kafka`]: a real Kafka-protocol broker for the event transport suite — the one named by
//! `SOCIALDEVS_TEST_KAFKA_BROKERS`, else a throwaway tansu broker per test.

pub mod kafka;
pub mod postgres;
pub mod redis;
