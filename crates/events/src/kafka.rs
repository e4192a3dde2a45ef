//! The Kafka transport (feature `kafka`).
