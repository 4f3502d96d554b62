//! `nogil report`: every experiment of the notebook, in its order and at its
//! sizes, each variant it tried beside its nogil counterpart, with median
//! times, speedups, correctness checks, `results.json` and SVG plots.

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nogil::data::{SEED_SET_A, SEED_SET_B, SeedSet, randn};
use nogil::gmm::{GaussianMixture, GaussianMixtureModel, Init, InitialParams, Parallelism};
use nogil::kernels::counter::{CounterKind, count, count_mirror};
use nogil::kernels::pairwise::{pairwise_sum, pairwise_sum_exact, pairwise_sum_mirror, pairwise_sum_tasks};
use nogil::kernels::seed_em;
use nogil::kernels::summarize::{
    summarize, summarize_compensated, summarize_mirror, summarize_simd, summarize_strided,
};
use nogil::{Executor, Pool, Rayon, Schedule, Sequential, SpawnPerCall};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::json;

use crate::plot;

mod large_d;
mod sklearn;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    Counters,
    Summarize,
    Pipes,
    Pairwise,
    Gmm,
    /// The mixture at large d beside the FMA floor.
    GmmLargeD,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Smaller sizes: the whole report in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Directory for results.json and the SVG plots.
    #[arg(long, default_value = "nogil-report")]
    out: PathBuf,
    /// Threads for the parallel variants (default: every allowed CPU, at least 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run one experiment only.
    #[arg(long, value_enum)]
    only: Option<Experiment>,
    /// Timed runs per variant, exactly; the median is reported. Default: 5 (3 with
    /// --quick, 3 for the mixture fits), but no more once a variant's runs have taken 2 s.
    #[arg(long)]
    runs: Option<usize>,
}

impl Default for ReportArgs {
    fn default() -> Self {
        ReportArgs { quick: false, out: PathBuf::from("nogil-report"), threads: None, seed: 0, only: None, runs: None }
    }
}

/// One line of the report.
#[derive(Serialize, Clone)]
pub struct Row {
    pub experiment: String,
    pub variant: String,
    pub threads: usize,
    pub median_s: f64,
    /// The fastest and slowest of the timed runs.
    pub min_s: f64,
    pub max_s: f64,
    /// How many runs were timed.
    pub runs: usize,
    /// Median time of the experiment's baseline divided by this one's.
    pub speedup: Option<f64>,
    pub check_ok: bool,
    pub check: String,
}

struct Ctx {
    runs: Runs,
    threads: usize,
    quick: bool,
    seed: u64,
    rows: Vec<Row>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Ctx {
    /// Records a row; the speedup is against the baseline's median time.
    #[allow(clippy::too_many_arguments)] // one argument per column of the table
    fn push(
        &mut self,
        experiment: &str,
        variant: &str,
        threads: usize,
        t: Timing,
        baseline: Option<f64>,
        ok: bool,
        check: String,
    ) {
        self.rows.push(Row {
            experiment: experiment.into(),
            variant: variant.into(),
            threads,
            median_s: t.median,
            min_s: t.min,
            max_s: t.max,
            runs: t.runs,
            speedup: baseline.map(|b| b / t.median),
            check_ok: ok,
            check,
        });
        let r = self.rows.last().expect("just pushed");
        say!(
            "  {:<48} {:>3} thr  {:>11} {:>4}  {:>9}  {} {}",
            r.variant,
            r.threads,
            human(r.median_s),
            format!("×{}", r.runs),
            r.speedup.map_or("—".into(), |s| format!("{s:.2}×")),
            if r.check_ok { "✓" } else { "✗" },
            r.check
        );
    }
}

/// How many times a variant is timed.
#[derive(Clone, Copy)]
struct Runs {
    /// At most this many runs (at least one).
    most: usize,
    /// Stop early once the runs so far took this long in all. A run of
    /// seconds (the seed's EM, 25 or 50 iterations over 4·10⁶ points) is
    /// itself many repetitions of one step, where a microsecond variant
    /// needs its runs; each row records its fastest and slowest run, so
    /// what a single run leaves unknown is not hidden.
    budget: Option<Duration>,
}

impl Runs {
    /// The report's wall-time budget per variant, when `--runs` is not given.
    const BUDGET: Duration = Duration::from_secs(2);

    /// A smaller default for slow experiments; an explicit `--runs` stays exact.
    fn at_most(self, most: usize) -> Runs {
        match self.budget {
            Some(_) => Runs { most: self.most.min(most), ..self },
            None => self,
        }
    }
}

/// A variant's timed runs.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
}

