//! HTTP routes of the notifications service: `/api/v1/notifications/*`.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::Json;
use futures::Stream;
use serde::{Deserialize, Serialize};
pub use socialdevs_api::requests::MarkRead;
use socialdevs_events::envelope;
use socialdevs_events::hub::LiveHub;
use socialdevs_events::types::NotificationCreatedV1;
use socialdevs_platform::auth::{AuthUser, TokenVerifier};
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::ApiQuery;
use socialdevs_platform::pagination::{page_response, PageParams};
use socialdevs_platform::shutdown::Shutdown;
use socialdevs_platform::streams::{last_event_id, token_deadline, OpenStreams, KEEP_ALIVE};
use socialdevs_platform::ApiError;
use tracing::Instrument;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::model::{Notification, NotificationPage};
use crate::service::NotificationsService;
use crate::SERVICE;

socialdevs_platform::route_state! {
    /// State of the notifications routes: its parts behind one `Arc`.
    pub struct NotificationsState(NotificationsParts);
}

/// What the notifications routes share.
pub struct NotificationsParts {
    /// The rules.
    pub service: NotificationsService,
    /// New notifications (fed by this process's live consumer), for the live streams.
    pub live: LiveHub,
    /// Bounds on open live streams.
    pub streams: OpenStreams,
    /// Ends live streams when the process stops.
    pub shutdown: Shutdown,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
}

/// OpenAPI tag of the notifications routes.
pub const NOTIFICATIONS_TAG: &str = "notifications";

/// How many notifications are unread.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnreadCount {
    /// Unread notifications.
    pub count: i64,
}

/// The caller's notifications, newest first: someone followed them, liked their post,
/// mentioned them or replied to them.
#[utoipa::path(get, path = "/api/v1/notifications", tag = NOTIFICATIONS_TAG, params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<NotificationsState>,
    caller: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = state.service.list(caller.id, &params).await?;
    Ok(page_response(&uri, page))
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/unread_count", tag = NOTIFICATIONS_TAG,
    security(("bearer" = [])),
    responses((status = 200, body = UnreadCount),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn unread_count(
    State(state): State<NotificationsState>,
    caller: AuthUser,
) -> ApiResult<Json<UnreadCount>> {
    Ok(Json(UnreadCount {
        count: state.service.unread_count(caller.id).await?,
    }))
}

/// Marks the caller's notifications read: all of them, or `up_to` and every older one. The
/// body may be empty.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = NOTIFICATIONS_TAG,
    request_body(content = Option<MarkRead>, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 204, description = "Marked read"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn mark_read(
    State(state): State<NotificationsState>,
    caller: AuthUser,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: MarkRead = if body.iter().all(u8::is_ascii_whitespace) {
        MarkRead::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "The body must be {{}} or {{\"up_to\": \"<notification id>\"}}: {e}"
            ))
        })?
    };
    state.service.mark_read(caller.id, request.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Live stream (`text/event-stream`) of the caller's new notifications: events named
/// `notification` whose data is a `notification`, with its id as event id. Reconnecting with
/// `Last-Event-ID` first replays the newer notifications (up to 100). A stream that falls too
/// far behind gets `resync` and ends (reload, then reconnect); one whose access token expires
/// gets `expired` and ends (reconnect with a fresh token). At most a few streams per user and
/// a bounded number per process: beyond, 503 with `Retry-After`. Browsers' EventSource may
/// pass `?access_token=`.
#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = NOTIFICATIONS_TAG,
    security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The last notification id received, to resume")),
    responses((status = 200, content_type = "text/event-stream", description = "Events named `notification`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "Too many open streams")))]
#[tracing::instrument(skip_all)]
async fn stream(
    State(state): State<NotificationsState>,
    caller: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>> {
    let slot = state.streams.open(caller.id)?;
    let last_seen = last_event_id(&headers)?;
    // Subscribe before reading anything, so no notification falls between the two.
    let mut events = state.live.subscribe();
    let missed = match last_seen {
        None => Vec::new(),
        Some(last) => state.service.newer(caller.id, last).await?,
    };
    let expiry = token_deadline(&caller);
    let shutdown = state.shutdown.clone();
    let service = state.service.clone();
    let me = caller.id;
    let stream = async_stream::stream! {
        let _slot = slot;
        yield Ok(Event::default().event("ready").data("{}"));
        let mut shown: HashSet<Uuid> = HashSet::new();
        for item in missed {
            shown.insert(item.id);
            if let Some(event) = sse_event(&item) {
                yield Ok(event);
            }
        }
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            let event = match events.next_until(stop.as_mut(), expiry).await {
                Ok(event) => event,
                Err(end) => {
                    if let Some(farewell) = end.farewell() {
                        yield Ok(Event::default().event(farewell).data("{}"));
                    }
                    break;
                }
            };
            let Some(Ok(created)) = event.decode::<NotificationCreatedV1>() else {
                continue;
            };
            if created.recipient_id != me || !shown.insert(created.notification_id) {
                continue;
            }
            let span = envelope::consumer_span(&event, "notifications.stream");
            match service.one(me, created.notification_id).instrument(span).await {
                Ok(Some(item)) => {
                    if let Some(event) = sse_event(&item) {
                        yield Ok(event);
                    }
                }
                // Gone already (its post was deleted): nothing to show.
                Ok(None) => {}
                Err(err) => {
                    // The client reloads the list and reconnects, as after a lag.
                    tracing::warn!(error = %err, "a live notification could not be shown");
                    yield Ok(Event::default().event("resync").data("{}"));
                    break;
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn sse_event(item: &Notification) -> Option<Event> {
    let json = serde_json::to_string(item).ok()?;
    Some(
        Event::default()
            .event("notification")
            .id(item.id.to_string())
            .data(json),
    )
}

/// The notifications service's public routes, with their OpenAPI description.
pub fn router(state: NotificationsState) -> OpenApiRouter {
    socialdevs_platform::metrics::tracked(SERVICE, routes(), state)
}

/// The service's public operations, for the platform-wide OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn routes() -> OpenApiRouter<NotificationsState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(stream))
}
