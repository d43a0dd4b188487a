//! `licshift sandbox`: a snapshot's tenant served on loopback as Microsoft Graph v1.0 serves it,
//! for the endpoints licshift uses, so a migration can be rehearsed before production — by the
//! tests and by an engineer. Group licensing is processed asynchronously by SPEC §3 (the engine
//! decides, `engine::entra`); writes are throttled per window; faults come from a seed; and a
//! watch records every plan a user loses, with the request that caused it (docs/sandbox.md).
//!
//! Async (tokio, axum) stays inside this module. It never imports the Graph client: the tests
//! are where the two meet.

mod api;
mod directory;
mod faults;
mod licensing;
mod login;
mod reads;
mod save;
mod server;

pub use directory::Directory;
pub use faults::FaultCounts;
pub use licensing::LostPlan;
pub use server::{start, Running};

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: std::net::SocketAddr,
    /// Writes allowed per window; beyond it, 429 with Retry-After until the window ends.
    pub write_quota: u64,
    pub quota_window: Duration,
    /// Reads allowed per read window (Graph counts resource units: about 4,000 GETs of users
    /// per 10 s for a large tenant).
    pub read_quota: u64,
    pub read_window: Duration,
    /// How long a group's licensing takes to process after a change.
    pub processing_delay: Duration,
    pub faults: Option<u64>,
    /// How long each Graph request waits before it is handled (Graph's own latency; the
    /// sandbox stays free for other requests meanwhile).
    pub latency: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            // Graph's documented limit per app per tenant.
            write_quota: 3000,
            quota_window: Duration::from_secs(150),
            read_quota: 4000,
            read_window: Duration::from_secs(10),
            processing_delay: Duration::from_secs(2),
            faults: None,
            latency: Duration::ZERO,
        }
    }
}

/// `GET /_sandbox/report`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub changes: u64,
    pub lost_plans: Vec<LostPlan>,
    pub throttled: u64,
    pub quota_exceeded: u64,
    pub requests: u64,
    pub writes: u64,
    pub faults: FaultCounts,
    /// Requests answered 503 by an outage (`Sandbox::outage`).
    pub outage_answered: u64,
    /// Writes refused as concurrent (`Sandbox::contend`).
    pub contended: u64,
}

/// Fixed windows of `window` from the sandbox's start; `per_window` requests each.
struct Quota {
    per_window: u64,
    window: Duration,
    start: Instant,
    current: u64,
    used: u64,
    /// Requests admitted in all.
    admitted: u64,
}

impl Quota {
    fn new(per_window: u64, window: Duration) -> Quota {
        Quota {
            per_window: per_window.max(1),
            window,
            start: Instant::now(),
            current: 0,
            used: 0,
            admitted: 0,
        }
    }

    /// None when the request may go; else how long until the next window opens.
    fn admit(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.duration_since(self.start);
        let w = (elapsed.as_nanos() / self.window.as_nanos().max(1)) as u64;
        if w != self.current {
            self.current = w;
            self.used = 0;
        }
        if self.used >= self.per_window {
            let end = self.window * (w as u32 + 1);
            return Some(end.saturating_sub(elapsed));
        }
        self.used += 1;
        self.admitted += 1;
        None
    }
}

/// The tenant being served and everything Graph has that a snapshot does not.
pub struct Sandbox {
    dir: Directory,
    watch: licensing::Watch,
    options: Options,
    quota: Quota,
    reads: Quota,
    faults: Option<faults::Faults>,
    /// Requests still to be answered 503, whatever they are: Graph down for a while.
    outage_left: u64,
    outage_answered: u64,
    contend_left: u64,
    contended: u64,
    throttled: u64,
    quota_exceeded: u64,
    requests: u64,
    retry_until: Option<Instant>,
    /// Serving the requests of a `$batch`.
    in_batch: bool,
    /// `http://127.0.0.1:PORT/v1.0`
    base_url: String,
    token: String,
    devices: login::Devices,
}

impl Sandbox {
    pub fn new(dir: Directory, options: Options, base_url: String) -> Sandbox {
        let token = login::token(&dir.tenant_id.to_string());
        Sandbox {
            quota: Quota::new(options.write_quota, options.quota_window),
            reads: Quota::new(options.read_quota, options.read_window),
            faults: options.faults.map(faults::Faults::new),
            outage_left: 0,
            outage_answered: 0,
            contend_left: 0,
            contended: 0,
            dir,
            watch: licensing::Watch::default(),
            options,
            throttled: 0,
            quota_exceeded: 0,
            requests: 0,
            retry_until: None,
            in_batch: false,
            base_url,
            token,
            devices: login::Devices::default(),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Completes group processing whose time has come.
    fn tick(&mut self, now: Instant) {
        if self
            .dir
            .groups
            .iter()
            .any(|g| g.due.is_some_and(|d| d <= now))
        {
            let stamp = crate::clock::utc_now();
            self.dir.process_due(now, &stamp, &mut self.watch);
        }
    }

    pub fn latency(&self) -> Duration {
        self.options.latency
    }

    /// Graph's latency from now on: a test pays it only for the stage it measures.
    pub fn set_latency(&mut self, latency: Duration) {
        self.options.latency = latency;
    }

    pub fn report(&self) -> Report {
        Report {
            changes: self.watch.changes,
            lost_plans: self.watch.lost.clone(),
            throttled: self.throttled,
            quota_exceeded: self.quota_exceeded,
            requests: self.requests,
            writes: self.quota.admitted,
            faults: self
                .faults
                .as_ref()
                .map(|f| f.counts.clone())
                .unwrap_or_default(),
            outage_answered: self.outage_answered,
            contended: self.contended,
        }
    }

    /// The next `requests` Graph requests are answered 503 with a Retry-After, in a row: an
    /// outage longer than a client's attempt count.
    pub fn outage(&mut self, requests: u64) {
        self.outage_left = requests;
    }

    /// The next `writes` writes are refused as Entra refuses writes that arrive together:
    /// `Directory_ConcurrencyViolation`, "Please wait briefly and retry" — nothing applied.
    pub fn contend(&mut self, writes: u64) {
        self.contend_left = writes;
    }

    /// Faults from `seed` from now on (None: none): a test rehearses one run with and one
    /// without against the same tenant.
    pub fn set_faults(&mut self, seed: Option<u64>) {
        self.faults = seed.map(faults::Faults::new);
    }

    /// The tenant as it stands, for tests that compare.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// Test hook: the directory to change as another admin would, changes watched.
    pub fn directory_mut(&mut self) -> &mut Directory {
        &mut self.dir
    }
}
