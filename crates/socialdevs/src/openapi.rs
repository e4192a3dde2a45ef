//! The OpenAPI 3.1 document: every service's operations in one frame. Every process serves
//! the whole document, whichever services it runs, so the edge can route it anywhere.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
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
        for operation in [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            add_common_errors(path, operation);
        }
    }
    doc
}

/// Documents the problem answers the platform gives any operation of a kind, unless the
/// operation already says more about them: a JSON body that is not JSON (400), too large
/// (413), of another content type (415) or without the fields needed (422); query or header
/// parameters out of range, a bad cursor or event id (422); a missing or expired token (401);
/// beyond a rate limit (429, with `Retry-After` and `RateLimit-*`); a database or service this one needs
/// being down (503, with `Retry-After`).
/// The headers of a 429.
const RATE_LIMIT_HEADERS: [(&str, &str); 5] = [
    ("Retry-After", "Seconds until one more request is allowed"),
    (
        "RateLimit-Limit",
        "Requests per window (and the largest burst)",
    ),
    ("RateLimit-Remaining", "Requests left now (0)"),
    ("RateLimit-Reset", "Seconds until the whole budget is back"),
    ("RateLimit-Policy", "`<limit>;w=<window seconds>`"),
];

fn add_common_errors(path: &str, operation: &mut Operation) {
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
    if path.starts_with("/api/") {
        errors.push((
            429,
            "Over a rate limit of this kind of request, this account or this client; see \
             `Retry-After` and the `RateLimit-*` headers",
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
                let mut response = ResponseBuilder::new().description(description).content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
                if status == 429 {
                    for (name, description) in RATE_LIMIT_HEADERS {
                        response = response.header(
                            name,
                            HeaderBuilder::new()
                                .schema(ObjectBuilder::new().schema_type(
                                    if name == "RateLimit-Policy" {
                                        Type::String
                                    } else {
                                        Type::Integer
                                    },
                                ))
                                .description(Some(description))
                                .build(),
                        );
                    }
                }
                RefOr::T(response.build())
            });
    }
}
