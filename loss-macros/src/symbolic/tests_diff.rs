//! Each derivative rule against its closed form, and the conventions at kinks.

use super::*;
use proc_macro2::Span;

fn s() -> Span {
    Span::call_site()
}

const P: f64 = 2.5;

fn env(y_true: f64, y_pred: f64, p: f64) -> Env<'static> {
    // Leaked once per call: tests only, and it keeps `Env<'static>` simple to pass around.
    let params: &'static [f64] = Box::leak(Box::new([p]));
    Env {
        y_true,
        y_pred,
        params,
        bool_params: &[],
        externs: &[std::f64::consts::PI],
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

/// Builds `f(y_pred, p0)` and checks its first and second derivatives (symbolic and dual)
/// against closed forms at `points`.
fn check(
    build: impl Fn(&mut Graph, NodeId, NodeId) -> NodeId,
    d1: impl Fn(f64) -> f64,
    d2: impl Fn(f64) -> f64,
    points: &[f64],
) {
    let mut g = Graph::new();
    let (x, p) = (g.y_pred(s()), g.param(0, s()));
    let f = build(&mut g, x, p);
    let df = g.derivative(f);
    let ddf = g.derivative(df);
    for &y in points {
        let e = env(0.3, y, P);
        let (_, dd1, dd2) = eval_dual2(&g, f, &e);
        let (s1, s2) = (eval(&g, df, &e), eval(&g, ddf, &e));
        let (c1, c2) = (d1(y), d2(y));
        assert!(close(s1, c1), "d1 at {y}: symbolic {s1}, closed {c1}");
        assert!(close(s2, c2), "d2 at {y}: symbolic {s2}, closed {c2}");
        assert!(close(dd1, c1), "d1 at {y}: dual {dd1}, closed {c1}");
        assert!(close(dd2, c2), "d2 at {y}: dual {dd2}, closed {c2}");
    }
}

fn unary(op: Op1) -> impl Fn(&mut Graph, NodeId, NodeId) -> NodeId {
    move |g, x, _| g.unary(op, x, s())
}

const PTS: &[f64] = &[0.3, 0.7, 1.9];
const SIGNED: &[f64] = &[-1.7, -0.4, 0.3, 2.2];

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn unary_rules() {
    check(unary(Op1::Neg), |_| -1.0, |_| 0.0, SIGNED);
    check(unary(Op1::Ln), |x| 1.0 / x, |x| -1.0 / (x * x), PTS);
    check(unary(Op1::Exp), f64::exp, f64::exp, SIGNED);
    let sqrt_dd = |x: f64| -0.25 / (x * x.sqrt());
    check(unary(Op1::Sqrt), |x| 0.5 / x.sqrt(), sqrt_dd, PTS);
    check(unary(Op1::Abs), f64::signum, |_| 0.0, SIGNED);
    check(unary(Op1::Signum), |_| 0.0, |_| 0.0, SIGNED);
    check(unary(Op1::Sign0), |_| 0.0, |_| 0.0, SIGNED);
    let tanh_dd = |x: f64| -2.0 * x.tanh() * (1.0 - x.tanh().powi(2));
    check(
        unary(Op1::Tanh),
        |x| 1.0 - x.tanh().powi(2),
        tanh_dd,
        SIGNED,
    );
    check(unary(Op1::Sinh), f64::cosh, f64::sinh, SIGNED);
    check(unary(Op1::Cosh), f64::sinh, f64::cosh, SIGNED);
    check(unary(Op1::Sin), f64::cos, |x| -x.sin(), SIGNED);
    check(unary(Op1::Cos), |x| -x.sin(), |x| -x.cos(), SIGNED);
    check(
        unary(Op1::Recip),
        |x| -1.0 / (x * x),
        |x| 2.0 / x.powi(3),
        SIGNED,
    );
    let ln1p_dd = |x: f64| -1.0 / (1.0 + x).powi(2);
    check(
        unary(Op1::Ln1p),
        |x| 1.0 / (1.0 + x),
        ln1p_dd,
        &[-0.5, 0.3, 2.0],
    );
    check(unary(Op1::ExpM1), f64::exp, f64::exp, SIGNED);
    let sig_d = |x: f64| sig(x) * (1.0 - sig(x));
    let sig_dd = |x: f64| sig_d(x) * (1.0 - 2.0 * sig(x));
    check(unary(Op1::Sigmoid), sig_d, sig_dd, SIGNED);
    check(unary(Op1::Softplus), sig, sig_d, SIGNED);
    check(
        unary(Op1::LogSigmoid),
        |x| 1.0 - sig(x),
        |x| -sig_d(x),
        SIGNED,
    );
    check(unary(Op1::Powi(3)), |x| 3.0 * x * x, |x| 6.0 * x, SIGNED);
    let inv2_dd = |x: f64| 6.0 / x.powi(4);
    check(unary(Op1::Powi(-2)), |x| -2.0 / x.powi(3), inv2_dd, SIGNED);
}

#[test]
fn binary_rules() {
    check(|g, x, p| g.add(x, p, s()), |_| 1.0, |_| 0.0, SIGNED);
    check(|g, x, p| g.sub(p, x, s()), |_| -1.0, |_| 0.0, SIGNED);
    check(|g, x, _| g.mul(x, x, s()), |x| 2.0 * x, |_| 2.0, SIGNED);
    let recip_dd = |x: f64| 2.0 * P / x.powi(3);
    check(
        |g, x, p| g.div(p, x, s()),
        |x| -P / (x * x),
        recip_dd,
        SIGNED,
    );
    check(|g, x, p| g.div(x, p, s()), |_| 1.0 / P, |_| 0.0, SIGNED);
    let sq = |g: &mut Graph, x| g.mul(x, x, s());
    check(
        |g, x, _| {
            let (num, den) = (g.unary(Op1::Sin, x, s()), sq(g, x));
            g.div(num, den, s())
        },
        |x| x.cos() / (x * x) - 2.0 * x.sin() / x.powi(3),
        |x| -x.sin() / (x * x) - 4.0 * x.cos() / x.powi(3) + 6.0 * x.sin() / x.powi(4),
        SIGNED,
    );
    let pow_x_p = |x: f64| P * (P - 1.0) * x.powf(P - 2.0);
    let powf = |g: &mut Graph, a, b| g.binary(Op2::Powf, a, b, s());
    check(
        |g, x, p| powf(g, x, p),
        |x| P * x.powf(P - 1.0),
        pow_x_p,
        PTS,
    );
    let ln_p = P.ln();
    check(
        |g, x, p| powf(g, p, x),
        |x| P.powf(x) * ln_p,
        |x| P.powf(x) * ln_p * ln_p,
        SIGNED,
    );
    check(
        |g, x, _| powf(g, x, x),
        |x| x.powf(x) * (x.ln() + 1.0),
        |x| x.powf(x) * ((x.ln() + 1.0).powi(2) + 1.0 / x),
        PTS,
    );
    let xlogy = |g: &mut Graph, a, b| g.binary(Op2::Xlogy, a, b, s());
    check(|g, x, p| xlogy(g, p, x), |x| P / x, |x| -P / (x * x), PTS);
    check(|g, x, p| xlogy(g, x, p), |_| ln_p, |_| 0.0, SIGNED);
    check(|g, x, _| xlogy(g, x, x), |x| x.ln() + 1.0, |x| 1.0 / x, PTS);
}

#[test]
fn max_min_select_rules() {
    let square_or_linear = |g: &mut Graph, x, p| {
        let c = g.compare(Cmp::Lt, x, p, s());
        let sq = g.mul(x, x, s());
        let three = g.constant(3.0, s());
        let lin = g.mul(three, x, s());
        g.select(c, sq, lin, s())
    };
    let pts = &[-1.0, 1.0, 3.0, 4.0];
    let d1 = |x: f64| if x < P { 2.0 * x } else { 3.0 };
    let d2 = |x: f64| if x < P { 2.0 } else { 0.0 };
    check(square_or_linear, d1, d2, pts);
    let max = |g: &mut Graph, x, p| {
        let sq = g.mul(x, x, s());
        g.binary(Op2::Max, sq, p, s())
    };
    let big = |x: f64| x * x > P;
    let d1 = |x: f64| if big(x) { 2.0 * x } else { 0.0 };
    let d2 = |x: f64| if big(x) { 2.0 } else { 0.0 };
    check(max, d1, d2, pts);
    let min = |g: &mut Graph, x, p| {
        let sq = g.mul(x, x, s());
        g.binary(Op2::Min, sq, p, s())
    };
    let d1 = |x: f64| if big(x) { 0.0 } else { 2.0 * x };
    let d2 = |x: f64| if big(x) { 0.0 } else { 2.0 };
    check(min, d1, d2, pts);
}

/// `(f(y_pred), f', f'')` at `y_pred`, symbolically.
fn derivatives_at(g: &mut Graph, f: NodeId, y_true: f64, y_pred: f64, p: f64) -> [f64; 3] {
    let d = g.derivative(f);
    let dd = g.derivative(d);
    let e = env(y_true, y_pred, p);
    [eval(g, f, &e), eval(g, d, &e), eval(g, dd, &e)]
}

#[test]
fn abs_has_zero_slope_at_zero() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let f = g.unary(Op1::Abs, x, s());
    assert_eq!(derivatives_at(&mut g, f, 0.0, 0.0, P), [0.0, 0.0, 0.0]);
    assert_eq!(eval_dual2(&g, f, &env(0.0, 0.0, P)), (0.0, 0.0, 0.0));
}

