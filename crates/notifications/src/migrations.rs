//! The notifications service's schema, per store flavour.

use socialdevs_platform::db::Migration;

/// SQLite migrations, applied in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "notifications",
        sql: include_str!("../migrations/sqlite/0001_notifications.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/sqlite/0002_outbox.sql"),
    },
];

/// PostgreSQL migrations, applied in order inside the service's own schema.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "notifications",
        sql: include_str!("../migrations/postgres/0001_notifications.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/postgres/0002_outbox.sql"),
    },
];
