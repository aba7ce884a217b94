//! Derivatives with respect to `y_pred`, symbolically, by one rule table.
//!
//! # Convention at non-differentiable points
//!
//! A loss may use functions with kinks. Where the derivative is not defined, the generated
//! gradient takes the following values (chosen to agree with JAX and Keras where they agree):
//!
//! - `abs'(0) = 0` (written `sign0(x)`: the sign of `x`, and 0 at 0).
//! - `signum` is piecewise constant: its derivative is 0 everywhere, also at 0.
//! - `max(a, b)` and `min(a, b)` follow the argument that is strictly larger (smaller). At a
//!   tie they take the minimum-norm subgradient: of the two one-sided derivatives `a'` and
//!   `b'`, 0 if they differ in sign, else the one closer to 0. So `max(x, 0)` has derivative
//!   0 at `x = 0`, and `max(x, 2 * x)` has derivative 1 there. Where one argument is NaN,
//!   Rust's `max`/`min` return the other one, and the derivative is that one's.
//! - `clamp(x, lo, hi)` and `clip(x, lo, hi)` pass the gradient of `x` at the bounds
//!   (inclusive): the derivative is `x'` for `lo <= x <= hi`, and that of the bound outside.
//! - `if c { a } else { b }` has the derivative of the branch the condition picks, also where
//!   the condition is on the boundary (conditions are piecewise constant: never
//!   differentiated).
//! - `powf(x, y)`: where the exponent is exactly 0 the slope in `x` is 0 (the value is the
//!   constant 1), so `powf(x, 0)` has derivative 0 even at `x = 0`. Where the value is 0, the
//!   slope in the exponent, `powf(x, y) * ln(x)`, is 0 (it is computed as
//!   `xlogy(powf(x, y), x)`).
//! - `xlogy(x, y)` (`x * ln(y)`, and 0 where `x == 0`): the slope in `y` is `x / y`, and 0
//!   where `x == 0`; the slope in `x` is `ln(y)` everywhere, as in JAX (for `y > 0` the
//!   function is `x * ln(y)` on a whole neighbourhood of `x = 0`).
//! - A term whose factor is structurally zero is dropped rather than multiplied out: in
//!   `y_true * ln(p)` the derivative of `y_true` is 0, so no `0 * ln(p)` is built and the
//!   gradient stays finite where `ln(p)` is `-inf` and `y_true = 0`.
//!
//! The derivative graph uses only operations of the table, so the second derivative is the
//! derivative of the first.

use super::ir::{Cmp, Graph, Node, NodeId, Op1, Op2};
use proc_macro2::Span;
use std::collections::HashSet;

/// What a derivative is taken with respect to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Var {
    /// This element's `y_pred`, with row reductions held fixed (the local derivative).
    Pred,
    /// A row reduction node, with `y_pred` and every other reduction held fixed (a partial
    /// derivative, for the chain rule through reductions in `rowdiff.rs`).
    Row(NodeId),
}

impl Graph {
    /// `d id / d y_pred`, memoized. Nodes that do not depend on `y_pred` have derivative 0.
    /// Row reductions are held fixed: for element-wise losses there are none, and for row
    /// losses `rowdiff.rs` adds the paths through them.
    pub fn derivative(&mut self, id: NodeId) -> NodeId {
        self.derivative_by(id, Var::Pred)
    }

    /// `d id / d reduction`, holding `y_pred` and the other reductions fixed.
    pub fn partial(&mut self, id: NodeId, reduction: NodeId) -> NodeId {
        self.derivative_by(id, Var::Row(reduction))
    }

