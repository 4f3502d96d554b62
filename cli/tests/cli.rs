//! The `nogil` program, run as a user runs it: the report, fit → predict →
//! score, `.npy` of every kind (fixtures written by NumPy), and every bad
//! input giving status 2 and one clear sentence.
#![cfg(not(miri))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nogil::gmm::{CovarianceType, GaussianMixture, GaussianMixtureModel, Init, InitialParams, Parallelism};

fn nogil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nogil")).args(args).output().expect("the nogil binary runs")
}

/// Runs the program and asserts it succeeded, showing its stderr if not.
fn nogil_ok(args: &[&str]) -> Output {
    let o = nogil(args);
    assert!(o.status.success(), "nogil {args:?}: {}", stderr(&o));
    o
}

/// A JSON file the program wrote.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the target dir for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Status 2, one line on stderr that contains `needle`, no panic.
fn assert_user_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "status for {needle:?}; stderr: {err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "no panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("nogil: "), "{err}");
}

/// Reads back an `.npy` the program wrote, with the program's own reader's
/// rules checked by hand: magic, version 1.0, a NumPy-style header, data.
fn read_npy_f64(path: &Path) -> (Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + len) % 64, 0, "NumPy aligns the data to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.contains("'descr': '<f8'") && header.contains("'fortran_order': False"), "{header}");
    let shape: Vec<u64> = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = bytes[10 + len..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    (shape, data)
}

fn read_npy_i64(path: &Path) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.contains("'descr': '<i8'"), "{header}");
    bytes[10 + len..].chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The fixture's data, read independently of the program (NumPy's layout).
fn fixture_matrix() -> Vec<f64> {
    let (shape, data) = read_npy_f64(Path::new(&fixture("numpy_f64.npy")));
    assert_eq!(shape, [90, 2]);
    data
}

#[test]
fn report_quick_writes_json_and_svgs() {
    let dir = scratch("report");
    let o = nogil_ok(&["report", "--quick", "--runs", "1", "--out", s(&dir)]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    for part in
        ["1. counters", "2. summarize", "3. moving data", "4. pairwise", "5a. Gaussian", "5b. Gaussian", "summary"]
    {
        assert!(stdout.contains(part), "report prints {part:?}");
    }
    let json = read_json(&dir.join("results.json"));
    let rows = json["rows"].as_array().unwrap();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    for r in rows {
        assert!(r["median_s"].as_f64().unwrap() > 0.0, "{r}");
        let (lo, mid, hi) =
            (r["min_s"].as_f64().unwrap(), r["median_s"].as_f64().unwrap(), r["max_s"].as_f64().unwrap());
        assert!(lo <= mid && mid <= hi, "{r}");
        assert_eq!(r["runs"], 1, "--runs 1 is exact: {r}");
        assert!(r["check_ok"].as_bool().unwrap(), "a check failed: {r}");
    }
    let build = nogil::build_info();
    assert_eq!(json["build"]["lanes"].as_u64().unwrap() as usize, build.lanes);
    assert_eq!(json["build"]["simd"], build.isa);
    assert_eq!(json["build"]["available"].as_array().unwrap().len(), build.available.len());
    for svg in ["speedup_counters.svg", "speedup_gmm.svg", "clusters_a.svg", "clusters_b.svg", "loglik_b.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{svg} is an SVG document");
    }
    // --only runs one experiment.
    let dir = scratch("report_only");
    nogil_ok(&["report", "--quick", "--runs", "1", "--only", "pairwise", "--out", s(&dir)]);
    let json = read_json(&dir.join("results.json"));
    assert!(json["rows"].as_array().unwrap().iter().all(|r| r["experiment"].as_str().unwrap().starts_with("pairwise")));
}

