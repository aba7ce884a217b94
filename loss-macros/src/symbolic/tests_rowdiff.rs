//! Row derivatives (`rowdiff.rs`) against finite differences of the row value, for the
//! formulas of the categorical losses and for nested reductions.

use proc_macro2::Span;

use super::ir::{Graph, NodeId, Op1, Op2, RowOp};
use super::roweval::{RowEnv, RowEval};

type Build = fn(&mut Graph) -> NodeId;

fn s() -> Span {
    Span::call_site()
}

fn softmax_ce(g: &mut Graph) -> NodeId {
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let lse = g.reduce(RowOp::LogSumExp, p, s());
    let tp = g.mul(t, p, s());
    let picked = g.reduce(RowOp::Sum, tp, s());
    g.sub(lse, picked, s())
}

fn renormalised_ce(g: &mut Graph) -> NodeId {
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let total = g.reduce(RowOp::Sum, p, s());
    let q = g.div(p, total, s());
    let (lo, hi) = (g.constant(1e-7, s()), g.constant(1.0 - 1e-7, s()));
    let q = g.clamp(q, lo, hi, s());
    let lq = g.unary(Op1::Ln, q, s());
    let tlq = g.mul(t, lq, s());
    let sum = g.reduce(RowOp::Sum, tlq, s());
    g.neg(sum, s())
}

fn cosine(g: &mut Graph) -> NodeId {
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let tp = g.mul(t, p, s());
    let dot = g.reduce(RowOp::Sum, tp, s());
    let tt = g.mul(t, t, s());
    let pp = g.mul(p, p, s());
    let nt = g.reduce(RowOp::Sum, tt, s());
    let np = g.reduce(RowOp::Sum, pp, s());
    let (nt, np) = (g.unary(Op1::Sqrt, nt, s()), g.unary(Op1::Sqrt, np, s()));
    let norms = g.mul(nt, np, s());
    let c = g.div(dot, norms, s());
    g.neg(c, s())
}

fn categorical_hinge(g: &mut Graph) -> NodeId {
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let tp = g.mul(t, p, s());
    let pos = g.reduce(RowOp::Sum, tp, s());
    let one = g.constant(1.0, s());
    let not_t = g.sub(one, t, s());
    let others = g.mul(not_t, p, s());
    let neg = g.reduce(RowOp::Max, others, s());
    let margin = g.sub(neg, pos, s());
    let margin = g.add(margin, one, s());
    let zero = g.constant(0.0, s());
    g.binary(Op2::Max, margin, zero, s())
}

fn variance(g: &mut Graph) -> NodeId {
    let p = g.y_pred(s());
    let m = g.reduce(RowOp::Mean, p, s());
    let d = g.sub(p, m, s());
    let d2 = g.mul(d, d, s());
    g.reduce(RowOp::Mean, d2, s())
}

fn nested(g: &mut Graph) -> NodeId {
    // logsumexp(t * p - mean(p)) * mean(p^2): reductions inside reductions, and a product
    // of two row values.
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let m = g.reduce(RowOp::Mean, p, s());
    let tp = g.mul(t, p, s());
    let shifted = g.sub(tp, m, s());
    let lse = g.reduce(RowOp::LogSumExp, shifted, s());
    let p2 = g.mul(p, p, s());
    let m2 = g.reduce(RowOp::Mean, p2, s());
    g.mul(lse, m2, s())
}

fn focal_softmax(g: &mut Graph) -> NodeId {
    // sum(t * (1 - softmax)^2 * -(p - lse)): categorical focal cross-entropy from logits.
    let (t, p) = (g.y_true(s()), g.y_pred(s()));
    let lse = g.reduce(RowOp::LogSumExp, p, s());
    let log_softmax = g.sub(p, lse, s());
    let softmax = g.unary(Op1::Exp, log_softmax, s());
    let one = g.constant(1.0, s());
    let rest = g.sub(one, softmax, s());
    let factor = g.unary(Op1::Powi(2), rest, s());
    let ce = g.neg(log_softmax, s());
    let term = g.mul(factor, ce, s());
    let term = g.mul(t, term, s());
    g.reduce(RowOp::Sum, term, s())
}

fn sparse_ce(g: &mut Graph) -> NodeId {
    let p = g.y_pred(s());
    let lse = g.reduce(RowOp::LogSumExp, p, s());
    let picked = g.reduce(RowOp::AtLabel, p, s());
    g.sub(lse, picked, s())
}

