//! Sign-in: a bearer token for Microsoft Graph, got the way the person running licshift can.
//!
//! - `LICSHIFT_GRAPH_TOKEN`: a token obtained elsewhere (and what the sandbox hands out);
//! - an app registration with a certificate or a secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!   `AZURE_CLIENT_CERTIFICATE_PATH` / `AZURE_CLIENT_SECRET`): OAuth 2.0 client credentials;
//! - device code with the tenant's own app registration (`--client-id`): RFC 8628;
//! - an admin signed in with the Azure CLI: `az account get-access-token`.
//!
//! Each is one exchange with the login host; a token lives in memory only and is never written
//! to a file or a log (its Debug form is redacted).

use super::{Cloud, GraphError};
use base64::Engine as _;
use serde::Deserialize;
use std::time::Duration;

/// How to sign in, after the flags and the environment were read.
#[derive(Clone)]
pub enum SignIn {
    Token(String),
    AzureCli {
        tenant: Option<String>,
    },
    Secret {
        tenant: String,
        client: String,
        secret: String,
    },
    Certificate {
        tenant: String,
        client: String,
        path: std::path::PathBuf,
    },
    DeviceCode {
        tenant: String,
        client: String,
    },
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl SignIn {
    pub fn name(&self) -> &'static str {
        match self {
            SignIn::Token(_) => "the token in LICSHIFT_GRAPH_TOKEN",
            SignIn::AzureCli { .. } => "the Azure CLI's signed-in account (az login)",
            SignIn::Secret { .. } => "the app registration's client secret (AZURE_CLIENT_SECRET)",
            SignIn::Certificate { .. } => {
                "the app registration's certificate (AZURE_CLIENT_CERTIFICATE_PATH)"
            }
            SignIn::DeviceCode { .. } => "device code sign-in (--client-id)",
        }
    }
}

/// A bearer token and what it says of itself.
#[derive(Clone)]
pub struct Token {
    pub value: String,
    pub claims: Claims,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(redacted, tenant {:?})", self.claims.tid)
    }
}

/// The claims licshift reads from an access token (without checking its signature: Graph does
/// that; these only let licshift refuse early, before any request that changes something).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Claims {
    pub tid: Option<String>,
    /// Delegated permissions, space-separated.
    pub scp: Option<String>,
    /// Application permissions.
    #[serde(default)]
    pub roles: Vec<String>,
    pub upn: Option<String>,
    pub unique_name: Option<String>,
    pub app_displayname: Option<String>,
    pub appid: Option<String>,
}

impl Claims {
    /// Every permission the token carries.
    pub fn permissions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .scp
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        v.extend(self.roles.iter().cloned());
        v
    }

    /// Who is signed in, for the journal and the prompt.
    pub fn account(&self) -> String {
        self.upn
            .clone()
            .or_else(|| self.unique_name.clone())
            .or_else(|| self.app_displayname.clone().map(|a| format!("app {a}")))
            .or_else(|| self.appid.clone().map(|a| format!("app {a}")))
            .unwrap_or_else(|| "unknown account".into())
    }
}