#[test]
fn max_and_min_take_the_minimum_norm_subgradient_at_ties() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let (zero, two) = (g.constant(0.0, s()), g.constant(2.0, s()));
    let twice = g.mul(two, x, s());
    let neg = g.neg(x, s());
    let cases = [
        (g.binary(Op2::Max, x, zero, s()), 0.0),
        (g.binary(Op2::Min, x, zero, s()), 0.0),
        (g.binary(Op2::Max, x, twice, s()), 1.0),
        (g.binary(Op2::Min, twice, x, s()), 1.0),
        (g.binary(Op2::Max, x, neg, s()), 0.0),
    ];
    for (f, slope) in cases {
        assert_eq!(derivatives_at(&mut g, f, 0.0, 0.0, P)[1], slope);
        assert_eq!(eval_dual2(&g, f, &env(0.0, 0.0, P)).1, slope);
    }
}

#[test]
fn clamp_passes_the_gradient_at_its_bounds() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let (lo, hi) = (g.constant(-1.0, s()), g.constant(2.0, s()));
    let c = g.clamp(x, lo, hi, s());
    for (y, slope) in [(-1.5, 0.0), (-1.0, 1.0), (0.0, 1.0), (2.0, 1.0), (2.5, 0.0)] {
        assert_eq!(derivatives_at(&mut g, c, 0.0, y, P)[1], slope, "at {y}");
    }
}

