//! Test support shared by the store conformance suites and the API suites.
//!
//! [`postgres`]: a real PostgreSQL server for tests — the one named by
//! `SOCIALDEVS_TEST_DATABASE_URL`, else a throwaway cluster started from the installed server
//! binaries — and a fresh database per test.

pub mod postgres;
