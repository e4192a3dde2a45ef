//! Service credentials: how one service proves to another that a call to its `/internal/...`
//! endpoints comes from a SocialDevs service. Every service holds the same secret
//! (`SOCIALDEVS_INTERNAL_SECRET_FILE`); a caller signs a short-lived token (HS256 JWT,
//! audience [`SERVICE_AUDIENCE`], subject the calling service, valid
//! [`SERVICE_TOKEN_TTL_SECS`]) and sends it as a bearer token; [`require_service`] refuses
//! anything else with 401. User tokens (EdDSA, another audience) are not service tokens, and
//! service tokens are not user tokens: each verifier pins its own algorithm and audience.
//!
//! The internal endpoints are also served on a listener of their own that no edge or
//! Ingress exposes (see `SOCIALDEVS_INTERNAL_LISTEN`); the credential is the second wall.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Audience of service tokens.
pub const SERVICE_AUDIENCE: &str = "socialdevs-internal";
/// Issuer of service tokens.
pub const SERVICE_ISSUER: &str = "socialdevs-service";
/// How long a service token is valid.
pub const SERVICE_TOKEN_TTL_SECS: i64 = 120;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a service token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// The calling service.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// [`SERVICE_ISSUER`].
    pub iss: String,
    /// [`SERVICE_AUDIENCE`].
    pub aud: String,
}

/// The shared secret, ready to sign and verify service tokens. Cheap to clone.
#[derive(Clone)]
pub struct ServiceCredential {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
    /// The last token signed per caller.
    signed: Arc<Mutex<Vec<Signed>>>,
}

/// A token signed for a caller, with its expiry.
struct Signed {
    caller: &'static str,
    token: String,
    exp: i64,
}

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCredential(..)")
    }
}

impl ServiceCredential {
    /// From the secret's bytes (at least [`MIN_SECRET_BYTES`]).
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the internal secret must be at least {MIN_SECRET_BYTES} bytes long \
             (`socialdevs keygen` writes one)"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[SERVICE_AUDIENCE]);
        validation.set_issuer(&[SERVICE_ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            validation: Arc::new(validation),
            signed: Arc::default(),
        })
    }

    /// From a file holding the secret (surrounding whitespace is not part of it).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let secret = std::fs::read_to_string(path)
            .with_context(|| format!("reading the internal secret {}", path.display()))?;
        Self::from_secret(secret.trim().as_bytes())
            .with_context(|| format!("the internal secret in {}", path.display()))
    }

    /// A token for `caller`'s calls, reused until half its life is gone.
    pub fn token(&self, caller: &'static str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let mut signed = self.signed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fresh) = signed
            .iter()
            .find(|s| s.caller == caller && s.exp - now > SERVICE_TOKEN_TTL_SECS / 2)
        {
            return Ok(fresh.token.clone());
        }
        let claims = ServiceClaims {
            sub: caller.to_owned(),
            iat: now,
            exp: now + SERVICE_TOKEN_TTL_SECS,
            iss: SERVICE_ISSUER.into(),
            aud: SERVICE_AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("signing a service token")?;
        signed.retain(|s| s.caller != caller);
        signed.push(Signed {
            caller,
            token: token.clone(),
            exp: claims.exp,
        });
        Ok(token)
    }

    /// The claims of a valid service token.
    pub fn verify(&self, token: &str) -> Result<ServiceClaims, ApiError> {
        jsonwebtoken::decode::<ServiceClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized("This needs a valid service token.".into()))
    }
}

/// Middleware of the internal listener: only requests with a valid service token pass.
pub async fn require_service(
    State(credential): State<ServiceCredential>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else {
        return ApiError::Unauthorized("This needs a service token.".into()).into_response();
    };
    match credential.verify(token.trim()) {
        Ok(claims) => {
            tracing::trace!(caller = %claims.sub, "service call");
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(secret: &str) -> ServiceCredential {
        ServiceCredential::from_secret(secret.as_bytes()).unwrap()
    }

    #[test]
    fn tokens_verify_with_the_same_secret_only() {
        let ours = credential("0123456789abcdef0123456789abcdef");
        let theirs = credential("fedcba9876543210fedcba9876543210");
        let token = ours.token("timeline").unwrap();
        assert_eq!(ours.verify(&token).unwrap().sub, "timeline");
        assert!(theirs.verify(&token).is_err());
        assert!(ours.verify("not.a.jwt").is_err());
        // Reused while fresh.
        assert_eq!(ours.token("timeline").unwrap(), token);
        assert_ne!(ours.token("posts").unwrap(), token);
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = ServiceCredential::from_secret(b"too short").unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn user_tokens_are_not_service_tokens() {
        let ours = credential("0123456789abcdef0123456789abcdef");
        let pair = crate::auth::generate_key_pair().unwrap();
        let issuer = crate::auth::TokenIssuer::from_private_pem(&pair.private_pem).unwrap();
        let user_token = issuer.issue(uuid::Uuid::now_v7(), "mallory").unwrap();
        assert!(ours.verify(&user_token).is_err());
        // An HS256 token with the user audience, signed with the secret, is refused too.
        let claims = serde_json::json!({
            "sub": "posts", "iat": 0, "exp": 4_000_000_000i64,
            "iss": SERVICE_ISSUER, "aud": crate::auth::TOKEN_AUDIENCE,
        });
        let wrong_audience = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(ours.verify(&wrong_audience).is_err());
    }
}
