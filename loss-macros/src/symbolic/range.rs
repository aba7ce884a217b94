//! Value ranges: the values a node can take, for every input and parameter.
//!
//! The emitter asks whether the argument of a logarithm is always a positive normal number
//! (or NaN), as in `ln(clip(p, eps, 1 - eps))` and `ln(1 - clip(p, eps, 1 - eps))`: such a
//! logarithm needs none of the tests of the general one for zero, negative, subnormal and
//! infinite arguments (`Float::ln_normal`).
//!
//! The kernel is generic over `f32` and `f64`, so the ranges are computed in both, with the
//! constants rounded as the generated code rounds them (`F::from_f64`). Rounding to nearest
//! is monotone, so an operation on the ends of intervals, rounded, bounds the same
//! operation on any values inside them, rounded: the bounds hold for the computed values,
//! not only for the exact ones. A `select` on a comparison narrows the compared values in
//! each branch, which is how a `clip` is seen to bound its result. Anything else (a
//! parameter, an input, a function call) is unbounded.

use super::{Cmp, Graph, Node, NodeId, Op1, Op2};

/// Whether `id` is, in `f32` and in `f64` arithmetic, always NaN or a positive normal number.
pub fn is_positive_normal(graph: &Graph, id: NodeId) -> bool {
    let r32 = Ranges::<f32>::new(graph).of(id, &mut Vec::new());
    let r64 = Ranges::<f64>::new(graph).of(id, &mut Vec::new());
    r32.within(f32::MIN_POSITIVE, f32::MAX) && r64.within(f64::MIN_POSITIVE, f64::MAX)
}

/// The range of `id` in `f64` arithmetic (the property test checks it against `eval`).
pub fn of_f64(graph: &Graph, id: NodeId) -> Range<f64> {
    Ranges::<f64>::new(graph).of(id, &mut Vec::new())
}

/// The float operations the analysis needs, in the type's own rounding.
pub trait Scalar:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    const INFINITY: Self;
    const ZERO: Self;
    /// Rounds to nearest, as `Float::from_f64` does.
    fn from_f64(x: f64) -> Self;
    fn is_nan(self) -> bool;
    fn min(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
}

macro_rules! scalar {
    ($t:ty) => {
        impl Scalar for $t {
            const INFINITY: Self = <$t>::INFINITY;
            const ZERO: Self = 0.0;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
        }
    };
}
scalar!(f32);
scalar!(f64);

/// The values of a node: NaN (where `nan`) or a number in `lo..=hi` (the ends may be
/// infinite). `lo > hi` without `nan`: no value at all (a branch never taken).
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Range<T> {
    pub lo: T,
    pub hi: T,
    pub nan: bool,
}

impl<T: Scalar> Range<T> {
    pub fn any() -> Self {
        Range {
            lo: -T::INFINITY,
            hi: T::INFINITY,
            nan: true,
        }
    }

    fn point(x: T) -> Self {
        Range {
            lo: x,
            hi: x,
            nan: false,
        }
    }

    fn empty() -> Self {
        Range {
            lo: T::INFINITY,
            hi: -T::INFINITY,
            nan: false,
        }
    }

    fn is_empty(self) -> bool {
        !self.nan && !self.has_numbers()
    }

    fn has_numbers(self) -> bool {
        self.lo <= self.hi
    }

    /// Whether every number of the range is in `lo..=hi` (NaN is allowed).
    pub fn within(self, lo: T, hi: T) -> bool {
        !self.has_numbers() || (self.lo >= lo && self.hi <= hi)
    }

    /// Either range's values.
    fn union(self, other: Self) -> Self {
        Range {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
            nan: self.nan || other.nan,
        }
    }

    /// The values in both.
    fn meet(self, other: Self) -> Self {
        Range {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
            nan: self.nan && other.nan,
        }
    }

    /// The smallest and largest of candidate ends: unbounded if any is NaN (`inf - inf`,
    /// `0 * inf`), which also means the operation can make a NaN.
    fn hull(ends: &[T], nan: bool) -> Self {
        if ends.iter().any(|e| e.is_nan()) {
            return Self::any();
        }
        let lo = ends.iter().fold(T::INFINITY, |m, &e| m.min(e));
        let hi = ends.iter().fold(-T::INFINITY, |m, &e| m.max(e));
        Range { lo, hi, nan }
    }

    fn neg(self) -> Self {
        Range {
            lo: -self.hi,
            hi: -self.lo,
            nan: self.nan,
        }
    }

    fn add(self, b: Self) -> Self {
        Self::hull(&[self.lo + b.lo, self.hi + b.hi], self.nan || b.nan)
    }

    fn sub(self, b: Self) -> Self {
        self.add(b.neg())
    }

    fn mul(self, b: Self) -> Self {
        let ends = [
            self.lo * b.lo,
            self.lo * b.hi,
            self.hi * b.lo,
            self.hi * b.hi,
        ];
        Self::hull(&ends, self.nan || b.nan)
    }

