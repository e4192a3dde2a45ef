//! Least-privilege PostgreSQL roles: each service logs in as a role of its own that may read
//! and write the tables of its schema and nothing else (no `CREATE`, no other schema), while
//! the migration role — the one that owns the schemas and runs their DDL — creates those
//! roles and grants them their rights ([`grant_roles`]).
//!
//! The rights a role ends with are exactly those of its [`RoleGrant`]: on the schemas the
//! platform manages, whatever it held before is revoked in the same transaction, so running
//! the grants again after a change of configuration narrows them too. Tables that later
//! migrations add are covered by default privileges of the migration role.

use std::fmt;

use anyhow::Context;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

/// The PBKDF2 iterations of the SCRAM-SHA-256 verifiers written (PostgreSQL's default).
const SCRAM_ITERATIONS: u32 = 4096;

/// Longest role name PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
const MAX_ROLE_NAME: usize = 63;

/// The privileges a service's role has on the tables of its own schema.
const TABLE_RIGHTS: &str = "SELECT, INSERT, UPDATE, DELETE";

/// A login role as a service's database URL names it (`postgres://ROLE:PASSWORD@host/db`).
/// The password never appears in `Debug` output.
#[derive(Clone)]
pub struct LoginRole {
    name: String,
    password: Option<String>,
}

impl fmt::Debug for LoginRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRole")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl LoginRole {
    /// The role `url` logs in as (its user, or its `user=` parameter) and the password it
    /// carries, if any. Errors never repeat the URL (it holds a password).
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).map_err(|err| anyhow::anyhow!("not a URL ({err})"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "postgres" | "postgresql"),
            "not a postgres:// URL"
        );
        let decode = |s: &str| -> anyhow::Result<String> {
            Ok(percent_decode_str(s)
                .decode_utf8()
                .context("the URL's user or password is not UTF-8")?
                .into_owned())
        };
        let mut name = decode(parsed.username())?;
        let mut password = parsed.password().map(decode).transpose()?;
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "user" if name.is_empty() => name = value.into_owned(),
                "password" if password.is_none() => password = Some(value.into_owned()),
                _ => {}
            }
        }
        Self::new(name, password)
    }

    /// A role called `name`, with the password to set (none: leave it as it is).
    pub fn new(name: impl Into<String>, password: Option<String>) -> anyhow::Result<Self> {
        let name = name.into();
        anyhow::ensure!(
            !name.is_empty(),
            "the URL names no role: put the service's role in it, \
             postgres://ROLE:PASSWORD@host:5432/database"
        );
        anyhow::ensure!(
            name.len() <= MAX_ROLE_NAME,
            "the role name {name:?} is longer than PostgreSQL's {MAX_ROLE_NAME} bytes"
        );
        Ok(Self {
            name,
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What one service's login role may do: use `schema` (its tables read and written, its
/// sequences drawn from, `schema_migrations` only read) and read the tables in `reads` of
/// other schemas — nothing else.
#[derive(Debug, Clone)]
pub struct RoleGrant {
    /// The role, created if missing; its password is set when the grant carries one.
    pub role: LoginRole,
    /// The schema it works in.
    pub schema: String,
    /// `(schema, table)` it may only read (the embedded event log reads the outboxes).
    pub reads: Vec<(String, String)>,
}

/// Connected to `url` as the migration role (which owns every schema in `managed`), creates
/// or updates each grant's login role and makes its rights on the `managed` schemas exactly
/// those of the grant, in one transaction. Idempotent; returns a line per role for the
/// operator. Needs `CREATEROLE` to create roles or set their passwords.
pub async fn grant_roles(
    url: &str,
    managed: &[&str],
    grants: &[RoleGrant],
) -> anyhow::Result<Vec<String>> {
    let options: PgConnectOptions = url
        .parse()
        .context("parsing the migration role's database URL")?;
    let mut conn = options
        .application_name("socialdevs-migrate")
        .connect()
        .await
        .context("connecting as the migration role")?;
    let mut tx = conn.begin().await?;
    // Roles are shared by every database of the server; grants are this database's.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('socialdevs.roles'))")
        .execute(&mut *tx)
        .await?;
    let migrator: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *tx)
        .await?;
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1::text[])",
    )
    .bind(managed)
    .fetch_all(&mut *tx)
    .await?;
    let mut report = Vec::new();
    for grant in grants {
        check_identifier(&grant.schema)?;
        anyhow::ensure!(
            existing.contains(&grant.schema),
            "the {} schema does not exist: migrate before granting",
            grant.schema
        );
        let role = &grant.role;
        anyhow::ensure!(
            role.name != migrator,
            "the {} schema's URL names the migration role itself ({}): give the service a \
             role of its own",
            grant.schema,
            role.name
        );
        let created = upsert_role(&mut tx, role).await?;
        revoke_all(&mut tx, role, &existing).await?;
        grant_schema(&mut tx, grant).await?;
        verify(&mut tx, grant, &migrator).await?;
        report.push(format!(
            "{} role {} may use the {} schema{}{}",
            if created { "created" } else { "updated" },
            role.name,
            grant.schema,
            if grant.reads.is_empty() {
                String::new()
            } else {
                let reads: Vec<String> = grant
                    .reads
                    .iter()
                    .map(|(schema, table)| format!("{schema}.{table}"))
                    .collect();
                format!(" and read {}", reads.join(", "))
            },
            if role.password.is_some() {
                " (password set)"
            } else {
                ""
            }
        ));
    }
    tx.commit().await?;
    conn.close().await.ok();
    Ok(report)
}

