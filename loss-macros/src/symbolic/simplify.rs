//! Simplifying, hash-consing constructors: the only way nodes other than leaves are built.
//!
//! Every rewrite here holds for every input value, infinities and NaN included, so a
//! simplified formula computes what the user wrote. That rules out `x * 0 -> 0` (`inf * 0` is
//! NaN), `x - x -> 0`, `ln(exp(x)) -> x` (overflows differently) and `sqrt(x * x) -> x`.
//! The one liberty taken is the sign of a zero result: `x + 0 -> x` (for `x = -0.0`) and
//! `0 - x -> -x` (for `x = +0.0`) return `-0.0` where IEEE returns `+0.0`.
//!
//! Rewrites never bypass a non-trivial node the user wrote: `let bce = -(...)` must still
//! exist in `w * bce` for the generated code to keep the name (so `a * (-y) -> -(a * y)` and
//! `a + (-y) -> a - y`, though exact, are left to the text printer).
//!
//! Constants fold with the operations of `eval.rs` (so compile time and run time agree), but
//! never to a non-finite value or to `-0.0`: those cannot be emitted as literals (the graph
//! keeps one zero), so the node is kept and computed at run time instead.
//!
//! Commutative operations (`+ * max min && ||`) are shared across operand order: `b * a`
//! returns the node of `a * b` if it exists, so the text keeps the order the user wrote.

use super::eval::{apply1, apply2, compare};
use super::ir::{Cmp, Graph, Node, NodeId, Op1, Op2, RowOp};
use proc_macro2::Span;

impl Graph {
    /// A constant node for `value` if it can be one (finite and not `-0.0`).
    fn fold(&mut self, value: f64, span: Span) -> Option<NodeId> {
        let negative_zero = value == 0.0 && value.is_sign_negative();
        (value.is_finite() && !negative_zero).then(|| self.constant(value, span))
    }

    /// Interns `node`, or returns `swapped` (the same operation with its operands exchanged)
    /// if that exists already: `a * b` and `b * a` share one node, written the way the user
    /// first wrote it.
    fn intern_commutative(
        &mut self,
        node: Node,
        swapped: Node,
        commutative: bool,
        span: Span,
    ) -> NodeId {
        match self.find(&swapped) {
            Some(id) if commutative => id,
            _ => self.intern(node, span),
        }
    }

    /// Whether `id` is the float constant `value`.
    pub fn is_const(&self, id: NodeId, value: f64) -> bool {
        self.const_value(id) == Some(value)
    }

    fn bool_value(&self, id: NodeId) -> Option<bool> {
        match self.node(id) {
            Node::BoolConst(b) => Some(b),
            _ => None,
        }
    }

    pub fn unary(&mut self, op: Op1, a: NodeId, span: Span) -> NodeId {
        if let Some(x) = self.const_value(a)
            && let Some(id) = self.fold(apply1(op, x), span)
        {
            return id;
        }
        match (op, self.node(a)) {
            (Op1::Neg, Node::Unary(Op1::Neg, x)) => x,
            // `powi(x, 0)` is 1 even for NaN and infinities.
            (Op1::Powi(0), _) => self.constant(1.0, span),
            (Op1::Powi(1), _) => a,
            _ => self.intern(Node::Unary(op, a), span),
        }
    }

    pub fn binary(&mut self, op: Op2, a: NodeId, b: NodeId, span: Span) -> NodeId {
        if let (Some(x), Some(y)) = (self.const_value(a), self.const_value(b))
            && let Some(id) = self.fold(apply2(op, x, y), span)
        {
            return id;
        }
        // `pow(x, n)` for a small integer `n` is `x` multiplied by itself: the same value for
        // every x (NaN, infinities and signed zeros included), without a logarithm.
        let small_integer = self
            .const_value(b)
            .filter(|n| (2.0..=4.0).contains(n) && n.fract() == 0.0);
        if let (Op2::Powf, Some(n)) = (op, small_integer) {
            return self.unary(Op1::Powi(n as i32), a, span);
        }
        match op {
            Op2::Add if self.is_const(b, 0.0) => return a,
            Op2::Add if self.is_const(a, 0.0) => return b,
            Op2::Sub if self.is_const(b, 0.0) => return a,
            Op2::Sub if self.is_const(a, 0.0) => return self.neg(b, span),
            Op2::Mul if self.is_const(b, 1.0) => return a,
            Op2::Mul if self.is_const(a, 1.0) => return b,
            Op2::Mul if self.is_const(b, -1.0) => return self.neg(a, span),
            Op2::Mul if self.is_const(a, -1.0) => return self.neg(b, span),
            Op2::Div if self.is_const(b, 1.0) => return a,
            Op2::Div if self.is_const(b, -1.0) => return self.neg(a, span),
            // `pow(x, 0)` is 1 and `pow(x, 1)` is x for every x, NaN included.
            Op2::Powf if self.is_const(b, 0.0) => return self.constant(1.0, span),
            Op2::Powf if self.is_const(b, 1.0) => return a,
            // By definition, whatever `y` is.
            Op2::Xlogy if self.is_const(a, 0.0) => return a,
            _ => {}
        }
        let commutative = matches!(op, Op2::Add | Op2::Mul | Op2::Max | Op2::Min);
        self.intern_commutative(
            Node::Binary(op, a, b),
            Node::Binary(op, b, a),
            commutative,
            span,
        )
    }

    pub fn add(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        self.binary(Op2::Add, a, b, span)
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        self.binary(Op2::Sub, a, b, span)
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        self.binary(Op2::Mul, a, b, span)
    }