    fn div(self, b: Self) -> Self {
        if b.lo <= T::ZERO && b.hi >= T::ZERO {
            return Self::any();
        }
        let ends = [
            self.lo / b.lo,
            self.lo / b.hi,
            self.hi / b.lo,
            self.hi / b.hi,
        ];
        Self::hull(&ends, self.nan || b.nan)
    }

    /// `Float::max`/`min`: the other operand where one is NaN.
    fn extreme(self, b: Self, max: bool) -> Self {
        let pick = |x: T, y: T| if max { x.max(y) } else { x.min(y) };
        let mut r = Range {
            lo: pick(self.lo, b.lo),
            hi: pick(self.hi, b.hi),
            nan: self.nan && b.nan,
        };
        if self.nan {
            r = r.union(Range { nan: false, ..b });
        }
        if b.nan {
            r = r.union(Range { nan: false, ..self });
        }
        r
    }
}

/// How many nodes one question may visit: each `select` on a comparison evaluates its
/// branches again under the narrowed values, so a deep nest of them could take long. Past
/// the budget every node is unbounded (never a wrong answer, only a slower logarithm).
const BUDGET: usize = 20_000;

struct Ranges<'g, T> {
    graph: &'g Graph,
    visits: usize,
    _t: std::marker::PhantomData<T>,
}

impl<'g, T: Scalar> Ranges<'g, T> {
    fn new(graph: &'g Graph) -> Self {
        Ranges {
            graph,
            visits: 0,
            _t: std::marker::PhantomData,
        }
    }

    /// The range of `id`, with the narrowed ranges of the conditions around it in `known`.
    fn of(&mut self, id: NodeId, known: &mut Vec<(NodeId, Range<T>)>) -> Range<T> {
        self.visits += 1;
        if self.visits > BUDGET {
            return Range::any();
        }
        let narrowed = known.iter().rev().find(|(k, _)| *k == id).map(|(_, r)| *r);
        let r = self.compute(id, known);
        match narrowed {
            Some(n) => r.meet(n),
            None => r,
        }
    }

    fn compute(&mut self, id: NodeId, known: &mut Vec<(NodeId, Range<T>)>) -> Range<T> {
        match self.graph.node(id) {
            Node::Const(bits) => Range::point(T::from_f64(f64::from_bits(bits))),
            Node::Unary(Op1::Neg, a) => self.of(a, known).neg(),
            Node::Binary(op, a, b) => {
                let (a, b) = (self.of(a, known), self.of(b, known));
                if a.is_empty() || b.is_empty() {
                    return Range::empty();
                }
                match op {
                    Op2::Add => a.add(b),
                    Op2::Sub => a.sub(b),
                    Op2::Mul => a.mul(b),
                    Op2::Div => a.div(b),
                    Op2::Max => a.extreme(b, true),
                    Op2::Min => a.extreme(b, false),
                    Op2::Powf | Op2::Xlogy => Range::any(),
                }
            }
            Node::Select(c, a, b) => {
                let mark = known.len();
                let taken = self.assume(c, true, known);
                let then = if taken {
                    self.of(a, known)
                } else {
                    Range::empty()
                };
                known.truncate(mark);
                let taken = self.assume(c, false, known);
                let other = if taken {
                    self.of(b, known)
                } else {
                    Range::empty()
                };
                known.truncate(mark);
                then.union(other)
            }
            _ => Range::any(),
        }
    }

    /// Records in `known` what `cond == holds` says about the compared values. Returns
    /// whether that can happen at all (a comparison of constants may decide it).
    fn assume(&mut self, cond: NodeId, holds: bool, known: &mut Vec<(NodeId, Range<T>)>) -> bool {
        match self.graph.node(cond) {
            Node::BoolConst(b) => b == holds,
            Node::Not(c) => self.assume(c, !holds, known),
            Node::Compare(op, x, y) => {
                let (rx, ry) = (self.of(x, known), self.of(y, known));
                let (nx, ny) = narrow(op, holds, rx, ry);
                known.push((x, nx));
                known.push((y, ny));
                !(nx.is_empty() || ny.is_empty())
            }
            _ => true,
        }
    }
}

