//! Access tokens: EdDSA (Ed25519) JWTs signed by the users service and verified by every
//! service with the public key. The algorithm is pinned; `none` or HMAC tokens are refused.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// Issuer and audience written into and required from every access token.
pub const TOKEN_ISSUER: &str = "socialdevs-users";
/// Audience of access tokens.
pub const TOKEN_AUDIENCE: &str = "socialdevs";
/// Lifetime of an access token, in seconds (15 minutes).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The username at issue time (for logs and convenience; never for authorisation).
    pub username: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Token id.
    pub jti: Uuid,
}

/// A freshly generated Ed25519 key pair in PEM form.
pub struct KeyPairPem {
    /// PKCS#8 private key.
    pub private_pem: String,
    /// SPKI public key.
    pub public_pem: String,
}

/// Generates a new Ed25519 key pair.
pub fn generate_key_pair() -> anyhow::Result<KeyPairPem> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let private_pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?
        .to_string();
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")?;
    Ok(KeyPairPem {
        private_pem,
        public_pem,
    })
}

/// Derives the public key PEM from a private key PEM.
pub fn public_pem_from_private(private_pem: &str) -> anyhow::Result<String> {
    let signing = SigningKey::from_pkcs8_pem(private_pem).context("parsing the private key")?;
    signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")
}

/// Verifies access tokens. Held by every service.
///
/// A token whose signature checked out is remembered (bounded) until it expires, so the
/// Ed25519 verification — the most expensive step of an authenticated request — runs once
/// per token, not once per request. The cache is keyed by the whole token, so only the exact
/// bytes that were verified are trusted; expiry is checked on every use.
#[derive(Clone)]
pub struct TokenVerifier(Arc<Verifier>);

/// What a [`TokenVerifier`] shares, behind one `Arc`: every request copies the verifier.
struct Verifier {
    key: DecodingKey,
    validation: Validation,
    verified: Mutex<HashMap<String, Claims>>,
}

/// Tokens remembered as verified, at most (a few MB); beyond, the memory starts over.
const VERIFIED_TOKENS_MAX: usize = 10_000;
/// Seconds a token is still accepted after its `exp` (clock skew between services).
const LEEWAY_SECS: i64 = 30;

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier(EdDSA)")
    }
}

impl TokenVerifier {
    /// A verifier for the given SPKI public key PEM.
    pub fn from_public_pem(pem: &str) -> anyhow::Result<Self> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes()).context("parsing the public key")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[TOKEN_ISSUER]);
        validation.set_audience(&[TOKEN_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        Ok(Self(Arc::new(Verifier {
            key,
            validation,
            verified: Mutex::default(),
        })))
    }

    /// Reads the public key from a file.
    pub fn from_public_file(path: &Path) -> anyhow::Result<Self> {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_public_pem(&pem)
    }

    /// Checks the signature, algorithm, issuer, audience and expiry of `token`.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = chrono::Utc::now().timestamp();
        {
            let mut verified = self
                .0
                .verified
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(claims) = verified.get(token) {
                if claims.exp + LEEWAY_SECS > now {
                    return Ok(claims.clone());
                }
                verified.remove(token);
                return Err(ApiError::Unauthorized(
                    "The access token has expired; refresh it.".into(),
                ));
            }
        }
        let claims = self.verify_signature(token)?;
        let mut verified = self
            .0
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_TOKENS_MAX {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.0.key, &self.0.validation)
            .map(|data| data.claims)
            .map_err(|err| {
                let detail = match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "The access token has expired; refresh it."
                    }
                    _ => "The access token is not valid.",
                };
                ApiError::Unauthorized(detail.into())
            })
    }
}

/// Signs access tokens. Held by the users service only.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Arc<EncodingKey>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer(EdDSA, key hidden)")
    }
}

impl TokenIssuer {
    /// An issuer for the given PKCS#8 private key PEM.
    pub fn from_private_pem(pem: &str) -> anyhow::Result<Self> {
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).context("parsing the private key")?;
        Ok(Self { key: Arc::new(key) })
    }

    /// Issues a 15-minute access token for a user.
    pub fn issue(&self, user_id: Uuid, username: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            username: username.to_owned(),
            iat: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            iss: TOKEN_ISSUER.into(),
            aud: TOKEN_AUDIENCE.into(),
            jti: Uuid::now_v7(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .context("signing an access token")
    }
}

/// The authenticated caller. Rejects the request with 401 when the token is missing or bad.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The caller's user id.
    pub id: Uuid,
    /// The caller's username when the token was issued.
    pub username: String,
    /// When the access token expires (Unix seconds): long-lived streams end then.
    pub expires_at: i64,
}