    pub fn div(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        self.binary(Op2::Div, a, b, span)
    }

    pub fn neg(&mut self, a: NodeId, span: Span) -> NodeId {
        self.unary(Op1::Neg, a, span)
    }

    /// `if cond { a } else { b }`.
    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId, span: Span) -> NodeId {
        debug_assert!(self.is_bool(cond) && !self.is_bool(a) && !self.is_bool(b));
        match (self.bool_value(cond), self.node(cond)) {
            (Some(true), _) => a,
            (Some(false), _) => b,
            _ if a == b => a,
            (_, Node::Not(c)) => self.select(c, b, a, span),
            _ => self.intern(Node::Select(cond, a, b), span),
        }
    }

    pub fn compare(&mut self, cmp: Cmp, a: NodeId, b: NodeId, span: Span) -> NodeId {
        if let (Some(x), Some(y)) = (self.const_value(a), self.const_value(b)) {
            return self.bool_const(compare(cmp, x, y), span);
        }
        self.intern(Node::Compare(cmp, a, b), span)
    }

    pub fn and(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        match (self.bool_value(a), self.bool_value(b)) {
            (Some(true), _) => b,
            (_, Some(true)) => a,
            (Some(false), _) => a,
            (_, Some(false)) => b,
            _ if a == b => a,
            _ => self.intern_commutative(Node::And(a, b), Node::And(b, a), true, span),
        }
    }

    pub fn or(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        match (self.bool_value(a), self.bool_value(b)) {
            (Some(false), _) => b,
            (_, Some(false)) => a,
            (Some(true), _) => a,
            (_, Some(true)) => b,
            _ if a == b => a,
            _ => self.intern_commutative(Node::Or(a, b), Node::Or(b, a), true, span),
        }
    }

    pub fn not(&mut self, a: NodeId, span: Span) -> NodeId {
        match self.node(a) {
            Node::BoolConst(v) => self.bool_const(!v, span),
            Node::Not(c) => c,
            _ => self.intern(Node::Not(a), span),
        }
    }

    /// `x.clamp(lo, hi)` as `if x < lo { lo } else if x > hi { hi } else { x }`: at a bound the
    /// value is `x` itself, so the gradient passes there (inclusive), and a NaN `x` passes
    /// through, as in Rust's `clamp`.
    pub fn clamp(&mut self, x: NodeId, lo: NodeId, hi: NodeId, span: Span) -> NodeId {
        let above = self.compare(Cmp::Gt, x, hi, span);
        let upper = self.select(above, hi, x, span);
        let below = self.compare(Cmp::Lt, x, lo, span);
        self.select(below, lo, upper, span)
    }

    /// A reduction over the row. A row-level argument (the same for every element) needs no
    /// pass over the row, and a row-level factor of a sum or mean is taken out of it (so
    /// derivatives that differ by such a factor share one reduction).
    pub fn reduce(&mut self, op: RowOp, e: NodeId, span: Span) -> NodeId {
        if self.is_const(e, 0.0) && op != RowOp::LogSumExp {
            // The sum, mean, max, min and label value of the constant 0 are exactly 0.
            return e;
        }
        if !self.is_elementwise(e) {
            return match op {
                RowOp::Sum => {
                    let count = self.intern(Node::Count, span);
                    self.mul(e, count, span)
                }
                RowOp::Mean | RowOp::Max | RowOp::Min | RowOp::AtLabel => e,
                RowOp::LogSumExp => {
                    let count = self.intern(Node::Count, span);
                    let ln_count = self.unary(Op1::Ln, count, span);
                    self.add(e, ln_count, span)
                }
            };
        }
        if self.sparse && op == RowOp::Sum {
            let y_true = self.y_true(span);
            if e == y_true {
                return self.constant(1.0, span);
            }
            if let Node::Binary(Op2::Mul, a, b) = self.node(e) {
                if a == y_true {
                    return self.reduce(RowOp::AtLabel, b, span);
                }
                if b == y_true {
                    return self.reduce(RowOp::AtLabel, a, span);
                }
            }
        }
        if matches!(op, RowOp::Sum | RowOp::Mean) {
            match self.node(e) {
                Node::Binary(Op2::Mul, a, b) if !self.is_elementwise(a) => {
                    let inner = self.reduce(op, b, span);
                    return self.mul(a, inner, span);
                }
                Node::Binary(Op2::Mul, a, b) if !self.is_elementwise(b) => {
                    let inner = self.reduce(op, a, span);
                    return self.mul(inner, b, span);
                }
                Node::Binary(Op2::Div, a, b) if !self.is_elementwise(b) => {
                    let inner = self.reduce(op, a, span);
                    return self.div(inner, b, span);
                }
                Node::Unary(Op1::Neg, a) => {
                    let inner = self.reduce(op, a, span);
                    return self.neg(inner, span);
                }
                // A row-level term of a sum: `mean(x - r) = mean(x) - r`. Then a reduction
                // of `x - logsumexp(x)` joins the pass of the logsumexp itself instead of
                // needing one of its own.
                Node::Binary(add_or_sub @ (Op2::Add | Op2::Sub), a, b)
                    if !self.is_elementwise(a) || !self.is_elementwise(b) =>
                {
                    let (ra, rb) = (self.reduce(op, a, span), self.reduce(op, b, span));
                    return self.binary(add_or_sub, ra, rb, span);
                }
                _ => {}
            }
        }
        self.intern(Node::Reduce(op, e), span)
    }

    /// The number of elements in the row.
    pub fn count(&mut self, span: Span) -> NodeId {
        self.intern(Node::Count, span)
    }
}
