//! SIMD lanes, one form per instruction set, chosen once at run time.
//!
//! Kernels are written once, generic over the crate-private [`Lanes`]
//! trait, and compiled three times into one binary:
//!
//! | path | lanes | type | needs |
//! |---|--:|---|---|
//! | [`Isa::Avx512`] | 8 | `__m512d` (`avx512.rs`) | x86-64-v4: AVX-512 F, DQ, VL, BW |
//! | [`Isa::Avx2`] | 4 | `__m256d` (`avx2.rs`) | x86-64-v3: AVX2, FMA, BMI1/2, LZCNT |
//! | [`Isa::Portable`] | 4 | `wide::f64x4` (`portable.rs`) | nothing: what the build's own target features give (SSE2 on x86-64, NEON on aarch64) |
//!
//! A kernel is a [`Kernel`]: a value whose `run::<V>()` does the work with
//! lanes `V`. [`Simd::run`] calls it inside a `#[target_feature]` function
//! of the chosen path, and because `run` and everything it calls is
//! `#[inline(always)]`, the whole kernel is compiled with that path's
//! instructions, as memchr does it. So a crate that depends on nogil gets
//! the AVX-512 kernels on a CPU that has AVX-512 with cargo's default flags;
//! nothing needs `-C target-cpu=native`.
//!
//! **The choice.** On first use, the best path the CPU has, unless
//! `NOGIL_SIMD=avx512|avx2|portable` asks for another: a path the CPU lacks
//! (or an unknown name) prints one line on standard error and the best path
//! is used instead, never an illegal instruction. [`force`] changes the
//! path from code and refuses, with [`Error::UnsupportedSimd`], one the CPU
//! lacks; [`with_isa`] runs a closure on a path for the calls of the
//! current thread only. Every public call reads the path once, on the
//! caller's thread when it starts, and runs on it to the end (its worker
//! threads included), so a call is never split across two paths.
//!
//! **What is bit-identical across paths.** On one path, every result is
//! bit-identical for any executor, schedule and thread count. Across paths:
//! - AVX-512 against the 4-lane paths: sums over lanes run in another order
//!   (8 partial sums, not 4) and `exp` reduces its argument another way (a
//!   16-entry table), so floating-point results differ in their last bits.
//!   Counts, and sums of values whose sums are exact (small integers), agree.
//! - AVX2 against portable: the same operations in the same order, so the
//!   same bits wherever the portable path fuses its multiply-adds (a build
//!   with FMA enabled, such as `-C target-cpu=x86-64-v3`, or aarch64). In
//!   a default x86-64 build the portable path rounds `a·b + c` twice, so its
//!   last bits differ.
//! - The scalar mirrors (`*_raw`) use no lanes and give the same bits
//!   everywhere.

