//! Specialization: a copy of a formula with one `bool` parameter fixed.
//!
//! A `bool` parameter such as `from_logits` selects between formulas for the whole loss. Fixed
//! to a constant, every select on it folds away, and the kernel has no per-element branch on
//! it: the generated code tests the parameter once per call and runs a branch-free formula.

use std::collections::HashMap;

use super::ir::{Graph, Node, NodeId};

impl Graph {
    /// Rebuilds `roots` with bool parameter `index` fixed to `value`, simplifying on the way.
    /// Returns the new roots and the map from every rebuilt node to its copy.
    pub fn specialize(
        &mut self,
        roots: &[NodeId],
        index: u16,
        value: bool,
    ) -> (Vec<NodeId>, HashMap<NodeId, NodeId>) {
        let mut copy: HashMap<NodeId, NodeId> = HashMap::new();
        for id in self.reachable(roots) {
            let span = self.span(id);
            let m = |c: NodeId| copy[&c];
            let new = match self.node(id) {
                Node::BoolParam(i) if i == index => self.bool_const(value, span),
                Node::Unary(op, a) => self.unary(op, m(a), span),
                Node::Binary(op, a, b) => self.binary(op, m(a), m(b), span),
                Node::Select(c, a, b) => self.select(m(c), m(a), m(b), span),
                Node::Compare(op, a, b) => self.compare(op, m(a), m(b), span),
                Node::And(a, b) => self.and(m(a), m(b), span),
                Node::Or(a, b) => self.or(m(a), m(b), span),
                Node::Not(a) => self.not(m(a), span),
                Node::Reduce(op, a) => self.reduce(op, m(a), span),
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
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::super::ir::{Graph, Node, Op1};

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
}
