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
    /// A SIMD path was asked for that this CPU (or this binary) cannot run.
    UnsupportedSimd {
        /// The path asked for.
        asked: &'static str,
        /// The paths this CPU can run, best first, comma-separated.
        available: String,
    },
    /// Data or parameters were given with dimension `d = 0`.
    ZeroDimension,
    /// An array does not have the shape the call needs.
    Shape {
        /// Which array.
        what: &'static str,
        /// The length or shape expected.
        expected: String,
        /// The length or shape given.
        got: String,
    },
    /// A parameter is out of its valid range.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// The data hold a NaN or an infinity.
    NonFinite {
        /// Row of the first bad value (0-based).
        row: usize,
        /// Its column (0-based).
        column: usize,
    },
    /// Fewer points than mixture components.
    TooFewPoints {
        /// Points given.
        n: usize,
        /// Components asked for.
        components: usize,
    },
    /// A fitted component's covariance is not positive definite, even after
    /// `reg_covar` was added to its diagonal.
    SingularCovariance {
        /// The component (for a tied covariance, 0).
        component: usize,
    },
    /// A matrix given by the caller is not symmetric positive definite.
    NotPositiveDefinite {
        /// Which matrix (e.g. `"covariances_init"`).
        what: &'static str,
        /// The component it belongs to.
        component: usize,
    },
    /// The log-likelihood of the data became NaN or infinite (values so
    /// large that squared distances overflow).
    NonFiniteLikelihood {
        /// The EM iteration (1-based; 0 for an evaluation outside a fit).
        iteration: usize,
    },
    /// A component's covariance, estimated from the data, overflowed to
    /// infinity: the data's squared deviations exceed the range of `f64`.
    CovarianceOverflow {
        /// The component (for a tied covariance, 0).
        component: usize,
    },
    /// An output would need more memory than can be allocated.
    TooLarge {
        /// What was to be allocated.
        what: &'static str,
        /// Its size, as asked for.
        requested: String,
    },
    /// The seed's EM ([`kernels::seed_em`](crate::kernels::seed_em)) met a
    /// case its arithmetic cannot handle, where numpy would give NaN or raise.
    SeedEm {
        /// The EM iteration (1-based; 0 for a call outside `em`).
        iteration: usize,
        /// What broke down, e.g. a row whose densities all underflow.
        reason: String,
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
            Error::UnsupportedSimd { asked, available } => {
                write!(f, "this CPU cannot run the {asked} SIMD path; it runs {available}")
            }
            Error::ZeroDimension => write!(f, "the data have 0 features (d = 0); use at least 1"),
            Error::Shape { what, expected, got } => {
                write!(f, "{what} has the wrong shape: expected {expected}, got {got}")
            }
            Error::InvalidParameter { name, value, expected } => {
                write!(f, "{name} = {value} is invalid: expected {expected}")
            }
            Error::NonFinite { row, column } => {
                write!(f, "the data hold a NaN or infinite value, first at row {row}, column {column}")
            }
            Error::TooFewPoints { n, components } => {
                write!(f, "{n} points cannot be fitted with {components} components; need at least as many points")
            }
            Error::SingularCovariance { component } => write!(
                f,
                "the covariance of component {component} is not positive definite even after reg_covar was added; \
                 raise reg_covar, use fewer components, or remove duplicate or constant features"
            ),
            Error::NotPositiveDefinite { what, component } => {
                write!(f, "{what} for component {component} is not symmetric positive definite")
            }
            Error::NonFiniteLikelihood { iteration } => write!(
                f,
                "the log-likelihood became NaN or infinite (EM iteration {iteration}); \
                 the data's scale overflows squared distances: standardize the data"
            ),
            Error::CovarianceOverflow { component } => write!(
                f,
                "the covariance of component {component} overflowed to infinity: the data's squared deviations \
                 exceed the range of f64; standardize the data"
            ),
            Error::TooLarge { what, requested } => {
                write!(f, "{what} ({requested}) needs more memory than can be allocated")
            }
            Error::SeedEm { iteration: 0, reason } => write!(f, "the seed's EM breaks down: {reason}"),
            Error::SeedEm { iteration, reason } => {
                write!(f, "the seed's EM breaks down in iteration {iteration}: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// `rows × width` copies of `value` in a new vector, or [`Error::TooLarge`]
/// naming `what` if that many cannot be allocated (instead of the abort a
/// failed `vec!` is).
#[cfg_attr(loom, allow(dead_code))] // its callers, the mixture and the kernels, are not built for loom
pub(crate) fn try_filled<T: Clone>(what: &'static str, rows: usize, width: usize, value: T) -> Result<Vec<T>, Error> {
    let too_large = || Error::TooLarge { what, requested: format!("{rows} × {width} values") };
    let len = rows.checked_mul(width).ok_or_else(too_large)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| too_large())?;
    v.resize(len, value);
    Ok(v)
}

/// Checks that `bytes` (`None`: more than `usize` counts) could be
/// allocated at once, by reserving them and freeing them untouched; if not,
/// [`Error::TooLarge`] naming `what`, with `requested` saying how much.
/// Work that would otherwise abort on an allocation midway calls this first.
#[cfg_attr(loom, allow(dead_code))] // its callers, the mixture's, are not built for loom
pub(crate) fn try_room(
    what: &'static str,
    bytes: Option<usize>,
    requested: impl FnOnce() -> String,
) -> Result<(), Error> {
    let mut probe: Vec<u8> = Vec::new();
    match bytes.map(|b| probe.try_reserve_exact(b)) {
        Some(Ok(())) => Ok(()),
        _ => Err(Error::TooLarge { what, requested: requested() }),
    }
}
