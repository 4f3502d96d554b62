//! What the SIMD paths promise about each other (see `nogil::simd`'s docs),
//! and how a path is chosen: `NOGIL_SIMD`, `force`, `with_isa`.

use std::process::Command;

use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, Init, InitialParams};
use nogil::kernels::pairwise::pairwise_sum;
use nogil::kernels::summarize::{summarize, summarize_compensated};
use nogil::simd::{Isa, active, force, with_isa};
use nogil::{Error, Pool};

/// Three blobs in 3-D, not integer-valued.
fn blobs(n: usize) -> Vec<f64> {
    (0..n * 3)
        .map(|i| {
            let (row, j) = (i / 3, i % 3);
            (row % 3) as f64 * 4.0 + ((i as f64) * 0.618_033_988_7).fract() * 2.0 - 1.0 + j as f64 * 0.1
        })
        .collect()
}

/// Every fitted value of a model, in order.
fn values(m: &GaussianMixtureModel) -> Vec<f64> {
    let mut v = m.weights().to_vec();
    v.extend(m.means());
    v.extend(m.covariances());
    v.push(m.lower_bound());
    v
}

fn fit(isa: Isa, x: &[f64], t: CovarianceType, init: Init) -> GaussianMixtureModel {
    let pool = Pool::new(2).unwrap();
    with_isa(isa, || GaussianMixture::new(3).covariance_type(t).init(init).max_iter(8).tol(0.0).fit_with(&pool, x, 3))
        .unwrap()
        .unwrap()
}

fn given() -> Init {
    Init::Given(InitialParams {
        weights: Some(vec![0.3, 0.3, 0.4]),
        means: Some(vec![0.5, 0.0, 0.0, 3.5, 4.0, 4.0, 7.0, 8.5, 8.0]),
        covariances: None,
        precisions: None,
    })
}

#[test]
fn small_integers_give_the_same_results_on_every_path() {
    let n = if cfg!(miri) { 203 } else { 100_003 };
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 61) as f64 - 30.0).collect();
    let pool = Pool::new(3).unwrap();
    let on = |isa| {
        with_isa(isa, || {
            (summarize(&pool, &x).sum, summarize_compensated(&pool, &x).sum, pairwise_sum(&pool, &x[..n.min(5000)]))
        })
        .unwrap()
    };
    let best = on(Isa::best());
    let exact: i64 = x.iter().map(|&v| v as i64).sum();
    assert_eq!(best.0, exact as f64);
    for isa in Isa::available() {
        assert_eq!(on(isa), best, "{isa}");
    }
}

#[test]
fn fits_agree_across_paths_to_rounding() {
    let x = blobs(if cfg!(miri) { 150 } else { 9001 });
    for t in [CovarianceType::Full, CovarianceType::Diag] {
        let best = values(&fit(Isa::best(), &x, t, given()));
        for isa in Isa::available() {
            let got = values(&fit(isa, &x, t, given()));
            for (a, b) in got.iter().zip(&best) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{isa} {t}: {a} against {b} on {}", Isa::best());
            }
        }
    }
}

/// The AVX2 path and the portable one run the same operations in the same
/// order; where the build fuses the portable path's multiply-adds they give
/// the same bits (CI runs this in its `-C target-cpu=x86-64-v3` build).
#[test]
#[cfg(all(target_arch = "x86_64", target_feature = "fma", target_feature = "avx2"))]
fn avx2_and_portable_give_the_same_bits_where_the_build_fuses() {
    let x = blobs(6007);
    let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let pool = Pool::new(2).unwrap();
    let run = |isa: Isa| {
        with_isa(isa, || {
            let mut out = vec![summarize_compensated(&pool, &x).sum, pairwise_sum(&pool, &x[..3001])];
            for (t, init) in [(CovarianceType::Full, Init::KMeans), (CovarianceType::Diag, given())] {
                let model =
                    GaussianMixture::new(3).covariance_type(t).init(init).max_iter(5).fit_with(&pool, &x, 3).unwrap();
                out.extend(values(&model));
                out.extend(model.predict_proba_with(&pool, &x).unwrap());
                out.extend(model.score_samples_with(&pool, &x).unwrap());
            }
            out
        })
        .unwrap()
    };
    assert_eq!(bits(&run(Isa::Avx2)), bits(&run(Isa::Portable)));
}

/// The child half of the next test: prints the path chosen at first use.
#[test]
fn child_prints_its_path() {
    if std::env::var_os("NOGIL_SIMD_PATHS_CHILD").is_some() {
        println!("path={}", nogil::build_info().isa);
    }
}

/// Runs [`child_prints_its_path`] in a new process with `NOGIL_SIMD=value`:
/// the path it printed and its standard error.
fn child(value: &str) -> (String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_prints_its_path", "--nocapture", "--test-threads=1"])
        .env("NOGIL_SIMD", value)
        .env("NOGIL_SIMD_PATHS_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The harness may print the test's name on the same line.
    let at = stdout.find("path=").expect("the child printed its path") + "path=".len();
    let path = stdout[at..].split_whitespace().next().unwrap_or_default().to_string();
    (path, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot start processes")]
fn the_environment_variable_chooses_the_path_or_warns_and_takes_the_best() {
    let best = Isa::best().name();
    for isa in Isa::ALL {
        let (path, stderr) = child(isa.name());
        if isa.supported() {
            assert_eq!(path, isa.name());
            assert!(!stderr.contains("NOGIL_SIMD"), "{stderr}");
        } else {
            assert_eq!(path, best);
            assert!(stderr.contains(&format!("NOGIL_SIMD={isa}")) && stderr.contains(best), "{stderr}");
        }
    }
    let (path, stderr) = child("sse9");
    assert_eq!(path, best);
    assert!(stderr.contains("\"sse9\"") && stderr.contains("avx512, avx2 or portable"), "{stderr}");
    assert_eq!(child("").0, best, "an empty value is no choice");
    assert_eq!(child("AVX2 ").0, if Isa::Avx2.supported() { "avx2" } else { best });
}

#[test]
fn force_switches_the_process_and_refuses_what_the_cpu_lacks() {
    let before = force(Isa::Portable).unwrap();
    assert_eq!(active(), Isa::Portable);
    assert_eq!(nogil::build_info().lanes, 4);
    // A scoped path wins on its thread.
    assert_eq!(with_isa(Isa::best(), active).unwrap(), Isa::best());
    assert_eq!(active(), Isa::Portable);
    for isa in Isa::ALL.into_iter().filter(|i| !i.supported()) {
        assert!(matches!(force(isa), Err(Error::UnsupportedSimd { .. })), "{isa}");
        assert!(with_isa(isa, || ()).is_err(), "{isa}");
        assert_eq!(active(), Isa::Portable, "a refused path changes nothing");
    }
    assert_eq!(force(before).unwrap(), Isa::Portable);
    assert_eq!(active(), before);
}

#[test]
fn a_panic_inside_with_isa_restores_the_outer_path() {
    // Nested in a scope of its own: `force`, in another test, may change the
    // process's path meanwhile.
    with_isa(Isa::best(), || {
        let caught = std::panic::catch_unwind(|| with_isa(Isa::Portable, || panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(active(), Isa::best());
    })
    .unwrap();
}
