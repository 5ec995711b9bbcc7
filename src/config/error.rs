//! [`ConfigError`]: everything that can be wrong with a site config, a board profile or the
//! secrets, each variant carrying the field path and the evidence. Owns the exit code a bad
//! config maps to ([`EXIT_USAGE`]); does not print anything (that is `main`).

use std::path::PathBuf;

/// Exit status for a bad config or bad command line: `EX_USAGE` from BSD `sysexits.h`.
/// The gateway exits with it before any socket opens.
pub const EXIT_USAGE: i32 = 64;

/// Why a configuration was refused. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read (site config, board, secrets, CA, client key).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file is not valid TOML or does not have the expected shape (unknown key, wrong type,
    /// missing table). The message carries line and column.
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file (`<inline>` for a string).
        path: PathBuf,
        /// The parser's message. For the secrets file this never quotes the offending line.
        message: String,
    },
    /// A value is present but wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field, with an index for lists: `watch.users[2]`.
        field: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A required value is absent.
    #[error("{field} is missing: {hint}")]
    Missing {
        /// Dotted path of the field or the environment variable name.
        field: String,
        /// Where it can be given.
        hint: String,
    },
    /// A secrets file (or private key) is readable by group or others.
    #[error(
        "{}: mode {mode:04o} lets group or others read secrets; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecureSecrets {
        /// The file.
        path: PathBuf,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
    },
    /// The board's capacities need more memory, worst case, than its budget.
    #[error(
        "board {board}: worst-case memory {needed} B exceeds memory_budget_mib ({budget} B); \
         lower the capacities or raise the budget:\n{breakdown}"
    )]
    OverBudget {
        /// Board name.
        board: String,
        /// Worst-case bytes.
        needed: u64,
        /// Budget in bytes.
        budget: u64,
        /// The arithmetic, one line per term (the `Display` of [`super::MemoryEstimate`]).
        breakdown: String,
    },
}

impl ConfigError {
    /// Process exit status for this error: always [`EXIT_USAGE`] (a config problem is a usage
    /// problem; nothing has been started yet).
    pub fn exit_code(&self) -> i32 {
        EXIT_USAGE
    }

    /// Shorthand for [`ConfigError::Invalid`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`ConfigError::Missing`].
    pub(crate) fn missing(field: impl Into<String>, hint: impl Into<String>) -> Self {
        ConfigError::Missing {
            field: field.into(),
            hint: hint.into(),
        }
    }
}
