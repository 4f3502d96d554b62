//! NumPy's `.npy` format, read and written with the standard library alone.
//!
//! Reading takes what `numpy.save` writes for real numbers: format versions
//! 1.0, 2.0 and 3.0; C or Fortran order (what `numpy.save` writes for a
//! transposed array); either byte order; float16, float32, float64, signed
//! and unsigned integers of 1 to 8 bytes, and bool, all converted to f64 as
//! `astype(numpy.float64)` does (integers beyond 2⁵³ round to nearest). The
//! header's shape is checked against the file's size before anything is
//! allocated, so a corrupt header cannot exhaust memory; bytes after the
//! data are ignored, as NumPy ignores them. Writing produces version 1.0
//! files laid out as NumPy lays them out, little-endian, C order.
//!
//! Nothing here panics on any input (the `npy` fuzz target holds it to that).

/// An array read from an `.npy` file: its shape and its values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// The element types the reader converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Int,
    Uint,
    Bool,
}

#[derive(Debug, Clone, Copy)]
struct Dtype {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

/// Parses an `.npy` image into its shape and f64 values in C order.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    let bad = |why: &str| format!("not a valid .npy file ({why})");
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad("no .npy magic string"));
    }
    if bytes.len() < 10 {
        return Err(bad("truncated header"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(len).map_err(|_| bad("truncated header"))?, 12)
        }
        2 | 3 => return Err(bad("truncated header")),
        v => return Err(bad(&format!("unknown format version {v}"))),
    };
    let data_start =
        start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("truncated header"))?;
    // Versions 1 and 2 are latin-1, 3 is UTF-8; every header NumPy writes is ASCII.
    let header = std::str::from_utf8(&bytes[start..data_start]).map_err(|_| bad("the header is not text"))?;
    let header = Header::parse(header).map_err(|why| bad(&why))?;
    let dtype = dtype(&header.descr)?;
    let len =
        header.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad("the shape overflows"))?;
    let available = bytes.len() - data_start;
    let needed = len.checked_mul(dtype.size).ok_or_else(|| bad("the shape overflows"))?;
    if needed > available {
        return Err(bad(&format!(
            "the header promises {len} values of {} bytes but the file holds {available} bytes of data",
            dtype.size
        )));
    }
    let data = &bytes[data_start..data_start + needed];
    let stored: Vec<f64> = data.chunks_exact(dtype.size).map(|item| decode(dtype, item)).collect();
    let values = if header.fortran_order && header.shape.len() > 1 { c_order(&stored, &header.shape) } else { stored };
    Ok(Array { shape: header.shape, values })
}

/// The three keys of an `.npy` header.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses the header's Python dict literal, e.g.
    /// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }`.
    fn parse(text: &str) -> Result<Header, String> {
        let mut p = Lexer { s: text.trim_end_matches(['\n', ' ', '\0']).as_bytes(), at: 0 };
        p.expect(b'{')?;
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        loop {
            p.skip_space();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.expect(b':')?;
            match key.as_str() {
                "descr" => {
                    p.skip_space();
                    if p.peek() == Some(b'[') {
                        return Err("structured dtypes (records) are not supported".into());
                    }
                    descr = Some(p.string()?);
                }
                "fortran_order" => fortran_order = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => return Err(format!("unknown header key {other:?}")),
            }
            p.skip_space();
            if !p.eat(b',') {
                p.expect(b'}')?;
                break;
            }
        }
        p.skip_space();
        if p.at != p.s.len() {
            return Err("text after the header's dictionary".into());
        }
        Ok(Header {
            descr: descr.ok_or("no 'descr' in the header")?,
            fortran_order: fortran_order.ok_or("no 'fortran_order' in the header")?,
            shape: shape.ok_or("no 'shape' in the header")?,
        })
    }
}

