//! scikit-learn's figure for the large-`d` experiment: one EM iteration of
//! `sklearn.mixture.GaussianMixture` (full covariances) on the same data
//! from the same parameters, timed in a Python child the way
//! `python/bench.py` times it, where a Python with scikit-learn is found.
//!
//! The interpreter is `$NOGIL_PYTHON`, else `python3`. Nothing here may
//! fail the report: a missing scikit-learn, a child that exits non-zero,
//! hangs past its time limit or prints something unreadable each cost one
//! notice line and the figure, never the run.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Runs, Timing};

/// The environment variable naming the Python to run.
const PYTHON_ENV: &str = "NOGIL_PYTHON";

/// What a `--quick` report gives scikit-learn in all, from the probe on:
/// a child still running then is stopped, and later shapes are skipped.
const QUICK_BUDGET: Duration = Duration::from_secs(20);

/// The longest a child may run in a full report.
const CHILD_LIMIT: Duration = Duration::from_secs(900);

/// The child: argv is `x.npy weights.npy means.npy covariances.npy runs
/// budget_s span_s`. It times fits of `1` and `1 + m` iterations from the
/// given parameters with `tol=0` (so each runs exactly `max_iter`
/// iterations) and takes `(T(1 + m) − T(1)) / m` as one repeat's time per
/// iteration, which cancels what a fit does once (validation, the check of
/// `precisions_init`, the final E-step). `m` is 3 for the first repeat, then
/// enough for about `span` seconds of iterations (3 to 500). Repeats stop at
/// `runs`, or once they took `budget` seconds (`0`: no budget). A fit of a
/// small problem first loads what scikit-learn loads lazily and starts the
/// BLAS threads. Prints one JSON object: the seconds of each repeat, the
/// last `m`, the lower bound after one iteration (the mean log-likelihood
/// under the initial model, what nogil's `step` returns) and the versions.
const SCRIPT: &str = r#"
import json, math, sys, time, warnings
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

x_path, w_path, m_path, c_path = sys.argv[1:5]
runs, budget, span = int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
X = np.load(x_path)
weights = np.load(w_path)
means = np.load(m_path)
precisions = np.linalg.inv(np.load(c_path))
precisions = (precisions + np.swapaxes(precisions, 1, 2)) / 2


def fit(iters, data=X, k=weights.shape[0], init=None):
    init = dict(weights_init=weights, means_init=means, precisions_init=precisions) if init is None else init
    gm = GaussianMixture(n_components=k, covariance_type="full", tol=0.0, max_iter=iters, reg_covar=1e-6, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        gm.fit(data)
        t = time.perf_counter() - t0
    if gm.n_iter_ != iters:
        raise SystemExit(f"scikit-learn ran {gm.n_iter_} iterations, not {iters}")
    return t, gm


fit(1, np.random.default_rng(0).standard_normal((64, 2)), 2, {})
seconds, m, bound = [], 3, None
started = time.perf_counter()
while len(seconds) < runs:
    one, gm = fit(1)
    bound = gm.lower_bound_ if bound is None else bound
    more, _ = fit(1 + m)
    seconds.append((more - one) / m)
    used = m
    if budget > 0 and time.perf_counter() - started >= budget:
        break
    if len(seconds) == 1:
        m = max(3, min(500, math.ceil(span / max(seconds[0], 1e-6))))
print(json.dumps({"seconds": seconds, "m": used, "lower_bound": bound,
                  "sklearn": sklearn.__version__, "numpy": np.__version__}))
"#;

/// What the child prints.
#[derive(Deserialize)]
struct Output {
    seconds: Vec<f64>,
    m: usize,
    lower_bound: f64,
    sklearn: String,
    numpy: String,
}

/// A Python with scikit-learn and numpy, found by [`probe`].
pub(super) struct Sklearn {
    pub python: String,
    /// The end of [`QUICK_BUDGET`] in a `--quick` report.
    deadline: Option<Instant>,
}

/// One shape's data and initial parameters, row-major: `x` is `n × d`,
/// `means` `k × d`, `covariances` `k × d × d`.
pub(super) struct Problem<'a> {
    pub x: &'a [f64],
    pub d: usize,
    pub weights: &'a [f64],
    pub means: &'a [f64],
    pub covariances: &'a [f64],
}

/// scikit-learn's time per iteration on one shape.
pub(super) struct Figure {
    pub timing: Timing,
    /// The mean log-likelihood under the initial model.
    pub lower_bound: f64,
    /// Iterations timed per repeat (the last repeat's `m`).
    pub m: usize,
    pub versions: String,
}

