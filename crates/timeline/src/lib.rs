//! The timeline service: the home timeline (the caller's and followed users' posts, newest
//! first) and its live stream.
//!
//! Today the home timeline is computed on read from the follow graph and the posts store,
//! through two ports ([`FollowGraph`], [`PostFeed`]) that the binary wires to the users and
//! posts services. Fan-out on write into a timeline cache replaces the read path later
//! without changing the routes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{FromRef, OriginalUri, State};
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures::Stream;
use socialdevs_events::hub::{Ended, LiveHub};
use socialdevs_events::types::{PostCreatedV1, UserFollowedV1, UserUnfollowedV1};
use socialdevs_events::{envelope, CloudEvent};
use socialdevs_platform::auth::{AuthUser, TokenVerifier};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::ApiQuery;
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::shutdown::Shutdown;
use socialdevs_platform::ApiError;
use socialdevs_posts::http::{page_response, PostPage};
use socialdevs_posts::model::{Author, Post};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The service name used in metrics, logs and `--services`.
pub const SERVICE: &str = "timeline";

/// Who follows whom: owned by the users service.
#[async_trait]
pub trait FollowGraph: Send + Sync {
    /// Ids of everyone `user` follows.
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError>;
}

/// Posts by a set of authors: owned by the posts service.
#[async_trait]
pub trait PostFeed: Send + Sync {
    /// A page of posts by `authors`, newest first, as seen by `viewer`.
    async fn posts_by_authors(
        &self,
        authors: Vec<Uuid>,
        viewer: Uuid,
        params: &PageParams,
    ) -> Result<Page<Post>, ApiError>;
}

/// State of the timeline routes.
#[derive(Clone)]
pub struct TimelineState {
    /// The follow graph.
    pub graph: Arc<dyn FollowGraph>,
    /// The posts.
    pub feed: Arc<dyn PostFeed>,
    /// Live events (fed by this process's live consumer), for the live stream.
    pub live: LiveHub,
    /// Ends live streams when the process stops.
    pub shutdown: Shutdown,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

impl FromRef<TimelineState> for TokenVerifier {
    fn from_ref(state: &TimelineState) -> Self {
        state.verifier.clone()
    }
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
    let mut authors = state.graph.following_ids(caller.id).await?;
    authors.push(caller.id);
    let page = state
        .feed
        .posts_by_authors(authors, caller.id, &params)
        .await?;
    Ok(page_response(&uri, page))
}

/// Live stream (`text/event-stream`) of new posts for the caller's home timeline: events
/// named `post` whose data is a `post`. A stream that falls too far behind gets a `resync`
/// event and ends (reload, then reconnect). Browsers' EventSource may pass `?access_token=`.
#[utoipa::path(get, path = "/api/v1/timeline/home/stream", tag = TIMELINE_TAG,
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "Events named `post`"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn home_stream(
    State(state): State<TimelineState>,
    caller: AuthUser,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    // Subscribe before reading the follow graph, so no event falls between the two.
    let mut events = state.live.subscribe();
    let mut following: HashSet<Uuid> = state
        .graph
        .following_ids(caller.id)
        .await?
        .into_iter()
        .collect();
    let me = caller.id;
    let shutdown = state.shutdown.clone();
    let stream = async_stream::stream! {
        yield Ok(Event::default().event("ready").data("{}"));
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            let received = tokio::select! {
                () = &mut stop => break,
                received = events.recv() => received,
            };
            let event = match received {
                Ok(event) => event,
                Err(Ended::Lagged) => {
                    // Told rather than silently skipped: the client reloads and reconnects.
                    yield Ok(Event::default().event("resync").data("{}"));
                    break;
                }
                Err(Ended::Closed) => break,
            };
            if let Some(post) = home_post(&event, me, &mut following) {
                // Only delivered posts get a span: a stream skips most events.
                let span = envelope::consumer_span(&event, "timeline.home_stream");
                if let Ok(json) = span.in_scope(|| serde_json::to_string(&post)) {
                    yield Ok(Event::default().event("post").id(post.id.to_string()).data(json));
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// What `event` means for `me`'s open home stream: a post to show, or a change to whom `me`
/// follows (applied to `following`, straight from the event: no call back).
fn home_post(event: &CloudEvent, me: Uuid, following: &mut HashSet<Uuid>) -> Option<Post> {
    if let Some(Ok(followed)) = event.decode::<UserFollowedV1>() {
        if followed.follower_id == me {
            following.insert(followed.followee_id);
        }
        return None;
    }
    if let Some(Ok(unfollowed)) = event.decode::<UserUnfollowedV1>() {
        if unfollowed.follower_id == me {
            following.remove(&unfollowed.followee_id);
        }
        return None;
    }
    let created = event.decode::<PostCreatedV1>()?.ok()?;
    if created.author_id != me && !following.contains(&created.author_id) {
        return None;
    }
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
    routes()
        .route_layer(middleware::from_fn_with_state(
            SERVICE,
            socialdevs_platform::metrics::track,
        ))
        .with_state(state)
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