/// The arithmetic operators of an x86 lane type `$t`, a one-field wrapper
/// of a register, by its intrinsics (`+ − × ÷`, the assigning forms, and
/// `−x` as `$neg(x)`), and its `Pod` marker. Every operator executes the
/// path's instructions; see [`Lanes`] for why that is sound.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_lane_ops {
    ($t:ident, $add:ident, $sub:ident, $mul:ident, $div:ident, $neg:expr) => {
        // SAFETY: a one-field `repr(transparent)` wrapper of a register
        // type, which is plain bits: any bit pattern is a valid value and
        // it has no padding.
        unsafe impl bytemuck::Zeroable for $t {}
        // SAFETY: as for `Zeroable`; the type is `Copy` and `'static`.
        unsafe impl bytemuck::Pod for $t {}

        x86_lane_ops!(@bin $t, Add, add, AddAssign, add_assign, $add);
        x86_lane_ops!(@bin $t, Sub, sub, SubAssign, sub_assign, $sub);
        x86_lane_ops!(@bin $t, Mul, mul, MulAssign, mul_assign, $mul);
        x86_lane_ops!(@bin $t, Div, div, DivAssign, div_assign, $div);

        impl core::ops::Neg for $t {
            type Output = $t;
            #[inline(always)]
            fn neg(self) -> $t {
                $t($neg(self.0))
            }
        }
    };
    (@bin $t:ident, $op:ident, $f:ident, $op_assign:ident, $f_assign:ident, $intrinsic:ident) => {
        impl core::ops::$op for $t {
            type Output = $t;
            #[inline(always)]
            fn $f(self, o: $t) -> $t {
                // SAFETY: values of this type exist only on a CPU with its
                // instruction set (see `Lanes`).
                $t(unsafe { $intrinsic(self.0, o.0) })
            }
        }

        impl core::ops::$op_assign for $t {
            #[inline(always)]
            fn $f_assign(&mut self, o: $t) {
                *self = core::ops::$op::$f(*self, o);
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod math;
mod portable;

use core::fmt;
use core::ops::{Add, AddAssign, BitAnd, BitOr, Div, Mul, MulAssign, Neg, Not, Sub, SubAssign};
use core::str::FromStr;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::Error;

/// The f64 lane vector of one path: what every kernel is written against.
///
/// Methods are the operations the kernels use, lane by lane unless said
/// otherwise; implementations are `#[inline(always)]` so that they compile
/// into the `#[target_feature]` function that [`Simd::run`] enters.
///
/// A value of the AVX-512 or AVX2 lane type exists only inside a kernel
/// that [`Simd::run`] started on a CPU with that instruction set: the types
/// are private to this module, and `Simd::run` is the only place that
/// names them as a kernel's lanes. That is what makes their safe methods,
/// which execute those instructions, sound.
pub(crate) trait Lanes:
    Copy
    + Send
    + Sync
    + bytemuck::Pod
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// f64 lanes per vector: 8 or 4.
    const LANES: usize;

    /// A lane mask: a bit per lane (AVX-512) or an all-ones lane (the others).
    type Mask: Copy + BitAnd<Output = Self::Mask> + BitOr<Output = Self::Mask> + Not<Output = Self::Mask>;

    /// Every lane `v`.
    fn splat(v: f64) -> Self;

    /// The first `LANES` values of `s`, any alignment. Panics if `s` is shorter.
    fn load(s: &[f64]) -> Self;

    /// Writes the lanes to the first `LANES` values of `s`. Panics if `s` is shorter.
    fn store(self, s: &mut [f64]);

    /// `self·m + a`, rounded once.
    fn mul_add(self, m: Self, a: Self) -> Self;

    /// `a − self·m`, rounded once.
    fn mul_neg_add(self, m: Self, a: Self) -> Self;

    /// `self > o ? self : o` (`maxpd`'s rule: `o` where either is NaN).
    fn max(self, o: Self) -> Self;

    /// `self < o ? self : o` (`minpd`'s rule: `o` where either is NaN).
    fn min(self, o: Self) -> Self;

    /// `|self|`.
    fn abs(self) -> Self;

    /// `self < o` (false where either is NaN).
    fn cmp_lt(self, o: Self) -> Self::Mask;

    /// `self == o` (false where either is NaN).
    fn cmp_eq(self, o: Self) -> Self::Mask;

    /// `self ≥ o` (false where either is NaN).
    fn cmp_ge(self, o: Self) -> Self::Mask;

    /// `a` in the lanes of `m`, `b` elsewhere.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;

    /// `self` in the lanes of `m`, `+0.0` elsewhere.
    fn keep(self, m: Self::Mask) -> Self;

    /// `2ⁿ` where `t = n + 1.5·2⁵²` holds the integer `n ∈ [−1022, 1023]`
    /// in its low mantissa bits (what adding [`math::SHIFTER`] leaves).
    fn pow2_shifted(t: Self) -> Self;

    /// `x = 2ᵉ·m` for positive normal `x`: the exponent `e` (an integer, as
    /// f64) and the mantissa `m ∈ [1, 2)`, exactly. Other inputs give
    /// unspecified values (never UB).
    fn split_exponent(self) -> (Self, Self);

    /// Every lane `0.0`.
    #[inline(always)]
    fn zero() -> Self {
        Self::splat(0.0)
    }

    /// Lane `i` is `f(i)`.
    #[inline(always)]
    fn from_fn(f: impl FnMut(usize) -> f64) -> Self {
        let mut f = f;
        let mut a = [0.0; 8];
        for (i, v) in a[..Self::LANES].iter_mut().enumerate() {
            *v = f(i);
        }
        Self::load(&a)
    }

    /// The lanes, then zeros up to 8 values.
    #[inline(always)]
    fn to_array(self) -> [f64; 8] {
        let mut a = [0.0; 8];
        self.store(&mut a);
        a
    }

    /// `self > o` (false where either is NaN).
    #[inline(always)]
    fn cmp_gt(self, o: Self) -> Self::Mask {
        o.cmp_lt(self)
    }

    /// The lanes `i < count`.
    #[inline(always)]
    fn lanes_below(count: usize) -> Self::Mask {
        Self::from_fn(|i| i as f64).cmp_lt(Self::splat(count as f64))
    }

    /// The lanes summed in a fixed pairwise order (`(l0+l1)+(l2+l3)` for 4
    /// lanes, the same tree over 8): [`pairwise`] of the lanes, to the bit,
    /// so scalar references can reproduce a SIMD sum.
    #[inline(always)]
    fn hsum(self) -> f64 {
        let mut a = self.to_array();
        let mut len = Self::LANES;
        while len > 1 {
            len /= 2;
            for i in 0..len {
                a[i] = a[2 * i] + a[2 * i + 1];
            }
        }
        a[0]
    }

    /// [`hsum`](Lanes::hsum) of `LANES` vectors at once: lane `i` of the
    /// result is `v[i].hsum()`, bit for bit.
    #[inline(always)]
    fn hsums(v: &[Self]) -> Self {
        Self::from_fn(|i| v[i].hsum())
    }

    /// Transposes `LANES` vectors in place: lane `i` of vector `j` becomes
    /// lane `j` of vector `i`.
    #[inline(always)]
    fn transpose(v: &mut [Self]) {
        let rows: [[f64; 8]; 8] = core::array::from_fn(|i| if i < Self::LANES { v[i].to_array() } else { [0.0; 8] });
        for (j, out) in v[..Self::LANES].iter_mut().enumerate() {
            *out = Self::from_fn(|i| rows[i][j]);
        }
    }

    /// `LANES` rows of `D` values as `D` vectors, vector `j` holding
    /// coordinate `j` of every row: the transpose of a row-major group.
    /// `rows` holds at least `LANES` rows.
    #[inline(always)]
    fn load_columns<const D: usize>(rows: &[[f64; D]]) -> [Self; D] {
        core::array::from_fn(|j| Self::from_fn(|i| rows[i][j]))
    }

    /// `eˣ` for `x ≤ 0`, the range of a log-sum-exp's terms: within 2 ulps
    /// (tested); `−∞` and every `x < −708.39` (where `eˣ < 2⁻¹⁰²²`) give 0,
    /// an absolute error below `2.3·10⁻³⁰⁸`; NaN gives NaN; `x > 0` gives
    /// an unspecified value (never UB). About two thirds of [`exp`](Lanes::exp).
    #[inline(always)]
    fn exp_nonpositive(self) -> Self {
        math::exp_nonpositive(self)
    }

    /// `eˣ` over the whole range, within 2 ulps of `libm::exp` (tested):
    /// subnormal results, `+∞` past `709.78`, 0 below `−745.2`, NaN for NaN.
    #[inline(always)]
    fn exp(self) -> Self {
        math::exp(self)
    }

    /// `ln x` for positive normal `x` (a log-sum-exp's sum is at least 1),
    /// within 1 ulp of `libm::log` (tested); NaN and `+∞` give NaN; zero,
    /// negative and subnormal inputs give unspecified values (never UB).
    #[inline(always)]
    fn ln_normal(self) -> Self {
        math::ln_normal(self)
    }

    /// `ln x` over the whole range, within 1 ulp of `libm::log` (tested):
    /// subnormal `x` included, `ln 0 = −∞`, `ln ∞ = ∞`, NaN for negative `x` and NaN.
    #[inline(always)]
    fn ln(self) -> Self {
        math::ln(self)
    }
}

/// A unit of SIMD work, written once for every lane type.
///
/// [`Simd::run`] calls `run::<V>()` inside a function compiled for the
/// chosen path. `run` must be `#[inline(always)]`, and so must every
/// function it calls that handles lanes, down to the [`Lanes`] methods:
/// a call that is not inlined is compiled without the path's instructions
/// (correct, but slow). Closures made inside `run` are inlined where they
/// are called, as any small closure is.
pub(crate) trait Kernel {
    /// What the work returns.
    type Output;

    /// Does the work with lanes `V`.
    fn run<V: Lanes>(self) -> Self::Output;
}

/// Gives each kernel type a `run_on(self, simd)`: [`Simd::run`] behind a
/// function that is not generic, so its three paths are compiled once, in
/// this crate. A generic function (a pass generic over its executor) is
/// compiled again in every crate that instantiates it, and with an
/// optimized build's generics unshared, a [`Simd::run`] written in its body
/// would bring every path of the kernel with it: minutes of a dependent's
/// build (and of each test binary's) for code the library already holds.
/// Generic callers call `run_on`; the cost is one call per block.
macro_rules! compiled_here {
    ($($kernel:ty),* $(,)?) => {$(
        impl $kernel {
            /// Runs this kernel on `simd`'s path (see [`compiled_here`]).
            #[inline(never)]
            pub(crate) fn run_on(self, simd: $crate::simd::Simd) -> <Self as $crate::simd::Kernel>::Output {
                simd.run(self)
            }
        }
    )*};
}
pub(crate) use compiled_here;

/// A SIMD path: the instruction set a kernel's lanes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// 8 f64 lanes in one AVX-512 register: x86-64-v4 (AVX-512 F, DQ, VL, BW).
    Avx512,
    /// 4 f64 lanes in one AVX2 register, with fused multiply-add: x86-64-v3
    /// (AVX2, FMA, BMI1/2, LZCNT).
    Avx2,
    /// 4 f64 lanes of `wide::f64x4`: whatever the build's target features give.
    Portable,
}

impl Isa {
    /// Every path, best first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// The path's name: `"avx512"`, `"avx2"` or `"portable"` (what `NOGIL_SIMD` takes).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// f64 lanes per vector on this path.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 8,
            Isa::Avx2 | Isa::Portable => 4,
        }
    }

    /// Whether this binary holds the path (the AVX forms only on x86-64).
    pub fn compiled(self) -> bool {
        match self {
            Isa::Avx512 | Isa::Avx2 => cfg!(target_arch = "x86_64"),
            Isa::Portable => true,
        }
    }

    /// Whether this CPU can run the path (and the binary holds it).
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                use std::is_x86_feature_detected as has;
                has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") && Isa::Avx2.supported()
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                use std::is_x86_feature_detected as has;
                has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt") && has!("popcnt")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2 => false,
            Isa::Portable => true,
        }
    }

    /// The best path this CPU can run.
    pub fn best() -> Isa {
        Isa::ALL.into_iter().find(|i| i.supported()).unwrap_or(Isa::Portable)
    }

    /// The paths this CPU can run, best first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported()).collect()
    }

    fn code(self) -> u8 {
        match self {
            Isa::Avx512 => 1,
            Isa::Avx2 => 2,
            Isa::Portable => 3,
        }
    }

    fn from_code(code: u8) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.code() == code)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = Error;

    /// `avx512`, `avx2` or `portable` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Isa, Error> {
        Isa::ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| Error::InvalidParameter {
            name: "simd path",
            value: format!("{s:?}"),
            expected: "avx512, avx2 or portable",
        })
    }
}

