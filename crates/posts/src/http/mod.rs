//! HTTP routes of the posts service: `/api/v1/posts/*`.

pub mod internal;
mod posts;

use socialdevs_platform::auth::TokenVerifier;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::PostsService;
use crate::SERVICE;

pub use posts::{page_response, PostPage};

socialdevs_platform::route_state! {
    /// State shared by the posts routes: its parts behind one `Arc`.
    pub struct PostsState(PostsParts);
}

/// What the posts routes share.
pub struct PostsParts {
    /// The rules.
    pub service: PostsService,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

/// OpenAPI tag of the posts routes.
pub const POSTS_TAG: &str = "posts";

/// The posts service's public routes, with their OpenAPI description.
pub fn router(state: PostsState) -> OpenApiRouter {
    socialdevs_platform::metrics::tracked(SERVICE, routes(), state)
}

/// The service's public operations, for the platform-wide OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn routes() -> OpenApiRouter<PostsState> {
    OpenApiRouter::new()
        .routes(routes!(posts::create, posts::list))
        .routes(routes!(posts::get_post, posts::delete_post))
        .routes(routes!(posts::replies))
        .routes(routes!(posts::like, posts::unlike))
}
