//! The sandbox's token and a stand-in for the login host, so every sign-in licshift offers can be
//! rehearsed on loopback: client credentials with a secret or a certificate's signed assertion,
//! and device code (RFC 8628: the first poll is still pending, the next one signed in). Any
//! accepted sign-in gets the sandbox's one token; every other token gets 401 from its Graph.

use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Every permission licshift asks for, delegated.
pub const SCOPES: &str = "User.Read.All User.ReadWrite.All Group.Read.All Organization.Read.All LicenseAssignment.ReadWrite.All GroupMember.ReadWrite.All Group.ReadWrite.All";

/// A JWT-shaped token naming the tenant and the permissions; its signature is random, so only
/// this sandbox knows it.
pub fn token(tenant: &str) -> String {
    let header = json!({"typ": "JWT", "alg": "none"});
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant,
        "scp": SCOPES,
        "upn": "sandbox.admin@licshift.invalid",
        "name": "licshift sandbox",
    });
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(crate::graph::new_uuid().as_bytes())
    )
}

#[derive(Default)]
pub struct Devices {
    polls: HashMap<String, u32>,
}

fn oauth_error(error: &str, description: &str) -> (u16, Value) {
    (
        400,
        json!({"error": error, "error_description": description}),
    )
}

impl super::Sandbox {
    /// `POST /{tenant}/oauth2/v2.0/token` and `/devicecode`, form-encoded as the login host takes
    /// them.
    pub fn login(&mut self, tenant: &str, endpoint: &str, body: &[u8]) -> (u16, Value) {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let ours = self.dir.tenant_id.to_string();
        if !tenant.eq_ignore_ascii_case(&ours) {
            return oauth_error(
                "invalid_tenant",
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
            );
        }
        let client = form.get("client_id").cloned().unwrap_or_default();
        if crate::model::Guid::parse(&client).is_none() {
            return oauth_error(
                "unauthorized_client",
                &format!("AADSTS700016: Application with identifier '{client}' was not found in the directory."),
            );
        }
        let granted = (
            200,
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": self.token}),
        );
        match (endpoint, form.get("grant_type").map(String::as_str)) {
            ("devicecode", _) => {
                let code = crate::graph::new_uuid();
                self.devices.polls.insert(code.clone(), 0);
                (
                    200,
                    json!({
                        "device_code": code,
                        "user_code": "SANDBOX1",
                        "verification_uri": "https://microsoft.com/devicelogin",
                        "expires_in": 900,
                        "interval": 1,
                        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code SANDBOX1 to authenticate. (licshift sandbox: signed in on the next poll.)",
                    }),
                )
            }
            ("token", Some("urn:ietf:params:oauth:grant-type:device_code")) => {
                let code = form.get("device_code").cloned().unwrap_or_default();
                match self.devices.polls.get_mut(&code) {
                    None => oauth_error("expired_token", "AADSTS70019: The device code expired."),
                    Some(n) if *n == 0 => {
                        *n += 1;
                        oauth_error(
                            "authorization_pending",
                            "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
                        )
                    }
                    Some(_) => {
                        self.devices.polls.remove(&code);
                        granted
                    }
                }
            }
            ("token", Some("client_credentials")) => {
                if !form.get("scope").is_some_and(|s| s.ends_with("/.default")) {
                    return oauth_error(
                        "invalid_scope",
                        "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
                    );
                }
                if form.get("client_secret").is_some_and(|s| !s.is_empty()) {
                    return granted;
                }
                match form.get("client_assertion") {
                    Some(a) => match assertion_problem(a, &client, &self.token_url(tenant)) {
                        None => granted,
                        Some(why) => oauth_error("invalid_client", &why),
                    },
                    None => oauth_error(
                        "invalid_client",
                        "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                    ),
                }
            }
            _ => oauth_error(
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            ),
        }
    }

    fn token_url(&self, tenant: &str) -> String {
        let root = self.base_url.trim_end_matches("/v1.0");
        format!("{root}/{tenant}/oauth2/v2.0/token")
    }
}

/// What is wrong with a client assertion's form (the sandbox holds no certificate to check the
/// signature against; Entra does).
fn assertion_problem(a: &str, client: &str, token_url: &str) -> Option<String> {
    let parts: Vec<&str> = a.split('.').collect();
    if parts.len() != 3 || parts[2].is_empty() {
        return Some("AADSTS50027: JWT token is invalid or malformed.".into());
    }
    let decode = |s: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let (Some(h), Some(c)) = (decode(parts[0]), decode(parts[1])) else {
        return Some("AADSTS50027: JWT token is invalid or malformed.".into());
    };
    if h["alg"] != "RS256" || (h.get("x5t").is_none() && h.get("x5t#S256").is_none()) {
        return Some("AADSTS5002723: Invalid JWT header type specified. Allowed types: 'JWT'. The header must name the certificate (x5t or x5t#S256) and alg RS256.".into());
    }
    if c["aud"] != token_url {
        return Some(format!(
            "AADSTS700212: No matching federated identity record found for presented assertion audience '{}'.",
            c["aud"]
        ));
    }
    if c["iss"] != client || c["sub"] != client {
        return Some("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if c["exp"].as_u64().is_none_or(|e| e < now) {
        return Some("AADSTS700024: Client assertion is not within its valid time range.".into());
    }
    None
}
