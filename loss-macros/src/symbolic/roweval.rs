//! Reference evaluation of row formulas: the value of a node at one element of a row, with
//! reductions computed over the whole row. Slow and simple, for tests and checks.

use std::collections::HashMap;

use super::eval::{Env, values_with};
use super::ir::{Graph, Node, NodeId, RowOp};

/// One row and the parameter values.
pub struct RowEnv<'a> {
    pub y_true: &'a [f64],
    pub y_pred: &'a [f64],
    pub params: &'a [f64],
    pub bool_params: &'a [bool],
    pub externs: &'a [f64],
}

/// Evaluates nodes of one graph over one row.
pub struct RowEval<'a> {
    g: &'a Graph,
    env: &'a RowEnv<'a>,
    reductions: HashMap<NodeId, f64>,
}

impl<'a> RowEval<'a> {
    pub fn new(g: &'a Graph, env: &'a RowEnv<'a>) -> Self {
        RowEval {
            g,
            env,
            reductions: HashMap::new(),
        }
    }

    /// The value of `id` at element `j` (row-level nodes have the same value at every `j`).
    pub fn at(&mut self, id: NodeId, j: usize) -> f64 {
        for n in self.g.reachable(&[id]) {
            if let Node::Reduce(op, e) = self.g.node(n) {
                self.reduction(n, op, e);
            }
        }
        let env = Env {
            y_true: self.env.y_true[j],
            y_pred: self.env.y_pred[j],
            params: self.env.params,
            bool_params: self.env.bool_params,
            externs: self.env.externs,
        };
        let count = self.env.y_pred.len() as f64;
        let reductions = &self.reductions;
        let row = |n: NodeId| reductions.get(&n).copied().unwrap_or(count);
        values_with(self.g, &[id], &env, &row)[id.index()]
    }

    fn reduction(&mut self, r: NodeId, op: RowOp, e: NodeId) -> f64 {
        if let Some(&v) = self.reductions.get(&r) {
            return v;
        }
        let values: Vec<f64> = (0..self.env.y_pred.len()).map(|i| self.at(e, i)).collect();
        let n = values.len() as f64;
        let v = match op {
            RowOp::Sum => values.iter().sum(),
            RowOp::Mean => values.iter().sum::<f64>() / n,
            RowOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            RowOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            RowOp::LogSumExp => {
                let m = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                m + values.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
            }
            RowOp::AtLabel => values
                .iter()
                .zip(self.env.y_true)
                .find(|&(_, &t)| t == 1.0)
                .map_or(f64::NAN, |(&x, _)| x),
        };
        self.reductions.insert(r, v);
        v
    }
}
