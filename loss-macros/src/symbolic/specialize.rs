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

use std::collections::HashMap;

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
        for id in self.reachable(roots) {
            let span = self.span(id);
            let m = |c: NodeId| copy[&c];
            let new = match (self.node(id), fixed) {
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
}
