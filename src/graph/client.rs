//! Requests to Graph: one bearer token, retries after `Retry-After`, writes paced under Graph's
//! documented write limit, every request carrying a `client-request-id` and every answer's
//! `request-id` kept.
//!
//! Throttling (Microsoft Graph "throttling" and "throttling limits"): a 429 or 503 is retried
//! after the `Retry-After` it carries (fractional seconds allowed), or after a growing pause when
//! it carries none; until that time has passed no request of this client is sent at all, and
//! writes slow down by a quarter after each 429. A 504 or a lost answer to a write is never
//! repeated blindly: the caller reads the object back (`GraphError::Unknown`).

use super::auth::{self, SignIn, Token};
use super::wire;
use super::{Cloud, GraphError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Graph's per-app-per-tenant write limit: 3,000 writes per 150 s.
pub const GRAPH_WRITES_PER_SECOND: f64 = 3000.0 / 150.0;

/// Where and how to connect, after the flags were checked.
#[derive(Debug, Clone)]
pub struct Connection {
    pub cloud: Cloud,
    pub sign_in: SignIn,
    /// Attempts per request before giving up (429/503/504, dropped connections).
    pub max_attempts: u32,
    /// Writes per second to stay under.
    pub write_rate: f64,
}

/// An answer with a 2xx status.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: String,
    pub client_request_id: String,
}

/// What the client went through, for progress lines and the tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

struct Gate {
    /// No request leaves before this (the last Retry-After).
    not_before: Instant,
    /// The next write's slot.
    write_next: Instant,
    write_interval: Duration,
    /// The interval the pace asked for: a 429 slows writes down to at most four times it, and
    /// answers without one bring the pace back.
    base_interval: Duration,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Token,
    how: &'static str,
    max_attempts: u32,
    gate: Mutex<Gate>,
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

fn jitter(max: Duration) -> Duration {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    max.mul_f64(f64::from(u16::from_le_bytes(b)) / 65535.0)
}

/// `Retry-After` in seconds (Graph sends fractional values such as `2.128`).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(600.0)))
}

/// How long a request follows Graph's answers that ask it to wait (a 503 storm, throttling)
/// before giving up: Graph's outages of a few minutes are ridden out, not reported.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// "Wait briefly": a pause growing by a fifth of a second an attempt (ten attempts wait 9 s in
/// all), for writes Entra refused as concurrent.
fn briefly(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(7)).min(Duration::from_secs(30))
}

