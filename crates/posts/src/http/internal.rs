//! `/internal/v1/...`: what other SocialDevs services ask the posts service when they run in
//! other processes. Not part of the public API: the edge does not route `/internal`, and
//! network policies admit only the platform's own pods.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::{Deserialize, Serialize};
use socialdevs_platform::error::ApiResult;
use socialdevs_platform::extract::{ApiJson, ApiQuery};
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::model::{Post, PostFilter};
use crate::service::PostsService;
use crate::SERVICE;

/// Most authors one feed request may name.
pub const MAX_FEED_AUTHORS: usize = 5_000;

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

/// A page of posts by a set of authors, as one viewer sees them (the home timeline's read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedRequest {
    /// The authors.
    pub authors: Vec<Uuid>,
    /// Who is looking (for `liked_by_me`).
    pub viewer: Uuid,
    /// Page size, as in the public API.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The internal routes of the posts service.
pub fn router(service: PostsService) -> Router {
    Router::new()
        .route("/internal/v1/posts/count", get(count))
        .route("/internal/v1/posts/feed", post(feed))
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

async fn feed(
    State(service): State<PostsService>,
    ApiJson(request): ApiJson<FeedRequest>,
) -> ApiResult<Json<Page<Post>>> {
    if request.authors.len() > MAX_FEED_AUTHORS {
        return Err(ApiError::invalid(
            "authors",
            format!("at most {MAX_FEED_AUTHORS} authors"),
        ));
    }
    let params = PageParams {
        limit: request.limit,
        cursor: request.cursor,
    };
    Ok(Json(
        service
            .list(
                PostFilter::Authors(request.authors),
                Some(request.viewer),
                &params,
            )
            .await?,
    ))
}