/// The path in use: 0 until the first call chooses one, else [`Isa::code`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// This thread's path while [`with_isa`] runs, else 0.
    static SCOPED: Cell<u8> = const { Cell::new(0) };
}

/// Runs `f` with every nogil call that `f` makes on this thread running on
/// `isa` (the threads those calls use included), whatever [`active`] says;
/// calls from other threads are unaffected. [`Error::UnsupportedSimd`],
/// without running `f`, when this CPU cannot run `isa`.
///
/// For comparing paths in one process, as the tests and benches do, without
/// the process-wide change of [`force`].
///
/// ```
/// use nogil::simd::{Isa, with_isa};
/// let x: Vec<f64> = (0..1000).map(|i| i as f64).collect();
/// let sums: Vec<f64> = Isa::available()
///     .into_iter()
///     .map(|isa| with_isa(isa, || nogil::kernels::summarize::sum_simd(&x)))
///     .collect::<Result<_, _>>()?;
/// // Small integers sum exactly, in any order and on any path.
/// assert!(sums.iter().all(|&s| s == 499_500.0));
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn with_isa<T>(isa: Isa, f: impl FnOnce() -> T) -> Result<T, Error> {
    /// Puts the previous scoped path back, also when `f` panics.
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.set(self.0);
        }
    }
    let chosen = Simd::new(isa)?;
    let _restore = Restore(SCOPED.replace(chosen.isa().code()));
    Ok(f())
}

