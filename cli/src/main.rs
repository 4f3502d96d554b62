//! `nogil`: the notebook replayed (`nogil report`, the default), and
//! Gaussian mixtures on your own data (`nogil fit`, `predict`, `score`).
//!
//! Every failure a user can cause exits with status 2 and one sentence on
//! standard error, never a panic. The program holds no `unsafe` (forbidden
//! in `Cargo.toml`): it orchestrates the library's safe calls and prints.

/// `println!` that ignores a closed standard output (`nogil report | head`)
/// instead of panicking; the run goes on and still writes its files.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod io;
mod model_file;
mod npy;
mod plot;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use nogil::gmm::{CovarianceType, GaussianMixture, Init, InitialParams};
use nogil::{Pool, Schedule};

use model_file::ModelFile;

#[derive(Parser)]
#[command(
    name = "nogil",
    version,
    about = "The 'escaping the GIL' notebook replayed in Rust, and Gaussian mixtures on your data"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Replay every experiment of the notebook with timings, checks and plots (the default).
    Report(report::ReportArgs),
    /// Fit a Gaussian mixture to a .npy or .csv file and save it as JSON.
    Fit(FitArgs),
    /// Label (or give responsibilities for) the rows of a file with a saved model.
    Predict(PredictArgs),
    /// Print the mean log-likelihood per row of a file under a saved model.
    Score(ScoreArgs),
    /// Internal: echo standard input to standard output (the pipe experiment's child).
    #[command(name = "__echo", hide = true)]
    Echo,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitArg {
    #[value(name = "kmeans++")]
    KMeansPlusPlus,
    Kmeans,
    Random,
    #[value(name = "random-from-data")]
    RandomFromData,
}

#[derive(Args)]
struct FitArgs {
    /// The data: a 2-D .npy (floats, integers or bool, either byte or memory order) or a numeric .csv.
    #[arg(long)]
    input: PathBuf,
    /// Number of mixture components.
    #[arg(long)]
    components: usize,
    /// full, tied, diag or spherical.
    #[arg(long, default_value = "full")]
    covariance_type: CovarianceType,
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    #[arg(long, default_value_t = 1e-3)]
    tol: f64,
    #[arg(long, default_value_t = 1e-6)]
    reg_covar: f64,
    /// kmeans (k-means++ seeded Lloyd, the default), kmeans++ (centres only), random, random-from-data.
    #[arg(long, value_enum, default_value = "kmeans")]
    init: InitArg,
    /// Initial weights, a .npy of K values.
    #[arg(long)]
    weights_init: Option<PathBuf>,
    /// Initial means, a K × D .npy.
    #[arg(long)]
    means_init: Option<PathBuf>,
    /// Initial precisions, a .npy in the covariance type's shape.
    #[arg(long)]
    precisions_init: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    n_init: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads (default: NOGIL_NUM_THREADS, else every allowed CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// OpenMP's syntax: static, static,CHUNK, dynamic[,CHUNK], guided[,MIN_CHUNK] (a missing chunk is 1).
    #[arg(long, default_value = "static")]
    schedule: Schedule,
    /// Where to save the model (JSON); never one of the inputs. Written to a
    /// temporary file and renamed into place, so an interrupted fit leaves the old file whole.
    #[arg(long)]
    out: PathBuf,
    /// Also write the training rows' labels here (.npy of int64).
    #[arg(long)]
    labels: Option<PathBuf>,
}

#[derive(Args)]
struct PredictArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    input: PathBuf,
    /// Write the N × K responsibilities (float64) instead of labels (int64).
    #[arg(long)]
    proba: bool,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct ScoreArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout with status 0.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nogil: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Report(report::ReportArgs::default())) {
        Command::Report(a) => report::run(&a),
        Command::Fit(a) => fit(&a),
        Command::Predict(a) => predict(&a),
        Command::Score(a) => score(&a),
        Command::Echo => report::echo(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("nogil: {msg}");
            ExitCode::from(2)
        }
    }
}

/// A usage error as one sentence: clap's message without its `error:`
/// prefix, usage block and help tip, its lines joined.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let joined = lines.join(" ");
    format!("{} (see nogil --help)", joined.strip_prefix("error: ").unwrap_or(&joined))
}

fn pool(threads: Option<usize>) -> Result<Pool, String> {
    match threads {
        Some(t) => Pool::new(t),
        None => Pool::builder().build(),
    }
    .map_err(|e| e.to_string())
}