/// Looks for a Python that imports scikit-learn and numpy: `Err` says why
/// not, in a few words with the interpreter's name. With `quick`, what
/// scikit-learn is given ([`QUICK_BUDGET`]) starts now.
pub(super) fn probe(quick: bool) -> Result<Sklearn, String> {
    let deadline = quick.then(|| Instant::now() + QUICK_BUDGET);
    let python = std::env::var(PYTHON_ENV).ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-c", "import sklearn, numpy"]);
    match run(cmd, QUICK_BUDGET) {
        Ok(done) if done.ok => Ok(Sklearn { python, deadline }),
        Ok(done) => Err(format!("{python}: {}", done.reason())),
        Err(e) => Err(format!("{python}: {e}")),
    }
}

impl Sklearn {
    /// Times scikit-learn's iteration on `p` with BLAS (and OpenMP) on
    /// `threads` threads, at most `runs` repeats (3 with `quick`, 5 else)
    /// within `runs`' budget (1 s with `quick`), and within what is left of
    /// [`QUICK_BUDGET`] with `quick`. `Err` says why there is no figure, in
    /// a few words.
    pub(super) fn time(&self, p: &Problem, threads: usize, runs: Runs, quick: bool) -> Result<Figure, String> {
        let spent = || format!("a quick report gives scikit-learn {} s in all", QUICK_BUDGET.as_secs());
        let limit = self.deadline.map_or(CHILD_LIMIT, |end| end.saturating_duration_since(Instant::now()));
        if limit < Duration::from_secs(1) {
            return Err(format!("{}, spent", spent()));
        }
        let k = p.weights.len();
        let (n, d) = (p.x.len() / p.d, p.d);
        let dir = TempDir::new()?;
        let file = |name: &str| dir.0.join(name);
        let write = |name: &str, values: &[f64], shape: &[usize]| crate::io::write_npy_f64(&file(name), values, shape);
        write("x.npy", p.x, &[n, d])?;
        write("weights.npy", p.weights, &[k])?;
        write("means.npy", p.means, &[k, d])?;
        write("covariances.npy", p.covariances, &[k, d, d])?;
        let most = runs.most.clamp(1, if quick { 3 } else { 5 });
        let budget = runs.budget.map_or(0.0, |b| if quick { b.min(Duration::from_secs(1)) } else { b }.as_secs_f64());
        let span = if quick { 0.05 } else { 0.5 };
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c").arg(SCRIPT);
        for name in ["x.npy", "weights.npy", "means.npy", "covariances.npy"] {
            cmd.arg(file(name));
        }
        cmd.args([most.to_string(), budget.to_string(), span.to_string()]);
        for var in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] {
            cmd.env(var, threads.to_string());
        }
        let done =
            run(cmd, limit).map_err(|e| if self.deadline.is_some() { format!("{e}: {}", spent()) } else { e })?;
        drop(dir);
        if !done.ok {
            return Err(done.reason());
        }
        let line = done.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let out: Output = serde_json::from_str(line)
            .map_err(|e| format!("unreadable output ({e}): {}", line.chars().take(120).collect::<String>()))?;
        if out.seconds.is_empty() || !out.lower_bound.is_finite() {
            return Err(format!("no usable output: {}", line.chars().take(120).collect::<String>()));
        }
        if let Some(bad) = out.seconds.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!(
                "a repeat came out at {bad:.3e} s per iteration: the machine's noise swamped {} iterations",
                out.m
            ));
        }
        Ok(Figure {
            timing: Timing::of(out.seconds),
            lower_bound: out.lower_bound,
            m: out.m,
            versions: format!("scikit-learn {}, numpy {}", out.sklearn, out.numpy),
        })
    }
}

/// A directory of this process under the system's temporary directory,
/// removed with everything in it when dropped (also on an early return).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("nogil-report-sklearn-{}", std::process::id()));
        // A directory left by an earlier process of the same id.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A finished child.
struct Done {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Done {
    /// Why it failed: the last line of its standard error, else its status.
    fn reason(&self) -> String {
        match self.stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            Some(line) => line.chars().take(200).collect(),
            None => self.status.clone(),
        }
    }
}

/// Runs `cmd` with no standard input, its output captured, and kills it
/// (the child this call started, by its handle) after `limit`.
fn run(mut cmd: Command, limit: Duration) -> Result<Done, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => break Err(format!("stopped after {:.1} s", limit.as_secs_f64())),
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
    };
    if status.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    let status = status?;
    Ok(Done { ok: status.success(), status: status.to_string(), stdout, stderr })
}

/// Reads a pipe to its end on a thread of its own, so that neither pipe of
/// the child fills while the other is read.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    })
}

fn collect(reader: Option<JoinHandle<String>>) -> String {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}
