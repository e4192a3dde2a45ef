//! Home timelines in Redis, shared by every replica of the timeline service.
//!
//! # Key layout
//!
//! For each user (`{namespace}` is `socialdevs` unless [`RedisOptions::namespace`] says
//! otherwise; `{user}` is the user id, hyphenated lowercase):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{namespace}:timeline:{<user>}` | sorted set | the entries, every score 0, member `"<post_id>:<author_id>"` |
//! | `{namespace}:timeline:{<user>}:built` | string `v<version>` | present while the timeline is built; the popular version it was built at |
//! | `{namespace}:timeline:{<user>}:popular` | set | the popular authors the user follows (absent when none) |
//!
//! And once for all (popular authors, hybrid fan-out):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{namespace}:popular:{authors}` | set | the popular authors' ids |
//! | `{namespace}:popular:{authors}:version` | string, an integer | the popular version |
//! | `{namespace}:recent:{<author>}` | sorted set | a popular author's newest entries (up to the cap), like a timeline's |
//!
//! The braces are literal: they are a Redis Cluster hash tag, so the keys of a user live in
//! the same slot and one script may touch them all; so do the popular set and its version.
//! Every script touches the keys of one slot only.
//!
//! With every score 0 a sorted set orders its members bytewise. Members are 73 bytes: the post
//! id (36 characters), `:`, the author id. Hyphenated lowercase UUIDv7 strings sort like their
//! time, and all post ids have the same length, so member order is post order: the oldest
//! entry has rank 0, `ZREVRANGEBYLEX key + -` pages newest first, and trimming to the cap is
//! `ZREMRANGEBYRANK key 0 -(cap+1)`. The `before` cursor is the exclusive bound `(<post_id>`:
//! a member of an older post differs from it within the first 36 characters, where it is
//! smaller; a member of that very post starts with it and is longer, hence greater. Removing
//! a post is `ZREMRANGEBYLEX key [<post_id>: (<post_id>;` (`;` is the byte after `:`).
//!
//! An empty built timeline is the marker without the set (Redis deletes empty sets). A user's
//! keys expire after the idle TTL; reads and rebuilds renew it, writes keep it (a set that a
//! write creates takes the marker's remaining time). A timeline whose keys expired, or that
//! a flush or restart lost, is cold: writes skip it and the next read rebuilds it. So is one
//! whose marker is not `v<version>` (the marker `1` of timelines built before hybrid fan-out).
//!
//! The popular keys have no TTL. Reads use them all the time (the version on every page read,
//! a recent list on each of its author's followers' reads), so an `allkeys-lru` policy seldom
//! evicts them; should one be lost anyway (a flush, eviction under memory pressure):
//!
//! - the version: [`TimelineStore::popular_among`] recreates it at the current time in
//!   milliseconds, and [`TimelineStore::mark_popular`] moves it to at least that, so it never
//!   comes back to a value some timeline was built at (none is built at 0, what a missing key
//!   reads as): every timeline rebuilds once;
//! - the popular set: rebuilds keep every author's entries until the author posts or deletes
//!   again, which marks them popular anew (changing the version);
//! - a recent list: readers miss that author's posts until the author's next post, which
//!   finds the list gone and seeds it again from the posts (see
//!   [`TimelineStore::push_author_recent`]).
//!
//! # Round trips and failures
//!
//! A page read is one pipeline (one round trip): the page script (marker, popular follows,
//! entries) and the popular version. A reader who follows popular authors then reads their
//! recent lists in a second pipeline (one command per author): those lists live in other slots
//! than the reader's keys, and no script reaches across slots.
//!
//! Conditional writes (`push`, `merge`, `add_popular_follow`) are one Lua script call per
//! timeline, so checking the marker, adding and trimming are atomic; a push to many users
//! sends those calls in pipelines of [`BATCH`] (each starting with `SCRIPT LOAD`, so a
//! restarted server that lost its script cache needs no extra round trip — the page read's
//! pipeline too), all at once on the multiplexed connection.
//!
//! Every operation has a deadline ([`RedisOptions::response_timeout`] for each answer, twice
//! that for the whole operation). Connection failures, timeouts, and the server's transient
//! refusals (`LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY`) are
//! [`TimelineError::Unavailable`]; the connection manager reconnects in the background.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ErrorKind, RedisError, RedisResult, Script, ServerErrorKind};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use futures::future::try_join_all;
use uuid::Uuid;

