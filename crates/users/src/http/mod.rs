//! HTTP routes of the users service: `/api/v1/auth/*` and `/api/v1/users/*`.

mod auth;
pub mod internal;
mod users;

use socialdevs_platform::auth::TokenVerifier;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::UsersService;
use crate::SERVICE;

socialdevs_platform::route_state! {
    /// State shared by the users routes: its parts behind one `Arc`.
    pub struct UsersState(UsersParts);
}

/// What the users routes share.
pub struct UsersParts {
    /// The rules.
    pub service: UsersService,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

/// OpenAPI tag of the auth routes.
pub const AUTH_TAG: &str = "auth";
/// OpenAPI tag of the users routes.
pub const USERS_TAG: &str = "users";

/// The users service's public routes, with their OpenAPI description.
pub fn router(state: UsersState) -> OpenApiRouter {
    socialdevs_platform::metrics::tracked(SERVICE, routes(), state)
}

/// The service's public operations, for the platform-wide OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn routes() -> OpenApiRouter<UsersState> {
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::me))
        .routes(routes!(users::search))
        .routes(routes!(users::suggestions))
        .routes(routes!(users::my_profile, users::update_me))
        .routes(routes!(users::profile))
        .routes(routes!(users::follow, users::unfollow))
        .routes(routes!(users::followers))
        .routes(routes!(users::following))
}
