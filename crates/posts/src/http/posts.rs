//! `/api/v1/posts/*`: compose, read, list, delete, like.

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
pub use socialdevs_api::requests::ComposeBody;
pub use socialdevs_api::PostPage;
use socialdevs_platform::auth::{AuthUser, MaybeAuthUser};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::{ApiJson, ApiPath, ApiQuery};
use socialdevs_platform::pagination::PageParams;
use socialdevs_platform::ApiError;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{PostsState, POSTS_TAG};
use crate::model::Post;
use crate::service::Compose;

/// Query of `GET /api/v1/posts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this author's posts (username).
    author: Option<String>,
    /// Only posts with this hashtag (with or without `#`).
    tag: Option<String>,
    /// Page size, 1 to 100.
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

pub use socialdevs_platform::pagination::page_response;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Publish a post or a reply. Send an `Idempotency-Key` header to make retries safe: the same
/// key and body return the first post and create nothing new.
#[utoipa::path(post, path = "/api/v1/posts", tag = POSTS_TAG, request_body = ComposeBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    security(("bearer" = [])),
    responses(
        (status = 201, body = Post),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The post an earlier request with this Idempotency-Key created has been deleted since", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid text or reply_to", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<PostsState>,
    caller: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ComposeBody>,
) -> ApiResult<Response> {
    let idempotency_key = match headers.get(&IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::invalid("Idempotency-Key", "must be visible ASCII characters")
                })?
                .to_owned(),
        ),
    };
    let composed = state
        .service
        .create(
            caller.id,
            Compose {
                text: body.text,
                reply_to: body.reply_to,
                idempotency_key,
            },
        )
        .await?;
    let location = format!("/api/v1/posts/{}", composed.post.id);
    let mut response = (StatusCode::CREATED, Json(composed.post)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if composed.replayed {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Explore (everyone's posts), one author's posts, or one hashtag's, newest first.
#[utoipa::path(get, path = "/api/v1/posts", tag = POSTS_TAG, params(ListQuery),
    responses(
        (status = 200, body = PostPage),
        (status = 404, description = "Unknown author", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<PostsState>,
    caller: MaybeAuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let params = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = state
        .service
        .search(
            query.author.as_deref(),
            query.tag.as_deref(),
            caller.id(),
            &params,
        )
        .await?;
    Ok(page_response(&uri, page))
}

/// One post.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = POSTS_TAG,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Post), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn get_post(
    State(state): State<PostsState>,
    caller: MaybeAuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Post>> {
    Ok(Json(state.service.get(id, caller.id()).await?))
}

/// Delete a post: only its author may.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = POSTS_TAG,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the author", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn delete_post(
    State(state): State<PostsState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.delete(id, caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Direct replies to a post, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/replies", tag = POSTS_TAG,
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = PostPage), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn replies(
    State(state): State<PostsState>,
    caller: MaybeAuthUser,
    OriginalUri(uri): OriginalUri,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = state.service.replies(id, caller.id(), &params).await?;
    Ok(page_response(&uri, page))
}

/// Like a post (idempotent).
#[utoipa::path(put, path = "/api/v1/posts/{id}/like", tag = POSTS_TAG,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Liked"), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn like(
    State(state): State<PostsState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.like(id, caller.id, &caller.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a like (idempotent).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/like", tag = POSTS_TAG,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Not liked"), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn unlike(
    State(state): State<PostsState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.unlike(id, caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
