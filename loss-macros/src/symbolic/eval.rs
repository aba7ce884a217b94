//! Reference semantics of the IR, and an independent check of the symbolic derivatives.
//!
//! [`apply1`], [`apply2`] and [`compare`] define what every operation means, once: the
//! constant folder uses them, so folding at compile time and evaluating at run time agree.
//! [`eval_dual2`] differentiates by forward-mode hyper-dual numbers, with its own derivative
//! formulas, so that it can check `diff.rs` rather than repeat it.

use super::ir::{Cmp, Graph, Node, NodeId, Op1, Op2};

/// The values the leaves of a graph stand for.
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    pub y_true: f64,
    pub y_pred: f64,
    pub params: &'a [f64],
    pub bool_params: &'a [bool],
    pub externs: &'a [f64],
}

/// `signum` with `sign0(0) = 0` (the derivative of `abs`); NaN stays NaN.
pub fn sign0(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x == 0.0 {
        0.0
    } else {
        f64::NAN
    }
}

/// `1 / (1 + exp(-x))`, written so that `exp` never overflows.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + exp(x))` without overflow.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `ln(sigmoid(x))`.
pub fn log_sigmoid(x: f64) -> f64 {
    -softplus(-x)
}

/// `x * ln(y)`, and exactly 0 where `x == 0` (whatever `y` is).
pub fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * y.ln() }
}

pub fn apply1(op: Op1, x: f64) -> f64 {
    match op {
        Op1::Neg => -x,
        Op1::Ln => x.ln(),
        Op1::Exp => x.exp(),
        Op1::Sqrt => x.sqrt(),
        Op1::Abs => x.abs(),
        Op1::Signum => x.signum(),
        Op1::Sign0 => sign0(x),
        Op1::Tanh => x.tanh(),
        Op1::Sinh => x.sinh(),
        Op1::Cosh => x.cosh(),
        Op1::Sin => x.sin(),
        Op1::Cos => x.cos(),
        Op1::Recip => 1.0 / x,
        Op1::Ln1p => x.ln_1p(),
        Op1::ExpM1 => x.exp_m1(),
        Op1::Sigmoid => sigmoid(x),
        Op1::Softplus => softplus(x),
        Op1::LogSigmoid => log_sigmoid(x),
        Op1::Powi(n) => x.powi(n),
    }
}

pub fn apply2(op: Op2, a: f64, b: f64) -> f64 {
    match op {
        Op2::Add => a + b,
        Op2::Sub => a - b,
        Op2::Mul => a * b,
        Op2::Div => a / b,
        Op2::Powf => a.powf(b),
        Op2::Max => a.max(b),
        Op2::Min => a.min(b),
        Op2::Xlogy => xlogy(a, b),
    }
}