/// The path nogil's kernels run on now, for calls from this thread: inside
/// [`with_isa`], its path; otherwise, on first use, `NOGIL_SIMD` or the
/// best the CPU has (see the [module docs](self)), then what [`force`] set.
pub fn active() -> Isa {
    Simd::active().isa()
}

/// Makes the kernels run on `isa` from the next call on, and returns the
/// path used until now. [`Error::UnsupportedSimd`] (and no change) when
/// this CPU or binary cannot run it.
///
/// A call already running finishes on the path it started with.
///
/// ```
/// use nogil::simd::{Isa, force};
/// let before = force(Isa::Portable)?;
/// assert_eq!(nogil::simd::active(), Isa::Portable);
/// force(before)?;
/// # Ok::<(), nogil::Error>(())
/// ```
pub fn force(isa: Isa) -> Result<Isa, Error> {
    let chosen = Simd::new(isa)?;
    let before = active();
    ACTIVE.store(chosen.isa().code(), Ordering::Relaxed);
    Ok(before)
}

fn unsupported(isa: Isa) -> Error {
    Error::UnsupportedSimd {
        asked: isa.name(),
        available: Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>().join(", "),
    }
}

/// The first choice: `NOGIL_SIMD` if the CPU can run it, else the best path,
/// with one line on standard error when the variable asked for something else.
fn first_choice() -> Isa {
    let best = Isa::best();
    let Some(value) = std::env::var_os("NOGIL_SIMD") else { return best };
    let value = value.to_string_lossy();
    match value.parse::<Isa>() {
        Ok(isa) if isa.supported() => isa,
        Ok(isa) => {
            eprintln!("nogil: NOGIL_SIMD={isa} asks for a path this CPU cannot run; using {best}");
            best
        }
        Err(_) if value.trim().is_empty() => best,
        Err(_) => {
            eprintln!("nogil: NOGIL_SIMD={value:?} is not avx512, avx2 or portable; using {best}");
            best
        }
    }
}

