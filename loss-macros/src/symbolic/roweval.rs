//! Reference evaluation of row formulas: the value of a node at one element of a row, with
//! reductions computed over the whole row. Slow and simple, for tests and checks.

use std::collections::HashMap;

use super::eval::{apply1, apply2, compare};
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
        let mut v = vec![0.0; self.g.len()];
        for n in self.g.reachable(&[id]) {
            let at = |m: NodeId| v[m.index()];
            let truth = |b: bool| if b { 1.0 } else { 0.0 };
            v[n.index()] = match self.g.node(n) {
                Node::Const(bits) => f64::from_bits(bits),
                Node::YTrue => self.env.y_true[j],
                Node::YPred => self.env.y_pred[j],
                Node::Param(i) => self.env.params[i as usize],
                Node::Extern(i) => self.env.externs[i as usize],
                Node::Count => self.env.y_pred.len() as f64,
                Node::Reduce(op, e) => self.reduction(n, op, e),
                Node::Unary(op, a) => apply1(op, at(a)),
                Node::Binary(op, a, b) => apply2(op, at(a), at(b)),
                Node::Select(c, a, b) => {
                    if at(c) != 0.0 {
                        at(a)
                    } else {
                        at(b)
                    }
                }
                Node::BoolConst(b) => truth(b),
                Node::BoolParam(i) => truth(self.env.bool_params[i as usize]),
                Node::Compare(cmp, a, b) => truth(compare(cmp, at(a), at(b))),
                Node::And(a, b) => truth(at(a) != 0.0 && at(b) != 0.0),
                Node::Or(a, b) => truth(at(a) != 0.0 || at(b) != 0.0),
                Node::Not(a) => truth(at(a) == 0.0),
            };
        }
        v[id.index()]
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