use super::{
    newest, BuiltPage, Entry, PopularAmong, TimelineError, TimelineStore, TimelineStoreSettings,
};

/// Timelines (or script calls) per pipeline in a push or a removal across users.
pub const BATCH: usize = 1_000;

/// Members per `ZADD` inside scripts and rebuilds (Lua's `unpack` has a limit).
const ZADD_CHUNK: usize = 500;

/// The longest idle TTL sent to Redis (about ten years, far from its expiry overflow).
const MAX_TTL_MS: u64 = 10 * 365 * 24 * 60 * 60 * 1000;

/// `KEYS[1]` the set, `KEYS[2]` the marker, `KEYS[3]` the popular follows; `ARGV[1]` the
/// exclusive upper bound (`+` or `(<post_id>`), `ARGV[2]` the limit, `ARGV[3]` the idle TTL in
/// ms. Nil when cold, else `{marker, popular follows, the page's members (newest first)}`,
/// renewing the keys' TTL.
const PAGE_LUA: &str = r"
local built = redis.call('GET', KEYS[2])
if not built then
  return false
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
local page = {}
if tonumber(ARGV[2]) > 0 then
  page = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0, ARGV[2])
end
return {built, redis.call('SMEMBERS', KEYS[3]), page}
";

/// `KEYS[1]` the set, `KEYS[2]` the marker; `ARGV[1]` the cap, `ARGV[2..]` members. Adds the
/// members only when the marker exists, trims to the newest cap, and gives the set the
/// marker's remaining TTL. 1 when built, 0 when cold (nothing done).
const ADD_LUA: &str = r"
local ttl = redis.call('PTTL', KEYS[2])
if ttl == -2 then
  return 0