fn read_vector(path: &Path) -> Result<Vec<f64>, String> {
    io::read_array(path)
}

fn fit(a: &FitArgs) -> Result<(), String> {
    // scikit-learn accepts max_iter=0 and returns the initial model unfitted;
    // a program asked to fit and save a model refuses it instead.
    if a.max_iter < 1 {
        return Err("--max-iter must be at least 1; 0 iterations would save the initial guess, not a fit".into());
    }
    let mut inputs = vec![("--input", a.input.as_path())];
    for (option, path) in [
        ("--weights-init", &a.weights_init),
        ("--means-init", &a.means_init),
        ("--precisions-init", &a.precisions_init),
    ] {
        inputs.extend(path.as_deref().map(|p| (option, p)));
    }
    let mut outputs = vec![("--out", a.out.as_path())];
    outputs.extend(a.labels.as_deref().map(|p| ("--labels", p)));
    io::check_outputs(&inputs, &outputs)?;
    let x = io::read_matrix(&a.input)?;
    let pool = pool(a.threads)?;
    let exec = pool.with_schedule(a.schedule).map_err(|e| e.to_string())?;
    let given = a.weights_init.is_some() || a.means_init.is_some() || a.precisions_init.is_some();
    let init = if given {
        Init::Given(InitialParams {
            weights: a.weights_init.as_deref().map(read_vector).transpose()?,
            means: a.means_init.as_deref().map(read_vector).transpose()?,
            covariances: None,
            precisions: a.precisions_init.as_deref().map(read_vector).transpose()?,
        })
    } else {
        match a.init {
            InitArg::Kmeans => Init::KMeans,
            InitArg::KMeansPlusPlus => Init::KMeansPlusPlus,
            InitArg::Random => Init::Random,
            InitArg::RandomFromData => Init::RandomFromData,
        }
    };
    let model = GaussianMixture::new(a.components)
        .covariance_type(a.covariance_type)
        .max_iter(a.max_iter)
        .tol(a.tol)
        .reg_covar(a.reg_covar)
        .n_init(a.n_init)
        .seed(a.seed)
        .init(init)
        .fit_with(&exec, &x.values, x.cols)
        .map_err(|e| e.to_string())?;
    ModelFile::from_model(&model).save(&a.out)?;
    if let Some(path) = &a.labels {
        let labels = model.predict_with(&exec, &x.values).map_err(|e| e.to_string())?;
        io::write_npy_i64(path, &labels.iter().map(|&l| l as i64).collect::<Vec<_>>())?;
    }
    say!(
        "fitted {} components ({}) to {} × {} in {} iterations (converged: {}); mean log-likelihood {:.6}; saved {}",
        model.components(),
        model.covariance_type(),
        x.rows,
        x.cols,
        model.n_iter(),
        model.converged(),
        model.lower_bound(),
        a.out.display()
    );
    Ok(())
}

fn load_for(model: &Path, input: &Path) -> Result<(nogil::gmm::GaussianMixtureModel, io::Matrix), String> {
    let m = ModelFile::load(model)?;
    let x = io::read_matrix(input)?;
    if x.cols != m.dim() {
        return Err(format!(
            "{} has {} features but the model {} was fitted on {}",
            input.display(),
            x.cols,
            model.display(),
            m.dim()
        ));
    }
    Ok((m, x))
}

fn predict(a: &PredictArgs) -> Result<(), String> {
    io::check_outputs(&[("--model", &a.model), ("--input", &a.input)], &[("--out", &a.out)])?;
    let (m, x) = load_for(&a.model, &a.input)?;
    let pool = pool(a.threads)?;
    if a.proba {
        let p = m.predict_proba_with(&pool, &x.values).map_err(|e| e.to_string())?;
        io::write_npy_f64(&a.out, &p, &[x.rows, m.components()])
    } else {
        let l = m.predict_with(&pool, &x.values).map_err(|e| e.to_string())?;
        io::write_npy_i64(&a.out, &l.iter().map(|&v| v as i64).collect::<Vec<_>>())
    }
}

fn score(a: &ScoreArgs) -> Result<(), String> {
    let (m, x) = load_for(&a.model, &a.input)?;
    let pool = pool(a.threads)?;
    let s = m.score_with(&pool, &x.values).map_err(|e| e.to_string())?;
    say!("{s}");
    Ok(())
}