#[test]
fn powf_with_exponent_zero_has_slope_zero_at_zero() {
    let mut g = Graph::new();
    let (x, p) = (g.y_pred(s()), g.param(0, s()));
    let f = g.binary(Op2::Powf, x, p, s());
    assert_eq!(derivatives_at(&mut g, f, 0.0, 0.0, 0.0), [1.0, 0.0, 0.0]);
    // The value is 0 there: the slope in the exponent is 0, not `0 * ln(0)`.
    let f = g.binary(Op2::Powf, p, x, s());
    let [v, d, _] = derivatives_at(&mut g, f, 0.0, 2.0, 0.0);
    assert_eq!((v, d), (0.0, 0.0));
}

#[test]
fn xlogy_at_zero() {
    let mut g = Graph::new();
    let (x, t) = (g.y_pred(s()), g.y_true(s()));
    let f = g.binary(Op2::Xlogy, t, x, s());
    assert_eq!(derivatives_at(&mut g, f, 0.0, 0.0, P), [0.0, 0.0, 0.0]);
    let f = g.binary(Op2::Xlogy, x, t, s());
    assert_eq!(
        derivatives_at(&mut g, f, 3.0, 0.0, P)[..2],
        [0.0, 3f64.ln()]
    );
}

#[test]
fn a_zero_factor_is_dropped_not_multiplied() {
    // d(y_true * ln(p)) / dp is y_true / p: no `0 * ln(p)` term, which is NaN at p = 0.
    let mut g = Graph::new();
    let (x, t) = (g.y_pred(s()), g.y_true(s()));
    let ln = g.unary(Op1::Ln, x, s());
    let f = g.mul(t, ln, s());
    let d = g.derivative(f);
    assert!(!g.reachable(&[d]).contains(&ln));
    assert_eq!(eval(&g, d, &env(0.0, 0.25, P)), 0.0);
    // `ln(k) + p` is -inf for k = 0 while its slope is 1: the product rule must not build
    // `0 * (ln(k) + p)` for the constant factor.
    let (k, y) = (g.param(0, s()), g.y_true(s()));
    let lnk = g.unary(Op1::Ln, k, s());
    let h = g.add(lnk, x, s());
    let f = g.mul(y, h, s());
    let [_, d, dd] = derivatives_at(&mut g, f, 0.0, 0.5, 0.0);
    assert_eq!([d, dd], [0.0, 0.0]);
}

#[test]
fn derivatives_are_shared() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let ln = g.unary(Op1::Ln, x, s());
    let sq = g.unary(Op1::Powi(2), ln, s());
    let f = g.mul(sq, ln, s());
    let d = g.derivative(f);
    let dd = g.derivative(d);
    let count_ln = |g: &Graph, id| {
        g.reachable(&[id])
            .into_iter()
            .filter(|&n| matches!(g.node(n), Node::Unary(Op1::Ln, _)))
            .count()
    };
    assert_eq!(count_ln(&g, d), 1);
    assert_eq!(count_ln(&g, dd), 1);
    assert_eq!(g.derivative(f), d, "memoized");
    let y = 1.7f64;
    let l = y.ln();
    let e = env(0.0, y, P);
    assert!(close(eval(&g, d, &e), 3.0 * l * l / y));
    assert!(close(eval(&g, dd, &e), (6.0 * l - 3.0 * l * l) / (y * y)));
}

#[test]
fn constants_have_zero_derivative() {
    let mut g = Graph::new();
    let (t, p, k) = (g.y_true(s()), g.param(0, s()), g.external(0, s()));
    let e = g.unary(Op1::Exp, k, s());
    let f = g.mul(t, p, s());
    let f = g.mul(f, e, s());
    let d = g.derivative(f);
    assert_eq!(g.const_value(d), Some(0.0));
}
