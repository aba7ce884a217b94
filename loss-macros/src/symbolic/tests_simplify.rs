//! The simplifying constructors: each rule, and the rewrites that must not happen.

use super::*;
use proc_macro2::Span;

fn s() -> Span {
    Span::call_site()
}

/// A graph with `y_pred` and the parameter `p0`.
fn setup() -> (Graph, NodeId, NodeId) {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let p = g.param(0, s());
    (g, x, p)
}

#[test]
fn folds_constants() {
    let mut g = Graph::new();
    let (two, three) = (g.constant(2.0, s()), g.constant(3.0, s()));
    let sum = g.add(two, three, s());
    assert_eq!(g.const_value(sum), Some(5.0));
    let ln = g.unary(Op1::Ln, two, s());
    assert_eq!(g.const_value(ln), Some(2f64.ln()));
    let p = g.binary(Op2::Powf, two, three, s());
    assert_eq!(g.const_value(p), Some(8.0));
    let x = g.binary(Op2::Xlogy, two, three, s());
    assert_eq!(g.const_value(x), Some(2.0 * 3f64.ln()));
    let lt = g.compare(Cmp::Lt, two, three, s());
    assert_eq!(g.node(lt), Node::BoolConst(true));
    let not = g.not(lt, s());
    assert_eq!(g.node(not), Node::BoolConst(false));
}

#[test]
fn refuses_to_fold_to_non_finite_or_negative_zero() {
    let mut g = Graph::new();
    let (zero, one, big) = (
        g.constant(0.0, s()),
        g.constant(1.0, s()),
        g.constant(1000.0, s()),
    );
    let inf = g.div(one, zero, s());
    assert_eq!(g.node(inf), Node::Binary(Op2::Div, one, zero));
    let ln0 = g.unary(Op1::Ln, zero, s());
    assert_eq!(g.node(ln0), Node::Unary(Op1::Ln, zero));
    let overflow = g.unary(Op1::Exp, big, s());
    assert_eq!(g.const_value(overflow), None);
    let nan = g.div(zero, zero, s());
    assert_eq!(g.node(nan), Node::Binary(Op2::Div, zero, zero));
    let minus_zero = g.neg(zero, s());
    assert_eq!(g.node(minus_zero), Node::Unary(Op1::Neg, zero));
    let env = Env {
        y_true: 0.0,
        y_pred: 0.0,
        params: &[],
        bool_params: &[],
        externs: &[],
    };
    let r = g.div(one, minus_zero, s());
    assert_eq!(eval(&g, r, &env), f64::NEG_INFINITY);
}

#[test]
fn additive_and_multiplicative_identities() {
    let (mut g, x, _) = setup();
    let (zero, one, m1) = (
        g.constant(0.0, s()),
        g.constant(1.0, s()),
        g.constant(-1.0, s()),
    );
    assert_eq!(g.add(x, zero, s()), x);
    assert_eq!(g.add(zero, x, s()), x);
    assert_eq!(g.sub(x, zero, s()), x);
    assert_eq!(g.mul(x, one, s()), x);
    assert_eq!(g.mul(one, x, s()), x);
    assert_eq!(g.div(x, one, s()), x);
    let neg = g.neg(x, s());
    assert_eq!(g.sub(zero, x, s()), neg);
    assert_eq!(g.mul(x, m1, s()), neg);
    assert_eq!(g.mul(m1, x, s()), neg);
    assert_eq!(g.neg(neg, s()), x);
}

#[test]
fn negations_the_user_wrote_are_kept() {
    // `let bce = -(...)` must survive in `w * bce` and `w + bce`, or its name is lost.
    let (mut g, x, p) = setup();
    let np = g.neg(p, s());
    let (mul, add, sub) = (g.mul(x, np, s()), g.add(x, np, s()), g.sub(x, np, s()));
    assert_eq!(g.node(mul), Node::Binary(Op2::Mul, x, np));
    assert_eq!(g.node(add), Node::Binary(Op2::Add, x, np));
    assert_eq!(g.node(sub), Node::Binary(Op2::Sub, x, np));
}

