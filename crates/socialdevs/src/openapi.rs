//! The OpenAPI 3.1 document: every service's operations in one frame. Every process serves
//! the whole document, whichever services it runs, so the edge can route it anywhere.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's frame: title, description, security scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SocialDevs API",
        description = "Micro-blogging for developers. Errors are RFC 9457 `application/problem+json`; \
            pages are `{items, next_cursor}` with `?limit=1..100&cursor=`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign up, sign in, tokens"),
        (name = "users", description = "Profiles and the follow graph"),
        (name = "posts", description = "Posts, replies, likes, tags"),
        (name = "timeline", description = "Home timeline"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
    }
}

/// The platform-wide document: the frame, then every registry entry's operations.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for entry in crate::registry::ENTRIES {
        doc.merge(entry.openapi());
    }
    doc
}