/// The ranges of `x` and `y` where `x op y` is `holds`.
fn narrow<T: Scalar>(op: Cmp, holds: bool, x: Range<T>, y: Range<T>) -> (Range<T>, Range<T>) {
    let below = |r: Range<T>, bound: T| Range {
        hi: r.hi.min(bound),
        ..r
    };
    let above = |r: Range<T>, bound: T| Range {
        lo: r.lo.max(bound),
        ..r
    };
    let numbers = |r: Range<T>| Range { nan: false, ..r };
    // A comparison with NaN is false (`!=`: true), so a false one says something about one
    // side only when the other cannot be NaN; the side itself may still be NaN.
    let unless = |nan: bool, narrowed: Range<T>, r: Range<T>| if nan { r } else { narrowed };
    match (op, holds) {
        // `x > y` is `y < x`.
        (Cmp::Gt | Cmp::Ge, _) => {
            let (ny, nx) = narrow(Cmp::Lt, holds, y, x);
            (nx, ny)
        }
        (Cmp::Lt | Cmp::Le, true) => (numbers(below(x, y.hi)), numbers(above(y, x.lo))),
        (Cmp::Lt | Cmp::Le, false) => (
            unless(y.nan, above(x, y.lo), x),
            unless(x.nan, below(y, x.hi), y),
        ),
        (Cmp::Eq, true) | (Cmp::Ne, false) => {
            let both = numbers(x).meet(numbers(y));
            (both, both)
        }
        _ => (x, y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    fn graph_with_clip() -> (Graph, NodeId, NodeId) {
        let s = Span::call_site();
        let mut g = Graph::new();
        let p = g.y_pred(s);
        let (lo, hi) = (g.constant(1e-7, s), g.constant(1.0 - 1e-7, s));
        let clipped = g.clamp(p, lo, hi, s);
        let one = g.constant(1.0, s);
        let rest = g.sub(one, clipped, s);
        (g, clipped, rest)
    }

    #[test]
    fn clip_bounds_its_result_and_what_follows() {
        let (g, clipped, rest) = graph_with_clip();
        let r = Ranges::<f32>::new(&g).of(clipped, &mut Vec::new());
        assert_eq!((r.lo, r.hi), (1e-7f32, (1.0 - 1e-7) as f32));
        assert!(r.nan, "a NaN prediction stays NaN");
        let r = Ranges::<f32>::new(&g).of(rest, &mut Vec::new());
        // 1 - 0.99999988 in f32 (the constant as the kernel rounds it): 2^-23, not 1e-7.
        assert_eq!((r.lo, r.hi), (1.0 - (1.0 - 1e-7f64) as f32, 1.0 - 1e-7f32));
        assert!(is_positive_normal(&g, clipped));
        assert!(is_positive_normal(&g, rest));
    }

    #[test]
    fn unbounded_or_possibly_zero_arguments_are_not_normal() {
        let s = Span::call_site();
        let mut g = Graph::new();
        let p = g.y_pred(s);
        let t = g.y_true(s);
        let (zero, one) = (g.constant(0.0, s), g.constant(1.0, s));
        // clip(p, 0, 1) may be 0; clip(p, 1e-7, 1) leaves 1 - p = 0.
        let to_one = g.clamp(p, zero, one, s);
        let eps = g.constant(1e-7, s);
        let up_to_one = g.clamp(p, eps, one, s);
        let rest = g.sub(one, up_to_one, s);
        // Only one side clipped.
        let above = g.binary(Op2::Max, p, eps, s);
        // Divided by an unbounded label; 1 - 1e-9 rounds to 1 in f32.
        let ratio = g.div(up_to_one, t, s);
        let tiny = g.constant(1e-9, s);
        let near_one = g.constant(1.0 - 1e-9, s);
        let tight = g.clamp(p, tiny, near_one, s);
        let tight_rest = g.sub(one, tight, s);
        for (name, id) in [
            ("p", p),
            ("clip(p, 0, 1)", to_one),
            ("1 - clip(p, eps, 1)", rest),
            ("p / y", ratio),
            ("1 - clip(p, 1e-9, 1 - 1e-9)", tight_rest),
        ] {
            assert!(!is_positive_normal(&g, id), "{name}");
        }
        // max(p, eps) is bounded below but not above (p may be infinite).
        assert!(!is_positive_normal(&g, above));
        assert!(is_positive_normal(&g, up_to_one));
        assert!(
            is_positive_normal(&g, tight),
            "1e-9..=1 - 1e-9 in f64, 1e-9..=1 in f32"
        );
    }

    #[test]
    fn both_branches_and_both_float_types_count() {
        let s = Span::call_site();
        let mut g = Graph::new();
        let p = g.y_pred(s);
        let (lo, hi) = (g.constant(1e-7, s), g.constant(1.0, s));
        let clipped = g.clamp(p, lo, hi, s);
        // 1e-300 is a normal f64 but 0 in f32.
        let tiny = g.constant(1e-300, s);
        let scaled = g.mul(clipped, tiny, s);
        assert!(!is_positive_normal(&g, scaled));
        let r64 = Ranges::<f64>::new(&g).of(scaled, &mut Vec::new());
        assert!(r64.within(f64::MIN_POSITIVE, f64::MAX));
        // A select whose other branch is unbounded.
        let cond = g.compare(Cmp::Gt, p, hi, s);
        let either = g.select(cond, clipped, p, s);
        assert!(!is_positive_normal(&g, either));
        // A select narrowed by a comparison on the other side: `if 0.5 < p { p } else { 0.5 }`
        // is at least 0.5 but unbounded above.
        let half = g.constant(0.5, s);
        let gt = g.compare(Cmp::Lt, half, p, s);
        let at_least_half = g.select(gt, p, half, s);
        let r = Ranges::<f32>::new(&g).of(at_least_half, &mut Vec::new());
        assert_eq!((r.lo, r.hi), (0.5, f32::INFINITY));
    }
}
