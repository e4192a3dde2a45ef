//! The OpenAPI 3.1 document: every service's operations in one frame. Every process serves
//! the whole document, whichever services it runs, so the edge can route it anywhere.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
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

/// The platform-wide document: the frame, then every registry entry's operations, each with
/// the errors every operation of its kind can answer.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for entry in crate::registry::ENTRIES {
        doc.merge(entry.openapi());
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in [
            ("GET", item.get.as_mut()),
            ("PUT", item.put.as_mut()),
            ("POST", item.post.as_mut()),
            ("DELETE", item.delete.as_mut()),
            ("PATCH", item.patch.as_mut()),
        ] {
            if let Some(operation) = operation {
                add_common_errors(method, path, operation);
            }
        }
    }
    doc
}

/// Documents the problem answers the platform gives any operation of a kind, unless the
/// operation already says more about them: a JSON body that is not JSON (400), too large
/// (413), of another content type (415) or without the fields needed (422); query or header
/// parameters out of range, a bad cursor or event id (422); a missing or expired token (401);
/// sign-up and sign-in beyond the rate limit (429); a database or service this one needs
/// being down (503, with `Retry-After`).
fn add_common_errors(method: &str, path: &str, operation: &mut Operation) {
    let mut errors: Vec<(u16, &str)> = Vec::new();
    if operation.request_body.is_some() {
        errors.push((400, "The body is not valid JSON for this operation"));
        errors.push((413, "The body is larger than the limit"));
        errors.push((415, "The body is not `application/json`"));
        errors.push((
            422,
            "A field is missing, of the wrong type or invalid (named in `errors`)",
        ));
    }
    let has_parameters = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    if has_parameters {
        errors.push((
            422,
            "A query or header parameter is invalid or out of range (a cursor or event id we \
             did not give, a limit outside 1..100)",
        ));
    }
    if operation.security.is_some() {
        errors.push((401, "Missing, invalid or expired access token"));
    }
    if method == "POST" && path.starts_with("/api/v1/auth/") && !path.ends_with("/logout") {
        errors.push((
            429,
            "Too many sign-ups or sign-ins from this client; see `Retry-After`",
        ));
    }
    errors.push((
        503,
        "A database or service it needs is unavailable; see `Retry-After`",
    ));
    for (status, description) in errors {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/problem+json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}