#[test]
fn fit_predict_score_round_trip() {
    let dir = scratch("roundtrip");
    let model = dir.join("model.json");
    let labels = dir.join("labels.npy");
    nogil_ok(&[
        "fit",
        "--input",
        &fixture("numpy_f64.npy"),
        "--components",
        "3",
        "--seed",
        "1",
        "--threads",
        "2",
        "--out",
        s(&model),
        "--labels",
        s(&labels),
    ]);
    let json = read_json(&model);
    assert_eq!(json["covariance_type"], "full");
    assert_eq!(json["n_features"], 2);
    assert_eq!(json["nogil_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["weights"].as_array().unwrap().len(), 3);
    // The fixture's three blobs (30 points each) end up in three clusters.
    let fitted = read_npy_i64(&labels);
    assert_eq!(fitted.len(), 90);
    for blob in fitted.chunks(30) {
        assert!(blob.iter().all(|&l| l == blob[0]), "one label per blob: {blob:?}");
    }
    // predict on the same rows gives the same labels, from f32 data too.
    let out = dir.join("pred.npy");
    for input in ["numpy_f64.npy", "numpy_f32.npy"] {
        nogil_ok(&["predict", "--model", s(&model), "--input", &fixture(input), "--out", s(&out)]);
        assert_eq!(read_npy_i64(&out), fitted, "{input}");
    }
    let proba = dir.join("proba.npy");
    nogil_ok(&["predict", "--model", s(&model), "--input", &fixture("numpy_f64.npy"), "--proba", "--out", s(&proba)]);
    let (shape, p) = read_npy_f64(&proba);
    assert_eq!(shape, [90, 3]);
    for row in p.chunks_exact(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // score prints the mean log-likelihood the library computes for the same model.
    let o = nogil_ok(&["score", "--model", s(&model), "--input", &fixture("numpy_f64.npy")]);
    let printed: f64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    let lib = GaussianMixture::new(3).seed(1).fit_with(&nogil::Sequential, &fixture_matrix(), 2).unwrap();
    let want = lib.score_with(&nogil::Sequential, &fixture_matrix()).unwrap();
    assert!((printed - want).abs() <= 1e-12 * want.abs(), "{printed} vs {want}");
    // A CSV of the same data, with a header, fits to the same model.
    let csv = dir.join("x.csv");
    let x = fixture_matrix();
    let mut text = String::from("a,b\n");
    for r in x.chunks_exact(2) {
        text.push_str(&format!("{:?},{:?}\n", r[0], r[1]));
    }
    std::fs::write(&csv, text).unwrap();
    let model_csv = dir.join("model_csv.json");
    nogil_ok(&["fit", "--input", s(&csv), "--components", "3", "--seed", "1", "--out", s(&model_csv)]);
    let a = read_json(&model_csv);
    assert_eq!(a["means"], json["means"], "CSV and .npy give the same fit");
}

#[test]
fn fit_with_given_parameters_and_one_iteration_is_one_library_em_step() {
    let dir = scratch("one_step");
    let x = fixture_matrix();
    let weights = dir.join("w.npy");
    let means = dir.join("m.npy");
    let precisions = dir.join("p.npy");
    std::fs::write(&weights, npy(&[3], &[0.2, 0.3, 0.5])).unwrap();
    std::fs::write(&means, npy(&[3, 2], &[0.5, 0.0, 6.5, 5.5, 11.0, 12.5])).unwrap();
    let prec = [1.0, 0.1, 0.1, 2.0, 0.5, 0.0, 0.0, 0.5, 1.5, -0.2, -0.2, 1.0];
    std::fs::write(&precisions, npy(&[3, 2, 2], &prec)).unwrap();
    let model = dir.join("model.json");
    nogil_ok(&[
        "fit",
        "--input",
        &fixture("numpy_f64.npy"),
        "--components",
        "3",
        "--max-iter",
        "1",
        "--weights-init",
        s(&weights),
        "--means-init",
        s(&means),
        "--precisions-init",
        s(&precisions),
        "--out",
        s(&model),
    ]);
    let json = read_json(&model);
    // The library: the same start, one step.
    let lib = GaussianMixture::new(3)
        .max_iter(1)
        .init(Init::Given(InitialParams {
            weights: Some(vec![0.2, 0.3, 0.5]),
            means: Some(vec![0.5, 0.0, 6.5, 5.5, 11.0, 12.5]),
            covariances: None,
            precisions: Some(prec.to_vec()),
        }))
        .fit_with(&nogil::Sequential, &x, 2)
        .unwrap();
    let start = GaussianMixtureModel::from_parameters(
        CovarianceType::Full,
        2,
        vec![0.2, 0.3, 0.5],
        vec![0.5, 0.0, 6.5, 5.5, 11.0, 12.5],
        lib_covariances_from_precisions(&prec),
    )
    .unwrap();
    let (step, _) = start.step(&nogil::Sequential, &x, Parallelism::Data, 1e-6).unwrap();
    let means: Vec<f64> = json["means"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    assert_eq!(means, lib.means(), "the program's one iteration is the library's");
    for (a, b) in means.iter().zip(step.means()) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "and GaussianMixtureModel::step's: {a} vs {b}");
    }
    assert_eq!(json["n_iter"], 1);
}

/// Covariances from precisions, by explicit 2 × 2 inversion.
fn lib_covariances_from_precisions(p: &[f64]) -> Vec<f64> {
    p.chunks_exact(4)
        .flat_map(|m| {
            let det = m[0] * m[3] - m[1] * m[2];
            [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det]
        })
        .collect()
}

/// A minimal `.npy` image (version 1.0, `<f8`, C order), as NumPy lays it out.
fn npy(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in data {
        out.extend(v.to_le_bytes());
    }
    out
}

#[test]
fn written_npy_files_are_numpy_files() {
    // The test's own writer reproduces NumPy's fixture byte for byte, so it
    // knows NumPy's layout.
    let (shape, data) = read_npy_f64(Path::new(&fixture("numpy_f64.npy")));
    assert_eq!(npy(&[shape[0] as usize, shape[1] as usize], &data), std::fs::read(fixture("numpy_f64.npy")).unwrap());
    // The program's output has NumPy's header fields, 64-byte alignment and data.
    let dir = scratch("npy_bytes");
    let model = dir.join("m.json");
    nogil_ok(&["fit", "--input", &fixture("numpy_f64.npy"), "--components", "2", "--out", s(&model)]);
    let out = dir.join("proba.npy");
    nogil_ok(&["predict", "--model", s(&model), "--input", &fixture("numpy_f64.npy"), "--proba", "--out", s(&out)]);
    let (shape, p) = read_npy_f64(&out);
    assert_eq!(shape, [90, 2]);
    assert_eq!(p.len(), 180);
    // Where NumPy is installed, NumPy itself reads the file back.
    let check = "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype, float(a.sum()))";
    match Command::new("python3").args(["-c", check, s(&out)]).output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.starts_with("(90, 2) float64"), "NumPy reads {text}");
            let sum: f64 = text.split_whitespace().last().unwrap().parse().unwrap();
            assert!((sum - p.iter().sum::<f64>()).abs() < 1e-9);
        }
        _ => eprintln!("notice: NumPy not available; the .npy layout was checked by hand only"),
    }
}

