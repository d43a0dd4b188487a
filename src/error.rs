//! The library's top-level error: what stopped a command, and the exit code it maps to.

use crate::diag::Problems;
use crate::exit;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The input has problems; each is its own located diagnostic.
    #[error("the snapshot has {} error(s)", .0.errors)]
    #[diagnostic(code(licshift::input))]
    Input(Problems),

    #[error("{0}")]
    #[diagnostic(code(licshift::usage))]
    Usage(String, #[help] Option<String>),

    #[error("invariant {0} failed: {1}")]
    #[diagnostic(code(licshift::invariant), help("this is a bug in licshift: nothing was written. Please report it with the snapshot's inspect output"))]
    Invariant(&'static str, String),

    /// Signing in to, or talking to, Microsoft Graph failed. The binary renders the inner
    /// diagnostic, with its own code and help.
    #[error(transparent)]
    #[diagnostic(code(licshift::graph))]
    Graph(#[from] crate::graph::GraphError),

    #[error("{context}: {source}")]
    #[diagnostic(code(licshift::io))]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) | Error::Usage(..) => exit::BAD_INPUT,
            Error::Invariant(..) => exit::INVARIANT,
            Error::Io { .. } | Error::Graph(_) => exit::BAD_INPUT,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into(), None)
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
