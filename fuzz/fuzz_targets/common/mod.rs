//! What several fuzz targets share: one small pool, and raw bytes read as f64.

// Each target compiles this module and uses only part of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use nogil::Pool;

/// One 3-thread pool for the whole fuzzing process, workers parked rather
/// than spinning between inputs.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::builder().threads(3).spin(std::time::Duration::ZERO).build().unwrap())
}

/// `bytes` read as up to `most` little-endian f64 values (any bit pattern:
/// NaN, ±Inf, subnormals); a trailing partial value is dropped.
pub fn f64s(bytes: &[u8], most: usize) -> Vec<f64> {
    bytes.chunks_exact(8).take(most).map(bytemuck::pod_read_unaligned::<f64>).collect()
}

/// Runs `f` on one of the SIMD paths this CPU runs, chosen by the input's
/// bytes (so each input always takes the same path and every path is fuzzed).
pub fn on_some_path<T>(data: &[u8], f: impl FnOnce() -> T) -> T {
    let paths = nogil::simd::Isa::available();
    let pick = data.iter().fold(data.len(), |h, &b| h.wrapping_mul(31).wrapping_add(b as usize));
    nogil::simd::with_isa(paths[pick % paths.len()], f).expect("an available path")
}
