//! Bodies of the public API's requests, as clients send them (before validation).
//!
//! Each is owned by the service whose handler takes it (that service validates every field
//! with the domain parsers), and lives here, in a crate without I/O, so that the fuzz targets
//! (`fuzz/`) deserialize the very types the handlers deserialize.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /api/v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    /// 3–30 letters, digits or `_`.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// 12–128 characters.
    pub password: String,
    /// Optional; defaults to the username.
    pub display_name: Option<String>,
}

/// Body of `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    /// Username or e-mail.
    pub login: String,
    /// Password.
    pub password: String,
}

/// Body of `POST /api/v1/auth/refresh` and `/logout`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

/// Body of `POST /api/v1/auth/password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    /// The password in use now.
    pub current_password: String,
    /// The new one: 12–128 characters, not the current one.
    pub new_password: String,
}

/// Body of `PATCH /api/v1/users/me`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeBody {
    /// New display name.
    pub display_name: Option<String>,
    /// New bio (empty string clears it).
    pub bio: Option<String>,
}

/// Body of `POST /api/v1/posts`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ComposeBody {
    /// 1 to 280 characters (grapheme clusters).
    pub text: String,
    /// The post this replies to.
    pub reply_to: Option<Uuid>,
}

/// Which notifications to mark read.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Mark this notification and every older one; all when absent.
    pub up_to: Option<Uuid>,
}
