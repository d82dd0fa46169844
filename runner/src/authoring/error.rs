//! Why building, scaffolding, linting files or importing another tool's history failed.

use std::path::PathBuf;

/// A failure of the `authoring` module (a build, a scaffold, a lint of files, an import): what went wrong and where, with the underlying cause as
/// its [`source`](std::error::Error::source) (print the chain to see both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read`, `write` or `create`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what it should be (a header, a plan, a checksum file, a manifest).
    #[error("{file}: {message}")]
    Invalid {
        /// The file as shown to the user (with a line number where one is known).
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file the operation would write exists already; it is left alone.
    #[error("{} exists: not overwriting", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A tool the build runs (cargo, rustup, componentize-py, componentize-js) could not run
    /// or failed; the message says which and how to get it.
    #[error("{message}")]
    Tool {
        /// What failed, with the tool's own output where it gave any.
        message: String,
        /// Why it could not be started, when it could not.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The sources ask for something that cannot be done; the message says what to change.
    #[error("{0}")]
    Refused(String),
    /// A step failed because of an earlier error: what the step was, then its cause.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<BuildError>,
    },
}

impl BuildError {
    /// This error as the cause of `context`.
    pub fn within(self, context: impl Into<String>) -> BuildError {
        BuildError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The message with its causes, `outer: inner: …`.
    pub fn chain(&self) -> String {
        crate::core::error_chain(self)
    }
}

/// `map_err` for a file operation: `.map_err(io("read", &path))`.
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.into();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}

/// A `Result` of the `authoring` module.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;
