//! Records how the crate was built, for `nogil::build_info()`: the target,
//! the SIMD-relevant target features the whole build enables, the profile.
//!
//! It chooses nothing: the SIMD path is chosen at run time (`src/simd/`),
//! and every path is compiled into every build.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");

    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|g| g == f);
    let simd_features: Vec<&str> =
        ["sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "neon"]
            .into_iter()
            .filter(|f| has(f))
            .collect();
    for (name, value) in [
        ("TARGET", env::var("TARGET").unwrap_or_default()),
        ("FEATURES", simd_features.join(",")),
        ("PROFILE", env::var("PROFILE").unwrap_or_default()),
        ("OPT_LEVEL", env::var("OPT_LEVEL").unwrap_or_default()),
    ] {
        println!("cargo::rustc-env=NOGIL_BUILD_{name}={value}");
    }
}