/// Creates the role (login, no special attributes) or updates it; whether it was created.
async fn upsert_role(conn: &mut PgConnection, role: &LoginRole) -> anyhow::Result<bool> {
    let ident = quote_ident(&role.name);
    let password = match &role.password {
        // A SCRAM verifier, not the password: the statement may be logged by the server.
        Some(password) => format!(" PASSWORD '{}'", scram_verifier(password)?),
        None => String::new(),
    };
    let attributes = sqlx::query(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles \
         WHERE rolname = $1",
    )
    .bind(&role.name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(attributes) = attributes else {
        sqlx::raw_sql(&format!(
            "CREATE ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{password}"
        ))
        .execute(&mut *conn)
        .await
        .map_err(|err| denied_hint(err, &role.name, "create"))?;
        return Ok(true);
    };
    let superuser: bool = attributes.try_get("rolsuper")?;
    let bypass_rls: bool = attributes.try_get("rolbypassrls")?;
    anyhow::ensure!(
        !superuser && !bypass_rls,
        "the role {} is a superuser or bypasses row security: a service's role must be an \
         ordinary one",
        role.name
    );
    let mut changes = String::from(" LOGIN");
    if attributes.try_get::<bool, _>("rolcreaterole")? {
        changes.push_str(" NOCREATEROLE");
    }
    if attributes.try_get::<bool, _>("rolcreatedb")? {
        changes.push_str(" NOCREATEDB");
    }
    sqlx::raw_sql(&format!("ALTER ROLE {ident} WITH{changes}{password}"))
        .execute(&mut *conn)
        .await
        .map_err(|err| denied_hint(err, &role.name, "alter"))?;
    Ok(false)
}

fn denied_hint(err: sqlx::Error, role: &str, what: &str) -> anyhow::Error {
    let denied = matches!(&err, sqlx::Error::Database(e) if e.code().as_deref() == Some("42501"));
    let err = anyhow::Error::new(err).context(format!("could not {what} the role {role}"));
    if denied {
        err.context(
            "the migration role needs CREATEROLE to create the services' roles and set their \
             passwords (PostgreSQL 16 and later: and ADMIN OPTION on roles it did not create)",
        )
    } else {
        err
    }
}

/// Takes every right the role holds on the managed schemas, their objects and the
/// migration role's default privileges there.
async fn revoke_all(
    conn: &mut PgConnection,
    role: &LoginRole,
    schemas: &[String],
) -> anyhow::Result<()> {
    let ident = quote_ident(&role.name);
    let mut sql = String::new();
    for schema in schemas {
        check_identifier(schema)?;
        sql.push_str(&format!(
            "REVOKE ALL ON SCHEMA {schema} FROM {ident}; \
             REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {ident}; \
             REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {ident}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {ident}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {ident}; "
        ));
    }
    sqlx::raw_sql(&sql)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("revoking the rights of {}", role.name))?;
    Ok(())
}

