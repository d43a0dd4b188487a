//! licshift plans and verifies the move of a Microsoft 365 / Entra ID tenant from direct license
//! assignment to group-based licensing, comparing service plans rather than SKUs.
//!
//! Data flows one way:
//!
//! ```text
//! cli ─▶ settings ─▶ ingest ─▶ model ─▶ engine ─▶ plan ─▶ report
//!         (validated)  (text → typed)   (simulate,   (waves,    (one module
//!                                        diff)        replay)    per format)
//! ```
//!
//! `ingest` is the only module that parses text; `engine` never prints or touches a file;
//! `report` turns results into bytes, sorted, so every run with the same inputs writes the same
//! bytes whatever the thread count.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod diag;
pub mod engine;
pub mod error;
pub mod exit;
pub mod generate;
pub mod graph;
pub mod ingest;
pub mod model;
pub mod plan;
pub mod publish;
pub mod report;
pub mod sandbox;
pub mod settings;
pub mod verify;
