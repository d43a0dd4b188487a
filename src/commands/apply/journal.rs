//! The journal: `PLAN/run/STAGE.jsonl`, one JSON object per line, appended and flushed as the
//! run goes — a header, then for each user or step an `intent` (the live state read before the
//! change, and the request) written before the request is sent, and an `outcome` after it. A run
//! killed between the two leaves an intent without an outcome: the re-run reads that user live
//! and finds out. Rollback restores from the intents' `before`, never from the snapshot.

use crate::graph::wire;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Record {
    #[serde(rename_all = "camelCase")]
    Header {
        plan_id: String,
        stage: String,
        tenant: String,
        account: String,
        version: String,
        dry_run: bool,
        started: String,
    },
    #[serde(rename_all = "camelCase")]
    Intent {
        key: String,
        user: String,
        method: String,
        url: String,
        body: serde_json::Value,
        /// The user's license states read live just before (wave and rollback steps).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Vec<wire::LicenseAssignmentState>>,
    },
    #[serde(rename_all = "camelCase")]
    Outcome {
        key: String,
        user: String,
        /// `done`, `already done`, `skipped`, `gone`, `failed`, `would do` (dry run).
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Vec<wire::LicenseAssignmentState>>,
        /// What the step made (a created group's id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        at: String,
    },
    /// The check after a stage, as `verify` makes it.
    #[serde(rename_all = "camelCase")]
    Check {
        go: bool,
        summary: String,
        at: String,
    },
    #[serde(rename_all = "camelCase")]
    End {
        done: usize,
        already: usize,
        skipped: usize,
        gone: usize,
        failed: usize,
        at: String,
    },
}

pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

impl Journal {
    /// Opens `run/NAME.jsonl` for appending, writing `header` first.
    pub fn open(run: &Path, name: &str, header: Record) -> std::io::Result<Journal> {
        let path = run.join(format!("{name}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut j = Journal { path, file };
        j.write(&header)?;
        Ok(j)
    }

    /// One line, on disk before the request it announces is sent.
    pub fn write(&mut self, r: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every record of a journal; a last line cut short by a crash is left out.
pub fn read(path: &Path) -> Vec<Record> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// What the journal says of each key: its last intent and its last outcome.
#[derive(Default, Debug)]
pub struct Steps {
    pub intents: std::collections::BTreeMap<String, Record>,
    pub outcomes: std::collections::BTreeMap<String, Record>,
}

impl Steps {
    pub fn of(records: &[Record]) -> Steps {
        let mut s = Steps::default();
        for r in records {
            match r {
                Record::Intent { key, .. } => {
                    s.intents.insert(key.clone(), r.clone());
                }
                Record::Outcome { key, .. } => {
                    s.outcomes.insert(key.clone(), r.clone());
                }
                _ => {}
            }
        }
        s
    }

    /// The key needs nothing more: done, already done, or the user is gone. Skipped and failed
    /// steps are re-checked live on a re-run.
    pub fn settled(&self, key: &str) -> bool {
        matches!(self.outcomes.get(key), Some(Record::Outcome { outcome, .. })
            if outcome == "done" || outcome == "already done" || outcome == "gone")
    }

    pub fn outcome(&self, key: &str) -> Option<&str> {
        match self.outcomes.get(key) {
            Some(Record::Outcome { outcome, .. }) => Some(outcome),
            _ => None,
        }
    }

    pub fn made_id(&self, key: &str) -> Option<String> {
        match self.outcomes.get(key) {
            Some(Record::Outcome { id, .. }) => id.clone(),
            _ => None,
        }
    }
}

/// The lock of a plan's runs: one run at a time. A lock left by a process that is gone is taken
/// over.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn take(run: &Path) -> Result<Lock, String> {
        let path = run.join("apply.lock");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let pid: u32 = text.trim().parse().unwrap_or(0);
            if pid != 0 && pid != std::process::id() && alive(pid) {
                return Err(format!(
                    "another licshift apply (process {pid}) is running on this plan ({})",
                    path.display()
                ));
            }
        }
        std::fs::write(&path, std::process::id().to_string())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Lock { path })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}
