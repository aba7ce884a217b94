//! Derivatives of row losses: the chain rule through reductions over the row.
//!
//! In a row loss every element's `y_pred[j]` reaches the loss twice: directly, through the
//! element expressions evaluated at `j`, and through every reduction over the row (a sum sees
//! all elements). For a reduction `R = op_i(e_i)` with weights `w_i = dR/de_i` (1 for `sum`,
//! `1/count()` for `mean`, `softmax` for `logsumexp`, the arg max share for `max`, the label
//! indicator for `at_label`):
//!
//! ```text
//! dR/dy_pred[j] = w_j * local(e)_j + sum over reductions S used in e of
//!                 sum_i(w_i * (de/dS)_i) * dS/dy_pred[j]
//! ```
//!
//! where `local` is the derivative with reductions held fixed (`diff.rs`) and `de/dS` the
//! partial derivative by the reduction. Every term is again an IR expression: element
//! expressions at `j`, and new reductions (`sum_i(..)`) the scheduler gives passes of their
//! own. The total derivative of an element expression at its own element adds the same
//! paths to its local derivative; applied to the loss it is the gradient, applied to the
//! gradient it is the diagonal of the Hessian.
//!
//! Ties in `max`/`min` share the derivative equally among the tied elements.

use super::ir::{Cmp, Graph, Node, NodeId, Op1, RowOp};

impl Graph {
    /// The derivative of `id` at element `j` with respect to `y_pred[j]`, through every
    /// reduction: the gradient of a row loss when `id` is the loss, the Hessian diagonal when
    /// `id` is that gradient.
    pub fn total_derivative(&mut self, id: NodeId) -> NodeId {
        if let Some(&d) = self.total_of.get(&id) {
            return d;
        }
        let d = if let Node::Reduce(..) = self.node(id) {
            self.reduction_gradient(id)
        } else {
            let local = self.derivative(id);
            self.add_paths_through_reductions(id, local, None)
        };
        self.total_of.insert(id, d);
        d
    }

    /// `acc + sum over the reductions S used directly in e of weight(S) * dS/dy_pred[j]`,
    /// where the weight is `de/dS` at `j` (`summed_with` = None) or, for the inside of a
    /// reduction with weights `w`, `sum_i(w_i * (de/dS)_i)`.
    fn add_paths_through_reductions(
        &mut self,
        e: NodeId,
        mut acc: NodeId,
        summed_with: Option<NodeId>,
    ) -> NodeId {
        let s = self.span(e);
        let direct = match self.node(e) {
            Node::Reduce(..) => vec![e],
            _ => self.direct_reductions(e),
        };
        for inner in direct {
            let de = self.partial(e, inner);
            if self.is_const(de, 0.0) {
                continue;
            }
            let factor = match summed_with {
                None => de,
                Some(w) => {
                    let weighted = self.structural_mul(w, de, s);
                    if self.is_const(weighted, 0.0) {
                        continue;
                    }
                    self.reduce(RowOp::Sum, weighted, s)
                }
            };
            let through = self.reduction_gradient(inner);
            if self.is_const(through, 0.0) {
                continue;
            }
            let term = self.structural_mul(factor, through, s);
            acc = self.add(acc, term, s);
        }
        acc
    }

    /// `a * b` where a factor that is 0 on a branch of a select (a path that does not exist
    /// there, e.g. through the formula a `bool` parameter switched off) gives a structural 0
    /// on that branch instead of `0 * b`: once the parameter is fixed, the path and the
    /// reductions on it disappear, and no `0 * inf` can appear.
    fn structural_mul(&mut self, a: NodeId, b: NodeId, s: proc_macro2::Span) -> NodeId {
        if self.is_const(a, 0.0) || self.is_const(b, 0.0) {
            return self.constant(0.0, s);
        }
        for (x, y) in [(a, b), (b, a)] {
            if let Node::Select(c, t, f) = self.node(x)
                && (self.has_structural_zero(t) || self.has_structural_zero(f))
            {
                let (t, f) = (self.structural_mul(t, y, s), self.structural_mul(f, y, s));
                return self.select(c, t, f, s);
            }
        }
        self.mul(a, b, s)
    }

    fn has_structural_zero(&self, id: NodeId) -> bool {
        match self.node(id) {
            Node::Select(_, t, f) => self.has_structural_zero(t) || self.has_structural_zero(f),
            _ => self.is_const(id, 0.0),
        }
    }

    /// `dR/dy_pred[j]` at element `j`, for a reduction node `R`.
    fn reduction_gradient(&mut self, r: NodeId) -> NodeId {
        if let Some(&d) = self.reduction_gradient_of.get(&r) {
            return d;
        }
        let Node::Reduce(op, e) = self.node(r) else {
            unreachable!("reduction_gradient of a node that is not a reduction");
        };
        let s = self.span(r);
        let w = self.reduction_weight(op, e, r);
        let local = self.derivative(e);
        let direct = self.structural_mul(w, local, s);
        let d = self.add_paths_through_reductions(e, direct, Some(w));
        self.reduction_gradient_of.insert(r, d);
        d
    }

    /// `dR/de_j` for `R = op(e)`, at element `j`.
    fn reduction_weight(&mut self, op: RowOp, e: NodeId, r: NodeId) -> NodeId {
        let s = self.span(r);
        match op {
            RowOp::Sum => self.constant(1.0, s),
            RowOp::Mean => {
                let one = self.constant(1.0, s);
                let count = self.count(s);
                self.div(one, count, s)
            }
            RowOp::LogSumExp => {
                let shifted = self.sub(e, r, s);
                self.unary(Op1::Exp, shifted, s)
            }
            RowOp::Max | RowOp::Min => {
                let (zero, one) = (self.constant(0.0, s), self.constant(1.0, s));
                let at_extreme = self.compare(Cmp::Eq, e, r, s);
                let indicator = self.select(at_extreme, one, zero, s);
                let ties = self.reduce(RowOp::Sum, indicator, s);
                self.div(indicator, ties, s)
            }
            // The label's indicator (`y_true` in a sparse formula); the simplifier turns the
            // sums weighted by it into values at the label.
            RowOp::AtLabel => self.y_true(s),
        }
    }
}
