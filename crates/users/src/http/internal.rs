//! `/internal/v1/...`: what other SocialDevs services ask the users service when they run in
//! other processes. Not part of the public API: the edge does not route `/internal`, and
//! network policies admit only the platform's own pods.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::{Deserialize, Serialize};
use socialdevs_platform::error::ApiResult;
use socialdevs_platform::extract::{ApiJson, ApiPath, ApiQuery};
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::service::UsersService;
use crate::SERVICE;

/// Most ids or usernames one lookup may ask for.
pub const MAX_LOOKUP: usize = 500;

pub use socialdevs_api::internal::{UserLookup, Users};

/// Whom a user follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowingIds {
    /// Followee ids.
    pub ids: Vec<Uuid>,
}

/// `?limit=` of the followers endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowersQuery {
    /// At most this many ids (1 to 100,000).
    pub limit: u32,
}

/// The internal routes of the users service.
pub fn router(service: UsersService) -> Router {
    Router::new()
        .route("/internal/v1/users/lookup", post(lookup))
        .route("/internal/v1/users/{id}/following", get(following))
        .route("/internal/v1/users/{id}/followers", get(followers))
        .route_layer(middleware::from_fn_with_state(
            SERVICE,
            socialdevs_platform::metrics::track,
        ))
        .with_state(service)
}

async fn lookup(
    State(service): State<UsersService>,
    ApiJson(lookup): ApiJson<UserLookup>,
) -> ApiResult<Json<Users>> {
    if lookup.ids.len() + lookup.usernames.len() > MAX_LOOKUP {
        return Err(ApiError::invalid(
            "ids",
            format!("look up at most {MAX_LOOKUP} users at once"),
        ));
    }
    let mut users = service.users_by_ids(&lookup.ids).await?;
    users.extend(service.users_by_usernames(&lookup.usernames).await?);
    users.sort_by_key(|u| u.id);
    users.dedup_by_key(|u| u.id);
    Ok(Json(Users { users }))
}

async fn following(
    State(service): State<UsersService>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FollowingIds>> {
    Ok(Json(FollowingIds {
        ids: service.following_ids(id).await?,
    }))
}

async fn followers(
    State(service): State<UsersService>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<FollowersQuery>,
) -> ApiResult<Json<FollowingIds>> {
    if !(1..=100_000).contains(&query.limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100000"));
    }
    Ok(Json(FollowingIds {
        ids: service.follower_ids(id, query.limit).await?,
    }))
}