#[test]
fn bad_input_exits_2_with_one_clear_sentence() {
    let dir = scratch("bad");
    let model = dir.join("model.json");
    let ok = nogil(&["fit", "--input", &fixture("numpy_f64.npy"), "--components", "2", "--out", s(&model)]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let fit =
        |input: &str, k: &str| nogil(&["fit", "--input", input, "--components", k, "--out", s(&dir.join("x.json"))]);
    assert_user_error(&fit(s(&dir.join("missing.npy")), "2"), "cannot open");
    assert_user_error(&fit(&fixture("numpy_3d.npy"), "2"), "3 dimensions");
    // A 1-D array is refused as scikit-learn refuses it, with its hint.
    assert_user_error(&fit(&fixture("numpy_1d.npy"), "2"), "array.reshape(-1, 1) if it holds one feature");
    assert_user_error(&fit(&fixture("dtype_c16.npy"), "2"), "dtype <c16 is complex");
    assert_user_error(&fit(&fixture("dtype_U3.npy"), "2"), "dtype <U3 is not supported");
    let o =
        nogil(&["predict", "--model", s(&model), "--input", &fixture("numpy_1d.npy"), "--out", s(&dir.join("p.npy"))]);
    assert_user_error(&o, "is 1-D (90 values)");
    let f16 = dir.join("inf.npy");
    let mut bytes = std::fs::read(fixture("f16_specials.npy")).unwrap();
    let at = bytes.len() - 12;
    bytes[at..at + 2].copy_from_slice(&0x7c00u16.to_le_bytes()); // +inf in half precision
    std::fs::write(&f16, bytes).unwrap();
    assert_user_error(&fit(s(&f16), "1"), "row 0 column 0 is inf");
    assert_user_error(&fit(&fixture("numpy_f64.npy"), "91"), "90 points cannot be fitted with 91 components");
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "1,2\n3,4\n5\n").unwrap();
    assert_user_error(&fit(s(&ragged), "1"), "ragged");
    let nan = dir.join("nan.csv");
    std::fs::write(&nan, "x,y\n1,2\n3,nan\n").unwrap();
    assert_user_error(&fit(s(&nan), "1"), "row 1 column 1");
    let words = dir.join("words.csv");
    std::fs::write(&words, "1,2\n3,four\n").unwrap();
    assert_user_error(&fit(s(&words), "1"), "\"four\" is not a number");
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8', 'shape': (99999999999, 99999999999)}")
        .unwrap();
    assert_user_error(&fit(s(&garbage), "1"), "not a valid .npy file");
    std::fs::write(&garbage, b"hello").unwrap();
    assert_user_error(&fit(s(&garbage), "1"), "not a valid .npy file");
    assert_user_error(&fit(s(&dir.join("x.txt")), "1"), "cannot open");
    // A model of another dimension.
    let three = dir.join("three.csv");
    std::fs::write(&three, "1,2,3\n4,5,6\n7,8,9\n").unwrap();
    let o = nogil(&["predict", "--model", s(&model), "--input", s(&three), "--out", s(&dir.join("p.npy"))]);
    assert_user_error(&o, "has 3 features but the model");
    std::fs::write(dir.join("bad.json"), "{\"not\": \"a model\"}").unwrap();
    let o = nogil(&["score", "--model", s(&dir.join("bad.json")), "--input", &fixture("numpy_f64.npy")]);
    assert_user_error(&o, "is not a nogil model file");
    // Bad options.
    assert_user_error(
        &nogil(&[
            "fit",
            "--input",
            &fixture("numpy_f64.npy"),
            "--components",
            "2",
            "--out",
            s(&model),
            "--reg-covar=-1",
        ]),
        "reg_covar",
    );
    assert_user_error(
        &nogil(&["fit", "--input", &fixture("numpy_f64.npy"), "--components", "two", "--out", s(&model)]),
        "invalid value",
    );
    assert_user_error(&nogil(&["report", "--runs", "0", "--out", s(&dir)]), "--runs must be at least 1");
    let o = nogil(&[
        "fit",
        "--input",
        &fixture("numpy_f64.npy"),
        "--components",
        "2",
        "--max-iter",
        "0",
        "--out",
        s(&model),
    ]);
    assert_user_error(&o, "--max-iter must be at least 1");
    assert_user_error(
        &nogil(&[
            "fit",
            "--input",
            &fixture("numpy_f64.npy"),
            "--components",
            "2",
            "--threads",
            "0",
            "--out",
            s(&model),
        ]),
        "thread count of 0",
    );
}