    fn derivative_by(&mut self, id: NodeId, var: Var) -> NodeId {
        debug_assert!(!self.is_bool(id), "booleans are not differentiated");
        // Collect the nodes whose derivative is still missing, then differentiate them in id
        // order: children before parents, with no recursion.
        let mut todo = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            if !self.depends_on(n, var) || self.memo(n, var).is_some() || !seen.insert(n) {
                continue;
            }
            todo.push(n);
            match self.node(n) {
                // The condition is piecewise constant: only the branches are differentiated.
                Node::Select(_, a, b) => stack.extend([a, b]),
                // A reduction is a variable of its own here, never looked into.
                Node::Reduce(..) => {}
                node => stack.extend(node.children()),
            }
        }
        todo.sort_unstable();
        for n in todo {
            let d = self.rule(n, var);
            match var {
                Var::Pred => self.derivative_of.insert(n, d),
                Var::Row(_) => self.partial_of.insert((var, n), d),
            };
        }
        self.known_derivative(id, var)
    }

    fn memo(&self, id: NodeId, var: Var) -> Option<NodeId> {
        match var {
            Var::Pred => self.derivative_of.get(&id).copied(),
            Var::Row(_) => self.partial_of.get(&(var, id)).copied(),
        }
    }

    /// Whether `id` can vary with `var` (reductions other than `var` are held fixed).
    fn depends_on(&mut self, id: NodeId, var: Var) -> bool {
        match var {
            Var::Pred => self.depends_on_pred(id),
            Var::Row(r) => {
                if id < r {
                    return false;
                }
                if let Some(&known) = self.reaches.get(&(r, id)) {
                    return known;
                }
                let answer = id == r
                    || match self.node(id) {
                        Node::Reduce(..) => false,
                        node => node.children().any(|c| self.depends_on(c, var)),
                    };
                self.reaches.insert((r, id), answer);
                answer
            }
        }
    }

    fn known_derivative(&mut self, id: NodeId, var: Var) -> NodeId {
        match self.memo(id, var) {
            Some(d) => d,
            None => self.constant(0.0, self.span(id)),
        }
    }

    fn is_zero(&self, id: NodeId) -> bool {
        self.is_const(id, 0.0)
    }

    /// `factor * d`, or a structural 0 when either is the constant 0 (never `0 * inf`).
    /// A negated derivative comes out of the product (`-(f * u)`, not `f * -u`: the same
    /// value), so signs collect where the text can show them as subtractions.
    fn chain(&mut self, factor: NodeId, d: NodeId, s: Span) -> NodeId {
        if self.is_zero(factor) || self.is_zero(d) {
            return self.constant(0.0, s);
        }
        match self.node(d) {
            Node::Unary(Op1::Neg, u) => {
                let product = self.mul(factor, u, s);
                self.neg(product, s)
            }
            _ => self.mul(factor, d, s),
        }
    }

    /// The minimum-norm element of the interval between `u` and `v`.
    fn min_norm(&mut self, u: NodeId, v: NodeId, s: Span) -> NodeId {
        let zero = self.constant(0.0, s);
        if self.is_zero(u) || self.is_zero(v) {
            return zero;
        }
        if u == v {
            return u;
        }
        let uv = self.mul(u, v, s);
        let straddles = self.compare(Cmp::Le, uv, zero, s);
        let (au, av) = (self.unary(Op1::Abs, u, s), self.unary(Op1::Abs, v, s));
        let u_smaller = self.compare(Cmp::Le, au, av, s);
        let smaller = self.select(u_smaller, u, v, s);
        self.select(straddles, zero, smaller, s)
    }

    /// The derivative of one node whose children's derivatives are known.
    fn rule(&mut self, id: NodeId, var: Var) -> NodeId {
        let s = self.span(id);
        let c = |g: &mut Self, v: f64| g.constant(v, s);
        if var == Var::Row(id) {
            return c(self, 1.0);
        }
        match self.node(id) {
            Node::YPred if var == Var::Pred => c(self, 1.0),
            Node::Unary(op, x) => {
                let dx = self.known_derivative(x, var);
                if self.is_zero(dx) {
                    return dx;
                }
                let factor = match op {
                    Op1::Neg => return self.neg(dx, s),
                    Op1::Ln => return self.div(dx, x, s),
                    Op1::Ln1p => {
                        let one = c(self, 1.0);
                        let u = self.add(one, x, s);
                        return self.div(dx, u, s);
                    }
                    Op1::Sqrt => {
                        let half = c(self, 0.5);
                        let h = self.mul(dx, half, s);
                        return self.div(h, id, s);
                    }
                    Op1::Signum | Op1::Sign0 => return c(self, 0.0),
                    Op1::Exp => id,
                    Op1::ExpM1 => {
                        let one = c(self, 1.0);
                        self.add(id, one, s)
                    }
                    Op1::Abs => self.unary(Op1::Sign0, x, s),
                    Op1::Tanh => {
                        let one = c(self, 1.0);
                        let t2 = self.unary(Op1::Powi(2), id, s);
                        self.sub(one, t2, s)
                    }
                    Op1::Sinh => self.unary(Op1::Cosh, x, s),
                    Op1::Cosh => self.unary(Op1::Sinh, x, s),
                    Op1::Sin => self.unary(Op1::Cos, x, s),
                    Op1::Cos => {
                        let sin = self.unary(Op1::Sin, x, s);
                        self.neg(sin, s)
                    }
                    Op1::Recip => {
                        let r2 = self.unary(Op1::Powi(2), id, s);
                        self.neg(r2, s)
                    }
                    // sigmoid(x) * sigmoid(-x), not s * (1 - s): for large x, 1 - s rounds to
                    // 0 while sigmoid(-x) keeps every digit (the second derivative of a
                    // from-logits loss at x = 50 is 2e-22, not 0).
                    Op1::Sigmoid => {
                        let minus_x = self.neg(x, s);
                        let other = self.unary(Op1::Sigmoid, minus_x, s);
                        self.mul(id, other, s)
                    }
                    Op1::Softplus => self.unary(Op1::Sigmoid, x, s),
                    Op1::LogSigmoid => {
                        let minus_x = self.neg(x, s);
                        self.unary(Op1::Sigmoid, minus_x, s)
                    }
                    Op1::Powi(n) => match n.checked_sub(1) {
                        Some(m) => {
                            let k = c(self, f64::from(n));
                            let p = self.unary(Op1::Powi(m), x, s);
                            self.mul(k, p, s)
                        }
                        // n = i32::MIN: n * x^n / x.
                        None => {
                            let k = c(self, f64::from(n));
                            let p = self.mul(k, id, s);
                            self.div(p, x, s)
                        }
                    },
                };
                self.chain(factor, dx, s)
            }
            Node::Binary(op, a, b) => {
                let (da, db) = (self.known_derivative(a, var), self.known_derivative(b, var));
                self.binary_rule(op, id, (a, da), (b, db), s)
            }
            Node::Select(cond, a, b) => {
                let (da, db) = (self.known_derivative(a, var), self.known_derivative(b, var));
                self.select(cond, da, db, s)
            }
            // Leaves other than y_pred, and booleans.
            _ => c(self, 0.0),
        }
    }

    /// `f = op(a, b)` is the node `id`; `da`, `db` the derivatives of its operands.
    fn binary_rule(
        &mut self,
        op: Op2,
        id: NodeId,
        (a, da): (NodeId, NodeId),
        (b, db): (NodeId, NodeId),
        s: Span,
    ) -> NodeId {
        let zero = self.constant(0.0, s);
        if self.is_zero(da) && self.is_zero(db) {
            return zero;
        }
        match op {
            Op2::Add => self.add(da, db, s),
            Op2::Sub => self.sub(da, db, s),
            Op2::Mul => {
                let (ta, tb) = (self.chain(b, da, s), self.chain(a, db, s));
                self.add(ta, tb, s)
            }
            // (a' - q b') / b with q = a / b the node itself.
            Op2::Div => {
                let qdb = self.chain(id, db, s);
                let num = self.sub(da, qdb, s);
                self.div(num, b, s)
            }
            Op2::Powf => {
                let ta = if self.is_zero(da) {
                    zero
                } else {
                    let one = self.constant(1.0, s);
                    let b1 = self.sub(b, one, s);
                    let p = self.binary(Op2::Powf, a, b1, s);
                    let slope = self.mul(b, p, s);
                    let b_zero = self.compare(Cmp::Eq, b, zero, s);
                    let slope = self.select(b_zero, zero, slope, s);
                    self.chain(slope, da, s)
                };
                let tb = if self.is_zero(db) {
                    zero
                } else {
                    let slope = self.binary(Op2::Xlogy, id, a, s);
                    self.chain(slope, db, s)
                };
                self.add(ta, tb, s)
            }
            Op2::Max | Op2::Min => {
                let (first, second) = if op == Op2::Max {
                    (Cmp::Gt, Cmp::Lt)
                } else {
                    (Cmp::Lt, Cmp::Gt)
                };
                // Neither is larger: a tie, or a NaN, which Rust's max/min ignore (the other
                // argument is the value, so its slope is the slope). For constants the NaN
                // tests fold away.
                let tie = self.min_norm(da, db, s);
                let a_nan = self.compare(Cmp::Ne, a, a, s);
                let unordered = self.select(a_nan, db, tie, s);
                let b_nan = self.compare(Cmp::Ne, b, b, s);
                let unordered = self.select(b_nan, da, unordered, s);
                let picks_b = self.compare(second, a, b, s);
                let rest = self.select(picks_b, db, unordered, s);
                let picks_a = self.compare(first, a, b, s);
                self.select(picks_a, da, rest, s)
            }
            Op2::Xlogy => {
                let ta = if self.is_zero(da) {
                    zero
                } else {
                    let ln_b = self.unary(Op1::Ln, b, s);
                    self.chain(ln_b, da, s)
                };
                let tb = if self.is_zero(db) {
                    zero
                } else {
                    let ratio = self.div(a, b, s);
                    let a_zero = self.compare(Cmp::Eq, a, zero, s);
                    let slope = self.select(a_zero, zero, ratio, s);
                    self.chain(slope, db, s)
                };
                self.add(ta, tb, s)
            }
        }
    }
}