/// A path this CPU can run: the only way to [`run`](Simd::run) a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Simd(Isa);

impl Simd {
    /// The path in use (see [`active`]): read once at the start of each
    /// public call, on the caller's thread.
    #[inline]
    pub(crate) fn active() -> Simd {
        if let Some(isa) = Isa::from_code(SCOPED.get()) {
            return Simd(isa);
        }
        match Isa::from_code(ACTIVE.load(Ordering::Relaxed)) {
            Some(isa) => Simd(isa),
            None => {
                let isa = first_choice();
                // A `force` that raced this first choice wins.
                let _ = ACTIVE.compare_exchange(0, isa.code(), Ordering::Relaxed, Ordering::Relaxed);
                Simd(Isa::from_code(ACTIVE.load(Ordering::Relaxed)).unwrap_or(isa))
            }
        }
    }

    /// `isa` if this CPU can run it.
    pub(crate) fn new(isa: Isa) -> Result<Simd, Error> {
        if isa.supported() { Ok(Simd(isa)) } else { Err(unsupported(isa)) }
    }

    /// The path.
    pub(crate) fn isa(self) -> Isa {
        self.0
    }

    /// f64 lanes per vector on this path.
    pub(crate) fn lanes(self) -> usize {
        self.0.lanes()
    }

