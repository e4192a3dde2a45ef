//! `/api/v1/auth/*`: register (and confirm the e-mail address), login, refresh, logout, sign
//! out everywhere, change password, me.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
pub use socialdevs_api::requests::{
    ChangePasswordBody, LoginBody, RefreshBody, RegisterBody, VerifyEmailBody,
};
use socialdevs_platform::auth::AuthUser;
use socialdevs_platform::error::{ApiResult, Problem};
use socialdevs_platform::extract::ApiJson;
use socialdevs_platform::ratelimit::{account_key, Class, RateLimits};

use super::{UsersState, AUTH_TAG};
use crate::model::User;
use crate::service::{token_family, AuthSession, Registered, Registration, SignupPending};

/// Create an account and sign in (201). When the server confirms e-mail addresses
/// (`SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION`), it mails a link instead and answers 202, the same
/// whether or not the address already has an account (its owner is told by mail); the link
/// leads to `POST /api/v1/auth/verify-email`.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = AUTH_TAG, request_body = RegisterBody,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthSession),
        (status = 202, description = "Confirmation link mailed (e-mail confirmation on)", body = SignupPending),
        (status = 409, description = "Username taken (e-mail taken too, when addresses are not confirmed)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The confirmation mail could not be sent, or a database or service it needs is unavailable; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    State(state): State<UsersState>,
    limits: Option<Extension<RateLimits>>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<Response> {
    // Mail bombing: a budget of confirmation mails per address, whoever asks.
    if let (Some(Extension(limits)), true) = (limits, state.service.verifies_email()) {
        limits
            .enforce(Class::SignupEmail, &account_key(&body.email))
            .await?;
    }
    let registered = state
        .service
        .register(Registration {
            username: body.username,
            email: body.email,
            password: body.password,
            display_name: body.display_name,
        })
        .await?;
    Ok(match registered {
        Registered::SignedIn(session) => (StatusCode::CREATED, Json(session)).into_response(),
        Registered::ConfirmationSent(pending) => {
            (StatusCode::ACCEPTED, Json(pending)).into_response()
        }
    })
}

/// Confirm the e-mail address of a sign-up with the token its mailed link carries: the account
/// is created and signed in. A link works once, until it expires.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = AUTH_TAG, request_body = VerifyEmailBody,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthSession),
        (status = 409, description = "The username or e-mail was taken since the sign-up", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown, used or expired token", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    State(state): State<UsersState>,
    ApiJson(body): ApiJson<VerifyEmailBody>,
) -> ApiResult<(StatusCode, Json<AuthSession>)> {
    let session = state.service.confirm_email(&body.token).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Sign in with username or e-mail.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = AUTH_TAG, request_body = LoginBody,
    responses(
        (status = 200, body = AuthSession),
        (status = 401, description = "Wrong login or password", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<UsersState>,
    limits: Option<Extension<RateLimits>>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<AuthSession>> {
    // Guessing one account's password from many addresses: a budget per account name,
    // whether or not it exists (the answer must not tell).
    if let Some(Extension(limits)) = limits {
        limits
            .enforce(Class::LoginAccount, &account_key(&body.login))
            .await?;
    }
    Ok(Json(
        state.service.login(&body.login, &body.password).await?,
    ))
}

/// Exchange a refresh token for a new pair. The old refresh token stops working; presenting
/// it again signs out every session rotated from it.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = AUTH_TAG, request_body = RefreshBody,
    responses(
        (status = 200, body = AuthSession),
        (status = 401, description = "Invalid, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(state): State<UsersState>,
    limits: Option<Extension<RateLimits>>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Json<AuthSession>> {
    // A budget per sign-in, from any address: a leaked token cannot be hammered.
    if let (Some(Extension(limits)), Some(family)) = (limits, token_family(&body.refresh_token)) {
        limits
            .enforce(Class::RefreshFamily, &family.to_string())
            .await?;
    }
    Ok(Json(state.service.refresh(&body.refresh_token).await?))
}

/// Sign out: the refresh token and every token rotated from the same sign-in stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = AUTH_TAG, request_body = RefreshBody,
    responses((status = 204, description = "Signed out")))]
#[tracing::instrument(skip_all)]
pub async fn logout(
    State(state): State<UsersState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<StatusCode> {
    state.service.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out everywhere: every refresh token of the caller stops working (each device signs
/// in again once its access token, valid for at most 15 minutes, expires).
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = AUTH_TAG,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn logout_all(
    State(state): State<UsersState>,
    caller: AuthUser,
) -> ApiResult<StatusCode> {
    state.service.sign_out_everywhere(caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password: every session is signed out (every refresh token stops working) and
/// the answer is a new session for the caller.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = AUTH_TAG, request_body = ChangePasswordBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuthSession),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password, or the new one breaks the rules", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn change_password(
    State(state): State<UsersState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> ApiResult<Json<AuthSession>> {
    Ok(Json(
        state
            .service
            .change_password(caller.id, &body.current_password, &body.new_password)
            .await?,
    ))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = AUTH_TAG,
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn me(State(state): State<UsersState>, caller: AuthUser) -> ApiResult<Json<User>> {
    Ok(Json(state.service.user(caller.id).await?))
}