pub fn compare(cmp: Cmp, a: f64, b: f64) -> bool {
    match cmp {
        Cmp::Lt => a < b,
        Cmp::Le => a <= b,
        Cmp::Gt => a > b,
        Cmp::Ge => a >= b,
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
    }
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The value of every node reachable from `roots`, indexed by node (booleans as 1.0 / 0.0;
/// unreachable nodes are 0.0). One pass in id order, so shared nodes are evaluated once.
pub fn values(g: &Graph, roots: &[NodeId], env: &Env) -> Vec<f64> {
    // Row-level values need the whole row: see `roweval.rs`.
    values_with(g, roots, env, &|_| f64::NAN)
}

/// [`values`], with the values of row-level nodes (reductions, `count()`) given by `row`.
pub fn values_with(
    g: &Graph,
    roots: &[NodeId],
    env: &Env,
    row: &dyn Fn(NodeId) -> f64,
) -> Vec<f64> {
    let mut v = vec![0.0; g.len()];
    for id in g.reachable(roots) {
        let at = |n: NodeId| v[n.index()];
        v[id.index()] = match g.node(id) {
            Node::Const(bits) => f64::from_bits(bits),
            Node::YTrue => env.y_true,
            Node::YPred => env.y_pred,
            Node::Param(i) => env.params[i as usize],
            Node::Extern(i) => env.externs[i as usize],
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
            Node::BoolParam(i) => truth(env.bool_params[i as usize]),
            Node::Compare(cmp, a, b) => truth(compare(cmp, at(a), at(b))),
            Node::And(a, b) => truth(at(a) != 0.0 && at(b) != 0.0),
            Node::Or(a, b) => truth(at(a) != 0.0 || at(b) != 0.0),
            Node::Not(a) => truth(at(a) == 0.0),
            Node::Reduce(..) | Node::Count => row(id),
        };
    }
    v
}

/// The value of a float node.
pub fn eval(g: &Graph, id: NodeId, env: &Env) -> f64 {
    values(g, &[id], env)[id.index()]
}

/// The value of a boolean node.
pub fn eval_bool(g: &Graph, id: NodeId, env: &Env) -> bool {
    values(g, &[id], env)[id.index()] != 0.0
}

/// A value with its first and second derivative with respect to `y_pred`.
#[derive(Clone, Copy, Debug, Default)]
struct Dual2 {
    v: f64,
    d: f64,
    dd: f64,
}

impl Dual2 {
    fn constant(v: f64) -> Self {
        Dual2 { v, d: 0.0, dd: 0.0 }
    }

    /// `f(self)` given `f(v)`, `f'(v)`, `f''(v)`.
    fn chain(self, f: f64, f1: f64, f2: f64) -> Self {
        Dual2 {
            v: f,
            d: f1 * self.d,
            dd: f2 * self.d * self.d + f1 * self.dd,
        }
    }

    /// `f(self, o)` given `f` and its partial derivatives at `(self.v, o.v)`:
    /// `[fx, fy, fxx, fxy, fyy]`.
    fn chain2(self, o: Dual2, f: f64, p: [f64; 5]) -> Self {
        let [fx, fy, fxx, fxy, fyy] = p;
        Dual2 {
            v: f,
            d: fx * self.d + fy * o.d,
            dd: fxx * self.d * self.d
                + 2.0 * fxy * self.d * o.d
                + fyy * o.d * o.d
                + fx * self.dd
                + fy * o.dd,
        }
    }
}

/// The derivative of `max`/`min` at a tie: the minimum-norm element between the two one-sided
/// derivatives, as `diff.rs` does.
fn tie(a: Dual2, b: Dual2, v: f64) -> Dual2 {
    let (d, dd) = if a.d * b.d <= 0.0 {
        (0.0, 0.0)
    } else if a.d.abs() <= b.d.abs() {
        (a.d, a.dd)
    } else {
        (b.d, b.dd)
    };
    Dual2 { v, d, dd }
}

fn dual1(op: Op1, x: Dual2) -> Dual2 {
    let v = x.v;
    match op {
        Op1::Neg => Dual2 {
            v: -v,
            d: -x.d,
            dd: -x.dd,
        },
        Op1::Ln => x.chain(v.ln(), 1.0 / v, -1.0 / (v * v)),
        Op1::Exp => {
            let e = v.exp();
            x.chain(e, e, e)
        }
        Op1::Sqrt => {
            let s = v.sqrt();
            x.chain(s, 0.5 / s, -0.25 / (v * s))
        }
        Op1::Abs => x.chain(v.abs(), sign0(v), 0.0),
        Op1::Signum => x.chain(v.signum(), 0.0, 0.0),
        Op1::Sign0 => x.chain(sign0(v), 0.0, 0.0),
        Op1::Tanh => {
            let t = v.tanh();
            x.chain(t, 1.0 - t * t, -2.0 * t * (1.0 - t * t))
        }
        Op1::Sinh => x.chain(v.sinh(), v.cosh(), v.sinh()),
        Op1::Cosh => x.chain(v.cosh(), v.sinh(), v.cosh()),
        Op1::Sin => x.chain(v.sin(), v.cos(), -v.sin()),
        Op1::Cos => x.chain(v.cos(), -v.sin(), -v.cos()),
        Op1::Recip => {
            let r = 1.0 / v;
            x.chain(r, -r * r, 2.0 * r * r * r)
        }
        Op1::Ln1p => {
            let u = 1.0 + v;
            x.chain(v.ln_1p(), 1.0 / u, -1.0 / (u * u))
        }
        Op1::ExpM1 => {
            let e = v.exp();
            x.chain(v.exp_m1(), e, e)
        }
        Op1::Sigmoid => {
            let s = sigmoid(v);
            x.chain(s, s * (1.0 - s), s * (1.0 - s) * (1.0 - 2.0 * s))
        }
        Op1::Softplus => {
            let s = sigmoid(v);
            x.chain(softplus(v), s, s * (1.0 - s))
        }
        Op1::LogSigmoid => {
            let s = sigmoid(-v);
            x.chain(log_sigmoid(v), s, -s * (1.0 - s))
        }
        Op1::Powi(n) => {
            let nf = f64::from(n);
            let f1 = if n == 0 { 0.0 } else { nf * v.powi(n - 1) };
            let f2 = if n == 0 || n == 1 {
                0.0
            } else {
                nf * (nf - 1.0) * v.powi(n - 2)
            };
            x.chain(v.powi(n), f1, f2)
        }
    }
}

fn dual2(op: Op2, a: Dual2, b: Dual2) -> Dual2 {
    let (x, y) = (a.v, b.v);
    match op {
        Op2::Add => Dual2 {
            v: x + y,
            d: a.d + b.d,
            dd: a.dd + b.dd,
        },
        Op2::Sub => Dual2 {
            v: x - y,
            d: a.d - b.d,
            dd: a.dd - b.dd,
        },
        Op2::Mul => a.chain2(b, x * y, [y, x, 0.0, 1.0, 0.0]),
        Op2::Div => {
            let r = 1.0 / y;
            let q = x / y;
            a.chain2(b, q, [r, -q * r, 0.0, -r * r, 2.0 * q * r * r])
        }
        Op2::Powf => {
            let f = x.powf(y);
            // Conventions shared with diff.rs: exponent 0 has no x-slope; where the power is
            // 0 its slope in the exponent is 0.
            let (fx, fxx, fxy) = if y == 0.0 {
                (0.0, 0.0, 0.0)
            } else {
                let p1 = x.powf(y - 1.0);
                (
                    y * p1,
                    y * (y - 1.0) * x.powf(y - 2.0),
                    p1 * (1.0 + y * x.ln()),
                )
            };
            let fy = xlogy(f, x);
            let fyy = f * x.ln() * x.ln();
            a.chain2(b, f, [fx, fy, fxx, fxy, fyy])
        }
        Op2::Max | Op2::Min => {
            let v = apply2(op, x, y);
            let first = if op == Op2::Max { x > y } else { x < y };
            let second = if op == Op2::Max { x < y } else { x > y };
            if first || y.is_nan() {
                Dual2 { v, ..a }
            } else if second || x.is_nan() {
                Dual2 { v, ..b }
            } else {
                tie(a, b, v)
            }
        }
        Op2::Xlogy => {
            let fy = if x == 0.0 { 0.0 } else { x / y };
            a.chain2(b, xlogy(x, y), [y.ln(), fy, 0.0, 1.0 / y, -x / (y * y)])
        }
    }
}

/// Value, first and second derivative of `id` with respect to `y_pred`, by hyper-dual numbers.
pub fn eval_dual2(g: &Graph, id: NodeId, env: &Env) -> (f64, f64, f64) {
    let mut v = vec![Dual2::default(); g.len()];
    let mut b = vec![false; g.len()];
    for n in g.reachable(&[id]) {
        let i = n.index();
        let c = Dual2::constant;
        match g.node(n) {
            Node::Const(bits) => v[i] = c(f64::from_bits(bits)),
            Node::YTrue => v[i] = c(env.y_true),
            Node::YPred => {
                v[i] = Dual2 {
                    v: env.y_pred,
                    d: 1.0,
                    dd: 0.0,
                }
            }
            Node::Param(k) => v[i] = c(env.params[k as usize]),
            Node::Extern(k) => v[i] = c(env.externs[k as usize]),
            Node::Reduce(..) | Node::Count => v[i] = c(f64::NAN),
            Node::Unary(op, a) => v[i] = dual1(op, v[a.index()]),
            Node::Binary(op, x, y) => v[i] = dual2(op, v[x.index()], v[y.index()]),
            Node::Select(cond, x, y) => {
                v[i] = if b[cond.index()] {
                    v[x.index()]
                } else {
                    v[y.index()]
                }
            }
            Node::BoolConst(t) => b[i] = t,
            Node::BoolParam(k) => b[i] = env.bool_params[k as usize],
            Node::Compare(cmp, x, y) => b[i] = compare(cmp, v[x.index()].v, v[y.index()].v),
            Node::And(x, y) => b[i] = b[x.index()] && b[y.index()],
            Node::Or(x, y) => b[i] = b[x.index()] || b[y.index()],
            Node::Not(x) => b[i] = !b[x.index()],
        }
    }
    let r = v[id.index()];
    (r.v, r.d, r.dd)
}
