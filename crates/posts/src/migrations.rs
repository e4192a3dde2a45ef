//! The posts service's schema, per store flavour.

use socialdevs_platform::db::Migration;

/// SQLite migrations, applied in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "posts, tags, likes, idempotency keys",
        sql: include_str!("../migrations/sqlite/0001_posts.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/sqlite/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "authors cache",
        sql: include_str!("../migrations/sqlite/0003_authors.sql"),
    },
    Migration {
        version: 4,
        name: "idempotency keys by age",
        sql: include_str!("../migrations/sqlite/0004_idempotency_expiry.sql"),
    },
    Migration {
        version: 5,
        name: "like and reply counts on the post row",
        sql: include_str!("../migrations/sqlite/0005_counts.sql"),
    },
];

/// PostgreSQL migrations, applied in order inside the service's own schema.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "posts, tags, likes, idempotency keys",
        sql: include_str!("../migrations/postgres/0001_posts.sql"),
    },
    Migration {
        version: 2,
        name: "transactional outbox",
        sql: include_str!("../migrations/postgres/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "authors cache",
        sql: include_str!("../migrations/postgres/0003_authors.sql"),
    },
    Migration {
        version: 4,
        name: "idempotency keys by age",
        sql: include_str!("../migrations/postgres/0004_idempotency_expiry.sql"),
    },
    Migration {
        version: 5,
        name: "like and reply counts on the post row",
        sql: include_str!("../migrations/postgres/0005_counts.sql"),
    },
];