/// The caller if a valid token was sent; anonymous otherwise. A bad token is still a 401.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    /// The caller's id, if authenticated.
    pub fn id(&self) -> Option<Uuid> {
        self.0.as_ref().map(|u| u.id)
    }
}

fn bearer_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("The Authorization header is malformed.".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("Use `Authorization: Bearer <access_token>`.".into())
            })?;
        return Ok(Some(token.trim().to_owned()));
    }
    // EventSource cannot set headers, so streams accept `?access_token=`.
    if parts.uri.path().ends_with("/stream") {
        if let Some(query) = parts.uri.query() {
            for pair in query.split('&') {
                if let Some(token) = pair.strip_prefix("access_token=") {
                    return Ok(Some(token.to_owned()));
                }
            }
        }
    }
    Ok(None)
}

fn authenticate(parts: &Parts, verifier: &TokenVerifier) -> Result<Option<AuthUser>, ApiError> {
    // Verified already, by the rate limits in front of the handler.
    if let Some(user) = parts.extensions.get::<AuthUser>() {
        return Ok(Some(user.clone()));
    }
    let Some(token) = bearer_token(parts)? else {
        return Ok(None);
    };
    let claims = verifier.verify(&token)?;
    if let Some(context) = parts.extensions.get::<crate::http::RequestContext>() {
        context.set_user(claims.sub);
    }
    Ok(Some(AuthUser {
        id: claims.sub,
        username: claims.username,
        expires_at: claims.exp,
    }))
}

/// The id of the user whose valid token the request carries; the caller is kept in the
/// request so the handler's [`AuthUser`] does not verify the token again. `None` without a
/// token or with a bad one (the handler answers that).
pub fn verified_caller(parts: &mut Parts, verifier: &TokenVerifier) -> Option<Uuid> {
    let user = authenticate(parts, verifier).ok().flatten()?;
    let id = user.id;
    parts.extensions.insert(user);
    Some(id)
}

impl<S> FromRequestParts<S> for AuthUser
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = TokenVerifier::from_ref(state);
        authenticate(parts, &verifier)?.ok_or_else(|| {
            ApiError::Unauthorized(
                "Sign in: this needs `Authorization: Bearer <access_token>`.".into(),
            )
        })
    }
}

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = TokenVerifier::from_ref(state);
        authenticate(parts, &verifier).map(MaybeAuthUser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let pair = generate_key_pair().unwrap();
        let issuer = TokenIssuer::from_private_pem(&pair.private_pem).unwrap();
        let verifier = TokenVerifier::from_public_pem(&pair.public_pem).unwrap();
        let id = Uuid::now_v7();
        let token = issuer.issue(id, "alice").unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.sub, id);
        assert_eq!(claims.exp - claims.iat, ACCESS_TOKEN_TTL_SECS);

        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(verifier.verify(&tampered).is_err());

        let other = generate_key_pair().unwrap();
        let other_verifier = TokenVerifier::from_public_pem(&other.public_pem).unwrap();
        assert!(other_verifier.verify(&token).is_err());
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let pair = generate_key_pair().unwrap();
        let verifier = TokenVerifier::from_public_pem(&pair.public_pem).unwrap();
        let now = chrono::Utc::now().timestamp();
        // Valid for one more second, leeway included.
        let claims = Claims {
            sub: Uuid::now_v7(),
            username: "brief".into(),
            iat: now - 900,
            exp: now - LEEWAY_SECS + 1,
            iss: TOKEN_ISSUER.into(),
            aud: TOKEN_AUDIENCE.into(),
            jti: Uuid::now_v7(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(verifier.verify(&token).unwrap().sub, claims.sub);
        assert_eq!(
            verifier.verify(&token).unwrap().sub,
            claims.sub,
            "from memory"
        );
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(
            verifier.verify(&token).is_err(),
            "expired, remembered or not"
        );
    }

    #[test]
    fn refuses_other_algorithms() {
        let pair = generate_key_pair().unwrap();
        let verifier = TokenVerifier::from_public_pem(&pair.public_pem).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::now_v7(),
            username: "mallory".into(),
            iat: now,
            exp: now + 60,
            iss: TOKEN_ISSUER.into(),
            aud: TOKEN_AUDIENCE.into(),
            jti: Uuid::now_v7(),
        };
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(pair.public_pem.as_bytes()),
        )
        .unwrap();
        assert!(verifier.verify(&hs).is_err());
    }

    #[test]
    fn public_key_derives_from_private() {
        let pair = generate_key_pair().unwrap();
        assert_eq!(
            public_pem_from_private(&pair.private_pem).unwrap(),
            pair.public_pem
        );
    }
}
