//! `/internal/v1/...`: what other SocialDevs services ask the posts service when they run in
//! other processes. Not part of the public API: the edge does not route `/internal`, and
//! network policies admit only the platform's own pods.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::{Deserialize, Serialize};
use socialdevs_platform::error::ApiResult;
use socialdevs_platform::extract::{ApiJson, ApiQuery};
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::service::{OwnAfter, PostsService, TimelinePage};
use crate::SERVICE;

/// `?author=` of the count endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountQuery {
    /// The author.
    pub author: Uuid,
}

/// How many posts an author has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostCount {
    /// The count.
    pub count: i64,
}

/// Most posts one timeline page request may name.
pub const MAX_PAGE_IDS: usize = 200;
/// Most authors one recent-entries request may name (the caller sends chunks).
pub const MAX_RECENT_AUTHORS: usize = 500;
/// Most entries one recent-entries request returns.
pub const MAX_RECENT_LIMIT: u32 = 2_000;

/// Posts by id for a home timeline page, and the viewer's own newer ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelinePageRequest {
    /// The page's post ids.
    pub ids: Vec<Uuid>,
    /// Who is looking.
    pub viewer: Uuid,
    /// The viewer's own posts to add (first page only).
    #[serde(default)]
    pub own_after: Option<OwnAfter>,
}

/// The newest posts of some authors, for a timeline rebuild.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecentRequest {
    /// The authors (at most [`MAX_RECENT_AUTHORS`]).
    pub authors: Vec<Uuid>,
    /// How many entries (at most [`MAX_RECENT_LIMIT`]).
    pub limit: u32,
}

/// A post id and its author.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RecentEntry {
    /// The post.
    pub post_id: Uuid,
    /// Its author.
    pub author_id: Uuid,
}

/// The newest posts of the authors, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecentEntries {
    /// Entries.
    pub entries: Vec<RecentEntry>,
}

/// The internal routes of the posts service.
pub fn router(service: PostsService) -> Router {
    Router::new()
        .route("/internal/v1/posts/count", get(count))
        .route("/internal/v1/posts/timeline-page", post(timeline_page))
        .route("/internal/v1/posts/recent", post(recent))
        .route_layer(middleware::from_fn_with_state(
            SERVICE,
            socialdevs_platform::metrics::track,
        ))
        .with_state(service)
}

async fn count(
    State(service): State<PostsService>,
    ApiQuery(query): ApiQuery<CountQuery>,
) -> ApiResult<Json<PostCount>> {
    Ok(Json(PostCount {
        count: service.count_by_author(query.author).await?,
    }))
}

async fn timeline_page(
    State(service): State<PostsService>,
    ApiJson(request): ApiJson<TimelinePageRequest>,
) -> ApiResult<Json<TimelinePage>> {
    if request.ids.len() > MAX_PAGE_IDS {
        return Err(ApiError::invalid(
            "ids",
            format!("at most {MAX_PAGE_IDS} posts"),
        ));
    }
    if request.own_after.is_some_and(|own| own.limit > 100) {
        return Err(ApiError::invalid("own_after.limit", "at most 100"));
    }
    Ok(Json(
        service
            .timeline_page(request.ids, request.viewer, request.own_after)
            .await?,
    ))
}

async fn recent(
    State(service): State<PostsService>,
    ApiJson(request): ApiJson<RecentRequest>,
) -> ApiResult<Json<RecentEntries>> {
    if request.authors.len() > MAX_RECENT_AUTHORS {
        return Err(ApiError::invalid(
            "authors",
            format!("at most {MAX_RECENT_AUTHORS} authors per request"),
        ));
    }
    if !(1..=MAX_RECENT_LIMIT).contains(&request.limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("between 1 and {MAX_RECENT_LIMIT}"),
        ));
    }
    let entries = service
        .recent_entries(request.authors, request.limit)
        .await?
        .into_iter()
        .map(|(post_id, author_id)| RecentEntry { post_id, author_id })
        .collect();
    Ok(Json(RecentEntries { entries }))
}