/// The model a fit of `input` saves, with `extra` options (2 components, seed 0).
fn fitted(dir: &Path, input: &str, extra: &[&str]) -> serde_json::Value {
    let out = dir.join(format!("{}.json", Path::new(input).file_stem().unwrap().to_str().unwrap()));
    let mut args = vec!["fit", "--input", input, "--components", "2", "--out", s(&out)];
    args.extend_from_slice(extra);
    nogil_ok(&args);
    let mut json = read_json(&out);
    json["lower_bounds"] = serde_json::Value::Null; // compared through the parameters
    json
}

#[test]
fn every_dtype_byte_order_memory_order_and_version_numpy_writes_is_read_as_numpy_converts_it() {
    let dir = scratch("dtypes");
    // The fixtures (make_dtypes.py) hold one 6 × 2 matrix of small integers,
    // exact in every dtype: each must give the float64 file's fit, to the bit.
    let want = fitted(&dir, &fixture("dtype_f8.npy"), &[]);
    let codes = ["f2", "f4", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "be_f2", "be_f4", "be_i4", "be_u2"];
    let others = ["fortran_be_f4", "fortran_i2", "v2", "v3"];
    for name in codes.iter().chain(&others) {
        let got = fitted(&dir, &fixture(&format!("dtype_{name}.npy")), &[]);
        assert_eq!(got, want, "dtype_{name}.npy");
    }
    // The seed-sized fixtures: big-endian and Fortran order hold numpy_f64's values.
    let want = fitted(&dir, &fixture("numpy_f64.npy"), &[]);
    for name in ["numpy_big_endian.npy", "numpy_fortran.npy"] {
        assert_eq!(fitted(&dir, &fixture(name), &[]), want, "{name}");
    }
    // Bool is 0 and 1, as numpy's astype(float64) gives.
    let csv = dir.join("bool.csv");
    std::fs::write(&csv, "0,1\n0,1\n0,1\n0,1\n0,1\n0,1\n").unwrap();
    assert_eq!(fitted(&dir, &fixture("dtype_bool.npy"), &[]), fitted(&dir, s(&csv), &[]));
    // float16's extremes, subnormal and non-dyadic values convert as numpy converts them.
    let half = fitted(&dir, &fixture("f16_specials.npy"), &[]);
    assert_eq!(half, fitted(&dir, &fixture("f16_specials_as_f64.npy"), &[]));
    // Initial precisions in Fortran order are read in C order.
    let c_order = dir.join("precisions_c.npy");
    let prec = [1.0, 0.1, 0.1, 2.0, 0.5, 0.0, 0.0, 0.5, 1.5, -0.2, -0.2, 1.0];
    std::fs::write(&c_order, npy(&[3, 2, 2], &prec)).unwrap();
    let given = |p: &Path| {
        let out = dir.join("given.json");
        let input = fixture("numpy_f64.npy");
        nogil_ok(&[
            "fit",
            "--input",
            &input,
            "--components",
            "3",
            "--max-iter",
            "1",
            "--precisions-init",
            s(p),
            "--out",
            s(&out),
        ]);
        read_json(&out)
    };
    assert_eq!(given(Path::new(&fixture("precisions_fortran.npy"))), given(&c_order));
}