async fn grant_schema(conn: &mut PgConnection, grant: &RoleGrant) -> anyhow::Result<()> {
    let ident = quote_ident(&grant.role.name);
    let schema = &grant.schema;
    let mut sql = format!(
        "GRANT USAGE ON SCHEMA {schema} TO {ident}; \
         GRANT {TABLE_RIGHTS} ON ALL TABLES IN SCHEMA {schema} TO {ident}; \
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {ident}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {TABLE_RIGHTS} ON TABLES TO {ident}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {ident}; "
    );
    // The migration history is the migration role's to write.
    sql.push_str(&format!(
        "REVOKE INSERT, UPDATE, DELETE ON {schema}.schema_migrations FROM {ident}; "
    ));
    for (other, table) in &grant.reads {
        check_identifier(other)?;
        check_identifier(table)?;
        sql.push_str(&format!(
            "GRANT USAGE ON SCHEMA {other} TO {ident}; GRANT SELECT ON {other}.{table} TO {ident}; "
        ));
    }
    sqlx::raw_sql(&sql)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("granting {} the {schema} schema", grant.role.name))?;
    Ok(())
}

/// A `GRANT` on an object the migration role does not own grants nothing (with a warning
/// only): check the role really got its rights, and warn where it could create objects.
async fn verify(conn: &mut PgConnection, grant: &RoleGrant, migrator: &str) -> anyhow::Result<()> {
    let role = &grant.role.name;
    let lacking: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $2 AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations' \
         AND NOT (has_table_privilege($1::name, c.oid, 'SELECT') \
              AND has_table_privilege($1::name, c.oid, 'INSERT') \
              AND has_table_privilege($1::name, c.oid, 'UPDATE') \
              AND has_table_privilege($1::name, c.oid, 'DELETE')) \
         UNION ALL \
         SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $2 \
         AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege($1::name, c.oid, 'USAGE') \
             ELSE false END \
         UNION ALL \
         SELECT n.nspname::text FROM pg_namespace n \
         WHERE n.nspname = $2 AND NOT has_schema_privilege($1::name, n.oid, 'USAGE') \
         ORDER BY 1",
    )
    .bind(role)
    .bind(&grant.schema)
    .fetch_all(&mut *conn)
    .await?;
    if !lacking.is_empty() {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1",
        )
        .bind(&grant.schema)
        .fetch_optional(&mut *conn)
        .await?;
        anyhow::bail!(
            "the role {role} did not get its rights on {} of the {} schema: the migration role \
             ({migrator}) must own the schema and its objects (the schema is owned by {}); \
             migrate with the role that owns them, or make {migrator} their owner",
            lacking.join(", "),
            grant.schema,
            owner.as_deref().unwrap_or("nobody")
        );
    }
    let creatable: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE has_schema_privilege($1::name, oid, 'CREATE') \
         ORDER BY 1",
    )
    .bind(role)
    .fetch_all(&mut *conn)
    .await?;
    if !creatable.is_empty() {
        // PostgreSQL 14 and older let everyone create objects in `public`.
        tracing::warn!(
            role = %role,
            schemas = %creatable.join(","),
            "the role may create objects in these schemas (revoke CREATE on them from PUBLIC \
             and from the role)"
        );
    }
    Ok(())
}

