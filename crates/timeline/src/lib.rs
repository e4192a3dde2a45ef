//! The timeline service: the home timeline (the caller's and followed users' posts, newest
//! first) and its live stream.
//!
//! Home timelines are fanned out on write into a timeline store ([`store`]: in memory, or
//! Redis when `SOCIALDEVS_REDIS_URL` is set) by a durable consumer of the posts and follows
//! events ([`service::Fanout`]) — except popular authors' posts, merged in on read (hybrid
//! fan-out) — rebuilt from the other services when cold, and computed on read when the store
//! is down ([`service`]). The services are reached through two ports
//! ([`FollowGraph`], [`PostFeed`]) that the binary wires in process or over HTTP.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures::Stream;
use socialdevs_api::internal::{OwnAfter, TimelinePage};
use socialdevs_api::{Author, Post, PostPage};
use socialdevs_events::hub::LiveHub;
use socialdevs_events::types::{EventType, PostCreatedV1, UserFollowedV1, UserUnfollowedV1};
use socialdevs_events::{envelope, CloudEvent};
use socialdevs_platform::auth::{AuthUser, TokenVerifier};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::ApiQuery;
use socialdevs_platform::pagination::{page_response, PageParams};
use socialdevs_platform::shutdown::Shutdown;
use socialdevs_platform::streams::{last_event_id, token_deadline, OpenStreams, KEEP_ALIVE};
use socialdevs_platform::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub mod service;
pub mod store;

pub use service::{Fanout, TimelineService, TimelineSettings};

/// Metric: open home streams in this process.
pub const STREAMS_OPEN: &str = "socialdevs_timeline_streams_open";

/// The service name used in metrics, logs and `--services`.
pub const SERVICE: &str = "timeline";

/// Who follows whom: owned by the users service.
#[async_trait]
pub trait FollowGraph: Send + Sync {
    /// Ids of everyone `user` follows.
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError>;
    /// Ids of at most `limit` of `user`'s followers.
    async fn follower_ids(&self, user: Uuid, limit: u32) -> Result<Vec<Uuid>, ApiError>;
}

/// Posts: owned by the posts service.
#[async_trait]
pub trait PostFeed: Send + Sync {
    /// These posts as `viewer` sees them (deleted ones left out), plus `viewer`'s own newer
    /// posts when `own_after` asks for them: one call per home timeline page.
    async fn timeline_page(
        &self,
        ids: Vec<Uuid>,
        viewer: Uuid,
        own_after: Option<OwnAfter>,
    ) -> Result<TimelinePage, ApiError>;
    /// The newest `limit` posts by `authors` (at most 500 authors a call), newest first.
    async fn recent_entries(
        &self,
        authors: Vec<Uuid>,
        limit: u32,
    ) -> Result<Vec<store::Entry>, ApiError>;
}

socialdevs_platform::route_state! {
    /// State of the timeline routes: its parts behind one `Arc`.
    pub struct TimelineState(TimelineParts);
}

/// What the timeline routes share.
pub struct TimelineParts {
    /// Home timelines.
    pub timelines: TimelineService,
    /// The follow graph (a live stream reads it when it opens).
    pub graph: Arc<dyn FollowGraph>,
    /// Live events (fed by this process's live consumer), for the live stream.
    pub live: LiveHub,
    /// Ends live streams when the process stops.
    pub shutdown: Shutdown,
    /// Bounds on open live streams.
    pub streams: OpenStreams,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

/// OpenAPI tag of the timeline routes.
pub const TIMELINE_TAG: &str = "timeline";

/// The caller's home timeline: their own and followed users' posts, newest first.
#[utoipa::path(get, path = "/api/v1/timeline/home", tag = TIMELINE_TAG, params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = PostPage), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn home(
    State(state): State<TimelineState>,
    caller: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = state.timelines.home(caller.id, &params).await?;
    Ok(page_response(&uri, page))
}

