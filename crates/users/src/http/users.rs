//! `/api/v1/users/*`: search, profiles, settings, follows.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
pub use socialdevs_api::requests::UpdateMeBody;
use socialdevs_api::UserPage;
use socialdevs_platform::auth::{AuthUser, MaybeAuthUser};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::{ApiJson, ApiPath, ApiQuery};
use socialdevs_platform::pagination::{page_response, PageParams};
use utoipa::IntoParams;

use super::{UsersState, USERS_TAG};
use crate::model::{Profile, User};

/// Query of `GET /api/v1/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a username or display name; all users when absent.
    q: Option<String>,
    /// Page size, 1 to 100.
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

/// Query of `GET /api/v1/users/suggestions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionsQuery {
    /// How many, 1 to 50 (default 5).
    limit: Option<u32>,
}

/// Search users by username or display name.
#[utoipa::path(get, path = "/api/v1/users", tag = USERS_TAG, params(SearchQuery),
    responses((status = 200, body = UserPage), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn search(
    State(state): State<UsersState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> ApiResult<Response> {
    let params = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(page_response(
        &uri,
        state.service.search(query.q.as_deref(), &params).await?,
    ))
}

/// Who to follow: popular users the caller does not follow yet.
#[utoipa::path(get, path = "/api/v1/users/suggestions", tag = USERS_TAG, params(SuggestionsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<User>), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn suggestions(
    State(state): State<UsersState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<SuggestionsQuery>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(
        state
            .service
            .suggestions(caller.id, query.limit.unwrap_or(5))
            .await?,
    ))
}

/// The caller's own profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = USERS_TAG, security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn my_profile(
    State(state): State<UsersState>,
    caller: AuthUser,
) -> ApiResult<Json<Profile>> {
    let me = state.service.user(caller.id).await?;
    Ok(Json(
        state.service.profile(&me.username, Some(caller.id)).await?,
    ))
}

/// Update the caller's display name and/or bio.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = USERS_TAG, request_body = UpdateMeBody,
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn update_me(
    State(state): State<UsersState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<UpdateMeBody>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        state
            .service
            .update_profile(caller.id, body.display_name.as_deref(), body.bio.as_deref())
            .await?,
    ))
}

/// A user's profile with counts.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = USERS_TAG,
    params(("username" = String, Path, description = "Username, any case")),
    responses((status = 200, body = Profile), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn profile(
    State(state): State<UsersState>,
    caller: MaybeAuthUser,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<Profile>> {
    Ok(Json(state.service.profile(&username, caller.id()).await?))
}

/// Follow a user (idempotent).
#[utoipa::path(put, path = "/api/v1/users/{username}/follow", tag = USERS_TAG,
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Following"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Cannot follow yourself", body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn follow(
    State(state): State<UsersState>,
    caller: AuthUser,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.service.follow(caller.id, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unfollow a user (idempotent).
#[utoipa::path(delete, path = "/api/v1/users/{username}/follow", tag = USERS_TAG,
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Not following"), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn unfollow(
    State(state): State<UsersState>,
    caller: AuthUser,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.service.unfollow(caller.id, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows a user, newest first.
#[utoipa::path(get, path = "/api/v1/users/{username}/followers", tag = USERS_TAG,
    params(("username" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn followers(
    State(state): State<UsersState>,
    OriginalUri(uri): OriginalUri,
    ApiPath(username): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    Ok(page_response(
        &uri,
        state.service.followers(&username, &params).await?,
    ))
}

/// Whom a user follows, newest first.
#[utoipa::path(get, path = "/api/v1/users/{username}/following", tag = USERS_TAG,
    params(("username" = String, Path), PageParams),
    responses((status = 200, body = UserPage), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn following(
    State(state): State<UsersState>,
    OriginalUri(uri): OriginalUri,
    ApiPath(username): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    Ok(page_response(
        &uri,
        state.service.following(&username, &params).await?,
    ))
}
