//! HTTP routes of the posts service: `/api/v1/posts/*`.

pub mod internal;
mod posts;

use axum::extract::FromRef;
use socialdevs_platform::auth::TokenVerifier;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::PostsService;
use crate::SERVICE;

pub use posts::{page_response, PostPage};

/// State shared by the posts routes.
#[derive(Clone)]
pub struct PostsState {
    /// The rules.
    pub service: PostsService,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

impl FromRef<PostsState> for TokenVerifier {
    fn from_ref(state: &PostsState) -> Self {
        state.verifier.clone()
    }
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
