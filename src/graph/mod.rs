//! Microsoft Graph, the way in beside `ingest`: sign-in, requests, paging, `$batch`, pacing,
//! retries and request ids (`client`), Graph's JSON shapes (`wire`), and the read-only export
//! of a tenant into a snapshot folder (`snapshot`). It knows nothing of plans.
//!
//! Async (tokio) stays inside this module: a command runs it through [`block_on`], so no other
//! layer becomes async.

mod assertion;
pub mod auth;
mod client;
pub mod snapshot;
pub mod wire;

pub use auth::{SignIn, Token};
pub use client::{Client, Connection, Response, Stats, GRAPH_WRITES_PER_SECOND};
/// The HTTP method of a write.
pub use reqwest::Method;

/// A national cloud: Graph's host and the login host (Microsoft Graph national cloud
/// deployments).
#[derive(Debug, Clone)]
pub struct Cloud {
    /// e.g. `https://graph.microsoft.com/v1.0`
    pub graph: String,
    /// The token audience: `https://graph.microsoft.com`.
    pub graph_resource: String,
    pub login: String,
}

impl Cloud {
    pub fn named(name: &str) -> Option<Cloud> {
        let (graph, login) = match name {
            "global" => (
                "https://graph.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            "usgov" => (
                "https://graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            "usgovdod" => (
                "https://dod-graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            "china" => (
                "https://microsoftgraph.chinacloudapi.cn",
                "https://login.chinacloudapi.cn",
            ),
            _ => return None,
        };
        Some(Cloud {
            graph: format!("{graph}/v1.0"),
            graph_resource: graph.into(),
            login: login.into(),
        })
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.login)
    }
}

/// What went wrong talking to Graph; each names what to do next.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GraphError {
    #[error("signing in with {how} failed: {why}")]
    #[diagnostic(
        code(licshift::graph::sign_in),
        help("sign in another way: LICSHIFT_GRAPH_TOKEN=<token>; `az login` (Azure CLI); AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (an app registration); or --client-id with --tenant (device code). `--auth` picks one")
    )]
    SignIn { how: String, why: String },

    #[error("Microsoft Graph refused the token from {how}: HTTP {status} {code}: {message}")]
    #[diagnostic(code(licshift::graph::refused), help("{advice}"))]
    Refused {
        how: String,
        status: u16,
        code: String,
        message: String,
        advice: String,
    },

    #[error("the token is for tenant {got}, not {expected}")]
    #[diagnostic(
        code(licshift::graph::tenant),
        help("sign in to the snapshot's tenant (az login --tenant {expected}, or AZURE_TENANT_ID={expected}); nothing was changed")
    )]
    Tenant { expected: String, got: String },

    #[error("the token from {how} lacks {missing} for {what}")]
    #[diagnostic(
        code(licshift::graph::permissions),
        help("grant the app (or consent for the admin) these Microsoft Graph permissions, then sign in again; nothing was changed")
    )]
    Permissions {
        how: String,
        missing: String,
        what: String,
    },

    #[error("{method} {url}: HTTP {status} {code}: {message} (request-id {request_id})")]
    #[diagnostic(code(licshift::graph::status))]
    Status {
        method: String,
        url: String,
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },

    #[error("{method} {url}: still refused after {attempts} attempts (last: {last})")]
    #[diagnostic(
        code(licshift::graph::gave_up),
        help("Graph kept answering 429/503/504 or dropping the connection; run again later (a snapshot is written whole or not at all)")
    )]
    GaveUp {
        method: String,
        url: String,
        attempts: u32,
        last: String,
    },

    #[error("{method} {url}: no answer in time (request-id {request_id}); the change may or may not have been made")]
    #[diagnostic(code(licshift::graph::unknown_outcome))]
    Unknown {
        method: String,
        url: String,
        request_id: String,
    },

    #[error("{url}: {why}")]
    #[diagnostic(code(licshift::graph::answer))]
    Answer { url: String, why: String },
}

impl GraphError {
    /// Graph's `error.code` (or the HTTP status) for a journal.
    pub fn code(&self) -> String {
        match self {
            GraphError::Status { code, .. } | GraphError::Refused { code, .. } => code.clone(),
            GraphError::Unknown { .. } => "Timeout".into(),
            GraphError::GaveUp { .. } => "GaveUp".into(),
            _ => "Error".into(),
        }
    }
}

/// A version 4 UUID for `client-request-id` and assertion ids.
pub fn new_uuid() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // SystemRandom fails only without an OS random source; a zero id is still a valid header.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The runtime a command owns for its Graph work: the client's connections live in it, so one
/// command uses one runtime from sign-in to its last request.
pub struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    pub fn new() -> std::io::Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map(Runtime)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}