/// Live stream (`text/event-stream`) of new posts for the caller's home timeline: events
/// named `post` whose data is a `post`, with the post id as event id. Reconnecting with
/// `Last-Event-ID` first replays the newer posts of the home timeline (up to 100). A stream
/// that falls too far behind gets a `resync` event and ends (reload, then reconnect); one
/// whose access token expires gets `expired` and ends (reconnect with a fresh token). At most
/// a few streams per user and a bounded number per process: beyond, 503 with `Retry-After`.
/// Browsers' EventSource may pass `?access_token=`.
#[utoipa::path(get, path = "/api/v1/timeline/home/stream", tag = TIMELINE_TAG,
    security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The last post id received, to resume")),
    responses((status = 200, content_type = "text/event-stream", description = "Events named `post`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Too many open streams")))]
#[tracing::instrument(skip_all)]
async fn home_stream(
    State(state): State<TimelineState>,
    caller: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let slot = state.streams.open(caller.id)?;
    let last_seen = last_event_id(&headers)?;
    // Subscribe before reading anything, so no event falls between the reads and the stream.
    let mut events = state.live.subscribe();
    let missed: Vec<Post> = match last_seen {
        None => Vec::new(),
        Some(last) => {
            let page = state
                .timelines
                .home(
                    caller.id,
                    &PageParams {
                        limit: Some(100),
                        cursor: None,
                    },
                )
                .await?;
            let mut newer: Vec<Post> = page.items.into_iter().filter(|p| p.id > last).collect();
            newer.reverse();
            newer
        }
    };
    let expiry = token_deadline(&caller);
    let following: HashSet<Uuid> = state
        .graph
        .following_ids(caller.id)
        .await?
        .into_iter()
        .collect();
    let mut view = HomeView {
        me: caller.id,
        following,
        held: VecDeque::new(),
    };
    let shutdown = state.shutdown.clone();
    let stream = async_stream::stream! {
        let _slot = slot;
        yield Ok(Event::default().event("ready").data("{}"));
        let mut shown: HashSet<Uuid> = HashSet::new();
        for post in missed {
            if let Ok(json) = serde_json::to_string(&post) {
                shown.insert(post.id);
                yield Ok(Event::default().event("post").id(post.id.to_string()).data(json));
            }
        }
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            let event = match events.next_until(stop.as_mut(), expiry).await {
                Ok(event) => event,
                Err(end) => {
                    // Told rather than silently ended: the client reloads or reconnects.
                    if let Some(farewell) = end.farewell() {
                        yield Ok(Event::default().event(farewell).data("{}"));
                    }
                    break;
                }
            };
            for post in view.apply(&event) {
                if !shown.insert(post.id) {
                    continue;
                }
                // Only delivered posts get a span: a stream skips most events.
                let span = envelope::consumer_span(&event, "timeline.home_stream");
                if let Ok(json) = span.in_scope(|| serde_json::to_string(&post)) {
                    yield Ok(Event::default().event("post").id(post.id.to_string()).data(json));
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// What an open home stream knows: whom its user follows, and the posts of others it saw
/// lately. Events of different services may arrive in either order (Kafka orders a key's
/// events, not a topic's against another's), so a post can come just before the follow that
/// makes it visible: such posts are held briefly and shown when the follow arrives.
///
/// Every stream sees every post, and most are not for it: a post's author is read from the
/// event before anything else, and a held post stays undecoded (the event is shared by all
/// streams) until a follow shows it.
struct HomeView {
    me: Uuid,
    following: HashSet<Uuid>,
    /// Posts of authors not followed: when they came, their author, the event.
    held: VecDeque<(Instant, Uuid, Arc<CloudEvent>)>,
}

/// How long, and how many, posts of authors not followed are held for a follow to come.
const HOLD_FOR: Duration = Duration::from_secs(5);
const HOLD_AT_MOST: usize = 256;

impl HomeView {
    /// The posts `event` makes visible on the stream, in order (none for most events).
    fn apply(&mut self, event: &Arc<CloudEvent>) -> Vec<Post> {
        if event.kind == PostCreatedV1::TYPE {
            let Some(author) = event
                .data
                .get("author_id")
                .and_then(serde_json::Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())
            else {
                return Vec::new();
            };
            if author == self.me || self.following.contains(&author) {
                return post_of(event).into_iter().collect();
            }
            let now = Instant::now();
            while self
                .held
                .front()
                .is_some_and(|(at, _, _)| now.duration_since(*at) > HOLD_FOR)
                || self.held.len() >= HOLD_AT_MOST
            {
                self.held.pop_front();
            }
            self.held.push_back((now, author, Arc::clone(event)));
            return Vec::new();
        }
        if let Some(Ok(followed)) = event.decode::<UserFollowedV1>() {
            if followed.follower_id != self.me {
                return Vec::new();
            }
            self.following.insert(followed.followee_id);
            // The followee's held posts from the follow on are shown; older ones never will be.
            let (theirs, kept): (Vec<_>, Vec<_>) = self
                .held
                .drain(..)
                .partition(|(_, author, _)| *author == followed.followee_id);
            self.held = kept.into();
            return theirs
                .iter()
                .filter_map(|(_, _, event)| post_of(event))
                .filter(|post| post.created_at >= followed.followed_at)
                .collect();
        }
        if let Some(Ok(unfollowed)) = event.decode::<UserUnfollowedV1>() {
            if unfollowed.follower_id == self.me {
                self.following.remove(&unfollowed.followee_id);
            }
        }
        Vec::new()
    }
}

/// The post a `post.created` event announces, as a new post looks to its author's followers.
fn post_of(event: &CloudEvent) -> Option<Post> {
    let created = event.decode::<PostCreatedV1>()?.ok()?;
    Some(Post {
        id: created.post_id,
        author: Author {
            id: created.author_id,
            username: created.author_username,
            display_name: created.author_display_name,
        },
        text: created.text,
        created_at: created.created_at,
        reply_to: created.reply_to,
        like_count: 0,
        reply_count: 0,
        liked_by_me: false,
        hashtags: created.hashtags,
        mentions: created.mentions,
    })
}

/// The timeline service's public routes, with their OpenAPI description.
pub fn router(state: TimelineState) -> OpenApiRouter {
    socialdevs_platform::metrics::tracked(SERVICE, routes(), state)
}

/// The service's public operations, for the platform-wide OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn routes() -> OpenApiRouter<TimelineState> {
    OpenApiRouter::new()
        .routes(routes!(home))
        .routes(routes!(home_stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration as Span, Utc};

    fn envelope<E: EventType>(event: &E) -> Arc<CloudEvent> {
        Arc::new(CloudEvent::of(event, Utc::now()))
    }

    fn created(author: Uuid, text: &str, at: chrono::DateTime<Utc>) -> Arc<CloudEvent> {
        envelope(&PostCreatedV1 {
            post_id: Uuid::now_v7(),
            author_id: author,
            author_username: "x".into(),
            author_display_name: "X".into(),
            text: text.into(),
            hashtags: vec![],
            mentions: vec![],
            mentioned_user_ids: vec![],
            reply_to: None,
            reply_to_author_id: None,
            created_at: at,
        })
    }

    #[test]
    fn a_post_that_arrives_before_its_follow_is_shown_when_the_follow_arrives() {
        let (me, author, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut view = HomeView {
            me,
            following: HashSet::new(),
            held: VecDeque::new(),
        };
        let followed_at = Utc::now();
        assert!(view
            .apply(&created(
                author,
                "before the follow",
                followed_at - Span::seconds(1)
            ))
            .is_empty());
        assert!(view
            .apply(&created(author, "after", followed_at))
            .is_empty());
        assert!(view
            .apply(&created(other, "someone else", followed_at))
            .is_empty());
        let shown = view.apply(&envelope(&UserFollowedV1 {
            follower_id: me,
            follower_username: "me".into(),
            followee_id: author,
            followee_username: "x".into(),
            followed_at,
        }));
        let texts: Vec<&str> = shown.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["after"], "only posts from the follow on");
        assert_eq!(view.apply(&created(author, "next", Utc::now())).len(), 1);
        assert_eq!(view.apply(&created(me, "mine", Utc::now())).len(), 1);
        assert_eq!(
            view.held.len(),
            1,
            "the others' posts stay held (the followee's older one, never to be shown, is not)"
        );
    }
}
