//! Reading users' data (`.npy`, `.csv`) and writing `.npy` that NumPy reads.

use std::fs::File;
use std::io::Read;
use std::path::Path;

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

/// Writes a little-endian f64 array of the given shape, C order.
pub fn write_npy_f64(path: &Path, values: &[f64], shape: &[usize]) -> Result<(), String> {
    std::fs::write(path, crate::npy::image_f64(shape, values))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes a 1-D little-endian i64 array (labels).
pub fn write_npy_i64(path: &Path, values: &[i64]) -> Result<(), String> {
    std::fs::write(path, crate::npy::image_i64(values)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
