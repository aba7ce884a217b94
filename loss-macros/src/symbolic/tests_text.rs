//! Math text: precedence, names, constants, and programs with shared lines.

use super::text::number;
use super::*;
use proc_macro2::Span;

fn s() -> Span {
    Span::call_site()
}

fn names() -> Names {
    Names {
        params: vec!["gamma".into(), "alpha".into()],
        bool_params: vec!["from_logits".into()],
        externs: vec!["PI".into()],
        nodes: Default::default(),
    }
}

#[test]
fn constants_print_shortest() {
    assert_eq!(number(0.5), "0.5");
    assert_eq!(number(2.0), "2");
    assert_eq!(number(1e-7), "1e-7");
    assert_eq!(number(-1.5), "-1.5");
    assert_eq!(number(0.0), "0");
    assert_eq!(number(1.5e10), "1.5e10");
}

#[test]
fn minimal_parentheses() {
    let mut g = Graph::new();
    let (x, t, gamma) = (g.y_pred(s()), g.y_true(s()), g.param(0, s()));
    let n = names();
    let sum = g.add(x, t, s());
    let diff = g.sub(x, t, s());
    let prod = g.mul(sum, gamma, s());
    assert_eq!(render(&g, prod, &n), "(y_pred + y_true) * gamma");
    let quot = g.div(diff, prod, s());
    assert_eq!(
        render(&g, quot, &n),
        "(y_pred - y_true) / ((y_pred + y_true) * gamma)"
    );
    let nested = g.sub(t, diff, s());
    assert_eq!(render(&g, nested, &n), "y_true - (y_pred - y_true)");
    let chained = g.add(sum, gamma, s());
    assert_eq!(render(&g, chained, &n), "y_pred + y_true + gamma");
    let neg = g.neg(sum, s());
    assert_eq!(render(&g, neg, &n), "-(y_pred + y_true)");
    let m = g.constant(-2.0, s());
    let minus = g.add(x, m, s());
    assert_eq!(render(&g, minus, &n), "y_pred - 2");
    let scaled = g.mul(m, x, s());
    assert_eq!(render(&g, scaled, &n), "-2 * y_pred");
}

#[test]
fn functions_selects_and_leaves() {
    let mut g = Graph::new();
    let (x, gamma, pi) = (g.y_pred(s()), g.param(0, s()), g.external(0, s()));
    let n = names();
    let ln = g.unary(Op1::Ln, x, s());
    let p = g.binary(Op2::Powf, ln, gamma, s());
    assert_eq!(render(&g, p, &n), "powf(ln(y_pred), gamma)");
    let sq = g.unary(Op1::Powi(2), x, s());
    let mx = g.binary(Op2::Max, sq, pi, s());
    assert_eq!(render(&g, mx, &n), "max(powi(y_pred, 2), PI)");
    let (lo, hi) = (g.constant(1e-7, s()), g.constant(1.0, s()));
    let c = g.clamp(x, lo, hi, s());
    assert_eq!(
        render(&g, c, &n),
        "if y_pred < 1e-7 { 1e-7 } else if y_pred > 1 { 1 } else { y_pred }"
    );
    let logits = g.bool_param(0, s());
    let lt = g.compare(Cmp::Lt, x, gamma, s());
    let cond = g.and(logits, lt, s());
    let cond2 = g.not(cond, s());
    let sel = g.select(cond2, ln, x, s());
    // `select(!c, a, b)` is stored as `select(c, b, a)`.
    assert_eq!(
        render(&g, sel, &n),
        "if from_logits && y_pred < gamma { y_pred } else { ln(y_pred) }"
    );
    let one = g.constant(1.0, s());
    let plus = g.add(sel, one, s());
    assert!(render(&g, plus, &n).starts_with("(if from_logits"));
}

#[test]
fn named_nodes_print_as_names() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let sig = g.unary(Op1::Sigmoid, x, s());
    let ln = g.unary(Op1::Ln, sig, s());
    let loss = g.neg(ln, s());
    let mut n = names();
    n.nodes.insert(sig, "p".into());
    assert_eq!(render(&g, loss, &n), "-ln(p)");
    assert_eq!(
        render(&g, sig, &n),
        "sigmoid(y_pred)",
        "a root prints its expression"
    );
}

#[test]
fn programs_name_bindings_derivatives_and_shared_nodes() {
    let mut g = Graph::new();
    let (x, t, gamma) = (g.y_pred(s()), g.y_true(s()), g.param(0, s()));
    // focal-like: -(1 - p)^gamma * ln(p) with p = sigmoid(y_pred) * y_true
    let sig = g.unary(Op1::Sigmoid, x, s());
    let p = g.mul(sig, t, s());
    let one = g.constant(1.0, s());
    let q = g.sub(one, p, s());
    let w = g.binary(Op2::Powf, q, gamma, s());
    let ln = g.unary(Op1::Ln, p, s());
    let prod = g.mul(w, ln, s());
    let loss = g.neg(prod, s());
    let grad = g.derivative(loss);
    let mut n = names();
    n.nodes.insert(p, "p".into());
    let alone = render_program(&g, &[("loss", loss)], &n);
    assert_eq!(
        alone,
        [
            "p = sigmoid(y_pred) * y_true",
            "loss = -(powf(1 - p, gamma) * ln(p))"
        ]
    );
    // Together, the nodes the gradient shares with the loss get lines of their own.
    let both = render_program(&g, &[("loss", loss), ("d loss / d y_pred", grad)], &n);
    let slope = "if gamma == 0 { 0 } else { gamma * powf(t2, gamma - 1) }";
    assert_eq!(
        both,
        [
            "t1 = sigmoid(y_pred)".to_string(),
            "p = t1 * y_true".into(),
            "t2 = 1 - p".into(),
            "t3 = powf(t2, gamma)".into(),
            "t4 = ln(p)".into(),
            "loss = -(t3 * t4)".into(),
            "d_p = y_true * t1 * sigmoid(-y_pred)".into(),
            format!("d loss / d y_pred = -(t3 * d_p / p - t4 * ({slope}) * d_p)"),
        ]
    );
}

#[test]
fn a_root_used_by_another_root_is_referenced() {
    let mut g = Graph::new();
    let x = g.y_pred(s());
    let e = g.unary(Op1::Exp, x, s());
    let two = g.constant(2.0, s());
    let loss = g.mul(e, two, s());
    let grad = g.derivative(loss);
    let lines = render_program(&g, &[("loss", e), ("grad", grad), ("again", e)], &names());
    assert_eq!(
        lines,
        ["loss = exp(y_pred)", "grad = loss * 2", "again = loss"]
    );
    let one = g.derivative(x);
    let lines = render_program(&g, &[("x", x), ("d", one)], &names());
    assert_eq!(lines, ["x = y_pred", "d = 1"]);
}

#[test]
fn nan_tests_of_max_read_as_is_nan() {
    let mut g = Graph::new();
    let (x, gamma) = (g.y_pred(s()), g.param(0, s()));
    let m = g.binary(Op2::Max, x, gamma, s());
    let d = g.derivative(m);
    let text = render(&g, d, &names());
    assert_eq!(
        text,
        "if y_pred > gamma { 1 } else if y_pred < gamma { 0 } else if is_nan(gamma) { 1 } else { 0 }"
    );
}
