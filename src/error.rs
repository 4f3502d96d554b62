//! One error type for every fallible public call in nogil.

use std::fmt;

/// Everything a nogil call can reject.
///
/// Each variant carries what a user needs to fix the call; `Display` says it
/// in one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A thread count of zero was asked for.
    ZeroThreads,
    /// More threads were asked for than nogil will start.
    TooManyThreads {
        /// The count asked for.
        requested: usize,
        /// The largest count accepted.
        max: usize,
    },
    /// An environment variable nogil reads holds a value it cannot use.
    BadEnv {
        /// The variable's name.
        var: &'static str,
        /// The value found (lossily decoded).
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// A schedule's chunk parameter is zero.
    ZeroChunk {
        /// `"static"`, `"dynamic"` or `"guided"`.
        schedule: &'static str,
    },
    /// A data set was to be split into zero partitions.
    ZeroPartitions,
    /// The operating system refused to start a worker thread.
    Spawn {
        /// Index of the worker that could not be started.
        worker: usize,
        /// The operating system's message.
        message: String,
    },
    /// Building a rayon thread pool failed.
    Rayon {
        /// rayon's message.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroThreads => write!(f, "a thread count of 0 was requested; use at least 1"),
            Error::TooManyThreads { requested, max } => {
                write!(f, "{requested} threads were requested; nogil starts at most {max}")
            }
            Error::BadEnv { var, value, expected } => {
                write!(f, "environment variable {var}={value:?} is invalid: expected {expected}")
            }
            Error::ZeroChunk { schedule } => {
                write!(f, "the {schedule} schedule was given a chunk size of 0; use at least 1")
            }
            Error::ZeroPartitions => write!(f, "the data cannot be split into 0 partitions; use at least 1"),
            Error::Spawn { worker, message } => {
                write!(f, "could not start worker thread {worker}: {message}")
            }
            Error::Rayon { message } => write!(f, "could not build a rayon thread pool: {message}"),
        }
    }
}

impl std::error::Error for Error {}
