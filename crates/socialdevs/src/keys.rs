//! Keys: the access token pair and the secret services sign their calls to each other with
//! (configured files, or development ones generated once in the data dir).

use std::path::Path;

use anyhow::Context;
use socialdevs_platform::auth::{self, TokenIssuer, TokenVerifier};
use socialdevs_platform::service_auth::ServiceCredential;

use crate::config::Settings;

/// File names of the development key pair in the data dir (and of `socialdevs keygen`).
pub const PRIVATE_KEY_FILE: &str = "jwt_private.pem";
/// Public half.
pub const PUBLIC_KEY_FILE: &str = "jwt_public.pem";
/// File name of the service-to-service secret (in the data dir, and of `socialdevs keygen`).
pub const INTERNAL_SECRET_FILE: &str = "internal.secret";

/// The signer (when the private key is available) and the verifier.
pub struct Keys {
    /// Signs access tokens; `None` when only the public key is configured.
    pub issuer: Option<TokenIssuer>,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
    /// Signs and checks calls between services.
    pub internal: ServiceCredential,
}

/// Writes a new key pair into `dir`. Existing keys are kept (returns `false`) unless `force`,
/// so running `keygen` on every start of a stack is safe.
pub fn write_key_pair(dir: &Path, force: bool) -> anyhow::Result<bool> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    if !force && private.exists() && public.exists() {
        return Ok(false);
    }
    let pair = auth::generate_key_pair()?;
    write_secret(&private, &pair.private_pem)?;
    std::fs::write(&public, pair.public_pem)
        .with_context(|| format!("writing {}", public.display()))?;
    Ok(true)
}

/// Writes a new service-to-service secret (`internal.secret`) into `dir`, unless one is
/// there and not `force`; `false` when it kept the existing one.
pub fn write_internal_secret(dir: &Path, force: bool) -> anyhow::Result<bool> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(INTERNAL_SECRET_FILE);
    if !force && path.exists() {
        return Ok(false);
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_secret(&path, &format!("{secret}\n"))?;
    Ok(true)
}

fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(contents.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the key file {}", path.display()))
}

/// Loads the configured keys, or the development ones from the data dir (created if missing).
pub fn load(settings: &Settings) -> anyhow::Result<Keys> {
    let (issuer, verifier) = token_keys(settings)?;
    Ok(Keys {
        issuer,
        verifier,
        internal: internal_secret(settings)?,
    })
}

fn internal_secret(settings: &Settings) -> anyhow::Result<ServiceCredential> {
    if let Some(path) = &settings.internal_secret_file {
        return ServiceCredential::from_file(path).context("SOCIALDEVS_INTERNAL_SECRET_FILE");
    }
    let dir = &settings.data_dir;
    if write_internal_secret(dir, false)? && !settings.services.is_all() {
        tracing::warn!(
            path = %dir.join(INTERNAL_SECRET_FILE).display(),
            "no SOCIALDEVS_INTERNAL_SECRET_FILE set: generated a development secret; every \
             service of a deployment needs the same one"
        );
    }
    ServiceCredential::from_file(&dir.join(INTERNAL_SECRET_FILE))
}

fn token_keys(settings: &Settings) -> anyhow::Result<(Option<TokenIssuer>, TokenVerifier)> {
    match (
        &settings.jwt_private_key_file,
        &settings.jwt_public_key_file,
    ) {
        (Some(private), public) => {
            let private_pem = read(private)?;
            let public_pem = match public {
                Some(p) => read(p)?,
                None => auth::public_pem_from_private(&private_pem)?,
            };
            Ok((
                Some(TokenIssuer::from_private_pem(&private_pem)?),
                TokenVerifier::from_public_pem(&public_pem)?,
            ))
        }
        (None, Some(public)) => Ok((None, TokenVerifier::from_public_pem(&read(public)?)?)),
        (None, None) => {
            let dir = &settings.data_dir;
            let private = dir.join(PRIVATE_KEY_FILE);
            if !private.exists() {
                write_key_pair(dir, false)?;
                tracing::warn!(
                    path = %private.display(),
                    "no SOCIALDEVS_JWT_PRIVATE_KEY_FILE set: generated a development key pair; \
                     configure real keys in production"
                );
            }
            let private_pem = read(&private)?;
            let public_pem = auth::public_pem_from_private(&private_pem)?;
            Ok((
                Some(TokenIssuer::from_private_pem(&private_pem)?),
                TokenVerifier::from_public_pem(&public_pem)?,
            ))
        }
    }
}