/// At each element `j` of one row: the gradient, its central finite difference (of the row
/// value), the Hessian diagonal and the finite difference of the gradient; `None` where the
/// one-sided slopes of the row value disagree (a kink within `h`).
fn finite_differences(
    g: &Graph,
    [loss, grad, hess]: [NodeId; 3],
    y_true: &[f64],
    y_pred: &[f64],
    h: f64,
) -> Vec<Option<[f64; 4]>> {
    let at = |p: &[f64], node: NodeId, j: usize| {
        let env = RowEnv {
            y_true,
            y_pred: p,
            params: &[],
            bool_params: &[],
            externs: &[],
        };
        RowEval::new(g, &env).at(node, j)
    };
    (0..y_pred.len())
        .map(|j| {
            let (mut lo, mut hi) = (y_pred.to_vec(), y_pred.to_vec());
            lo[j] -= h;
            hi[j] += h;
            let (v_lo, v_0, v_hi) = (at(&lo, loss, 0), at(y_pred, loss, 0), at(&hi, loss, 0));
            let (left, right) = ((v_0 - v_lo) / h, (v_hi - v_0) / h);
            if (left - right).abs() > 1e-3 * (1.0 + left.abs()) {
                return None;
            }
            let fd_grad = (v_hi - v_lo) / (2.0 * h);
            let fd_hess = (at(&hi, grad, j) - at(&lo, grad, j)) / (2.0 * h);
            Some([at(y_pred, grad, j), fd_grad, at(y_pred, hess, j), fd_hess])
        })
        .collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn check(name: &str, build: Build, positive: bool, one_hot: bool) -> usize {
    let mut g = Graph::new();
    let loss = build(&mut g);
    let grad = g.total_derivative(loss);
    let hess = g.total_derivative(grad);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ name.len() as u64);
    let mut compared = 0;
    for _ in 0..40 {
        let c = 2 + (rng.next() * 5.0) as usize;
        let label = (rng.next() * c as f64) as usize % c;
        let y_true: Vec<f64> = (0..c)
            .map(|i| {
                if one_hot {
                    f64::from(u8::from(i == label))
                } else {
                    rng.next()
                }
            })
            .collect();
        let y_pred: Vec<f64> = (0..c)
            .map(|_| {
                if positive {
                    0.1 + rng.next()
                } else {
                    4.0 * rng.next() - 2.0
                }
            })
            .collect();
        let at = finite_differences(&g, [loss, grad, hess], &y_true, &y_pred, 1e-5);
        for (j, point) in at.into_iter().enumerate() {
            // None: the one-sided slopes disagree, a kink (a max changing hands) within h.
            let Some([g_j, fd_grad, h_j, fd_hess]) = point else {
                continue;
            };
            assert!(
                (g_j - fd_grad).abs() < 1e-6 * (1.0 + g_j.abs()),
                "{name}: grad[{j}] {g_j} vs {fd_grad} at {y_pred:?}"
            );
            assert!(
                (h_j - fd_hess).abs() < 1e-4 * (1.0 + h_j.abs()),
                "{name}: hess[{j}] {h_j} vs {fd_hess} at {y_pred:?}"
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn row_gradients_and_hessian_diagonals_match_finite_differences() {
    let cases: &[(&str, Build, bool, bool)] = &[
        ("softmax_ce", softmax_ce, false, false),
        ("renormalised_ce", renormalised_ce, true, false),
        ("cosine", cosine, false, false),
        ("categorical_hinge", categorical_hinge, false, true),
        ("variance", variance, false, false),
        ("nested", nested, false, false),
        ("focal_softmax", focal_softmax, false, true),
        ("sparse_ce", sparse_ce, false, true),
    ];
    let mut total = 0;
    for &(name, build, positive, one_hot) in cases {
        let n = check(name, build, positive, one_hot);
        assert!(n > 50, "{name}: only {n} points compared");
        total += n;
    }
    println!("{total} row derivatives compared");
}

#[test]
fn softmax_cross_entropy_has_the_textbook_derivatives() {
    // p - y and p (1 - p), at a row where they are easy to compute by hand.
    let mut g = Graph::new();
    let loss = softmax_ce(&mut g);
    let grad = g.total_derivative(loss);
    let hess = g.total_derivative(grad);
    let (y_true, y_pred) = ([0.0, 1.0, 0.0], [1.0, 2.0, 3.0]);
    let env = RowEnv {
        y_true: &y_true,
        y_pred: &y_pred,
        params: &[],
        bool_params: &[],
        externs: &[],
    };
    let z: f64 = y_pred.iter().map(|x: &f64| x.exp()).sum();
    for j in 0..3 {
        let p = y_pred[j].exp() / z;
        let mut ev = RowEval::new(&g, &env);
        assert!((ev.at(grad, j) - (p - y_true[j])).abs() < 1e-14);
        assert!((ev.at(hess, j) - p * (1.0 - p)).abs() < 1e-14);
    }
}

/// A random row formula: element expressions with reductions inside them, nested.
#[derive(Clone, Debug)]
enum RowExpr {
    True,
    Pred,
    Const(f64),
    Add(Box<RowExpr>, Box<RowExpr>),
    Sub(Box<RowExpr>, Box<RowExpr>),
    Mul(Box<RowExpr>, Box<RowExpr>),
    Unary(Op1, Box<RowExpr>),
    Reduce(RowOp, Box<RowExpr>),
}

fn gen_row_expr(r: &mut Rng, depth: u32) -> RowExpr {
    let pick = (r.next() * 10.0) as u32;
    if depth == 0 || pick < 2 {
        return match (r.next() * 3.0) as u32 {
            0 => RowExpr::True,
            1 => RowExpr::Pred,
            _ => RowExpr::Const((r.next() * 4.0 - 2.0 * 1.0).round() / 2.0 + 0.25),
        };
    }
    let sub = |r: &mut Rng| Box::new(gen_row_expr(r, depth - 1));
    match pick {
        2 => RowExpr::Add(sub(r), sub(r)),
        3 => RowExpr::Sub(sub(r), sub(r)),
        4 | 5 => RowExpr::Mul(sub(r), sub(r)),
        6 | 7 => {
            let ops = [
                Op1::Tanh,
                Op1::Sigmoid,
                Op1::Softplus,
                Op1::Sin,
                Op1::Cos,
                Op1::Powi(2),
            ];
            RowExpr::Unary(
                ops[(r.next() * ops.len() as f64) as usize % ops.len()],
                sub(r),
            )
        }
        _ => {
            let ops = [RowOp::Sum, RowOp::Mean, RowOp::LogSumExp];
            RowExpr::Reduce(ops[(r.next() * 3.0) as usize % 3], sub(r))
        }
    }
}

fn build_row(g: &mut Graph, e: &RowExpr) -> NodeId {
    match e {
        RowExpr::True => g.y_true(s()),
        RowExpr::Pred => g.y_pred(s()),
        RowExpr::Const(c) => g.constant(*c, s()),
        RowExpr::Add(a, b) => {
            let (a, b) = (build_row(g, a), build_row(g, b));
            g.add(a, b, s())
        }
        RowExpr::Sub(a, b) => {
            let (a, b) = (build_row(g, a), build_row(g, b));
            g.sub(a, b, s())
        }
        RowExpr::Mul(a, b) => {
            let (a, b) = (build_row(g, a), build_row(g, b));
            g.mul(a, b, s())
        }
        RowExpr::Unary(op, a) => {
            let a = build_row(g, a);
            g.unary(*op, a, s())
        }
        RowExpr::Reduce(op, a) => {
            let a = build_row(g, a);
            g.reduce(*op, a, s())
        }
    }
}

/// Random row formulas (nested sums, means and logsumexps of smooth element expressions):
/// the total derivative and its own total derivative against finite differences of the
/// row value.
#[test]
fn random_row_formulas_differentiate_correctly() {
    let mut r = Rng(0xDEAD_BEEF_CAFE_F00D);
    let (mut compared, mut formulas) = (0, 0);
    for _ in 0..400 {
        let e = gen_row_expr(&mut r, 4);
        let mut g = Graph::new();
        let body = build_row(&mut g, &e);
        let loss = g.reduce(RowOp::Mean, body, s());
        if !g.reads_pred(loss) {
            continue;
        }
        formulas += 1;
        let grad = g.total_derivative(loss);
        let hess = g.total_derivative(grad);
        for _ in 0..3 {
            let c = 2 + (r.next() * 4.0) as usize;
            let y_true: Vec<f64> = (0..c).map(|_| r.next() * 2.0 - 1.0).collect();
            let y_pred: Vec<f64> = (0..c).map(|_| r.next() * 2.0 - 1.0).collect();
            let at = finite_differences(&g, [loss, grad, hess], &y_true, &y_pred, 1e-6);
            for (j, point) in at.into_iter().enumerate() {
                let Some([gj, fd_grad, hj, fd_hess]) = point else {
                    continue;
                };
                if ![fd_grad, fd_hess, gj, hj]
                    .iter()
                    .all(|v| v.is_finite() && v.abs() < 1e6)
                {
                    continue;
                }
                assert!(
                    (gj - fd_grad).abs() < 1e-5 * (1.0 + gj.abs()),
                    "grad[{j}] {gj} vs {fd_grad}: {e:?}"
                );
                assert!(
                    (hj - fd_hess).abs() < 1e-4 * (1.0 + hj.abs()),
                    "hess[{j}] {hj} vs {fd_hess}: {e:?}"
                );
                compared += 1;
            }
        }
    }
    println!("{formulas} random row formulas, {compared} derivative pairs compared");
    assert!(compared > 2000, "only {compared} compared");
}

#[test]
fn in_a_sparse_formula_sums_weighted_by_the_label_are_values_at_the_label() {
    for sparse in [true, false] {
        let mut g = Graph::new();
        g.sparse = sparse;
        let (t, p) = (g.y_true(s()), g.y_pred(s()));
        let tp = g.mul(t, p, s());
        let weighted = g.reduce(RowOp::Sum, tp, s());
        let at_label = g.reduce(RowOp::AtLabel, p, s());
        let ones = g.reduce(RowOp::Sum, t, s());
        assert_eq!(weighted == at_label, sparse);
        assert_eq!(g.const_value(ones) == Some(1.0), sparse);
    }
    // The gradient of sparse softmax cross-entropy then needs one pass (the logsumexp).
    let mut g = Graph::new();
    g.sparse = true;
    let loss = sparse_ce(&mut g);
    let grad = g.total_derivative(loss);
    let passes = g
        .reachable(&[loss, grad])
        .into_iter()
        .filter(|&n| matches!(g.node(n), super::ir::Node::Reduce(op, _) if op != RowOp::AtLabel))
        .count();
    assert_eq!(passes, 1);
}