/// The claims of a JWT access token; None when the token is not one (some tokens are opaque).
pub fn claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Permissions that include another (a broader one held counts for the narrower one asked).
const BROADER: &[(&str, &[&str])] = &[
    (
        "User.Read.All",
        &[
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    ),
    (
        "Group.Read.All",
        &[
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    ),
    (
        "Organization.Read.All",
        &[
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    ),
    (
        "LicenseAssignment.ReadWrite.All",
        &["User.ReadWrite.All", "Directory.ReadWrite.All"],
    ),
    (
        "GroupMember.ReadWrite.All",
        &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
    ),
    ("Group.ReadWrite.All", &["Directory.ReadWrite.All"]),
];

/// The permissions of `needed` the token does not cover.
pub fn missing(needed: &[&str], held: &[String]) -> Vec<String> {
    let has = |p: &str| held.iter().any(|h| h.eq_ignore_ascii_case(p));
    needed
        .iter()
        .filter(|n| {
            !has(n)
                && !BROADER
                    .iter()
                    .find(|(k, _)| k == *n)
                    .is_some_and(|(_, wider)| wider.iter().any(|w| has(w)))
        })
        .map(|n| n.to_string())
        .collect()
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: String,
    message: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    expires_in: Option<u64>,
    interval: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: String,
}

/// Gets a token. `scopes` are the delegated permissions device code asks for; the app flows ask
/// for `.default` (the app's granted roles) and the Azure CLI for its own consent.
pub async fn sign_in(
    http: &reqwest::Client,
    how: &SignIn,
    cloud: &Cloud,
    scopes: &[&str],
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<Token, GraphError> {
    let value = match how {
        SignIn::Token(t) => t.trim().to_string(),
        SignIn::AzureCli { tenant } => azure_cli(cloud, tenant.as_deref()).await?,
        SignIn::Secret {
            tenant,
            client,
            secret,
        } => {
            let form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", client.clone()),
                ("client_secret", secret.clone()),
                ("scope", format!("{}/.default", cloud.graph_resource)),
            ];
            token_request(http, &cloud.token_url(tenant), &form, how).await?
        }
        SignIn::Certificate {
            tenant,
            client,
            path,
        } => {
            let url = cloud.token_url(tenant);
            let assertion = super::assertion::client_assertion(path, client, &url)?;
            let form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", client.clone()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ),
                ("client_assertion", assertion),
                ("scope", format!("{}/.default", cloud.graph_resource)),
            ];
            token_request(http, &url, &form, how).await?
        }
        SignIn::DeviceCode { tenant, client } => {
            device_code(http, cloud, tenant, client, scopes, say).await?
        }
    };
    if value.is_empty() {
        return Err(GraphError::SignIn {
            how: how.name().into(),
            why: "the token is empty".into(),
        });
    }
    let claims = claims(&value).unwrap_or_default();
    Ok(Token { value, claims })
}

async fn token_request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, String)],
    how: &SignIn,
) -> Result<String, GraphError> {
    let fail = |why: String| GraphError::SignIn {
        how: how.name().into(),
        why,
    };
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| fail(format!("could not reach {url}: {e}")))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| fail(format!("reading the answer of {url}: {e}")))?;
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|_| fail(format!("{url} answered HTTP {status} with no token")))?;
    match parsed.access_token {
        Some(t) if status.is_success() => Ok(t),
        _ => Err(fail(format!(
            "{}: {}",
            parsed.error.unwrap_or_else(|| format!("HTTP {status}")),
            parsed.error_description.unwrap_or_default().trim()
        ))),
    }
}

/// RFC 8628: ask for a code, show it, poll the token endpoint at the interval asked until the
/// person signs in, declines, or the code expires.
async fn device_code(
    http: &reqwest::Client,
    cloud: &Cloud,
    tenant: &str,
    client: &str,
    scopes: &[&str],
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<String, GraphError> {
    let how = SignIn::DeviceCode {
        tenant: tenant.into(),
        client: client.into(),
    };
    let fail = |why: String| GraphError::SignIn {
        how: how.name().into(),
        why,
    };
    let scope = scopes
        .iter()
        .map(|s| format!("{}/{s}", cloud.graph_resource))
        .collect::<Vec<_>>()
        .join(" ");
    let url = format!("{}/{tenant}/oauth2/v2.0/devicecode", cloud.login);
    let resp = http
        .post(&url)
        .form(&[("client_id", client), ("scope", scope.as_str())])
        .send()
        .await
        .map_err(|e| fail(format!("could not reach {url}: {e}")))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
    let code: DeviceCodeResponse = serde_json::from_slice(&body).map_err(|_| {
        fail(format!(
            "{url} answered HTTP {status} without a device code"
        ))
    })?;
    say(&code.message.clone().unwrap_or_else(|| {
        format!(
            "To sign in, open {} and enter the code {}.",
            code.verification_uri
                .as_deref()
                .unwrap_or("the verification page"),
            code.user_code.as_deref().unwrap_or("shown")
        )
    }));
    let mut interval = code.interval.unwrap_or(5).max(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(code.expires_in.unwrap_or(900));
    let token_url = cloud.token_url(tenant);
    loop {
        tokio::time::sleep(Duration::from_millis(interval * 1000 / poll_divisor())).await;
        if std::time::Instant::now() > deadline {
            return Err(fail("the code expired before anyone signed in".into()));
        }
        let resp = http
            .post(&token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client),
                ("device_code", code.device_code.as_str()),
            ])
            .send()
            .await
            .map_err(|e| fail(format!("could not reach {token_url}: {e}")))?;
        let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| fail("the token endpoint's answer is not JSON".into()))?;
        if let Some(t) = parsed.access_token {
            return Ok(t);
        }
        match parsed.error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some(e) => {
                return Err(fail(format!(
                    "{e}: {}",
                    parsed.error_description.unwrap_or_default().trim()
                )))
            }
            None => {
                return Err(fail(
                    "the token endpoint answered neither token nor error".into(),
                ))
            }
        }
    }
}

