//! The certificate sign-in's client assertion: a JWT signed with the app's private key (RS256),
//! naming the certificate by its thumbprints, as Microsoft identity platform asks
//! ("Microsoft identity platform application authentication certificate credentials").
//! The key is read from the PEM file `AZURE_CLIENT_CERTIFICATE_PATH` names, which holds the
//! private key (PKCS#8 or PKCS#1) and the certificate; nothing of it is kept or written.

use super::GraphError;
use base64::Engine as _;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

fn fail(path: &std::path::Path, why: impl Into<String>) -> GraphError {
    GraphError::SignIn {
        how: "the app registration's certificate (AZURE_CLIENT_CERTIFICATE_PATH)".into(),
        why: format!("{}: {}", path.display(), why.into()),
    }
}

/// The DER bytes of each `-----BEGIN label-----` block of a PEM text.
fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    text.split(begin.as_str())
        .skip(1)
        .filter_map(|rest| {
            let body = rest.split(end.as_str()).next()?;
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .collect()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn client_assertion(
    path: &std::path::Path,
    client: &str,
    token_url: &str,
) -> Result<String, GraphError> {
    let text = std::fs::read_to_string(path).map_err(|e| fail(path, e.to_string()))?;
    let key = if let Some(der) = pem_blocks(&text, "PRIVATE KEY").into_iter().next() {
        RsaKeyPair::from_pkcs8(&der)
    } else if let Some(der) = pem_blocks(&text, "RSA PRIVATE KEY").into_iter().next() {
        RsaKeyPair::from_der(&der)
    } else {
        return Err(fail(
            path,
            "holds no RSA private key (PEM, PKCS#8 or PKCS#1)",
        ));
    }
    .map_err(|e| {
        fail(
            path,
            format!("the private key is not a usable RSA key ({e})"),
        )
    })?;
    let cert = pem_blocks(&text, "CERTIFICATE")
        .into_iter()
        .next()
        .ok_or_else(|| fail(path, "holds no certificate beside the key"))?;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &cert);
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t": b64url(sha1.as_ref()),
        "x5t#S256": b64url(sha256.as_ref()),
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client,
        "sub": client,
        "jti": super::new_uuid(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| fail(path, "signing the client assertion failed"))?;
    Ok(format!("{signing_input}.{}", b64url(&signature)))
}
