//! Reading users' data (`.npy`, `.csv`) and writing `.npy` that NumPy reads.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A row-major matrix read from a file.
pub struct Matrix {
    pub values: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
}

/// Reads a 2-D matrix from `.npy` (any real dtype NumPy writes, converted
/// to f64) or `.csv` (numeric, optional header), by extension.
pub fn read_matrix(path: &Path) -> Result<Matrix, String> {
    read(path, false)
}

/// Reads an array of any shape, flattened in C order (initial parameters).
pub fn read_array(path: &Path) -> Result<Vec<f64>, String> {
    Ok(read(path, true)?.values)
}

fn read(path: &Path, any_rank: bool) -> Result<Matrix, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let bytes = read_file(path)?;
    let m = match ext.as_str() {
        "npy" => parse_npy(&bytes, any_rank).map_err(|e| format!("{}: {e}", path.display()))?,
        "csv" => parse_csv(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
        _ => return Err(format!("{}: unknown file type; use a .npy or .csv file", path.display())),
    };
    if let Some(at) = m.values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{}: row {} column {} is {}; the data must be finite numbers",
            path.display(),
            at / m.cols.max(1),
            at % m.cols.max(1),
            m.values[at]
        ));
    }
    Ok(m)
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(bytes)
}

/// Parses an `.npy` image ([`npy::parse`]: any real dtype, either byte or
/// memory order) into a points × features matrix: the array must be 2-D,
/// as scikit-learn requires. With `any_rank`, any shape is read, flattened
/// in C order, as one column (initial parameters). Never panics on any bytes.
pub fn parse_npy(bytes: &[u8], any_rank: bool) -> Result<Matrix, String> {
    let a = crate::npy::parse(bytes)?;
    let (rows, cols) = match a.shape[..] {
        _ if any_rank => (a.values.len(), 1),
        [n, d] => (n, d),
        [n] => {
            return Err(format!(
                "the array is 1-D ({n} values) but a 2-D array (points × features) is needed; reshape it with \
                 array.reshape(-1, 1) if it holds one feature, or array.reshape(1, -1) if it is one point"
            ));
        }
        [] => return Err("the array is 0-D (one number) but a 2-D array (points × features) is needed".into()),
        _ => {
            return Err(format!(
                "the array has {} dimensions but a 2-D array (points × features) is needed",
                a.shape.len()
            ));
        }
    };
    Ok(Matrix { values: a.values, rows, cols })
}

/// Parses numeric CSV: an optional header line (kept if any field is not a
/// number), then rows of equal length.
pub fn parse_csv(bytes: &[u8]) -> Result<Matrix, String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", line + 1))?;
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let parsed: Result<Vec<f64>, _> = record.iter().map(str::parse::<f64>).collect();
        let row = match parsed {
            Ok(row) => row,
            Err(_) if line == 0 => continue, // a header
            Err(_) => {
                let bad = record.iter().find(|f| f.parse::<f64>().is_err()).unwrap_or("");
                return Err(format!("line {}: {bad:?} is not a number", line + 1));
            }
        };
        match cols {
            None => cols = Some(row.len()),
            Some(c) if c != row.len() => {
                return Err(format!(
                    "line {} has {} fields but the first row has {c}; the CSV is ragged",
                    line + 1,
                    row.len()
                ));
            }
            Some(_) => {}
        }
        values.extend(row);
        rows += 1;
    }
    let cols = cols.ok_or("the file holds no rows of numbers")?;
    Ok(Matrix { values, rows, cols })
}

/// Writes a little-endian f64 array of the given shape, C order ([`write_atomic`]).
pub fn write_npy_f64(path: &Path, values: &[f64], shape: &[usize]) -> Result<(), String> {
    write_atomic(path, &crate::npy::image_f64(shape, values))
}

/// Writes a 1-D little-endian i64 array (labels) ([`write_atomic`]).
pub fn write_npy_i64(path: &Path, values: &[i64]) -> Result<(), String> {
    write_atomic(path, &crate::npy::image_i64(values))
}

/// The environment variable that makes [`write_atomic`] stop the process
/// (abort) after the temporary file is written and synced, before the
/// rename: how the tests interrupt a run at the worst moment.
pub const CRASH_BEFORE_RENAME_ENV: &str = "NOGIL_TEST_CRASH_BEFORE_RENAME";

/// Writes `bytes` to `path` so that no reader ever sees a partial file and
/// an interrupted run leaves the old file whole: the bytes go to a new
/// temporary file in the same directory (same file system), are synced to
/// disk, and the temporary file is renamed over `path`, which replaces it
/// atomically. An existing file's permissions are kept; a symbolic link is
/// written through (its target is replaced, the link stays).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    let name = target.file_name().ok_or_else(|| format!("cannot write {}: it names no file", path.display()))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = (0u32..)
        .map(|n| {
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".nogil-{}-{n}.tmp", std::process::id()));
            let tmp = dir.join(tmp_name);
            (std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp), tmp)
        })
        .find_map(|(opened, tmp)| match opened {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
            other => Some(other.map(|f| (tmp, f))),
        })
        .unwrap_or_else(|| Err(std::io::Error::other("no free temporary file name")))
        .map_err(cannot)?;
    let written = (|| {
        if let Ok(old) = std::fs::metadata(&target) {
            file.set_permissions(old.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(e));
    }
    if std::env::var_os(CRASH_BEFORE_RENAME_ENV).is_some() {
        std::process::abort();
    }
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(e));
    }
    // The rename itself survives a power cut once the directory is synced
    // (where the platform can open a directory; elsewhere this is a no-op).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Checks, before any work, that no file the command writes is one it reads
/// and no two outputs are the same file, comparing file identity (device and
/// inode on Unix; canonical paths elsewhere), so a symbolic or hard link to an
/// input counts; and that each output's directory exists and the output is
/// not a directory. `inputs` and `outputs` pair each option's name with its path.
pub fn check_outputs(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), String> {
    for (i, &(option, out)) in outputs.iter().enumerate() {
        if out.is_dir() {
            return Err(format!("{option} {} is a directory; give a file name", out.display()));
        }
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!("the directory of {option} {} does not exist", out.display()));
        }
        if let Some(&(input_option, _)) = inputs.iter().find(|&&(_, input)| same_file(out, input)) {
            return Err(format!(
                "{option} {} is the file {input_option} reads; write to another path so the input is kept",
                out.display()
            ));
        }
        if let Some(&(other, _)) = outputs[..i].iter().find(|&&(_, o)| same_file(out, o) || same_new_path(out, o)) {
            return Err(format!("{option} and {other} name the same file {}; give each its own", out.display()));
        }
    }
    Ok(())
}

/// Whether `a` and `b` both exist and are one file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            (x.dev(), x.ino()) == (y.dev(), y.ino())
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok(),
        _ => false,
    }
}

/// Whether two paths that need not exist yet name the same place: the same
/// file name in the same (canonical) directory.
fn same_new_path(a: &Path, b: &Path) -> bool {
    let place = |p: &Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some((std::fs::canonicalize(dir).ok()?, p.file_name()?.to_owned()))
    };
    place(a).is_some_and(|pa| Some(pa) == place(b))
}