/// Just enough of Python's literal syntax for an `.npy` header.
struct Lexer<'a> {
    s: &'a [u8],
    at: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) { Ok(()) } else { Err(format!("expected {:?} at byte {} of the header", c as char, self.at)) }
    }

    /// A quoted string without escapes, as NumPy writes keys and dtypes.
    fn string(&mut self) -> Result<String, String> {
        self.skip_space();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {} of the header", self.at)),
        };
        let begin = self.at + 1;
        let len = self.s[begin..].iter().position(|&c| c == quote).ok_or("an unterminated string in the header")?;
        self.at = begin + len + 1;
        String::from_utf8(self.s[begin..begin + len].to_vec()).map_err(|_| "a header string is not text".into())
    }

    fn boolean(&mut self) -> Result<bool, String> {
        self.skip_space();
        for (word, value) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(value);
            }
        }
        Err("'fortran_order' is neither True nor False".into())
    }

    /// A tuple of non-negative integers: `()`, `(3,)`, `(3, 2)`, `(3L, 2L)`.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            let begin = self.at;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1;
            }
            let digits = std::str::from_utf8(&self.s[begin..self.at]).unwrap_or("");
            let dim = digits.parse::<usize>().map_err(|_| "a shape entry is not a non-negative integer that fits")?;
            dims.push(dim);
            self.eat(b'L');
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// Reads a dtype string such as `<f8`, `>i4`, `|u1`, `|b1`.
fn dtype(descr: &str) -> Result<Dtype, String> {
    let supported = "use float16/32/64, signed or unsigned integers, or bool";
    let (order, rest) = match descr.as_bytes().first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &descr[1..]),
        _ => (b'=', descr),
    };
    let mut chars = rest.chars();
    let kind = chars.next().unwrap_or(' ');
    let size: Option<usize> = chars.as_str().parse().ok();
    let kind = match (kind, size) {
        ('f', Some(2 | 4 | 8)) => Kind::Float,
        ('i', Some(1 | 2 | 4 | 8)) => Kind::Int,
        ('u', Some(1 | 2 | 4 | 8)) => Kind::Uint,
        ('b', Some(1)) | ('?', None) => Kind::Bool,
        ('c', _) => return Err(format!("dtype {descr} is complex, not supported; the data must be real numbers")),
        _ => return Err(format!("dtype {descr} is not supported; {supported}")),
    };
    let size = size.unwrap_or(1);
    let big_endian = match order {
        b'>' => true,
        b'<' => false,
        b'|' if size == 1 => false,
        b'|' => return Err(format!("dtype {descr} gives no byte order for {size}-byte values")),
        _ => cfg!(target_endian = "big"),
    };
    Ok(Dtype { kind, size, big_endian })
}

/// One stored value, converted to f64.
fn decode(t: Dtype, item: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    b[..t.size].copy_from_slice(item);
    if t.big_endian {
        b[..t.size].reverse();
    }
    let bits = u64::from_le_bytes(b);
    match (t.kind, t.size) {
        (Kind::Bool, _) => f64::from(u8::from(bits != 0)),
        (Kind::Uint, _) => bits as f64,
        // Sign-extend from the value's own width.
        (Kind::Int, s) => ((bits << (64 - 8 * s)) as i64 >> (64 - 8 * s)) as f64,
        (Kind::Float, 2) => f16_to_f64(bits as u16),
        (Kind::Float, 4) => f64::from(f32::from_bits(bits as u32)),
        (Kind::Float, _) => f64::from_bits(bits),
    }
}

/// IEEE half precision to f64, exactly (every f16 is an f64).
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f64::from(h & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1024.0 + fraction) * 2f64.powi(e - 25),
    }
}

