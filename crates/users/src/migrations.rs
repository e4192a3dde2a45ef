//! The users service's schema, per store flavour.

use socialdevs_platform::db::Migration;

/// SQLite migrations, applied in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "users, follows, refresh tokens",
        sql: include_str!("../migrations/sqlite/0001_users.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/sqlite/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "refresh tokens by expiry",
        sql: include_str!("../migrations/sqlite/0003_token_expiry.sql"),
    },
    Migration {
        version: 4,
        name: "sign-ups awaiting e-mail confirmation",
        sql: include_str!("../migrations/sqlite/0004_signups.sql"),
    },
];

/// PostgreSQL migrations, applied in order inside the service's schema.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "users, follows, refresh tokens",
        sql: include_str!("../migrations/postgres/0001_users.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/postgres/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "refresh tokens by expiry",
        sql: include_str!("../migrations/postgres/0003_token_expiry.sql"),
    },
    Migration {
        version: 4,
        name: "sign-ups awaiting e-mail confirmation",
        sql: include_str!("../migrations/postgres/0004_signups.sql"),
    },
];
