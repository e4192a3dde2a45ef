//! Arbitrary bytes as the JSON body of every public request that has one, deserialized into
//! the very types the handlers take (`socialdevs_api::requests`); each body that
//! deserializes then goes through the checks its service runs on it, with the invariants of
//! each parser. Bad JSON and bad fields must be errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socialdevs_api::requests::{
    ChangePasswordBody, ComposeBody, LoginBody, MarkRead, RefreshBody, RegisterBody, UpdateMeBody,
    VerifyEmailBody,
};
use socialdevs_fuzz::{
    check_bio, check_display_name, check_email, check_password, check_post_text, check_username,
    login_key,
};

fuzz_target!(|data: &[u8]| {
    // POST /api/v1/auth/register (UsersService::register): every field is checked; a blank
    // display name means "use the username". What registered signs in with the same login.
    if let Ok(body) = serde_json::from_slice::<RegisterBody>(data) {
        let username = check_username(&body.username);
        check_email(&body.email);
        check_password(&body.password);
        match body.display_name.as_deref().map(str::trim) {
            None | Some("") => {}
            Some(raw) => {
                check_display_name(raw);
            }
        }
        if let Some(username) = username {
            assert_eq!(login_key(&body.username), username.canonical());
        }
    }
    // POST /api/v1/auth/login, /refresh, /logout: the strings are only trimmed, lowercased
    // (the login) or hashed (the refresh token) before a lookup; decoding is the check.
    let _ = serde_json::from_slice::<LoginBody>(data);
    let _ = serde_json::from_slice::<RefreshBody>(data);
    let _ = serde_json::from_slice::<VerifyEmailBody>(data);
    // POST /api/v1/auth/password (UsersService::change_password): the new password is checked.
    if let Ok(body) = serde_json::from_slice::<ChangePasswordBody>(data) {
        check_password(&body.new_password);
    }
    // PATCH /api/v1/users/me (UsersService::update_profile).
    if let Ok(body) = serde_json::from_slice::<UpdateMeBody>(data) {
        if let Some(name) = &body.display_name {
            check_display_name(name);
        }
        if let Some(bio) = &body.bio {
            check_bio(bio);
        }
    }
    // POST /api/v1/posts (PostsService::create).
    if let Ok(body) = serde_json::from_slice::<ComposeBody>(data) {
        check_post_text(&body.text);
    }
    // POST /api/v1/notifications/read: `{}` or `{"up_to": "<uuid>"}`, nothing more (a blank
    // body is not decoded: it marks all).
    let _ = serde_json::from_slice::<MarkRead>(data);
});