/// Column-major values of `shape` rearranged into row-major order.
fn c_order(stored: &[f64], shape: &[usize]) -> Vec<f64> {
    // Fortran strides: the first index varies fastest.
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        // Saturating: an overflow can only come with a zero extent further
        // on, and then there is nothing to rearrange.
        strides[k] = strides[k - 1].saturating_mul(shape[k - 1]);
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(stored.len());
    for _ in 0..stored.len() {
        out.push(stored[index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        // The C-order odometer: the last index varies fastest.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// A version 1.0 `.npy` image of `values` (C order) with `shape` and dtype
/// `descr` (`<f8` or `<i8`), each value's 8 little-endian bytes given by `bytes`.
fn image<T: Copy>(descr: &str, shape: &[usize], values: &[T], bytes: impl Fn(T) -> [u8; 8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // NumPy pads with spaces and a newline so that the data start on a 64-byte boundary.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 8 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    // The shape's digits are few: a header is far below 64 KiB.
    out.extend_from_slice(&u16::try_from(header.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in values {
        out.extend_from_slice(&bytes(v));
    }
    out
}

/// A `.npy` image of little-endian f64 `values` with `shape`, C order.
pub fn image_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    image("<f8", shape, values, f64::to_le_bytes)
}

/// A `.npy` image of a 1-D little-endian i64 array.
pub fn image_i64(values: &[i64]) -> Vec<u8> {
    image("<i8", &[values.len()], values, i64::to_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_images_read_back_and_fortran_order_is_transposed() {
        let a = parse(&image_f64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).unwrap();
        assert_eq!(a, Array { shape: vec![2, 3], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] });
        let l = parse(&image_i64(&[-3, 7])).unwrap();
        assert_eq!(l, Array { shape: vec![2], values: vec![-3.0, 7.0] });
        // The same 2 × 3 matrix stored column by column.
        assert_eq!(c_order(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], &[2, 3]), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // A 2 × 2 × 2 array: element (i, j, k) is stored at i + 2j + 4k.
        let stored: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(c_order(&stored, &[2, 2, 2]), [0.0, 4.0, 2.0, 6.0, 1.0, 5.0, 3.0, 7.0]);
    }

    #[test]
    fn images_are_numpys_byte_for_byte() {
        // numpy.save's files; the reader's values written back give the same bytes.
        for numpy in
            [&include_bytes!("../tests/fixtures/numpy_f64.npy")[..], include_bytes!("../tests/fixtures/numpy_1d.npy")]
        {
            let a = parse(numpy).unwrap();
            assert_eq!(image_f64(&a.shape, &a.values), numpy);
        }
        let i = parse(include_bytes!("../tests/fixtures/numpy_int64.npy")).unwrap();
        assert_eq!(i.shape, [6, 2]);
        let flat: Vec<i64> = i.values.iter().map(|&v| v as i64).collect();
        assert_eq!(flat, (0..12).collect::<Vec<i64>>());
    }

    #[test]
    fn every_integer_width_sign_extends_and_half_precision_is_exact() {
        let i = |size, big_endian| Dtype { kind: Kind::Int, size, big_endian };
        assert_eq!(decode(i(1, false), &[0xff]), -1.0);
        assert_eq!(decode(i(2, true), &[0x80, 0x00]), -32768.0);
        assert_eq!(decode(i(4, false), &[0xfe, 0xff, 0xff, 0xff]), -2.0);
        assert_eq!(decode(i(8, false), &i64::MIN.to_le_bytes()), -(2f64.powi(63)));
        let u = Dtype { kind: Kind::Uint, size: 8, big_endian: true };
        assert_eq!(decode(u, &u64::MAX.to_be_bytes()), 2f64.powi(64));
        assert_eq!(decode(Dtype { kind: Kind::Bool, size: 1, big_endian: false }, &[2]), 1.0);
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0xc100), -2.5);
        assert!(f16_to_f64(0x8000).is_sign_negative() && f16_to_f64(0x8000) == 0.0);
        assert_eq!(f16_to_f64(0xfc00), f64::NEG_INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    #[test]
    fn bad_headers_are_errors_never_panics() {
        let with = |header: &str, data: &[u8]| {
            let mut v = b"\x93NUMPY\x01\x00".to_vec();
            v.extend_from_slice(&(header.len() as u16).to_le_bytes());
            v.extend_from_slice(header.as_bytes());
            v.extend_from_slice(data);
            parse(&v)
        };
        let ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
        assert_eq!(with(ok, &2.5f64.to_le_bytes()).unwrap().values, [2.5]);
        assert_eq!(with("{'shape': (), 'fortran_order': True, 'descr': '>i2'}", &[0, 5]).unwrap().values, [5.0]);
        assert_eq!(with("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 0L), }", &[]).unwrap().shape, [2, 0]);
        for (header, needle) in [
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "holds 8 bytes"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", "overflows"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "shape entry"),
            ("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", "neither True nor False"),
            ("{'descr': '<f8', 'shape': (1,), }", "no 'fortran_order'"),
            ("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", "structured"),
            ("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", "complex"),
            ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "dtype |O is not supported"),
            ("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", "dtype <U3 is not supported"),
            ("{'descr': '|f8', 'fortran_order': False, 'shape': (1,), }", "no byte order"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unknown header key"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (1,) } junk", "text after"),
            ("{'descr': '<f8", "unterminated"),
            ("", "expected '{'"),
        ] {
            let e = with(header, &[0; 8]).unwrap_err();
            assert!(e.contains(needle), "{header}: {e}");
        }
        assert!(parse(b"\x93NUMPY\x02\x00\x01").unwrap_err().contains("truncated header"));
        assert!(parse(b"\x93NUMPY\x09\x00\x00\x00").unwrap_err().contains("version 9"));
        assert!(parse(b"hello").unwrap_err().contains("magic"));
    }
}