    /// Every path this CPU can run (for tests that compare them).
    #[cfg(test)]
    pub(crate) fn each() -> impl Iterator<Item = Simd> {
        Isa::available().into_iter().map(Simd)
    }

    /// Runs `kernel` with this path's lanes, compiled for its instructions.
    #[inline]
    pub(crate) fn run<K: Kernel>(self, kernel: K) -> K::Output {
        match self.0 {
            // SAFETY: a `Simd` holds only a path whose `supported()` held:
            // this CPU has every feature the entry point enables.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::run(kernel) },
            // SAFETY: as above, for the AVX2 path's features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::run(kernel) },
            _ => kernel.run::<wide::f64x4>(),
        }
    }
}

/// Asks the cache for `data` ahead of its use, one request per 64-byte
/// line: for streams the hardware prefetcher serves late, such as rows read
/// a tile at a time between long stretches of arithmetic. A hint only; it
/// does nothing off x86-64 and under Miri.
#[inline(always)]
pub(crate) fn prefetch(data: &[f64]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if !data.is_empty() {
        // From the start of the first line to the end of the data, in
        // steps of a line.
        let start = data.as_ptr().cast::<i8>();
        let skew = start as usize % 64;
        let (first, bytes) = (start.wrapping_sub(skew), skew + size_of_val(data));
        for offset in (0..bytes).step_by(64) {
            // SAFETY: `_mm_prefetch` needs only SSE, which every x86-64
            // target has; a prefetch reads nothing the program sees and
            // never faults, and every line asked for holds part of `data`.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(first.wrapping_add(offset))
            };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = data;
}

/// The lanes already matched by earlier calls of [`Matches::first`]: for
/// one-hot flags of "the first of equal values".
#[derive(Clone, Copy)]
pub(crate) struct Matches<V: Lanes>(V::Mask);

impl<V: Lanes> Matches<V> {
    /// No lane matched yet.
    #[inline(always)]
    pub(crate) fn none() -> Self {
        Matches(V::zero().cmp_lt(V::zero()))
    }

    /// 1.0 in the lanes where `x == y` that no earlier call matched, 0.0
    /// elsewhere; those lanes count as matched from now on.
    #[inline(always)]
    pub(crate) fn first(&mut self, x: V, y: V) -> V {
        let hit = x.cmp_eq(y);
        let new = hit & !self.0;
        self.0 = self.0 | hit;
        V::splat(1.0).keep(new)
    }
}

/// Folds `x` with four independent vector accumulators over `4·LANES`-value
/// steps (`step(acc, v)` per vector), combines them `(a0 + a1) + (a2 + a3)`,
/// sums the lanes with [`Lanes::hsum`], then folds the tail (fewer than
/// `4·LANES` values) left to right with `tail(sum, value)`.
///
/// Four accumulators hide the latency of the add or multiply-add; the fixed
/// combination order makes the result reproducible by a scalar reference.
#[inline(always)]
pub(crate) fn fold4<V: Lanes>(x: &[f64], step: impl Fn(V, V) -> V, tail: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [V::zero(); 4];
    // Four steps a round, in the same order: the loop's overhead and the
    // loads in flight of a 4× unrolled loop, which the compiler does not
    // always make of the one-step loop.
    let mut rounds = x.chunks_exact(16 * V::LANES);
    for round in &mut rounds {
        for s in 0..4 {
            for (i, a) in acc.iter_mut().enumerate() {
                *a = step(*a, V::load(&round[(4 * s + i) * V::LANES..]));
            }
        }
    }
    let mut steps = rounds.remainder().chunks_exact(4 * V::LANES);
    for chunk in &mut steps {
        for (i, a) in acc.iter_mut().enumerate() {
            *a = step(*a, V::load(&chunk[i * V::LANES..]));
        }
    }
    let sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])).hsum();
    steps.remainder().iter().fold(sum, |s, &v| tail(s, v))
}

