//! Chooses the SIMD lane width once, at compile time, from the target features
//! the crate is being compiled with, and records what was compiled in.
//!
//! `wide` fixes its lane implementation when it is compiled (its README: runtime
//! feature detection does not work with it), so nogil does the same: this script
//! emits `cfg(nogil_lanes = "8" | "4")` and `cfg(nogil_isa = ...)`, which only
//! `src/simd.rs` reads, and `NOGIL_BUILD_*` environment variables that
//! `nogil::build_info()` returns.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");

    let features: Vec<String> = env::var("CARGO_CFG_TARGET_FEATURE")
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    let has = |f: &str| features.iter().any(|g| g == f);

    // 8 f64 lanes need AVX-512F; 4 lanes in one register need AVX2 with FMA.
    // Everything else uses wide's portable 4-lane type (two 128-bit halves on
    // SSE2 and NEON, plain arrays elsewhere).
    let (lanes, isa) = if has("avx512f") {
        (8, "avx512")
    } else if has("avx2") && has("fma") {
        (4, "avx2")
    } else {
        (4, "portable")
    };
    println!("cargo::rustc-cfg=nogil_lanes=\"{lanes}\"");
    println!("cargo::rustc-cfg=nogil_isa=\"{isa}\"");

    let target = env::var("TARGET").unwrap_or_default();
    let profile = env::var("PROFILE").unwrap_or_default();
    let opt_level = env::var("OPT_LEVEL").unwrap_or_default();
    let simd_features: Vec<&str> =
        ["sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "neon"]
            .into_iter()
            .filter(|f| has(f))
            .collect();
    println!("cargo::rustc-env=NOGIL_BUILD_TARGET={target}");
    println!("cargo::rustc-env=NOGIL_BUILD_FEATURES={}", simd_features.join(","));
    println!("cargo::rustc-env=NOGIL_BUILD_LANES={lanes}");
    println!("cargo::rustc-env=NOGIL_BUILD_ISA={isa}");
    println!("cargo::rustc-env=NOGIL_BUILD_PROFILE={profile}");
    println!("cargo::rustc-env=NOGIL_BUILD_OPT_LEVEL={opt_level}");

    warn_if_cpu_offers_more(&target, lanes);
}

/// When the build runs on the machine it builds for, say so if that CPU could
/// run wider lanes than this build enables.
fn warn_if_cpu_offers_more(target: &str, lanes: usize) {
    let host = env::var("HOST").unwrap_or_default();
    if host != target {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let cpu_lanes = if std::is_x86_feature_detected!("avx512f") {
            8
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            4
        } else {
            0
        };
        if cpu_lanes > lanes || (cpu_lanes == 4 && !is_avx2_build()) {
            println!(
                "cargo::warning=nogil: this CPU supports {} but the build does not enable it, so nogil's \
                 kernels use the {}; build with RUSTFLAGS=\"-C target-cpu=native\" (or add it to \
                 .cargo/config.toml) for {cpu_lanes}-lane f64 kernels",
                if cpu_lanes == 8 { "AVX-512F" } else { "AVX2+FMA" },
                if is_avx2_build() { "4-lane AVX2 path" } else { "portable path" },
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = lanes;
}

#[cfg(target_arch = "x86_64")]
fn is_avx2_build() -> bool {
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|g| g == f);
    (has("avx2") && has("fma")) || has("avx512f")
}
