//! Arbitrary bytes as an `.npy` file or a CSV file: the program's readers
//! return a matrix or an error sentence, never panic, and never allocate
//! more than the input can hold. Behind a valid header of an input-chosen
//! dtype, byte order, memory order and shape, the data part is fuzzed too:
//! a Fortran-order file reads as the transpose of the C-order file of the
//! same bytes, a little-endian float64 file's values are its bytes, and what
//! the writer writes reads back bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../cli/src/npy.rs"]
#[allow(dead_code)]
mod npy;

#[path = "../../cli/src/io.rs"]
#[allow(dead_code)]
mod io;

/// Every dtype the reader takes, with its size in bytes.
const DTYPES: [(&str, usize); 16] = [
    ("<f2", 2),
    ("<f4", 4),
    ("<f8", 8),
    (">f2", 2),
    (">f4", 4),
    (">f8", 8),
    ("|i1", 1),
    ("<i2", 2),
    (">i4", 4),
    ("<i8", 8),
    ("|u1", 1),
    (">u2", 2),
    ("<u4", 4),
    (">u8", 8),
    ("|b1", 1),
    ("<c8", 8),
];

/// A version 1.0 `.npy` image with the given header fields and data.
fn file(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let order = if fortran { "True" } else { "False" };
    let header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Values compared by their bits, so NaN payloads count.
fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fuzz_target!(|data: &[u8]| {
    for any_rank in [false, true] {
        if let Ok(m) = io::parse_npy(data, any_rank) {
            assert_eq!(m.values.len(), m.rows * m.cols);
            assert!(m.values.len() <= data.len(), "values must come from the input");
        }
    }
    if let Ok(m) = io::parse_csv(data) {
        assert_eq!(m.values.len(), m.rows * m.cols);
    }

    // The first bytes choose a header; the rest is the data.
    let [pick, rows, cols, rest @ ..] = data else { return };
    let (descr, size) = DTYPES[usize::from(*pick) % DTYPES.len()];
    let (rows, cols) = (usize::from(*rows % 9), usize::from(*cols % 5));
    let c = npy::parse(&file(descr, false, &[rows, cols], rest));
    let f = npy::parse(&file(descr, true, &[cols, rows], rest));
    let enough = rest.len() >= rows * cols * size;
    match (&c, &f) {
        (Ok(c), Ok(f)) => {
            assert!(enough && !descr.contains('c'), "{descr} {rows}×{cols} from {} bytes", rest.len());
            assert_eq!((c.shape.as_slice(), f.shape.as_slice()), (&[rows, cols][..], &[cols, rows][..]));
            // Fortran order: the same bytes are the transpose.
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(c.values[i * cols + j].to_bits(), f.values[j * rows + i].to_bits());
                }
            }
            if descr == "<f8" {
                let raw: Vec<u64> =
                    rest.chunks_exact(8).take(rows * cols).map(|b| u64::from_le_bytes(b.try_into().unwrap())).collect();
                assert_eq!(bits(&c.values), raw);
            }
            let back = npy::parse(&npy::image_f64(&c.shape, &c.values)).expect("the writer's own file reads");
            assert_eq!((back.shape, bits(&back.values)), (c.shape.clone(), bits(&c.values)));
        }
        (Err(_), Err(_)) => assert!(!enough || descr.contains('c'), "{descr} {rows}×{cols}: {c:?}"),
        _ => panic!("C and Fortran order disagree: {c:?} vs {f:?}"),
    }
});
