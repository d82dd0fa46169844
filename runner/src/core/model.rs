//! Plain values shared by every layer: which way a migration runs and the limits it runs under.

/// Which export to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// `upgrade`.
    Upgrade,
    /// `downgrade`.
    Downgrade,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Direction {
    /// `upgrade` or `downgrade`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }
}

/// Per-migration limits (`[limits]` in `retort.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one `upgrade`/`downgrade` call may take, host calls included.
    pub timeout: std::time::Duration,
    /// Linear memory the migration may grow to, in bytes.
    pub memory_bytes: usize,
    /// Query results (`rows` handles) a migration may hold open at once.
    pub max_open_rows: usize,
    /// Bytes of files a migration may leave in its staged capability directories, all
    /// together: more is refused before its commit (and never published).
    pub staged_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: std::time::Duration::from_secs(3600),
            memory_bytes: 512 << 20,
            max_open_rows: 64,
            staged_bytes: 1 << 30,
        }
    }
}

/// Name of the database of a project without `retort.toml` (a URL and a directory).
pub const DEFAULT_DATABASE: &str = "default";

/// Identifies an open cursor of a database connection.
pub type CursorId = u32;

/// Artifacts embedded in the binary: `(file name, bytes)` pairs, made by
/// `retort::embed!` from a migrations directory at compile time. They pass the same
/// checks as files: the signature policy, the file-name rule, the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// The directory they were read from, for messages.
    pub dir: &'static str,
    /// Each artifact's file name and bytes; the shared runtimes its Python and JavaScript
    /// migrations run on are named `runtimes/<language>-<digest>.wasm`.
    pub files: &'static [(&'static str, &'static [u8])],
}
