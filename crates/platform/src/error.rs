//! RFC 9457 problem details: the one error shape every SocialDevs endpoint answers with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Base of the stable, machine-readable problem `type` URIs.
pub const PROBLEM_BASE: &str = "https://socialdevs.dev/problems/";

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One failing field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field name as sent by the client (`text`, `username`, `query.limit`, ...).
    pub field: String,
    /// What is wrong with it, for people.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem; clients switch on its last segment.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened, for people.
    pub detail: String,
    /// The failing fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Everything an endpoint can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One or more fields are invalid (422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this route (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state, e.g. a taken username (409).
    #[error("{detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// The fields involved.
        errors: Vec<FieldError>,
    },
    /// The body is larger than allowed (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body has the wrong content type (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests (429).
    #[error("too many requests")]
    RateLimited {
        /// Seconds until the client may retry.
        retry_after_secs: u64,
        /// The budget that ran out, for the `RateLimit-*` headers.
        budget: Option<Budget>,
    },
    /// A dependency (database, another service) is unavailable (503).
    #[error("{detail}")]
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// Seconds until the client may retry.
        retry_after_secs: u64,
    },
    /// The request took too long (504 from our side, e.g. a slow dependency).
    #[error("the request timed out")]
    Timeout,
    /// A bug or an unexpected failure; logged, never shown (500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A rate limit budget, as the `RateLimit-*` response headers tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests per window (and the largest burst).
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// Seconds until the budget is whole again.
    pub reset_secs: u64,
}

impl Budget {
    /// Writes `RateLimit-Limit`, `-Remaining`, `-Reset` and `-Policy`.
    pub fn write_headers(&self, headers: &mut axum::http::HeaderMap, remaining: u32) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
        if let Ok(policy) = HeaderValue::from_str(&format!("{};w={}", self.limit, self.window_secs))
        {
            headers.insert("ratelimit-policy", policy);
        }
    }
}

impl ApiError {
    /// A validation error on one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A conflict on one field.
    pub fn conflict(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Conflict {
            errors: vec![FieldError::new(field, detail.clone())],
            detail,
        }
    }

    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable last segment of the problem `type`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Your request has invalid fields",
            Self::BadRequest(_) => "Bad request",
            Self::Unauthorized(_) => "Authentication required",
            Self::Forbidden(_) => "Not allowed",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::RateLimited { .. } => "Too many requests",
            Self::Unavailable { .. } => "Service unavailable",
            Self::Timeout => "Timed out",
            Self::Internal(_) => "Internal error",
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (detail, errors) = match self {
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                (
                    format!("Invalid fields: {}.", fields.join(", ")),
                    errors.clone(),
                )
            }
            Self::Conflict { detail, errors } => (detail.clone(), errors.clone()),
            Self::RateLimited {
                retry_after_secs, ..
            } => (
                format!("Too many requests; retry in {retry_after_secs} s."),
                vec![],
            ),
            Self::Internal(_) => (
                "Something went wrong on our side. It has been logged.".into(),
                vec![],
            ),
            other => (other.to_string(), vec![]),
        };
        Problem {
            kind: format!("{PROBLEM_BASE}{}", self.code()),
            title: self.title().into(),
            status: self.status().as_u16(),
            detail,
            errors,
        }
    }
}

/// Stored on error responses so the request-logging middleware can log the cause once.
#[derive(Debug, Clone)]
pub struct LoggedCause(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Self::RateLimited {
            budget: Some(budget),
            ..
        } = &self
        {
            budget.write_headers(headers, 0);
        }
        match &self {
            Self::RateLimited {
                retry_after_secs, ..
            }
            | Self::Unavailable {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if let Self::Internal(cause) = &self {
            response
                .extensions_mut()
                .insert(LoggedCause(format!("{cause:#}")));
        }
        response
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_lists_fields() {
        let p = ApiError::Validation(vec![
            FieldError::new("username", "too short"),
            FieldError::new("email", "bad"),
        ])
        .problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.kind, "https://socialdevs.dev/problems/validation");
        assert_eq!(p.errors.len(), 2);
        assert!(p.detail.contains("username, email"));
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = ApiError::Internal(anyhow::anyhow!("db password is hunter2"));
        let p = err.problem();
        assert!(!p.detail.contains("hunter2"));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<LoggedCause>().is_some());
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 7,
            budget: Some(Budget {
                limit: 25,
                window_secs: 300,
                reset_secs: 290,
            }),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers();
        assert_eq!(
            headers.get(header::RETRY_AFTER),
            Some(&HeaderValue::from(7u64))
        );
        assert_eq!(headers["ratelimit-limit"], "25");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert_eq!(headers["ratelimit-reset"], "290");
        assert_eq!(headers["ratelimit-policy"], "25;w=300");
    }
}
