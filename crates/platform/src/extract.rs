//! Extractors whose rejections are our problem+json, never axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Maximum JSON body size for API requests.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// JSON body extractor: checks the content type, the size and the shape, and names the
/// failing field when the shape is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

fn is_json_content_type(parts_headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = parts_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Turns a serde error at `path` into a field error.
fn field_error(path: &serde_path_to_error::Path, err: &serde_json::Error) -> FieldError {
    let field = path.to_string();
    let message = err.to_string();
    // serde reports missing fields at the parent path; name the field itself.
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(name) = rest.split('`').next() {
            let full = if field == "." {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
            return FieldError::new(full, "is required");
        }
    }
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    let field = if field == "." { "body".into() } else { field };
    FieldError::new(field, message)
}

/// Parses a JSON document into `T`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(ApiError::BadRequest(format!(
                    "The body is not valid JSON: {inner}."
                )))
            } else {
                Err(ApiError::Validation(vec![field_error(err.path(), inner)]))
            }
        }
    }
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "Send the body as JSON with `Content-Type: application/json`.".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("Could not read the body: {rejection}."))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Query-string extractor whose rejection is a validation problem naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_deserializer(query);
        match de {
            Ok(value) => Ok(ApiQuery(value)),
            Err(message) => Err(ApiError::Validation(vec![FieldError::new(
                "query", message,
            )])),
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, String> {
    // axum's Query uses serde_urlencoded; reuse it through axum to avoid a second parser.
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| "the query string is malformed".to_string())?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        let text = e.body_text();
        text.strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text)
            .to_string()
    })
}

/// Path extractor whose rejection is a 404 or 400 problem instead of plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| {
                ApiError::NotFound("No such resource: the id in the path is not valid.".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        username: String,
        age: u8,
    }

    #[test]
    fn names_missing_and_mistyped_fields() {
        match parse_json::<Body>(br#"{"age": 3}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "username"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<Body>(br#"{"username": "a", "age": "x"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "age"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_json::<Body>(b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