/// Times calls of `f` as `runs` says, and returns the last call's value.
fn time<T>(runs: Runs, mut f: impl FnMut() -> T) -> (Timing, T) {
    let mut times = Vec::with_capacity(runs.most);
    let mut last = None;
    let started = Instant::now();
    for _ in 0..runs.most.max(1) {
        let t = Instant::now();
        let v = black_box(f());
        times.push(t.elapsed().as_secs_f64());
        last = Some(v);
        if runs.budget.is_some_and(|b| started.elapsed() >= b) {
            break;
        }
    }
    (Timing::of(times), last.expect("at least one run"))
}

impl Timing {
    /// The median, fastest and slowest of `times` (at least one sample).
    fn of(mut times: Vec<f64>) -> Timing {
        times.sort_by(f64::total_cmp);
        let n = times.len();
        let median = if n % 2 == 1 { times[n / 2] } else { (times[n / 2 - 1] + times[n / 2]) / 2.0 };
        Timing { median, min: times[0], max: times[n - 1], runs: n }
    }
}

fn human(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn run(a: &ReportArgs) -> Result<(), String> {
    let threads = match a.threads {
        Some(0) => return Err("--threads must be at least 1".into()),
        Some(t) => t,
        None => nogil::default_threads().map_err(|e| e.to_string())?.max(2),
    };
    let runs = match a.runs {
        Some(0) => return Err("--runs must be at least 1".into()),
        Some(most) => Runs { most, budget: None },
        None => Runs { most: if a.quick { 3 } else { 5 }, budget: Some(Runs::BUDGET) },
    };
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let build = nogil::build_info();
    say!("nogil report — {}", if a.quick { "quick sizes" } else { "the notebook's sizes" });
    say!(
        "machine: {} ({} CPUs allowed); build: {build}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    match runs.budget {
        None => say!("parallel variants use {threads} threads; median of {} runs\n", runs.most),
        Some(b) => say!(
            "parallel variants use {threads} threads; median of {} runs, fewer where they take over {:.1} s in all\n",
            runs.most,
            b.as_secs_f64()
        ),
    }
    let mut ctx = Ctx { runs, threads, quick: a.quick, seed: a.seed, rows: vec![], extra: serde_json::Map::new() };
    let wanted = |e: Experiment| a.only.is_none_or(|o| o == e);
    let started = Instant::now();
    if wanted(Experiment::Counters) {
        counters(&mut ctx)?;
    }
    if wanted(Experiment::Summarize) {
        summarize_experiment(&mut ctx)?;
    }
    if wanted(Experiment::Pipes) {
        pipes(&mut ctx)?;
    }
    if wanted(Experiment::Pairwise) {
        pairwise(&mut ctx)?;
    }
    if wanted(Experiment::Gmm) {
        gmm(&mut ctx, &a.out)?;
    }
    if wanted(Experiment::GmmLargeD) {
        large_d::large_d(&mut ctx)?;
    }
    let summary = summarize_findings(&ctx);
    say!("\nsummary");
    for line in &summary {
        say!("  {line}");
    }
    for experiment in ["counters", "summarize", "pipes", "pairwise", "gmm"] {
        let bars: Vec<plot::Bar> = ctx
            .rows
            .iter()
            .filter(|r| r.experiment.starts_with(experiment))
            .filter_map(|r| {
                let label =
                    format!("{} · {} · {}t", r.experiment, r.variant.chars().take(48).collect::<String>(), r.threads);
                r.speedup.map(|speedup| plot::Bar { label, speedup, ok: r.check_ok })
            })
            .collect();
        if !bars.is_empty() {
            plot::speedup_bars(&a.out.join(format!("speedup_{experiment}.svg")), experiment, &bars)?;
        }
    }
    let results = json!({
        "nogil_version": env!("CARGO_PKG_VERSION"),
        "machine": {
            "cpu": cpu_model(),
            "cpus_allowed": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "build": {
            "simd": build.isa,
            "lanes": build.lanes,
            "compiled": build.compiled.iter().map(|i| i.name()).collect::<Vec<_>>(),
            "available": build.available.iter().map(|i| i.name()).collect::<Vec<_>>(),
            "summary": build.to_string(),
        },
        "settings": {
            "quick": a.quick, "threads": threads, "runs": runs.most,
            "run_budget_s": runs.budget.map(|b| b.as_secs_f64()), "seed": a.seed,
        },
        "rows": ctx.rows,
        "summary": summary,
        "details": ctx.extra,
        "elapsed_s": started.elapsed().as_secs_f64(),
    });
    let path = a.out.join("results.json");
    let text = serde_json::to_string_pretty(&results).map_err(|e| format!("cannot encode results: {e}"))?;
    crate::io::write_atomic(&path, text.as_bytes())?;
    say!("\nwrote {} and SVG plots in {} ({:.1} s)", path.display(), a.out.display(), started.elapsed().as_secs_f64());
    if ctx.rows.iter().any(|r| !r.check_ok) {
        say!("note: some checks failed (✗ above)");
    }
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn header(title: &str) {
    say!("{title}");
    say!("  {:<48} {:>7}  {:>11} {:>4}  {:>9}  check", "variant", "threads", "median", "runs", "speedup");
}

// ---------------------------------------------------------------------------

fn counters(ctx: &mut Ctx) -> Result<(), String> {
    let n = if ctx.quick { 1_000_000 } else { 10_000_000 };
    let threads = 4;
    header(&format!("1. counters: {n} increments, {threads} threads (cells 2–4)"));
    let bar = progress(CounterKind::ALL.len() + 1, "counters");
    let (base, value) = time(ctx.runs, || count_mirror(n as u64));
    bar.inc(1);
    ctx.push(
        "counters",
        "sequential loop (mirror)",
        1,
        base,
        Some(base.median),
        value == n as u64,
        format!("value {value}"),
    );
    let pool = Pool::new(threads).map_err(|e| e.to_string())?;
    for kind in CounterKind::ALL {
        bar.set_message(kind.name());
        let (t, r) = time(ctx.runs, || count(kind, &pool, n));
        bar.inc(1);
        let ok = if kind.can_lose_updates() { r.value <= r.expected } else { r.value == r.expected };
        let label = match kind {
            CounterKind::Racy => "racy: read, then write (cell 2)",
            CounterKind::Locked => "locked: `with gil` around the increment (cell 3)",
            CounterKind::Split => "split: read outside, write inside the lock (cell 4)",
            CounterKind::Atomic => "atomic fetch_add",
            CounterKind::Sharded => "sharded: one padded counter per thread",
        };
        ctx.push(
            "counters",
            label,
            threads,
            t,
            Some(base.median),
            ok,
            format!("value {} of {}, lost {}", r.value, r.expected, r.lost),
        );
    }
    bar.finish_and_clear();
    say!();
    Ok(())
}

fn summarize_experiment(ctx: &mut Ctx) -> Result<(), String> {
    let n = if ctx.quick { 1_000_000 } else { 10_000_000 };
    let t = ctx.threads;
    header(&format!("2. summarize: {n} values of randn + 8.342 (cells 5–11)"));
    let mut x = randn(&mut StdRng::seed_from_u64(ctx.seed ^ 5), n).map_err(|e| e.to_string())?;
    x.iter_mut().for_each(|v| *v += 8.342);
    let pool = Pool::new(t).map_err(|e| e.to_string())?;
    let reference = summarize_compensated(&pool, &x).sum;
    let check = |s: nogil::kernels::summarize::Summary| {
        let ok = s.len == n && (s.sum - reference).abs() <= 1e-12 * reference.abs();
        (ok, format!("len {}, sum {:.6}", s.len, s.sum))
    };
    let bar = progress(9, "summarize");
    let (base, s) = time(ctx.runs, || summarize_mirror(&x));
    bar.inc(1);
    let (ok, c) = check(s);
    ctx.push("summarize", "sequential loop (mirror, cell 5)", 1, base, Some(base.median), ok, c);
    let (tm, s) = time(ctx.runs, || summarize_simd(&x));
    bar.inc(1);
    let (ok, c) = check(s);
    ctx.push("summarize", "SIMD, one thread", 1, tm, Some(base.median), ok, c);
    let (tm, s) = time(ctx.runs, || summarize_strided(&pool, &x, t).expect("t >= 1"));
    bar.inc(1);
    let (ok, c) = check(s);
    ctx.push("summarize", "strided partitions x[i::t], pool (cell 8)", t, tm, Some(base.median), ok, c);
    let rayon = Rayon::new(t).map_err(|e| e.to_string())?;
    let spawn = SpawnPerCall::new(t, Schedule::Static { chunk: None }).map_err(|e| e.to_string())?;
    let guided = pool.with_schedule(Schedule::Guided { min_chunk: 1 }).map_err(|e| e.to_string())?;
    let execs: [(&str, &dyn Executor); 4] = [
        ("contiguous blocks, pool static (cell 10)", &pool),
        ("contiguous blocks, pool guided", &guided),
        ("contiguous blocks, rayon (joblib threads)", &rayon),
        ("contiguous blocks, threads spawned per call", &spawn),
    ];
    for (label, exec) in execs {
        let (tm, s) = time(ctx.runs, || summarize(exec, &x));
        bar.inc(1);
        let (ok, c) = check(s);
        ctx.push("summarize", label, t, tm, Some(base.median), ok, c);
    }
    let (tm, s) = time(ctx.runs, || summarize(&Pool::new(t).expect("built above"), &x));
    bar.inc(1);
    let (ok, c) = check(s);
    ctx.push("summarize", "a new pool created per call (Pool(4) per call)", t, tm, Some(base.median), ok, c);
    let (tm, s) = time(ctx.runs, || summarize_compensated(&pool, &x));
    bar.inc(1);
    let (ok, c) = check(s);
    ctx.push("summarize", "compensated (Neumaier), pool", t, tm, Some(base.median), ok, c);
    bar.finish_and_clear();
    say!();
    Ok(())
}

/// The pipe experiment's child: standard input back to standard output.
pub fn echo() -> Result<(), String> {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("echo: {e}"))?;
    std::io::stdout().write_all(&buf).map_err(|e| format!("echo: {e}"))
}

fn pipe_round_trip(exe: &std::path::Path, data: &[f64]) -> Result<Vec<f64>, String> {
    let mut child = Command::new(exe)
        .arg("__echo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the pipe child: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let mut out = Vec::with_capacity(data.len() * 8);
    child.stdout.take().expect("piped").read_to_end(&mut out).map_err(|e| format!("pipe: {e}"))?;
    writer.join().map_err(|_| "the pipe writer failed".to_string())?.map_err(|e| format!("pipe: {e}"))?;
    child.wait().map_err(|e| format!("pipe child: {e}"))?;
    Ok(out.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

fn pipes(ctx: &mut Ctx) -> Result<(), String> {
    header("3. moving data: through an OS pipe to a child process and back, vs handed to a pinned thread (cell 7)");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let sizes: &[usize] = if ctx.quick { &[10_000, 100_000] } else { &[10_000, 100_000, 1_000_000] };
    let bar = progress(2 * sizes.len(), "pipes");
    // One pinned echo thread, fed through channels: ownership moves, no bytes are copied.
    let (to_thread, thread_in) = std::sync::mpsc::channel::<Vec<f64>>();
    let (thread_out, from_thread) = std::sync::mpsc::channel::<Vec<f64>>();
    let core = nogil::sched::allowed_core_ids().last().copied();
    let echo_thread = std::thread::spawn(move || {
        if let Some(core) = core {
            nogil::sched::pin_current_thread(core);
        }
        for v in thread_in {
            if thread_out.send(v).is_err() {
                break;
            }
        }
    });
    for &n in sizes {
        let data: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        let (base, back) = {
            let mut err = None;
            let r = time(ctx.runs, || match pipe_round_trip(&exe, &data) {
                Ok(v) => v,
                Err(e) => {
                    err = Some(e);
                    vec![]
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
            r
        };
        bar.inc(1);
        let ok = back == data;
        ctx.push(
            &format!("pipes {n}"),
            &format!("{n} numbers through a pipe to a child process"),
            1,
            base,
            Some(base.median),
            ok,
            format!("{} numbers back intact", back.len()),
        );
        let mut buf = Some(data.clone());
        let (tm, ok) = time(ctx.runs, || {
            let v = buf.take().expect("returned by the thread");
            to_thread.send(v).expect("the echo thread is alive");
            let v = from_thread.recv().expect("the echo thread answers");
            let ok = v.len() == n;
            buf = Some(v);
            ok
        });
        bar.inc(1);
        let ok = ok && buf.as_deref() == Some(&data[..]);
        ctx.push(
            &format!("pipes {n}"),
            &format!("{n} numbers handed to a pinned thread"),
            1,
            tm,
            Some(base.median),
            ok,
            "same buffer back".into(),
        );
    }
    drop(to_thread);
    let _ = echo_thread.join();
    bar.finish_and_clear();
    say!();
    Ok(())
}

fn pairwise(ctx: &mut Ctx) -> Result<(), String> {
    let t = ctx.threads;
    let small: &[usize] = if ctx.quick { &[1_000, 2_000] } else { &[1_000, 5_000] };
    let big = if ctx.quick { 20_000 } else { 100_000 };
    header("4. pairwise sum Σᵢ Σⱼ xᵢxⱼ, O(n²) (cells 12–36)");
    let bar = progress(small.len() * 4 + 3, "pairwise");
    let mut rng = StdRng::seed_from_u64(ctx.seed ^ 12);
    let pool = Pool::new(t).map_err(|e| e.to_string())?;
    let dynamic = pool.with_schedule(Schedule::Dynamic { chunk: 1 }).map_err(|e| e.to_string())?;
    let guided = pool.with_schedule(Schedule::Guided { min_chunk: 1 }).map_err(|e| e.to_string())?;
    for &n in small {
        let x = randn(&mut rng, n).map_err(|e| e.to_string())?;
        let exact = pairwise_sum_exact(&Sequential, &x);
        let abs: f64 = x.iter().map(|v| v.abs()).sum();
        let bound = 4.0 * n as f64 * f64::EPSILON * abs * abs;
        let check = |v: f64| ((v - exact).abs() <= bound, format!("{v:.6e} (exact {exact:.6e})"));
        let name = format!("pairwise n={n}");
        let (base, v) = time(ctx.runs, || pairwise_sum_mirror(&x));
        bar.inc(1);
        let (ok, c) = check(v);
        ctx.push(&name, "sequential loop (mirror, cell 28)", 1, base, Some(base.median), ok, c);
        let (tm, v) = time(ctx.runs, || pairwise_sum(&Sequential, &x));
        bar.inc(1);
        let (ok, c) = check(v);
        ctx.push(&name, "SIMD, one thread", 1, tm, Some(base.median), ok, c);
        let (tm, v) = time(ctx.runs, || pairwise_sum_tasks(&dynamic, &x));
        bar.inc(1);
        let (ok, c) = check(v);
        ctx.push(&name, "one task per element, pool dynamic,1 (cell 32)", t, tm, Some(base.median), ok, c);
        let (tm, v) = time(ctx.runs, || pairwise_sum(&guided, &x));
        bar.inc(1);
        let (ok, c) = check(v);
        ctx.push(&name, "SIMD, prange guided on the pool (cell 36)", t, tm, Some(base.median), ok, c);
    }
    let x = randn(&mut rng, big).map_err(|e| e.to_string())?;
    let exact = pairwise_sum_exact(&Sequential, &x);
    let abs: f64 = x.iter().map(|v| v.abs()).sum();
    let bound = 4.0 * big as f64 * f64::EPSILON * abs * abs;
    let name = format!("pairwise n={big}");
    let mut one = None;
    for threads in [1, 2, 4] {
        let p = Pool::new(threads).map_err(|e| e.to_string())?;
        let (tm, v) = time(ctx.runs.at_most(3), || pairwise_sum(&p, &x));
        bar.inc(1);
        let base = *one.get_or_insert(tm.median);
        ctx.push(
            &name,
            "SIMD on the pool (speedup vs 1 thread)",
            threads,
            tm,
            Some(base),
            (v - exact).abs() <= bound,
            format!("{v:.6e} (exact {exact:.6e})"),
        );
    }
    bar.finish_and_clear();
    say!();
    Ok(())
}

// ---------------------------------------------------------------------------
// The Gaussian mixture.

/// Sorted means within `tol` of the set's blob centres `(i·spacing, i·spacing)`.
fn means_check(set: &SeedSet, means: &[f64], tol: f64) -> (bool, String) {
    let worst = set.worst_mean_error(means).unwrap_or(f64::NAN);
    let mut m: Vec<&[f64]> = means.chunks_exact(2).collect();
    m.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let shown: Vec<String> = m.iter().map(|c| format!("({:.3},{:.3})", c[0], c[1])).collect();
    (worst < tol, format!("means {} (worst error {worst:.4})", shown.join(" ")))
}

fn gmm(ctx: &mut Ctx, out: &std::path::Path) -> Result<(), String> {
    let t = ctx.threads;
    let sets = if ctx.quick {
        [("A", SeedSet { per_blob: 20_000, ..SEED_SET_A }), ("B", SeedSet { per_blob: 100_000, ..SEED_SET_B })]
    } else {
        [("A", SEED_SET_A), ("B", SEED_SET_B)]
    };
    let pool = Pool::new(t).map_err(|e| e.to_string())?;
    let guided = pool.with_schedule(Schedule::Guided { min_chunk: 1 }).map_err(|e| e.to_string())?;
    let rayon = Rayon::new(t).map_err(|e| e.to_string())?;
    let spawn = SpawnPerCall::new(t, Schedule::Static { chunk: None }).map_err(|e| e.to_string())?;
    let runs = ctx.runs.at_most(3);
    for (name, set) in sets {
        let (n, spacing, iters) = (set.points(), set.spacing, set.iterations);
        header(&format!(
            "5{}. Gaussian mixture EM: {n} points, 4 blobs {spacing} apart, {iters} iterations (cells {})",
            name.to_lowercase(),
            if name == "A" { "17–18" } else { "37–52" }
        ));
        let bar = progress(11, &format!("gmm {name}"));
        let mut rng = StdRng::seed_from_u64(ctx.seed ^ 37 ^ set.per_blob as u64);
        let x = set.data(&mut rng).map_err(|e| e.to_string())?;
        // The seed's start, randn(m, d)·scale + mean. Set A's (scale 1) sits
        // in the middle of all four blobs, and EM separates it within the
        // seed's 50 iterations; from some of set B's, EM stalls in a local
        // optimum within 25, so the report takes the first draw whose means
        // lie nearest to four different blobs (and says so).
        let (mu0, draws) =
            if name == "A" { (set.start(&mut rng), 1) } else { set.start_near_each_blob(&mut rng, 1000) };
        if draws > 1 {
            say!(
                "  start: draw {draws} of randn(4, 2)·{} + {}, the first whose means are nearest to four different blobs",
                set.start_scale,
                set.mean()
            );
        }
        let cov0 = SeedSet::identity_covariances();
        let exp_name = format!("gmm {name}");
        let (base, fit) = time(runs, || seed_em::em(&x, 2, &mu0, &cov0, iters));
        bar.inc(1);
        let (ok, c) = match &fit {
            Ok(fit) => means_check(&set, &fit.means, 0.05),
            Err(e) => (false, e.to_string()),
        };
        drop(fit);
        ctx.push(&exp_name, "the seed's EM: mirror E-step, numpy-style M-step", 1, base, Some(base.median), ok, c);
        let gm = GaussianMixture::new(4).tol(0.0).max_iter(iters).init(Init::Given(InitialParams {
            weights: Some(vec![0.25; 4]),
            means: Some(mu0.clone()),
            covariances: Some(cov0.clone()),
            precisions: None,
        }));
        let variants: [(&str, &dyn Executor, Parallelism, usize); 9] = [
            ("nogil fused EM, sequential", &Sequential, Parallelism::Data, 1),
            ("nogil fused EM, data-parallel, pool static", &pool, Parallelism::Data, t),
            ("nogil fused EM, data-parallel, pool guided (prange)", &guided, Parallelism::Data, t),
            ("nogil fused EM, data-parallel, rayon (joblib)", &rayon, Parallelism::Data, t),
            ("nogil fused EM, data-parallel, spawn per call", &spawn, Parallelism::Data, t),
            ("nogil EM, model-parallel, pool static", &pool, Parallelism::Model, t),
            ("nogil EM, model-parallel, pool guided (cell 49)", &guided, Parallelism::Model, t),
            ("nogil EM, model-parallel, rayon (joblib, cell 51)", &rayon, Parallelism::Model, t),
            ("nogil EM, model-parallel, spawn per call", &spawn, Parallelism::Model, t),
        ];
        let mut fitted: Option<GaussianMixtureModel> = None;
        for (label, exec, p, threads) in variants {
            bar.set_message(label);
            let gm = gm.clone().parallelism(p);
            let (tm, model) = time(runs, || gm.fit_with(exec, &x, 2));
            bar.inc(1);
            let model = model.map_err(|e| format!("the mixture fit failed: {e}"))?;
            let (ok, c) = means_check(&set, model.means(), 0.05);
            let same = fitted.as_ref().is_none_or(|f| f == &model);
            ctx.push(
                &exp_name,
                label,
                threads,
                tm,
                Some(base.median),
                ok && same,
                if same { c } else { format!("{c}; differs from the sequential fit") },
            );
            fitted.get_or_insert(model);
        }
        let model = fitted.expect("fitted above");
        // One more fit from the default initialization (k-means), as a user would run it.
        let (tm, auto) = time(runs, || GaussianMixture::new(4).seed(ctx.seed).fit_with(&pool, &x, 2));
        bar.inc(1);
        let auto = auto.map_err(|e| format!("the mixture fit failed: {e}"))?;
        let (ok, c) = means_check(&set, auto.means(), 0.05);
        ctx.push(
            &exp_name,
            "nogil defaults (k-means init, tol 1e-3), pool static",
            t,
            tm,
            Some(base.median),
            ok,
            format!("{c}, {} iterations", auto.n_iter()),
        );
        bar.finish_and_clear();
        // Plots: the clusters as the notebook drew them, and the lower bound per iteration.
        let labels = model.predict_with(&pool, &x).map_err(|e| e.to_string())?;
        let step = (n / 4000).max(1);
        let sample: Vec<(f64, f64, usize)> =
            (0..n).step_by(step).map(|i| (x[2 * i], x[2 * i + 1], labels[i])).collect();
        plot::clusters(
            &out.join(format!("clusters_{}.svg", name.to_lowercase())),
            &format!("EM on data set {name}: {n} points, coloured by component"),
            &sample,
            model.means(),
        )?;
        plot::lower_bound(
            &out.join(format!("loglik_{}.svg", name.to_lowercase())),
            &format!("EM on data set {name}: mean log-likelihood per iteration"),
            model.lower_bounds(),
        )?;
        ctx.extra.insert(
            format!("gmm_{name}"),
            json!({
                "points": n, "iterations": iters, "weights": model.weights(), "means": model.means(),
                "covariances": model.covariances(), "lower_bounds": model.lower_bounds(),
            }),
        );
        say!();
    }
    Ok(())
}

fn find<'a>(ctx: &'a Ctx, experiment: &str, variant: &str) -> Option<&'a Row> {
    ctx.rows.iter().find(|r| r.experiment == experiment && r.variant == variant)
}

/// The headline findings, and what the seed concluded beside what nogil measured.
fn summarize_findings(ctx: &Ctx) -> Vec<String> {
    let mut out = vec![format!("machine: {}; build: {}", cpu_model(), nogil::build_info())];
    let ok = ctx.rows.iter().filter(|r| r.check_ok).count();
    out.push(format!("checks: {ok} of {} passed", ctx.rows.len()));
    if let (Some(a), Some(s)) =
        (find(ctx, "counters", "atomic fetch_add"), find(ctx, "counters", "sharded: one padded counter per thread"))
    {
        out.push(format!("counters: the seed's lesson holds (racy and split lose updates); sharding is {:.0}× faster than one atomic", a.median_s / s.median_s));
    }
    if let Some(best) = ctx
        .rows
        .iter()
        .filter(|r| r.experiment == "summarize")
        .filter_map(|r| r.speedup.map(|s| (s, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        out.push(format!("summarize: best {:.1}× the mirror ({}); the seed found processes slower than the loop, threads here are not", best.0, best.1.variant));
    }
    for r in ctx.rows.iter().filter(|r| r.experiment.starts_with("pipes") && r.variant.contains("pinned")) {
        if let Some(s) = r.speedup {
            out.push(format!(
                "{}: handing data to a thread is {s:.0}× cheaper than piping it to a process",
                r.experiment
            ));
        }
    }
    for r in
        ctx.rows.iter().filter(|r| r.experiment.starts_with("pairwise n=") && r.variant.starts_with("SIMD, prange"))
    {
        if let Some(s) = r.speedup {
            out.push(format!("{}: SIMD + {} threads is {s:.0}× the seed's scalar loop", r.experiment, r.threads));
        }
    }
    for set in ["gmm A", "gmm B"] {
        let data = find(ctx, set, "nogil fused EM, data-parallel, pool static");
        let model = find(ctx, set, "nogil EM, model-parallel, pool static");
        if let (Some(d), Some(m)) = (data, model) {
            out.push(format!(
                "{set}: fused data-parallel EM is {:.0}× the seed's mirror EM; the seed found model parallel faster than data parallel, here model parallel takes {:.1}× as long",
                d.speedup.unwrap_or(f64::NAN),
                m.median_s / d.median_s
            ));
        }
    }
    out
}