end
local chunk = 500
for i = 2, #ARGV, chunk do
  local args = {}
  for j = i, math.min(i + chunk - 1, #ARGV) do
    args[#args + 1] = 0
    args[#args + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(args))
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
return 1
";

/// `KEYS[1]` the set; `ARGV[1]` `:<author_id>`. Removes the members ending with it; returns
/// how many.
const REMOVE_AUTHOR_LUA: &str = r"
local suffix = ARGV[1]
local doomed = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, -#suffix) == suffix then
    doomed[#doomed + 1] = member
  end
end
local chunk = 500
for i = 1, #doomed, chunk do
  redis.call('ZREM', KEYS[1], unpack(doomed, i, math.min(i + chunk - 1, #doomed)))
end
return #doomed
";

/// `KEYS[1]` the popular follows, `KEYS[2]` the marker; `ARGV[1]` an author. Adds the author
/// only when the marker exists, giving the set the marker's remaining TTL.
const ADD_POPULAR_FOLLOW_LUA: &str = r"
local ttl = redis.call('PTTL', KEYS[2])
if ttl == -2 then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
return 1
";

/// `KEYS[1]` the popular set, `KEYS[2]` the version; `ARGV[1]` an author, `ARGV[2]` now in ms.
/// Adds the author; when new, moves the version to the greater of now and itself plus one.
/// 1 when new, else 0.
const MARK_POPULAR_LUA: &str = r"
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
if version < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
else
  redis.call('INCR', KEYS[2])
end
return 1
";

/// `KEYS[1]` the popular set, `KEYS[2]` the version; `ARGV[1]` now in ms, `ARGV[2..]` authors.
/// `{version, the popular ones of the authors...}`, creating the version (as now) if missing.
const POPULAR_AMONG_LUA: &str = r"
redis.call('SET', KEYS[2], ARGV[1], 'NX')
local found = {redis.call('GET', KEYS[2])}
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
    found[#found + 1] = ARGV[i]
  end
end
return found
";

/// `KEYS[1]` an author's recent list; `ARGV[1]` the cap, `ARGV[2..]` members. Adds them,
/// trims to the newest cap; 1 when the list existed before, else 0.
const PUSH_RECENT_LUA: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local chunk = 500
for i = 2, #ARGV, chunk do
  local args = {}
  for j = i, math.min(i + chunk - 1, #ARGV) do
    args[#args + 1] = 0
    args[#args + 1] = ARGV[j]
  end
  redis.call('ZADD', KEYS[1], unpack(args))
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
return existed
";

/// How to reach Redis, besides its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// First part of every key (no `{` or `}`): several deployments, or tests, can share a
    /// server under different namespaces. Default `socialdevs`.
    pub namespace: String,
    /// How long to wait for each answer (and for connecting); an operation gives up after
    /// twice that. Default 1 s.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            namespace: "socialdevs".to_owned(),
            response_timeout: Duration::from_secs(1),
        }
    }
}

/// Home timelines in Redis (see the module documentation for the key layout).
#[derive(Clone)]
pub struct RedisTimelines {
    conn: ConnectionManager,
    settings: TimelineStoreSettings,
    namespace: String,
    ttl_ms: u64,
    deadline: Duration,
    page_script: Script,
    add_script: Script,
    remove_author_script: Script,
    add_popular_follow_script: Script,
    mark_popular_script: Script,
    popular_among_script: Script,
    push_recent_script: Script,
}

impl std::fmt::Debug for RedisTimelines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTimelines")
            .field("namespace", &self.namespace)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RedisTimelines {
    /// Connects to the Redis at `url` (`redis://[:password@]host:port[/db]`) with the default
    /// options.
    pub async fn connect(
        url: &str,
        settings: TimelineStoreSettings,
    ) -> Result<Self, TimelineError> {
        Self::connect_with(url, RedisOptions::default(), settings).await
    }

    /// Connects to the Redis at `url`, with keys under `options.namespace`.
    pub async fn connect_with(
        url: &str,
        options: RedisOptions,
        settings: TimelineStoreSettings,
    ) -> Result<Self, TimelineError> {
        if options.namespace.is_empty() || options.namespace.contains(['{', '}']) {
            return Err(TimelineError::Other(anyhow!(
                "the timeline namespace {:?} must be non-empty, without braces",
                options.namespace
            )));
        }
        let client = ::redis::Client::open(url).context("reading the timeline Redis URL")?;
        let timeout = options.response_timeout;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            // Reconnect once, briefly, then fail: requests must not wait out a long backoff.
            // The next request starts a new attempt.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let deadline = timeout.saturating_mul(2);
        let conn = with_deadline(
            "connect",
            deadline,
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        let ttl_ms = u64::try_from(settings.idle_ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        Ok(Self {
            conn,
            settings,
            namespace: options.namespace,
            ttl_ms,
            deadline,
            page_script: Script::new(PAGE_LUA),
            add_script: Script::new(ADD_LUA),
            remove_author_script: Script::new(REMOVE_AUTHOR_LUA),
            add_popular_follow_script: Script::new(ADD_POPULAR_FOLLOW_LUA),
            mark_popular_script: Script::new(MARK_POPULAR_LUA),
            popular_among_script: Script::new(POPULAR_AMONG_LUA),
            push_recent_script: Script::new(PUSH_RECENT_LUA),
        })
    }

    /// The key of the user's sorted set of entries.
    pub fn timeline_key(&self, user: Uuid) -> String {
        timeline_key(&self.namespace, user)
    }

    /// The key of the user's built marker.
    pub fn built_key(&self, user: Uuid) -> String {
        format!("{}:built", timeline_key(&self.namespace, user))
    }

    /// The key of the set of popular authors the user follows.
    pub fn popular_follows_key(&self, user: Uuid) -> String {
        format!("{}:popular", timeline_key(&self.namespace, user))
    }

    /// The key of the set of popular authors.
    pub fn popular_key(&self) -> String {
        format!("{}:popular:{{authors}}", self.namespace)
    }

    /// The key of the popular version.
    pub fn popular_version_key(&self) -> String {
        format!("{}:version", self.popular_key())
    }

    /// The key of a popular author's recent list.
    pub fn recent_key(&self, author: Uuid) -> String {
        format!("{}:recent:{{{author}}}", self.namespace)
    }

    async fn run<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, TimelineError> {
        with_deadline(what, self.deadline, op).await
    }

    /// A pipeline of `SCRIPT LOAD add` and one conditional add per user.
    fn add_pipeline(&self, users: &[Uuid], members: &[String]) -> ::redis::Pipeline {
        let mut pipe = ::redis::pipe();
        pipe.load_script(&self.add_script).ignore();
        for &user in users {
            let mut call = self.add_script.prepare_invoke();
            call.key(self.timeline_key(user))
                .key(self.built_key(user))
                .arg(self.settings.cap);
            for member in members {
                call.arg(member);
            }
            pipe.invoke_script(&call).ignore();
        }
        pipe
    }

    /// Sends the pipelines all at once on the multiplexed connection.
    async fn exec_all(
        &self,
        what: &'static str,
        pipes: Vec<::redis::Pipeline>,
    ) -> Result<(), TimelineError> {
        let sends = pipes.into_iter().map(|pipe| {
            let mut conn = self.conn.clone();
            async move { pipe.exec_async(&mut conn).await }
        });
        self.run(what, try_join_all(sends)).await.map(|_| ())
    }
}

#[async_trait]
impl TimelineStore for RedisTimelines {
    async fn page(
        &self,
        user: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Option<BuiltPage>, TimelineError> {
        let max = before.map_or_else(|| "+".to_owned(), |post| format!("({post}"));
        let mut call = self.page_script.prepare_invoke();
        call.key(self.timeline_key(user))
            .key(self.built_key(user))
            .key(self.popular_follows_key(user))
            .arg(max)
            .arg(i64::try_from(limit).unwrap_or(i64::MAX))
            .arg(self.ttl_ms);
        let mut pipe = ::redis::pipe();
        pipe.load_script(&self.page_script).ignore();
        pipe.invoke_script(&call);
        pipe.cmd("GET").arg(self.popular_version_key());
        let mut conn = self.conn.clone();
        type Read = (Option<(String, Vec<String>, Vec<String>)>, Option<u64>);
        let (page, version): Read = self.run("page", pipe.query_async(&mut conn)).await?;
        let Some((marker, popular, members)) = page else {
            return Ok(None);
        };
        let Some(built_at_version) = parse_marker(&marker) else {
            // Built before hybrid fan-out: rebuild it.
            return Ok(None);
        };
        let mut popular_followed = popular
            .iter()
            .map(|id| parse_uuid(id))
            .collect::<Result<Vec<_>, _>>()?;
        popular_followed.sort_unstable();
        Ok(Some(BuiltPage {
            entries: members
                .iter()
                .map(|member| parse_member(member))
                .collect::<Result<_, _>>()?,
            popular_followed,
            built_at_version,
            popular_version: version.unwrap_or(0),
        }))
    }

    async fn replace(
        &self,
        user: Uuid,
        entries: &[Entry],
        popular_followed: &[Uuid],
        version: u64,
    ) -> Result<(), TimelineError> {
        let members: Vec<String> = newest(entries, self.settings.cap)
            .into_iter()
            .map(member)
            .collect();
        let (set, built, popular) = (
            self.timeline_key(user),
            self.built_key(user),
            self.popular_follows_key(user),
        );
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(&set).arg(&built).arg(&popular).ignore();
        for chunk in members.chunks(ZADD_CHUNK) {
            pipe.cmd("ZADD").arg(&set);
            for member in chunk {
                pipe.arg(0).arg(member);
            }
            pipe.ignore();
        }
        for chunk in popular_followed.chunks(ZADD_CHUNK) {
            pipe.cmd("SADD").arg(&popular);
            for author in chunk {
                pipe.arg(author.to_string());
            }
            pipe.ignore();
        }
        pipe.cmd("PEXPIRE").arg(&set).arg(self.ttl_ms).ignore();
        pipe.cmd("PEXPIRE").arg(&popular).arg(self.ttl_ms).ignore();
        pipe.cmd("SET")
            .arg(&built)
            .arg(format!("v{version}"))
            .arg("PX")
            .arg(self.ttl_ms)
            .ignore();
        let mut conn = self.conn.clone();
        self.run("replace", pipe.exec_async(&mut conn)).await
    }

    async fn push(&self, users: &[Uuid], entry: Entry) -> Result<(), TimelineError> {
        let members = [member(entry)];
        let pipes = users
            .chunks(BATCH)
            .map(|chunk| self.add_pipeline(chunk, &members))
            .collect();
        self.exec_all("push", pipes).await
    }

    async fn merge(&self, user: Uuid, entries: &[Entry]) -> Result<(), TimelineError> {
        let members: Vec<String> = newest(entries, self.settings.cap)
            .into_iter()
            .map(member)
            .collect();
        if members.is_empty() {
            return Ok(());
        }
        let pipe = self.add_pipeline(&[user], &members);
        self.exec_all("merge", vec![pipe]).await
    }

    async fn remove_post(&self, users: &[Uuid], post: Uuid) -> Result<(), TimelineError> {
        let (min, max) = (format!("[{post}:"), format!("({post};"));
        let pipes = users
            .chunks(BATCH)
            .map(|chunk| {
                let mut pipe = ::redis::pipe();
                for &user in chunk {
                    pipe.cmd("ZREMRANGEBYLEX")
                        .arg(self.timeline_key(user))
                        .arg(&min)
                        .arg(&max)
                        .ignore();
                }
                pipe
            })
            .collect();
        self.exec_all("remove_post", pipes).await
    }

    async fn remove_author(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        let mut call = self.remove_author_script.prepare_invoke();
        call.key(self.timeline_key(user)).arg(format!(":{author}"));
        let mut conn = self.conn.clone();
        let _removed: i64 = self
            .run("remove_author", call.invoke_async(&mut conn))
            .await?;
        Ok(())
    }

    async fn evict(&self, user: Uuid) -> Result<(), TimelineError> {
        let mut conn = self.conn.clone();
        let mut del = ::redis::cmd("DEL");
        del.arg(self.timeline_key(user))
            .arg(self.built_key(user))
            .arg(self.popular_follows_key(user));
        self.run("evict", del.exec_async(&mut conn)).await
    }

    async fn add_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        let mut call = self.add_popular_follow_script.prepare_invoke();
        call.key(self.popular_follows_key(user))
            .key(self.built_key(user))
            .arg(author.to_string());
        let mut conn = self.conn.clone();
        let _added: i64 = self
            .run("add_popular_follow", call.invoke_async(&mut conn))
            .await?;
        Ok(())
    }

    async fn remove_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        let mut conn = self.conn.clone();
        let mut srem = ::redis::cmd("SREM");
        srem.arg(self.popular_follows_key(user))
            .arg(author.to_string());
        self.run("remove_popular_follow", srem.exec_async(&mut conn))
            .await
    }

    async fn mark_popular(&self, author: Uuid) -> Result<bool, TimelineError> {
        let mut call = self.mark_popular_script.prepare_invoke();
        call.key(self.popular_key())
            .key(self.popular_version_key())
            .arg(author.to_string())
            .arg(now_ms());
        let mut conn = self.conn.clone();
        let added: i64 = self
            .run("mark_popular", call.invoke_async(&mut conn))
            .await?;
        Ok(added == 1)
    }

    async fn popular_version(&self) -> Result<u64, TimelineError> {
        let mut conn = self.conn.clone();
        let mut get = ::redis::cmd("GET");
        get.arg(self.popular_version_key());
        let version: Option<u64> = self
            .run("popular_version", get.query_async(&mut conn))
            .await?;
        Ok(version.unwrap_or(0))
    }

    async fn popular_among(&self, authors: &[Uuid]) -> Result<PopularAmong, TimelineError> {
        let mut call = self.popular_among_script.prepare_invoke();
        call.key(self.popular_key())
            .key(self.popular_version_key())
            .arg(now_ms());
        for author in distinct(authors) {
            call.arg(author.to_string());
        }
        let mut conn = self.conn.clone();
        let found: Vec<String> = self
            .run("popular_among", call.invoke_async(&mut conn))
            .await?;
        let (version, popular) = found.split_first().ok_or_else(|| {
            TimelineError::Other(anyhow!("Redis popular_among: no version in the answer"))
        })?;
        let version = version.parse::<u64>().map_err(|_| {
            TimelineError::Other(anyhow!(
                "the popular version in Redis is not a number: {version:?}"
            ))
        })?;
        Ok(PopularAmong {
            version,
            authors: popular
                .iter()
                .map(|id| parse_uuid(id))
                .collect::<Result<_, _>>()?,
        })
    }

    async fn push_author_recent(
        &self,
        author: Uuid,
        entries: &[Entry],
    ) -> Result<bool, TimelineError> {
        let mut call = self.push_recent_script.prepare_invoke();
        call.key(self.recent_key(author)).arg(self.settings.cap);
        for entry in newest(entries, self.settings.cap) {
            call.arg(member(entry));
        }
        let mut conn = self.conn.clone();
        let existed: i64 = self
            .run("push_author_recent", call.invoke_async(&mut conn))
            .await?;
        Ok(existed == 1)
    }

    async fn remove_author_recent(&self, author: Uuid, post: Uuid) -> Result<(), TimelineError> {
        let mut conn = self.conn.clone();
        let mut remove = ::redis::cmd("ZREMRANGEBYLEX");
        remove
            .arg(self.recent_key(author))
            .arg(format!("[{post}:"))
            .arg(format!("({post};"));
        self.run("remove_author_recent", remove.exec_async(&mut conn))
            .await
    }

    async fn author_recent(
        &self,
        authors: &[Uuid],
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Entry>, TimelineError> {
        let authors = distinct(authors);
        if authors.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let max = before.map_or_else(|| "+".to_owned(), |post| format!("({post}"));
        let limit_arg = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut pipe = ::redis::pipe();
        for &author in &authors {
            pipe.cmd("ZREVRANGEBYLEX")
                .arg(self.recent_key(author))
                .arg(&max)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(limit_arg);
        }
        let mut conn = self.conn.clone();
        let lists: Vec<Vec<String>> = self
            .run("author_recent", pipe.query_async(&mut conn))
            .await?;
        let mut found = lists
            .iter()
            .flatten()
            .map(|member| parse_member(member))
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }

    async fn ping(&self) -> Result<(), TimelineError> {
        let mut conn = self.conn.clone();
        let pong: String = self
            .run("ping", ::redis::cmd("PING").query_async(&mut conn))
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(TimelineError::Other(anyhow!(
                "Redis answered PING with {pong:?}"
            )))
        }
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// `{namespace}:timeline:{<user>}`, braces included (a hash tag).
fn timeline_key(namespace: &str, user: Uuid) -> String {
    format!("{namespace}:timeline:{{{user}}}")
}

/// The sorted-set member of an entry: `<post_id>:<author_id>`, hyphenated lowercase.
fn member(entry: Entry) -> String {
    format!("{}:{}", entry.post_id, entry.author_id)
}

/// `authors` without repeats, in their order.
fn distinct(authors: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    authors
        .iter()
        .copied()
        .filter(|author| seen.insert(*author))
        .collect()
}

/// Now in milliseconds since the Unix epoch (the floor of a recreated popular version).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
        .max(1)
}

/// The popular version a `v<version>` marker holds; `None` for anything else.
fn parse_marker(marker: &str) -> Option<u64> {
    marker.strip_prefix('v')?.parse().ok()
}

fn parse_uuid(id: &str) -> Result<Uuid, TimelineError> {
    Uuid::try_parse(id)
        .map_err(|_| TimelineError::Other(anyhow!("an author id in Redis is not a UUID: {id:?}")))
}

fn parse_member(member: &str) -> Result<Entry, TimelineError> {
    let parsed = member.split_once(':').and_then(|(post, author)| {
        Some(Entry {
            post_id: Uuid::try_parse(post).ok()?,
            author_id: Uuid::try_parse(author).ok()?,
        })
    });
    parsed.ok_or_else(|| {
        TimelineError::Other(anyhow!(
            "a timeline entry in Redis is not `<post_id>:<author_id>`: {member:?}"
        ))
    })
}

/// Runs `op` within `deadline`, mapping its failure to a [`TimelineError`].
async fn with_deadline<T>(
    what: &'static str,
    deadline: Duration,
    op: impl Future<Output = RedisResult<T>>,
) -> Result<T, TimelineError> {
    match tokio::time::timeout(deadline, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(failure(what, err)),
        Err(_) => Err(TimelineError::Unavailable(anyhow!(
            "Redis {what}: no answer within {deadline:?}"
        ))),
    }
}

/// Connection trouble and the server's transient refusals are `Unavailable`; the rest is a
/// bug or a misconfiguration.
fn failure(what: &'static str, err: RedisError) -> TimelineError {
    let unavailable = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        )
        || matches!(err.code(), Some("BUSY" | "LOADING"));
    let err = anyhow::Error::new(err).context(format!("Redis {what}"));
    if unavailable {
        TimelineError::Unavailable(err)
    } else {
        TimelineError::Other(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_sort_like_their_posts() {
        let older = Entry {
            post_id: Uuid::now_v7(),
            author_id: Uuid::max(),
        };
        let newer = Entry {
            post_id: Uuid::now_v7(),
            author_id: Uuid::nil(),
        };
        assert_eq!(parse_member(&member(older)).unwrap(), older);
        assert_eq!(member(older).len(), 73);
        assert!(member(older) < member(newer));
        // The `before` bound excludes the post itself and keeps every older one.
        let bound = newer.post_id.to_string();
        assert!(member(older) < bound && member(newer) > bound);
        assert!(parse_member("not-a-member").is_err());
    }

    #[test]
    fn keys_share_the_users_hash_tag() {
        assert_eq!(
            timeline_key("socialdevs", Uuid::nil()),
            "socialdevs:timeline:{00000000-0000-0000-0000-000000000000}"
        );
    }
}
