//! Cursor pagination: `?limit=1..100&cursor=<opaque>` in, `{items, next_cursor}` out.
//!
//! Cursors are opaque to clients (base64url JSON of the last key seen, coded by
//! `socialdevs_api::cursor`). Lists are ordered by keys that only grow (UUIDv7 ids), so a page
//! boundary never moves when new rows arrive.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The raw `limit` and `cursor` query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Validated page parameters.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    /// How many items to return.
    pub limit: u32,
    /// Return items strictly after this key (in list order).
    pub after: Option<K>,
}

impl PageParams {
    /// Validates the limit and decodes the cursor into the list's key type.
    pub fn parse<K: DeserializeOwned>(&self) -> Result<PageRequest<K>, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(decode_cursor(cursor)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// Encodes a list key as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    socialdevs_api::cursor::encode(key)
}

/// Decodes an opaque cursor; anything we did not produce is a 400.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    socialdevs_api::cursor::decode(cursor)
        .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this list produced"))
}

/// A page of items.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched items: the extra one only tells that
    /// another page exists.
    pub fn from_overfetch<K: Serialize>(
        mut items: Vec<T>,
        limit: u32,
        key_of: impl Fn(&T) -> K,
    ) -> Self {
        let limit = limit as usize;
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if has_more {
            items.last().map(|last| encode_cursor(&key_of(last)))
        } else {
            None
        };
        Self { items, next_cursor }
    }

    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// A page as JSON plus its RFC 8288 `Link: <...>; rel="next"` header (when there is a next
/// page), for the request at `uri`.
pub fn page_response<T: Serialize>(
    uri: &axum::http::Uri,
    page: Page<T>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let link = next_link(uri.path(), uri.query(), page.next_cursor.as_deref());
    // Sized for the page up front: axum's `Json` starts at 128 bytes, and a page of 20 posts
    // (about 8 KiB) would be copied six times as it grows.
    let mut body = Vec::with_capacity(128 + page.items.len() * 512);
    let mut response = match serde_json::to_writer(&mut body, &page) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // What cannot be written is axum's to answer, as any other JSON body.
        Err(_) => axum::Json(page).into_response(),
    };
    if let Some(value) = link.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, value);
    }
    response
}

/// Builds the RFC 8288 `Link: <...>; rel="next"` header value for a page, if there is a next one.
pub fn next_link(path: &str, query: Option<&str>, next_cursor: Option<&str>) -> Option<String> {
    let next = next_cursor?;
    let mut pairs: Vec<String> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("cursor={next}"));
    Some(format!("<{path}?{}>; rel=\"next\"", pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_roundtrip_and_garbage_is_rejected() {
        let id = uuid::Uuid::now_v7();
        let c = encode_cursor(&id);
        assert_eq!(decode_cursor::<uuid::Uuid>(&c).unwrap(), id);
        assert!(decode_cursor::<uuid::Uuid>("!!!").is_err());
        assert!(decode_cursor::<uuid::Uuid>(&encode_cursor(&"x")).is_err());
    }

    #[test]
    fn limit_bounds() {
        for (limit, ok) in [(0, false), (1, true), (100, true), (101, false)] {
            let p = PageParams {
                limit: Some(limit),
                cursor: None,
            };
            assert_eq!(p.parse::<uuid::Uuid>().is_ok(), ok, "{limit}");
        }
    }

    #[test]
    fn overfetch_sets_cursor_only_when_more() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(
            decode_cursor::<i32>(page.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last = Page::from_overfetch(vec![1, 2], 2, |n| *n);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn link_header_replaces_cursor() {
        assert_eq!(
            next_link("/api/v1/posts", Some("limit=5&cursor=old"), Some("new")).as_deref(),
            Some("</api/v1/posts?limit=5&cursor=new>; rel=\"next\"")
        );
        assert!(next_link("/x", None, None).is_none());
    }

    #[tokio::test]
    async fn a_page_response_is_its_json_with_a_link_to_the_next() {
        let page = Page::from_overfetch(vec!["a", "b", "c"], 2, |s| (*s).to_owned());
        let uri: axum::http::Uri = "/api/v1/things?limit=2".parse().unwrap();
        let response = page_response(&uri, page.clone());
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(
            headers[axum::http::header::CONTENT_TYPE],
            "application/json"
        );
        let cursor = page.next_cursor.clone().unwrap();
        assert_eq!(
            headers[axum::http::header::LINK],
            format!("</api/v1/things?limit=2&cursor={cursor}>; rel=\"next\"").as_str()
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let back: Page<String> = serde_json::from_slice(&body).unwrap();
        assert_eq!(back.items, ["a", "b"]);
        assert_eq!(back.next_cursor, page.next_cursor);
    }
}