impl Client {
    /// Signs in and returns a client for `cloud.graph`. `scopes` are what device code asks for.
    pub async fn connect(
        c: &Connection,
        scopes: &[&str],
        say: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Client, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("licshift/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Answer {
                url: c.cloud.graph.clone(),
                why: format!("could not set up HTTPS: {e}"),
            })?;
        let token = auth::sign_in(&http, &c.sign_in, &c.cloud, scopes, say).await?;
        let now = Instant::now();
        Ok(Client {
            http,
            base: c.cloud.graph.trim_end_matches('/').to_string(),
            token,
            how: c.sign_in.name(),
            max_attempts: c.max_attempts.max(1),
            gate: Mutex::new(Gate {
                not_before: now,
                write_next: now,
                write_interval: Duration::from_secs_f64(1.0 / c.write_rate.max(0.01)),
                base_interval: Duration::from_secs_f64(1.0 / c.write_rate.max(0.01)),
            }),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    pub fn token(&self) -> &Token {
        &self.token
    }

    pub fn sign_in_name(&self) -> &'static str {
        self.how
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    /// `path` (`/users?…`) under the Graph base, or a nextLink Graph gave, which must point back
    /// at the same base: the token is never sent anywhere else.
    fn url(&self, path_or_link: &str) -> Result<String, GraphError> {
        if path_or_link.starts_with('/') {
            return Ok(format!("{}{path_or_link}", self.base));
        }
        if path_or_link.starts_with(&format!("{}/", self.base)) {
            return Ok(path_or_link.to_string());
        }
        Err(GraphError::Answer {
            url: path_or_link.into(),
            why: format!("a link outside {} is not followed", self.base),
        })
    }

    /// Waits for this request's turn: after any Retry-After, and for a write its paced slot.
    async fn turn(&self, kind: Kind, writes: u32) {
        let at = {
            let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let mut at = g.not_before.max(now);
            if kind == Kind::Write {
                at = at.max(g.write_next);
                g.write_next = at + g.write_interval * writes.max(1);
            }
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    fn hold_off(&self, wait: Duration, throttled: bool) {
        let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        g.not_before = g.not_before.max(until);
        if throttled {
            g.write_interval = g.write_interval.mul_f64(1.25).min(g.base_interval * 4);
        }
    }

    /// A write answered without throttling: the pace recovers a little toward the one asked.
    fn recover(&self) {
        let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        g.write_interval = g.write_interval.mul_f64(0.98).max(g.base_interval);
    }

    pub async fn get(&self, path: &str) -> Result<Response, GraphError> {
        self.send(reqwest::Method::GET, path, None, Kind::Read, 0)
            .await
    }

    /// A POST/PATCH/DELETE, paced as `writes` writes.
    pub async fn write(
        &self,
        method: super::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, GraphError> {
        self.send(method, path, body, Kind::Write, 1).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        kind: Kind,
        writes: u32,
    ) -> Result<Response, GraphError> {
        let url = self.url(path)?;
        let mut last = String::new();
        // Graph's own "wait" (429, 503, a read's 504) is followed for as long as PATIENCE; the
        // attempt count bounds only what Graph did not ask for (dropped connections).
        let patience_until = Instant::now() + PATIENCE;
        let mut told_to_wait = false;
        let mut tried = 0;
        for attempt in 1.. {
            if attempt > self.max_attempts && !(told_to_wait && Instant::now() < patience_until) {
                break;
            }
            told_to_wait = false;
            tried = attempt;
            self.turn(kind, writes).await;
            if attempt > 1 {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let client_request_id = super::new_uuid();
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token.value)
                .header("client-request-id", &client_request_id);
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    // A write whose request may have arrived has an unknown outcome.
                    if kind == Kind::Write && !e.is_connect() {
                        return Err(GraphError::Unknown {
                            method: method.to_string(),
                            url,
                            request_id: client_request_id,
                        });
                    }
                    last = format!("no answer: {e}");
                    tokio::time::sleep(backoff(attempt) + jitter(Duration::from_millis(250))).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let request_id = resp
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let wait = retry_after(resp.headers());
            let bytes = match resp.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) if kind == Kind::Read => {
                    last = format!("the answer broke off: {e}");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(_) => {
                    return Err(GraphError::Unknown {
                        method: method.to_string(),
                        url,
                        request_id,
                    })
                }
            };
            if (200..300).contains(&status) {
                if kind == Kind::Write {
                    self.recover();
                }
                return Ok(Response {
                    status,
                    body: bytes,
                    request_id,
                    client_request_id,
                });
            }
            let (code, message) = error_of(&bytes, status);
            match status {
                429 | 503 => {
                    if status == 429 {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let pause = wait.unwrap_or_else(|| backoff(attempt));
                    // Jitter only ever lengthens the wait Graph asked for.
                    self.hold_off(
                        pause + jitter(pause / 10 + Duration::from_millis(20)),
                        status == 429,
                    );
                    last = format!("HTTP {status} {code}");
                    told_to_wait = true;
                    continue;
                }
                504 if kind == Kind::Read => {
                    self.hold_off(wait.unwrap_or_else(|| backoff(attempt)), false);
                    last = format!("HTTP {status} {code}");
                    told_to_wait = true;
                    continue;
                }
                504 => {
                    return Err(GraphError::Unknown {
                        method: method.to_string(),
                        url,
                        request_id,
                    })
                }
                // Refused, so nothing applied: sent again after a pause of its own.
                _ if code == CONCURRENCY_VIOLATION && attempt < self.max_attempts => {
                    last = format!("HTTP {status} {code}");
                    tokio::time::sleep(backoff(attempt) + jitter(Duration::from_millis(250))).await;
                    continue;
                }
                401 | 403 => {
                    return Err(GraphError::Refused {
                        how: self.how.into(),
                        status,
                        code,
                        message,
                        advice: refused_advice(status, self.how),
                    })
                }
                _ => {
                    return Err(GraphError::Status {
                        method: method.to_string(),
                        url,
                        status,
                        code,
                        message,
                        request_id,
                    })
                }
            }
        }
        Err(GraphError::GaveUp {
            method: method.to_string(),
            url,
            attempts: tried,
            last,
        })
    }

    /// The next page's link of a collection page.
    pub fn next_link(url: &str, body: &[u8]) -> Result<Option<String>, GraphError> {
        #[derive(serde::Deserialize)]
        struct Links {
            #[serde(rename = "@odata.nextLink")]
            next: Option<String>,
        }
        serde_json::from_slice::<Links>(body)
            .map(|l| l.next)
            .map_err(|e| GraphError::Answer {
                url: url.into(),
                why: format!("the page is not Graph JSON: {e}"),
            })
    }

    /// Reads JSON of type `T` from `path`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, GraphError> {
        let r = self.get(path).await?;
        serde_json::from_slice(&r.body).map_err(|e| GraphError::Answer {
            url: path.into(),
            why: format!("unexpected JSON: {e}"),
        })
    }

    /// Sends up to 20 requests as one JSON `$batch`; requests answered 429 or 503 inside it are
    /// sent again after the `Retry-After` of their own headers. Answers come back in the order
    /// of `requests`.
    pub async fn batch(
        &self,
        requests: Vec<wire::BatchRequest>,
    ) -> Result<Vec<wire::BatchResponse>, GraphError> {
        let mut pending = requests;
        let mut done: Vec<wire::BatchResponse> = Vec::new();
        let order: Vec<String> = pending.iter().map(|r| r.id.clone()).collect();
        let patience_until = Instant::now() + PATIENCE;
        for attempt in 1.. {
            if pending.is_empty() {
                break;
            }
            let more = attempt < self.max_attempts || Instant::now() < patience_until;
            let writes = pending.iter().filter(|r| r.method != "GET").count() as u32;
            let kind = if writes > 0 { Kind::Write } else { Kind::Read };
            let body = serde_json::to_value(wire::Batch {
                requests: pending.clone(),
            })
            .unwrap_or_default();
            let r = self
                .send(reqwest::Method::POST, "/$batch", Some(&body), kind, writes)
                .await?;
            let answers: wire::BatchResponses =
                serde_json::from_slice(&r.body).map_err(|e| GraphError::Answer {
                    url: "/$batch".into(),
                    why: format!("unexpected JSON: {e}"),
                })?;
            let mut again = Vec::new();
            let mut pause = Duration::ZERO;
            let mut throttled = false;
            for a in answers.responses {
                let contended = a
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer("/error/code"))
                    .is_some_and(|c| c == CONCURRENCY_VIOLATION);
                if contended && attempt < self.max_attempts {
                    pause = pause.max(briefly(attempt));
                    if let Some(req) = pending.iter().find(|p| p.id == a.id) {
                        again.push(req.clone());
                    }
                } else if (a.status == 429 || a.status == 503) && more {
                    if a.status == 429 {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                        throttled = true;
                    }
                    let ra = a
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(|s| Duration::from_secs_f64(s.min(600.0)))
                        .unwrap_or_else(|| backoff(attempt));
                    pause = pause.max(ra);
                    if let Some(req) = pending.iter().find(|p| p.id == a.id) {
                        again.push(req.clone());
                    }
                } else {
                    done.push(a);
                }
            }
            if !again.is_empty() {
                self.retries
                    .fetch_add(again.len() as u64, Ordering::Relaxed);
                self.hold_off(
                    pause + jitter(pause / 10 + Duration::from_millis(20)),
                    throttled,
                );
            }
            pending = again;
        }
        done.sort_by_key(|a| order.iter().position(|o| *o == a.id));
        Ok(done)
    }
}

/// Entra's refusal of a directory write that arrived with others ("Please wait briefly and
/// retry"): nothing was applied, so the write is sent again after a pause. Told apart by its
/// code, whatever the status.
pub const CONCURRENCY_VIOLATION: &str = "Directory_ConcurrencyViolation";

/// Graph's `error.code` and `error.message`, or the status when the body is not Graph's.
pub fn error_of(body: &[u8], status: u16) -> (String, String) {
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            format!("HTTP{status}"),
            String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_string(),
        ),
    }
}

fn refused_advice(status: u16, how: &str) -> String {
    if status == 401 {
        format!("the token from {how} is not valid for this Graph endpoint (expired, for another resource, or not issued for it): sign in again, or another way (--auth azure-cli | secret | certificate | device-code | token); for the sandbox, use the LICSHIFT_GRAPH_TOKEN it printed")
    } else {
        format!("signed in with {how}, but the account lacks a permission this request needs: grant it (or use an account that has it) and sign in again")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_fractional_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2.128".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(2128)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn graph_error_bodies_give_their_code_and_message() {
        let body = br#"{"error":{"code":"Request_BadRequest","message":"User does not have a corresponding license."}}"#;
        assert_eq!(
            error_of(body, 400),
            (
                "Request_BadRequest".into(),
                "User does not have a corresponding license.".into()
            )
        );
        assert_eq!(error_of(b"<html>", 502).0, "HTTP502");
    }
}
