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
use socialdevs_platform::auth::{AuthUser, TokenVerifier};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::events::{self, EventBus};
use socialdevs_platform::extract::ApiQuery;
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::shutdown::Shutdown;
use socialdevs_platform::ApiError;
use socialdevs_posts::http::{page_response, PostPage};
use socialdevs_posts::model::Post;
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;
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
    /// Events, for the live stream.
    pub events: Arc<dyn EventBus>,
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
/// named `post` whose data is a `post`. Browsers' EventSource may pass `?access_token=`.
#[utoipa::path(get, path = "/api/v1/timeline/home/stream", tag = TIMELINE_TAG,
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "Events named `post`"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn home_stream(
    State(state): State<TimelineState>,
    caller: AuthUser,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let mut following: HashSet<Uuid> = state
        .graph
        .following_ids(caller.id)
        .await?
        .into_iter()
        .collect();
    let mut events = state.events.subscribe();
    let graph = state.graph.clone();
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
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "home stream lagged; some live posts skipped");
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            match event.kind.as_str() {
                "dev.socialdevs.user.followed.v1" | "dev.socialdevs.user.unfollowed.v1"
                    if event.subject == me.to_string() =>
                {
                    let span = events::consumer_span(&event, "timeline.home_stream");
                    if let Ok(ids) = graph.following_ids(me).instrument(span).await {
                        following = ids.into_iter().collect();
                    }
                }
                "dev.socialdevs.post.created.v1" => {
                    let Ok(mut post) = serde_json::from_value::<Post>(event.data.clone()) else {
                        continue;
                    };
                    if post.author.id != me && !following.contains(&post.author.id) {
                        continue;
                    }
                    post.liked_by_me = false;
                    // Only delivered posts get a span: a stream skips most events.
                    let span = events::consumer_span(&event, "timeline.home_stream");
                    if let Ok(json) = span.in_scope(|| serde_json::to_string(&post)) {
                        yield Ok(Event::default().event("post").id(post.id.to_string()).data(json));
                    }
                }
                _ => {}
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
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