/// Sums `a` by recursive halving: the left half's sum plus the right half's.
pub fn pairwise(a: &[f64]) -> f64 {
    match a.len() {
        0 => 0.0,
        1 => a[0],
        n => pairwise(&a[..n / 2]) + pairwise(&a[n / 2..]),
    }
}

/// `eˣ` of every value of `values`, in place, on the [`active`] path:
/// within 2 ulps of `libm::exp` over the whole range (subnormal results,
/// overflow to `+∞`, NaN kept).
pub fn exp(values: &mut [f64]) {
    Simd::active().run(math::InPlace(values, math::Function::Exp))
}

/// `ln x` of every value of `values`, in place, on the [`active`] path:
/// within 1 ulp of `libm::log` over the whole range (subnormal `x`
/// included; `ln 0 = −∞`; NaN for negative `x`).
pub fn ln(values: &mut [f64]) {
    Simd::active().run(math::InPlace(values, math::Function::Ln))
}

/// What this binary holds and runs: the SIMD path chosen at run time, the
/// paths compiled in, and how it was built.
///
/// Benches and the `nogil` program print it beside every figure, because the
/// same code runs at different speeds with 4 and 8 lanes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub target: &'static str,
    /// The SIMD path the kernels run on now ([`active`]): `"avx512"`, `"avx2"` or `"portable"`.
    pub isa: &'static str,
    /// f64 lanes per vector on that path: 8 or 4.
    pub lanes: usize,
    /// The paths this binary holds, best first.
    pub compiled: Vec<Isa>,
    /// The paths this CPU can run, best first.
    pub available: Vec<Isa>,
    /// The SIMD-relevant target features the whole build enables (what
    /// the portable path and the rest of the code get), comma-separated.
    pub features: &'static str,
    /// Cargo profile (`debug` or `release`).
    pub profile: &'static str,
    /// Optimisation level (`0` … `3`, `s`, `z`).
    pub opt_level: &'static str,
}

/// Reports the SIMD path in use, the paths compiled in and available, and
/// the target, features and profile of this build.
///
/// ```
/// let info = nogil::build_info();
/// assert_eq!(info.isa, nogil::simd::active().name());
/// assert!(info.available.contains(&nogil::simd::Isa::Portable));
/// println!("{info}");
/// ```
pub fn build_info() -> BuildInfo {
    let isa = active();
    BuildInfo {
        target: env!("NOGIL_BUILD_TARGET"),
        isa: isa.name(),
        lanes: isa.lanes(),
        compiled: Isa::ALL.into_iter().filter(|i| i.compiled()).collect(),
        available: Isa::available(),
        features: env!("NOGIL_BUILD_FEATURES"),
        profile: env!("NOGIL_BUILD_PROFILE"),
        opt_level: env!("NOGIL_BUILD_OPT_LEVEL"),
    }
}

impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &[Isa]| v.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ");
        write!(
            f,
            "{}: simd {} ({} f64 lanes; chosen at run time from {}; this CPU runs {}; build features {}; profile {}, opt-level {})",
            self.target,
            self.isa,
            self.lanes,
            names(&self.compiled),
            names(&self.available),
            if self.features.is_empty() { "none" } else { self.features },
            self.profile,
            self.opt_level
        )
    }
}

#[cfg(test)]
mod tests;
