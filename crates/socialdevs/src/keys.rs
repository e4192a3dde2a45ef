//! Token keys: configured files, or a development pair generated once in the data dir.

use std::path::Path;

use anyhow::Context;
use socialdevs_platform::auth::{self, TokenIssuer, TokenVerifier};

use crate::config::Settings;

/// File names of the development key pair in the data dir (and of `socialdevs keygen`).
pub const PRIVATE_KEY_FILE: &str = "jwt_private.pem";
/// Public half.
pub const PUBLIC_KEY_FILE: &str = "jwt_public.pem";

/// The signer (when the private key is available) and the verifier.
pub struct Keys {
    /// Signs access tokens; `None` when only the public key is configured.
    pub issuer: Option<TokenIssuer>,
    /// Verifies access tokens.
    pub verifier: TokenVerifier,
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

/// Loads the configured keys, or the development pair from the data dir (created if missing).
pub fn load(settings: &Settings) -> anyhow::Result<Keys> {
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
            Ok(Keys {
                issuer: Some(TokenIssuer::from_private_pem(&private_pem)?),
                verifier: TokenVerifier::from_public_pem(&public_pem)?,
            })
        }
        (None, Some(public)) => Ok(Keys {
            issuer: None,
            verifier: TokenVerifier::from_public_pem(&read(public)?)?,
        }),
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
            Ok(Keys {
                issuer: Some(TokenIssuer::from_private_pem(&private_pem)?),
                verifier: TokenVerifier::from_public_pem(&public_pem)?,
            })
        }
    }
}
