//! Reading users' data (`.npy`, `.csv`) and writing `.npy` that NumPy reads.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;

use npyz::WriterBuilder;

/// A row-major matrix read from a file.
pub struct Matrix {
    pub values: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
}

/// Reads a 2-D matrix from `.npy` (little-endian f64 or f32, C order) or
/// `.csv` (numeric, optional header), by extension.
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

/// Parses an `.npy` image: a 2-D array of little-endian f64 or f32 in C
/// order (a 1-D array is read as one column; with `any_rank`, any shape is
/// read as one column). Never panics on any bytes.
pub fn parse_npy(bytes: &[u8], any_rank: bool) -> Result<Matrix, String> {
    precheck_npy(bytes)?;
    let file = npyz::NpyFile::new(bytes).map_err(|e| format!("not a valid .npy file ({e})"))?;
    // npyz gives the descr as a Python literal, quotes included.
    let descr = file.dtype().descr().trim_matches('\'').to_string();
    if file.order() != npyz::Order::C {
        return Err("the array is in Fortran order; save it in C order (numpy.ascontiguousarray)".into());
    }
    let shape = file.shape().to_vec();
    let (rows, cols) = match shape[..] {
        [n] => (n, 1),
        [n, d] => (n, d),
        _ if any_rank => (shape.iter().product(), 1),
        _ => {
            return Err(format!("the array has {} dimensions; a 2-D array (points × features) is needed", shape.len()));
        }
    };
    let too_big = || "the array's shape is too large for this machine".to_string();
    let rows = usize::try_from(rows).map_err(|_| too_big())?;
    let cols = usize::try_from(cols).map_err(|_| too_big())?;
    let len = rows.checked_mul(cols).ok_or_else(too_big)?;
    let values: Vec<f64> = match descr.as_str() {
        "<f8" => file.into_vec::<f64>().map_err(|e| format!("truncated or corrupt data ({e})"))?,
        "<f4" => file
            .into_vec::<f32>()
            .map_err(|e| format!("truncated or corrupt data ({e})"))?
            .into_iter()
            .map(f64::from)
            .collect(),
        other => return Err(format!("dtype {other} is not supported; use float64 (<f8) or float32 (<f4)")),
    };
    if values.len() != len {
        return Err(format!("the header says {len} values but the file holds {}", values.len()));
    }
    Ok(Matrix { values, rows, cols })
}

/// Checks what npyz trusts: that the header's shape is a list of integers
/// whose product fits, and that the file holds that many values of the
/// dtype's size. npyz multiplies the shape unchecked and allocates for it up
/// front, so a corrupt header could otherwise overflow or exhaust memory.
fn precheck_npy(bytes: &[u8]) -> Result<(), String> {
    let bad = |why: &str| format!("not a valid .npy file ({why})");
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no .npy magic string"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("unknown format version {v}"))),
    };
    let data_start =
        start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("truncated header"))?;
    let header = String::from_utf8_lossy(&bytes[start..data_start]);
    let descr = header
        .split("'descr':")
        .nth(1)
        .and_then(|rest| rest.split('\'').nth(1))
        .ok_or_else(|| bad("no dtype in the header"))?;
    let item = match descr {
        "<f8" => 8,
        "<f4" => 4,
        other => return Err(format!("dtype {other} is not supported; use float64 (<f8) or float32 (<f4)")),
    };
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|rest| rest.split('(').nth(1))
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| bad("no shape in the header"))?;
    let mut len: usize = 1;
    for dim in shape.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let dim: usize = dim.trim_end_matches('L').parse().map_err(|_| bad("a shape entry is not an integer"))?;
        len = len.checked_mul(dim).ok_or_else(|| bad("the shape overflows"))?;
    }
    let available = (bytes.len() - data_start) / item;
    if len > available {
        return Err(bad(&format!("the header promises {len} values but the file holds {available}")));
    }
    Ok(())
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
pub fn write_npy_f64(path: &Path, values: &[f64], shape: &[u64]) -> Result<(), String> {
    let f = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(BufWriter::new(f))
        .begin_nd()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    w.extend(values.iter().copied()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    w.finish().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes a 1-D little-endian i64 array (labels).
pub fn write_npy_i64(path: &Path, values: &[i64]) -> Result<(), String> {
    let f = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[values.len() as u64])
        .writer(BufWriter::new(f))
        .begin_nd()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    w.extend(values.iter().copied()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    w.finish().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