#[test]
fn keeps_rewrites_that_change_values() {
    let (mut g, x, _) = setup();
    let zero = g.constant(0.0, s());
    let times_zero = g.mul(x, zero, s());
    assert_eq!(g.node(times_zero), Node::Binary(Op2::Mul, x, zero));
    let diff = g.sub(x, x, s());
    assert_eq!(g.node(diff), Node::Binary(Op2::Sub, x, x));
    let e = g.unary(Op1::Exp, x, s());
    let ln_exp = g.unary(Op1::Ln, e, s());
    assert_eq!(g.node(ln_exp), Node::Unary(Op1::Ln, e));
    let sq = g.mul(x, x, s());
    let root = g.unary(Op1::Sqrt, sq, s());
    assert_eq!(g.node(root), Node::Unary(Op1::Sqrt, sq));
    let over = g.div(x, x, s());
    assert_eq!(g.node(over), Node::Binary(Op2::Div, x, x));
}

#[test]
fn powers() {
    let (mut g, x, _) = setup();
    let p0 = g.unary(Op1::Powi(0), x, s());
    assert_eq!(g.const_value(p0), Some(1.0));
    assert_eq!(g.unary(Op1::Powi(1), x, s()), x);
    let (zero, one) = (g.constant(0.0, s()), g.constant(1.0, s()));
    let f0 = g.binary(Op2::Powf, x, zero, s());
    assert_eq!(g.const_value(f0), Some(1.0));
    assert_eq!(g.binary(Op2::Powf, x, one, s()), x);
    let xl = g.binary(Op2::Xlogy, zero, x, s());
    assert_eq!(g.const_value(xl), Some(0.0));
}

#[test]
fn selects_and_booleans() {
    let (mut g, x, p) = setup();
    let (t, f) = (g.bool_const(true, s()), g.bool_const(false, s()));
    assert_eq!(g.select(t, x, p, s()), x);
    assert_eq!(g.select(f, x, p, s()), p);
    let c = g.compare(Cmp::Lt, x, p, s());
    assert_eq!(g.select(c, x, x, s()), x);
    let nc = g.not(c, s());
    assert_eq!(g.not(nc, s()), c);
    assert_eq!(g.select(nc, x, p, s()), g.select(c, p, x, s()));
    assert_eq!(g.and(t, c, s()), c);
    assert_eq!(g.and(c, t, s()), c);
    assert_eq!(g.and(f, c, s()), f);
    assert_eq!(g.and(c, f, s()), f);
    assert_eq!(g.or(f, c, s()), c);
    assert_eq!(g.or(c, f, s()), c);
    assert_eq!(g.or(t, c, s()), t);
    assert_eq!(g.or(c, t, s()), t);
    let b = g.bool_param(0, s());
    assert_eq!(g.and(c, b, s()), g.and(b, c, s()));
    assert_eq!(g.or(c, b, s()), g.or(b, c, s()));
}

#[test]
fn shares_common_subexpressions() {
    let (mut g, x, p) = setup();
    let build = |g: &mut Graph| {
        let l = g.unary(Op1::Ln, x, s());
        let m = g.mul(p, l, s());
        g.binary(Op2::Max, m, x, s())
    };
    let first = build(&mut g);
    let len = g.len();
    assert_eq!(build(&mut g), first);
    assert_eq!(g.len(), len);
    assert_eq!(g.mul(x, p, s()), g.mul(p, x, s()));
    assert_eq!(g.add(x, p, s()), g.add(p, x, s()));
    assert_ne!(g.sub(x, p, s()), g.sub(p, x, s()));
}

#[test]
fn clamp_is_inclusive_and_passes_nan() {
    let (mut g, x, _) = setup();
    let (lo, hi) = (g.constant(-1.0, s()), g.constant(2.0, s()));
    let c = g.clamp(x, lo, hi, s());
    let at = |y_pred: f64| {
        let env = Env {
            y_true: 0.0,
            y_pred,
            params: &[0.0],
            bool_params: &[],
            externs: &[],
        };
        eval(&g, c, &env)
    };
    assert_eq!(at(-3.0), -1.0);
    assert_eq!(at(0.5), 0.5);
    assert_eq!(at(5.0), 2.0);
    assert!(at(f64::NAN).is_nan());
}
