//! Specialization: a copy of a formula with one parameter fixed.
//!
//! A `bool` parameter such as `from_logits` selects between formulas for the whole loss. Fixed
//! to a constant, every select on it folds away, and the kernel has no per-element branch on
//! it: the generated code tests the parameter once per call and runs a branch-free formula.
//!
//! A float parameter in the exponent of `powf`, such as focal's `gamma`, is fixed to its
//! default the same way: at `gamma = 2`, `(1 - p_t).powf(gamma)` folds to `(1 - p_t).powi(2)`
//! (one multiplication instead of a logarithm and an exponential), and the `gamma - 1` and
//! `gamma == 0` of its derivative fold too.

use std::collections::{HashMap, HashSet};

use super::ir::{Graph, Node, NodeId, Op2};

impl Graph {
    /// Rebuilds `roots` with bool parameter `index` fixed to `value`, simplifying on the way.
    /// Returns the new roots and the map from every rebuilt node to its copy.
    pub fn specialize(
        &mut self,
        roots: &[NodeId],
        index: u16,
        value: bool,
    ) -> (Vec<NodeId>, HashMap<NodeId, NodeId>) {
        self.fix(roots, Fixed::Bool(index, value))
    }

    /// Rebuilds `roots` with float parameter `index` fixed to `value`, as [`Graph::specialize`].
    ///
    /// A parameter fixed to 0 removes the terms it scales: a product (or quotient) with a
    /// factor that is 0 because of it is 0, whatever the other factor, infinite or NaN
    /// included. At its default 0, a weight such as `label_smoothing` means "no such term",
    /// not "0 times the term": `label_smoothing * mean(log_p)` needs no pass over the row,
    /// and an infinite `log_p` does not turn the loss into NaN (Keras's label-free form).
    pub fn specialize_param(
        &mut self,
        roots: &[NodeId],
        index: u16,
        value: f64,
    ) -> (Vec<NodeId>, HashMap<NodeId, NodeId>) {
        self.fix(roots, Fixed::Float(index, value))
    }

    fn fix(&mut self, roots: &[NodeId], fixed: Fixed) -> (Vec<NodeId>, HashMap<NodeId, NodeId>) {
        let mut copy: HashMap<NodeId, NodeId> = HashMap::new();
        // Nodes whose value the fixed float parameter flows into (`reads`), and whether it is
        // fixed to 0: then a term it scales vanishes (see `vanishes`).
        let mut reads: HashSet<NodeId> = HashSet::new();
        let zero = matches!(fixed, Fixed::Float(_, v) if v == 0.0);
        for id in self.reachable(roots) {
            let span = self.span(id);
            let node = self.node(id);
            let read = match (node, fixed) {
                (Node::Param(i), Fixed::Float(index, _)) => i == index,
                _ => node.children().any(|c| reads.contains(&c)),
            };
            if read {
                reads.insert(id);
            }
            let m = |c: NodeId| copy[&c];
            let vanishing =
                |g: &Self, c: NodeId| zero && reads.contains(&c) && g.is_zero_valued(m(c));
            let new = match (node, fixed) {
                (Node::Binary(Op2::Mul, a, b), _) if vanishing(self, a) || vanishing(self, b) => {
                    self.constant(0.0, span)
                }
                (Node::Binary(Op2::Div, a, _), _) if vanishing(self, a) => self.constant(0.0, span),
                (Node::BoolParam(i), Fixed::Bool(index, value)) if i == index => {
                    self.bool_const(value, span)
                }
                (Node::Param(i), Fixed::Float(index, value)) if i == index => {
                    self.constant(value, span)
                }
                (Node::Unary(op, a), _) => self.unary(op, m(a), span),
                (Node::Binary(op, a, b), _) => self.binary(op, m(a), m(b), span),
                (Node::Select(c, a, b), _) => self.select(m(c), m(a), m(b), span),
                (Node::Compare(op, a, b), _) => self.compare(op, m(a), m(b), span),
                (Node::And(a, b), _) => self.and(m(a), m(b), span),
                (Node::Or(a, b), _) => self.or(m(a), m(b), span),
                (Node::Not(a), _) => self.not(m(a), span),
                (Node::Reduce(op, a), _) => self.reduce(op, m(a), span),
                _ => id,
            };
            copy.insert(id, new);
        }
        (roots.iter().map(|r| copy[r]).collect(), copy)
    }