/// Runs the program with the crash hook set: it aborts after writing and
/// syncing a temporary file, before renaming it over the output.
fn nogil_crashing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nogil"))
        .args(args)
        .env("NOGIL_TEST_CRASH_BEFORE_RENAME", "1")
        .output()
        .expect("the nogil binary runs")
}

/// No temporary file of the program's is left in `dir`.
fn assert_no_temporary_files(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".nogil-"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn an_output_that_names_an_input_is_refused_before_any_work() {
    let dir = scratch("same_file");
    let x = dir.join("x.npy");
    std::fs::copy(fixture("numpy_f64.npy"), &x).unwrap();
    let original = std::fs::read(&x).unwrap();
    let means = dir.join("means.npy");
    std::fs::write(&means, npy(&[2, 2], &[0.0, 0.0, 6.0, 6.0])).unwrap();
    let model = dir.join("model.json");
    let fit = |extra: &[&str]| {
        let mut args = vec!["fit", "--input", s(&x), "--components", "2"];
        args.extend_from_slice(extra);
        nogil(&args)
    };
    assert_user_error(&fit(&["--out", s(&x)]), "--out");
    assert_user_error(&fit(&["--out", s(&model), "--labels", s(&x)]), "--labels");
    assert_user_error(&fit(&["--means-init", s(&means), "--out", s(&means)]), "is the file --means-init reads");
    assert_user_error(&fit(&["--out", s(&model), "--labels", s(&model)]), "name the same file");
    // The same file under another name: a path through "..", a hard link, a symbolic link.
    let dotted = dir.join("sub");
    std::fs::create_dir_all(&dotted).unwrap();
    let dotted = dotted.join("..").join("x.npy");
    assert_user_error(&fit(&["--out", s(&dotted)]), "is the file --input reads");
    let hard = dir.join("hard.npy");
    std::fs::hard_link(&x, &hard).unwrap();
    assert_user_error(&fit(&["--out", s(&hard)]), "is the file --input reads");
    #[cfg(unix)]
    {
        let soft = dir.join("soft.npy");
        std::os::unix::fs::symlink(&x, &soft).unwrap();
        assert_user_error(&fit(&["--out", s(&soft)]), "is the file --input reads");
    }
    // A directory, or a path in a directory that does not exist.
    assert_user_error(&fit(&["--out", s(&dir)]), "is a directory");
    assert_user_error(&fit(&["--out", s(&dir.join("nowhere").join("m.json"))]), "does not exist");
    assert_eq!(std::fs::read(&x).unwrap(), original, "the input is untouched");
    assert!(!model.exists(), "nothing was fitted or written");
    // predict: neither the model nor the data may be overwritten.
    nogil_ok(&["fit", "--input", s(&x), "--components", "2", "--out", s(&model)]);
    let saved = std::fs::read(&model).unwrap();
    for out in [&model, &x] {
        let o = nogil(&["predict", "--model", s(&model), "--input", s(&x), "--out", s(out)]);
        assert_user_error(&o, "write to another path so the input is kept");
    }
    assert_eq!((std::fs::read(&model).unwrap(), std::fs::read(&x).unwrap()), (saved, original));
    assert_no_temporary_files(&dir);
}

#[test]
fn an_interrupted_write_leaves_the_previous_file_whole() {
    let dir = scratch("interrupted");
    let model = dir.join("model.json");
    let labels = dir.join("labels.npy");
    let before: &[u8] = b"the previous file, which must survive";
    // fit --out: the crash comes after the new model's temporary file is synced.
    std::fs::write(&model, before).unwrap();
    let input = fixture("numpy_f64.npy");
    let o = nogil_crashing(&["fit", "--input", &input, "--components", "2", "--out", s(&model)]);
    assert!(!o.status.success(), "the hook stops the run");
    assert_eq!(std::fs::read(&model).unwrap(), before);
    // The temporary file holds the whole new model; only the rename was missed.
    let tmp: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".model.json.nogil-"))
        .collect();
    assert_eq!(tmp.len(), 1, "{tmp:?}");
    assert_eq!(read_json(&tmp[0])["n_components"], 2);
    std::fs::remove_file(&tmp[0]).unwrap();
    // Without the hook the same command replaces the file whole, and keeps its permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    nogil_ok(&["fit", "--input", &input, "--components", "2", "--out", s(&model), "--labels", s(&labels)]);
    assert_eq!(read_json(&model)["n_components"], 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&model).unwrap().permissions().mode() & 0o777, 0o640);
    }
    let (fitted_model, fitted_labels) = (std::fs::read(&model).unwrap(), std::fs::read(&labels).unwrap());
    // fit --labels, predict --out, report: each output survives a crash before its rename.
    let o = nogil_crashing(&[
        "fit",
        "--input",
        &input,
        "--components",
        "3",
        "--out",
        s(&dir.join("m3.json")),
        "--labels",
        s(&labels),
    ]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&labels).unwrap(), fitted_labels, "the labels file");
    let o = nogil_crashing(&["predict", "--model", s(&model), "--input", &input, "--proba", "--out", s(&labels)]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&labels).unwrap(), fitted_labels, "predict's output");
    assert_eq!(std::fs::read(&model).unwrap(), fitted_model, "predict's model input");
    let report = dir.join("report");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(report.join("results.json"), before).unwrap();
    let o = nogil_crashing(&["report", "--quick", "--runs", "1", "--only", "counters", "--out", s(&report)]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(report.join("results.json")).unwrap(), before, "the report's results");
    // And whole runs leave no temporary file behind.
    for d in [&dir, &report] {
        for p in std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()) {
            if p.file_name().unwrap().to_string_lossy().contains(".nogil-") {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    nogil_ok(&["report", "--quick", "--runs", "1", "--only", "counters", "--out", s(&report)]);
    assert_eq!(read_json(&report.join("results.json"))["settings"]["runs"], 1);
    nogil_ok(&["predict", "--model", s(&model), "--input", &input, "--out", s(&labels)]);
    assert_no_temporary_files(&dir);
    assert_no_temporary_files(&report);
}

#[test]
fn a_fit_killed_mid_run_leaves_the_old_model_or_the_new_one_never_part_of_either() {
    let dir = scratch("killed");
    // A fit that takes a while: 2·10⁵ points, 8 components, several starts.
    let mut x = Vec::with_capacity(400_000);
    for i in 0..200_000u32 {
        let t = f64::from(i);
        x.extend([(t * 0.7).sin() * 10.0 + f64::from(i % 8), (t * 1.3).cos() * 10.0]);
    }
    let input = dir.join("x.npy");
    std::fs::write(&input, npy(&[200_000, 2], &x)).unwrap();
    let model = dir.join("model.json");
    let before: &[u8] = b"{\"the previous model\": true}";
    for delay_ms in [0, 30, 100, 300, 1000] {
        std::fs::write(&model, before).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_nogil"))
            .args(["fit", "--input", s(&input), "--components", "8", "--n-init", "4", "--tol", "0"])
            .args(["--max-iter", "60", "--out", s(&model)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let after = std::fs::read(&model).unwrap();
        if after != before {
            let json: serde_json::Value = serde_json::from_slice(&after).expect("a whole model, if not the old file");
            assert_eq!(json["n_components"], 8, "after {delay_ms} ms");
        }
    }
}

#[test]
fn usage_errors_are_one_line() {
    let o = nogil(&["fit", "--input", &fixture("numpy_f64.npy")]);
    assert_user_error(&o, "the following required arguments were not provided: --components <COMPONENTS> --out <OUT>");
    assert_user_error(&nogil(&["fit", "--input", "x.npy", "--components", "2", "--ot", "m.json"]), "'--ot'");
    assert_user_error(&nogil(&["bogus"]), "unrecognized subcommand 'bogus'");
    assert_user_error(&nogil(&["fit", "--schedule", "guided,0"]), "chunk size of 0");
    let o = nogil(&["--help"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Usage: nogil"));
}

#[test]
fn a_closed_standard_output_is_no_panic() {
    // `nogil report | head`: the reader goes away; the report finishes and writes its files.
    let dir = scratch("closed_stdout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nogil"))
        .args(["report", "--quick", "--runs", "1", "--only", "counters", "--out", s(&dir)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(read_json(&dir.join("results.json"))["settings"]["runs"], 1);
}
