//! Bodies of the public API's requests, as clients send them (before validation).
//!
//! Each is owned by the service whose handler takes it (that service validates every field
//! with the domain parsers), and lives here, in a crate without I/O, so that the fuzz targets
//! (`fuzz/`) deserialize the very types the handlers deserialize.

use std::fmt;

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What `Debug` prints instead of a password or a token.
const REDACTED: &str = "[redacted]";

impl fmt::Debug for RegisterBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterBody")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &REDACTED)
            .field("display_name", &self.display_name)
            .finish()
    }
}

impl fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginBody")
            .field("login", &self.login)
            .field("password", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for RefreshBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshBody")
            .field("refresh_token", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for ChangePasswordBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordBody")
            .field("current_password", &REDACTED)
            .field("new_password", &REDACTED)
            .finish()
    }
}

/// Body of `POST /api/v1/auth/register`.
#[derive(Deserialize, ToSchema)]
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
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// Username or e-mail.
    pub login: String,
    /// Password.
    pub password: String,
}

/// Body of `POST /api/v1/auth/refresh` and `/logout`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

/// Body of `POST /api/v1/auth/verify-email`.
#[derive(Deserialize, ToSchema)]
pub struct VerifyEmailBody {
    /// The token of the link mailed at sign-up (after `#token=`).
    pub token: String,
}

impl fmt::Debug for VerifyEmailBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyEmailBody")
            .field("token", &REDACTED)
            .finish()
    }
}

/// Body of `POST /api/v1/auth/password`.
#[derive(Deserialize, ToSchema)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_passwords_or_tokens() {
        let printed = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            RegisterBody {
                username: "ada".into(),
                email: "ada@example.com".into(),
                password: "hunter2hunter2".into(),
                display_name: None,
            },
            LoginBody {
                login: "ada".into(),
                password: "hunter2hunter2".into(),
            },
            RefreshBody {
                refresh_token: "r3fr3sh-s3cr3t".into(),
            },
            ChangePasswordBody {
                current_password: "hunter2hunter2".into(),
                new_password: "correct horse battery".into(),
            },
            VerifyEmailBody {
                token: "m41l3d-t0k3n".into(),
            },
        );
        for secret in ["hunter2", "r3fr3sh", "correct horse", "m41l3d"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("ada@example.com"));
    }
}