    /// The bool parameters the formula for `roots` reads, in index order.
    pub fn bool_params_used(&self, roots: &[NodeId]) -> Vec<u16> {
        let mut used: Vec<u16> = self
            .reachable(roots)
            .into_iter()
            .filter_map(|id| match self.node(id) {
                Node::BoolParam(i) => Some(i),
                _ => None,
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// Whether the formula for `roots` reads float parameter `index`.
    pub fn reads_param(&self, roots: &[NodeId], index: u16) -> bool {
        self.reachable(roots)
            .into_iter()
            .any(|id| self.node(id) == Node::Param(index))
    }

    /// The float parameters found in the exponent of a `powf` of the formula for `roots`
    /// (exponents the same for every element), in index order.
    pub fn exponent_params(&self, roots: &[NodeId]) -> Vec<u16> {
        let exponents: Vec<NodeId> = self
            .reachable(roots)
            .into_iter()
            .filter_map(|id| match self.node(id) {
                Node::Binary(Op2::Powf, _, b) if self.parameters_only(b) => Some(b),
                _ => None,
            })
            .collect();
        let mut used: Vec<u16> = self
            .reachable(&exponents)
            .into_iter()
            .filter_map(|id| match self.node(id) {
                Node::Param(i) => Some(i),
                _ => None,
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }
}

impl Graph {
    /// Whether `id` is the constant 0 or its negation (`-0.0` is not folded to a constant).
    fn is_zero_valued(&self, id: NodeId) -> bool {
        match self.node(id) {
            Node::Unary(super::ir::Op1::Neg, z) => self.is_const(z, 0.0),
            _ => self.is_const(id, 0.0),
        }
    }

    /// Whether `id` depends on parameters and constants only (the same for every element of
    /// every row).
    fn parameters_only(&self, id: NodeId) -> bool {
        self.reachable(&[id]).into_iter().all(|n| {
            !matches!(
                self.node(n),
                Node::YTrue | Node::YPred | Node::Reduce(..) | Node::Count
            )
        })
    }
}

/// What [`Graph::fix`] fixes: a bool or a float parameter, by index, to a value.
#[derive(Clone, Copy)]
enum Fixed {
    Bool(u16, bool),
    Float(u16, f64),
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::super::ir::{Cmp, Graph, Node, Op1, Op2};

    #[test]
    fn fixing_a_bool_parameter_folds_its_selects() {
        let s = Span::call_site();
        let mut g = Graph::new();
        let p = g.y_pred(s);
        let from_logits = g.bool_param(0, s);
        let sig = g.unary(Op1::Sigmoid, p, s);
        let chosen = g.select(from_logits, sig, p, s);
        let ln = g.unary(Op1::Ln, chosen, s);
        let (on, _) = g.specialize(&[ln], 0, true);
        let (off, _) = g.specialize(&[ln], 0, false);
        assert_eq!(g.node(on[0]), Node::Unary(Op1::Ln, sig));
        assert_eq!(g.node(off[0]), Node::Unary(Op1::Ln, p));
        assert_eq!(g.bool_params_used(&[ln]), vec![0]);
        assert!(g.bool_params_used(&on).is_empty());
    }

    #[test]
    fn fixing_a_pow_exponent_folds_the_power_and_its_derivative() {
        let s = Span::call_site();
        let mut g = Graph::new();
        let p = g.y_pred(s);
        let (alpha, gamma) = (g.param(0, s), g.param(1, s));
        let one = g.constant(1.0, s);
        let q = g.sub(one, p, s);
        let focal = g.binary(Op2::Powf, q, gamma, s);
        let value = g.mul(alpha, focal, s);
        let grad = g.derivative(value);
        // Only gamma is an exponent; alpha merely scales.
        assert_eq!(g.exponent_params(&[value]), vec![1]);
        assert!(g.reads_param(&[value], 0) && g.reads_param(&[value], 1));
        let (fixed, _) = g.specialize_param(&[value, grad], 1, 2.0);
        let reached = g.reachable(&fixed);
        let has = |g: &Graph, pred: &dyn Fn(Node) -> bool| reached.iter().any(|&n| pred(g.node(n)));
        // (1 - p)^2 by multiplication; no powf, no `gamma == 0` select, no gamma.
        assert!(has(&g, &|n| n == Node::Unary(Op1::Powi(2), q)));
        assert!(!has(&g, &|n| matches!(n, Node::Binary(Op2::Powf, ..))));
        assert!(!has(&g, &|n| matches!(n, Node::Compare(Cmp::Eq, ..))));
        assert!(!g.reads_param(&fixed, 1));
        // The derivative is -2 alpha (1 - p): at p = 0.25, -1.5 alpha.
        let env = crate::symbolic::Env {
            y_true: 0.0,
            y_pred: 0.25,
            params: &[0.5, 7.0],
            bool_params: &[],
            externs: &[],
        };
        assert_eq!(crate::symbolic::eval(&g, fixed[1], &env), -0.75);
        assert_eq!(crate::symbolic::eval(&g, fixed[0], &env), 0.5 * 0.5625);
    }

    #[test]
    fn a_weight_fixed_to_zero_removes_its_term_even_where_it_is_infinite() {
        let s = Span::call_site();
        let mut g = Graph::new();
        let (t, p) = (g.y_true(s), g.y_pred(s));
        let smoothing = g.param(0, s);
        let ln = g.unary(Op1::Ln, p, s);
        let one = g.constant(1.0, s);
        let keep = g.sub(one, smoothing, s);
        let main = g.mul(keep, t, s);
        let neg = g.neg(smoothing, s);
        let extra = g.mul(neg, ln, s);
        let value = g.add(main, extra, s);
        let (fixed, _) = g.specialize_param(&[value], 0, 0.0);
        // (1 - 0) * y_true + (-0) * ln(p) is y_true, even at p = 0 where ln(p) = -inf.
        assert_eq!(fixed[0], t);
        // Fixed to another value, a zero factor of the user's own stays a product.
        let zero = g.constant(0.0, s);
        let own = g.mul(zero, ln, s);
        let (other, _) = g.specialize_param(&[own], 0, 0.0);
        assert_eq!(g.node(other[0]), Node::Binary(Op2::Mul, zero, ln));
    }
}
