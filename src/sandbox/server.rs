//! The sandbox on the wire: an axum app on its own tokio runtime and thread, so a command or a
//! test starts it, talks to it over loopback, and stops it, without becoming async itself.

use super::{Options, Report, Sandbox};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Shared = Arc<Mutex<Sandbox>>;

/// A sandbox serving in the background.
pub struct Running {
    /// `http://127.0.0.1:PORT/v1.0`
    pub graph_url: String,
    /// `http://127.0.0.1:PORT`, the login stand-in's host.
    pub login_url: String,
    pub token: String,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Sandbox> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds `options.listen` (port 0: any free port) and serves `dir` until stopped.
pub fn start(dir: super::Directory, options: Options) -> std::io::Result<Running> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(options.listen))?;
    let addr = listener.local_addr()?;
    let login_url = format!("http://{addr}");
    let graph_url = format!("{login_url}/v1.0");
    let sandbox = Sandbox::new(dir, options, graph_url.clone());
    let token = sandbox.token().to_string();
    let shared: Shared = Arc::new(Mutex::new(sandbox));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
        .with_state(shared.clone());
    let ticker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("licshift-sandbox".into())
        .spawn(move || {
            rt.block_on(async move {
                // Group processing completes on time even when nobody asks.
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        lock(&ticker).tick(std::time::Instant::now());
                    }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
    Ok(Running {
        graph_url,
        login_url,
        token,
        shared,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Running {
    pub fn report(&self) -> Report {
        lock(&self.shared).report()
    }

    /// Runs `f` on the sandbox (tests inspect and change the tenant this way).
    pub fn with<R>(&self, f: impl FnOnce(&mut Sandbox) -> R) -> R {
        f(&mut lock(&self.shared))
    }

    pub fn save(&self, dir: &std::path::Path) -> std::io::Result<()> {
        lock(&self.shared).save(dir)
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Blocks until SIGINT or SIGTERM (Ctrl+C on Windows).
    pub fn wait_for_signal(&self) -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r,
                    _ = term.recv() => Ok(()),
                }
            }
            #[cfg(not(unix))]
            {
                tokio::signal::ctrl_c().await
            }
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn json_value(status: u16, body: serde_json::Value) -> Response {
    json_response(status, Vec::new(), Some(body.to_string().into_bytes()))
}

fn json_response(status: u16, headers: Vec<(String, String)>, body: Option<Vec<u8>>) -> Response {
    let mut r = match body {
        Some(b) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")],
            b,
        )
            .into_response(),
        None => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
    };
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    if path.starts_with("/v1.0") {
        let latency = lock(&shared).latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    let mut s = lock(&shared);
    if let Some(rest) = path.strip_prefix("/v1.0") {
        let rid = crate::graph::new_uuid();
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if presented != s.token() {
            let (code, message) = if presented.is_empty() {
                ("InvalidAuthenticationToken", "Access token is empty.")
            } else {
                (
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                )
            };
            return json_response(
                401,
                vec![
                    ("request-id".into(), rid.clone()),
                    ("WWW-Authenticate".into(), "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"".into()),
                ],
                Some(super::api::error(code, message, &rid, &rid).to_string().into_bytes()),
            );
        }
        let cid = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let reply = s.call(method.as_str(), rest, &query, &body, &cid);
        return json_response(reply.status, reply.headers, reply.body);
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/_sandbox/report") => {
            json_response(200, Vec::new(), serde_json::to_vec(&s.report()).ok())
        }
        ("POST", "/_sandbox/snapshot") => {
            let out = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "out")
                .map(|(_, v)| std::path::PathBuf::from(v.into_owned()));
            let Some(out) = out else {
                return json_value(400, serde_json::json!({"error": "give ?out=DIR"}));
            };
            let written = std::fs::create_dir_all(&out).and_then(|_| s.save(&out));
            match written {
                Ok(()) => json_value(
                    200,
                    serde_json::json!({"written": out.display().to_string()}),
                ),
                Err(e) => json_value(500, serde_json::json!({"error": e.to_string()})),
            }
        }
        ("POST", p)
            if p.ends_with("/oauth2/v2.0/token") || p.ends_with("/oauth2/v2.0/devicecode") =>
        {
            let mut parts = p.trim_start_matches('/').split('/');
            let tenant = parts.next().unwrap_or("").to_string();
            let endpoint = if p.ends_with("token") {
                "token"
            } else {
                "devicecode"
            };
            let (status, body) = s.login(&tenant, endpoint, &body);
            json_value(status, body)
        }
        _ => json_value(
            404,
            serde_json::json!({"error": {"code": "NotFound", "message": format!("{method} {path}: the sandbox serves /v1.0, /_sandbox/report, /_sandbox/snapshot and the login stand-in")}}),
        ),
    }
}