/// The sandbox's login stand-in asks for a poll interval of one second; tests shorten the wait
/// (`LICSHIFT_DEVICE_POLL_DIVISOR`) rather than the protocol.
fn poll_divisor() -> u64 {
    std::env::var("LICSHIFT_DEVICE_POLL_DIVISOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&d| d > 0)
        .unwrap_or(1)
}

/// `az account get-access-token` for Graph: the Azure CLI keeps the admin's sign-in.
async fn azure_cli(cloud: &Cloud, tenant: Option<&str>) -> Result<String, GraphError> {
    let how = SignIn::AzureCli {
        tenant: tenant.map(str::to_string),
    };
    let program = std::env::var("LICSHIFT_AZ").unwrap_or_else(|_| {
        if cfg!(windows) {
            "az.cmd".into()
        } else {
            "az".into()
        }
    });
    let mut args = vec![
        "account".to_string(),
        "get-access-token".into(),
        "--resource".into(),
        cloud.graph_resource.to_string(),
        "--output".into(),
        "json".into(),
    ];
    if let Some(t) = tenant {
        args.push("--tenant".into());
        args.push(t.into());
    }
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| GraphError::SignIn {
        how: how.name().into(),
        why: e.to_string(),
    })?
    .map_err(|e| GraphError::SignIn {
        how: how.name().into(),
        why: format!("could not run the Azure CLI (az): {e}"),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(GraphError::SignIn {
            how: how.name().into(),
            why: format!(
                "az account get-access-token failed: {}",
                err.lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
            ),
        });
    }
    let t: CliToken = serde_json::from_slice(&out.stdout).map_err(|_| GraphError::SignIn {
        how: how.name().into(),
        why: "az account get-access-token printed no accessToken".into(),
    })?;
    Ok(t.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broader_permission_covers_a_narrower_one() {
        let held = vec![
            "Directory.Read.All".to_string(),
            "user.read.all".to_string(),
        ];
        assert!(missing(
            &["User.Read.All", "Group.Read.All", "Organization.Read.All"],
            &held
        )
        .is_empty());
        assert_eq!(
            missing(&["LicenseAssignment.ReadWrite.All"], &held),
            vec!["LicenseAssignment.ReadWrite.All".to_string()]
        );
    }

    #[test]
    fn claims_come_from_the_tokens_middle_part() {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"tid":"t1","scp":"User.Read.All Group.Read.All","upn":"a@b.test"}"#);
        let c = claims(&format!("x.{body}.sig")).unwrap();
        assert_eq!(c.tid.as_deref(), Some("t1"));
        assert_eq!(c.permissions(), vec!["User.Read.All", "Group.Read.All"]);
        assert_eq!(c.account(), "a@b.test");
        assert!(claims("opaque-token").is_none());
    }
}