/// A role name as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Schema and table names are the platform's own: lowercase letters and underscores.
fn check_identifier(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "schema and table names are lowercase letters and underscores, not {name:?}"
    );
    Ok(())
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password`, with a random salt (what
/// `psql`'s `\password` sends instead of the password).
fn scram_verifier(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    scram_verifier_with(password, &salt, SCRAM_ITERATIONS)
}

/// RFC 5802 / 7677: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. The password
/// is used as it is, as the services' client (sqlx) does when it signs in.
fn scram_verifier_with(password: &str, salt: &[u8], iterations: u32) -> anyhow::Result<String> {
    let salted = pbkdf2_sha256(password.as_bytes(), salt, iterations)?;
    let client_key = hmac_sha256(&salted, b"Client Key")?;
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    ))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> anyhow::Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| anyhow::anyhow!("HMAC key of a bad length"))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().into())
}

/// PBKDF2-HMAC-SHA-256 with one block of output (SCRAM's `Hi`).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> anyhow::Result<[u8; 32]> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &block)?;
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u)?;
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_urls_without_leaking_passwords() {
        let role =
            LoginRole::from_url("postgres://socialdevs_posts:p%40ss@db:5432/socialdevs").unwrap();
        assert_eq!(role.name(), "socialdevs_posts");
        assert_eq!(role.password.as_deref(), Some("p@ss"));
        assert!(!format!("{role:?}").contains("p@ss"));
        let role = LoginRole::from_url("postgresql://db/socialdevs?user=posts&password=x").unwrap();
        assert_eq!(
            (role.name(), role.password.as_deref()),
            ("posts", Some("x"))
        );
        let role = LoginRole::from_url("postgres://posts@db/socialdevs").unwrap();
        assert_eq!(role.password, None);
        let err = LoginRole::from_url("postgres://db:5432/socialdevs").unwrap_err();
        assert!(err.to_string().contains("names no role"), "{err}");
        let err = LoginRole::from_url("mysql://u:secret@db/x").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn identifiers_are_quoted_or_refused() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert!(check_identifier("posts").is_ok());
        assert!(check_identifier("posts; DROP").is_err());
    }

    /// The SQLSTATE of a statement run as `conn`'s role (`None`: it succeeded).
    async fn outcome(conn: &mut PgConnection, sql: &str) -> Option<String> {
        match sqlx::raw_sql(sql).execute(&mut *conn).await {
            Ok(_) => None,
            Err(sqlx::Error::Database(err)) => Some(err.code().unwrap_or_default().into_owned()),
            Err(err) => panic!("{err}"),
        }
    }

    const DENIED: Option<&str> = Some("42501");

    #[tokio::test]
    async fn roles_get_exactly_their_grants_and_later_tables_too() {
        let database = socialdevs_testkit::postgres::database().await.unwrap();
        let migrator_url = database.create_migration_role("owner").await.unwrap();
        let mut owner = PgConnection::connect(&migrator_url).await.unwrap();
        sqlx::raw_sql(
            "CREATE SCHEMA alpha; \
             CREATE TABLE alpha.schema_migrations (version BIGINT PRIMARY KEY); \
             CREATE TABLE alpha.things (id BIGSERIAL PRIMARY KEY, name TEXT); \
             CREATE SCHEMA beta; \
             CREATE TABLE beta.secrets (id BIGINT PRIMARY KEY); \
             CREATE TABLE beta.outbox (seq BIGSERIAL PRIMARY KEY);",
        )
        .execute(&mut owner)
        .await
        .unwrap();
        let alpha_url = database.role_url("alpha", "alpha-secret");
        let alpha = |reads: Vec<(&str, &str)>| RoleGrant {
            role: LoginRole::from_url(&alpha_url).unwrap(),
            schema: "alpha".into(),
            reads: reads
                .into_iter()
                .map(|(s, t)| (s.to_owned(), t.to_owned()))
                .collect(),
        };
        let managed = ["alpha", "beta", "gamma"];
        let report = grant_roles(&migrator_url, &managed, &[alpha(vec![("beta", "outbox")])])
            .await
            .unwrap();
        assert!(report[0].starts_with("created role"), "{report:?}");
        assert!(report[0].contains("read beta.outbox"), "{report:?}");

        let mut conn = PgConnection::connect(&alpha_url).await.unwrap();
        macro_rules! run {
            ($sql:expr) => {
                outcome(&mut conn, $sql).await.as_deref()
            };
        }
        assert_eq!(run!("INSERT INTO alpha.things (name) VALUES ('a')"), None);
        assert_eq!(run!("UPDATE alpha.things SET name = 'b'"), None);
        assert_eq!(run!("SELECT * FROM alpha.schema_migrations"), None);
        assert_eq!(run!("SELECT * FROM beta.outbox"), None);
        assert_eq!(run!("DELETE FROM alpha.things"), None);
        assert_eq!(
            run!("INSERT INTO alpha.schema_migrations VALUES (9)"),
            DENIED
        );
        assert_eq!(run!("SELECT * FROM beta.secrets"), DENIED);
        assert_eq!(run!("DELETE FROM beta.outbox"), DENIED);
        assert_eq!(run!("CREATE TABLE alpha.mine (id INT)"), DENIED);
        assert_eq!(run!("CREATE TABLE public.mine (id INT)"), DENIED);
        assert_eq!(run!("CREATE SCHEMA mine"), DENIED);
        assert_eq!(run!("DROP TABLE alpha.things"), DENIED);
        assert_eq!(run!("TRUNCATE alpha.things"), DENIED);

        // A table a later migration adds is the role's to use, without granting again.
        sqlx::raw_sql("CREATE TABLE alpha.later (id BIGSERIAL PRIMARY KEY)")
            .execute(&mut owner)
            .await
            .unwrap();
        assert_eq!(run!("INSERT INTO alpha.later DEFAULT VALUES"), None);

        // Granting again is idempotent, and narrows what is no longer declared.
        let report = grant_roles(&migrator_url, &managed, &[alpha(vec![])])
            .await
            .unwrap();
        assert!(report[0].starts_with("updated role"), "{report:?}");
        assert_eq!(run!("SELECT * FROM beta.outbox"), DENIED);
        assert_eq!(run!("SELECT * FROM alpha.later"), None);

        // The migration role itself, or a schema not migrated, are refused.
        let own = RoleGrant {
            role: LoginRole::from_url(&migrator_url).unwrap(),
            ..alpha(vec![])
        };
        let err = grant_roles(&migrator_url, &managed, &[own])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("migration role itself"), "{err}");
        let gamma = RoleGrant {
            schema: "gamma".into(),
            ..alpha(vec![])
        };
        let err = grant_roles(&migrator_url, &managed, &[gamma])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("migrate before granting"), "{err}");
    }

    /// The verifier PostgreSQL itself computes for a password, recomputed from its salt.
    #[tokio::test]
    async fn scram_verifiers_match_postgresql() {
        let database = socialdevs_testkit::postgres::database().await.unwrap();
        let mut conn = PgConnection::connect(&database.url).await.unwrap();
        let role = format!("{}_scram", database.name());
        sqlx::raw_sql(&format!(
            "SET password_encryption = 'scram-sha-256'; \
             CREATE ROLE {role} LOGIN PASSWORD 'correct horse battery staple'"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        let stored: String =
            sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
                .bind(&role)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        sqlx::raw_sql(&format!("DROP ROLE {role}"))
            .execute(&mut conn)
            .await
            .unwrap();
        // SCRAM-SHA-256$4096:<salt>$<stored key>:<server key>
        let (iterations, rest) = stored
            .strip_prefix("SCRAM-SHA-256$")
            .unwrap()
            .split_once(':')
            .unwrap();
        let salt = base64::engine::general_purpose::STANDARD
            .decode(rest.split_once('$').unwrap().0)
            .unwrap();
        let ours = scram_verifier_with(
            "correct horse battery staple",
            &salt,
            iterations.parse().unwrap(),
        )
        .unwrap();
        assert_eq!(ours, stored);
        assert!(scram_verifier("x")
            .unwrap()
            .starts_with("SCRAM-SHA-256$4096:"));
    }
}
