//! The seed's experiments as kernels, one file or folder each, no threads inside.
//!
//! Each kernel exists as a *mirror* (`*_raw`: an `unsafe fn` over raw
//! pointers with the seed's loop, scalar, the readable oracle) and as the
//! fast form users call (SIMD through [`crate::simd`], on the path chosen
//! at run time, run on any [`Executor`](crate::Executor), behind a safe
//! slice API). Tests hold the fast forms to the mirrors and to plain
//! references.
//!
//! [`seed_em`] is not a kernel but the seed's whole EM as the notebook wrote
//! it, over the [`gauss`] mirrors: the baseline the mixture is timed against.

pub mod counter;
pub mod gauss;
pub(crate) mod kmeans;
pub mod linalg;
pub mod pairwise;
pub mod seed_em;
pub mod summarize;
