//! Arbitrary bytes as an `.npy` file or a CSV file: the program's readers
//! return a matrix or an error sentence, never panic, and never allocate
//! more than the input can hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../cli/src/io.rs"]
#[allow(dead_code)]
mod io;

fuzz_target!(|data: &[u8]| {
    for any_rank in [false, true] {
        if let Ok(m) = io::parse_npy(data, any_rank) {
            assert_eq!(m.values.len(), m.rows * m.cols);
            assert!(m.values.len() * 4 <= data.len(), "values must come from the input");
        }
    }
    if let Ok(m) = io::parse_csv(data) {
        assert_eq!(m.values.len(), m.rows * m.cols);
    }
    // And with a valid header in front, the data part is fuzzed too.
    let mut file = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }".to_vec();
    file.resize(128, b' ');
    file[127] = b'\n';
    file.extend_from_slice(data);
    if let Ok(m) = io::parse_npy(&file, false) {
        assert_eq!((m.rows, m.cols), (3, 2));
    }
});
