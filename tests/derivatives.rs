//! Derived first and second derivatives of every element-wise built-in: checked against
//! finite differences away from kinks, and finite wherever the loss is finite.

use losses::DynLoss;
use losses::ndarray::{Array2, ArrayD, IxDyn};

/// The built-ins with the parameter settings that change their formula, and the range of
/// `y_pred` (and `y_true`) on which the loss is defined.
fn variants() -> Vec<(&'static str, Domain)> {
    use Domain::*;
    vec![
        ("mean_squared_error", Real),
        ("mean_absolute_error", Real),
        ("mean_absolute_percentage_error", Real),
        ("mean_squared_logarithmic_error", Positive),
        ("huber", Real),
        ("huber(delta=0.3)", Real),
        ("log_cosh", Real),
        ("poisson", Positive),
        ("hinge", Labels),
        ("squared_hinge", Labels),
        ("binary_crossentropy", Probability),
        ("binary_crossentropy(label_smoothing=0.1)", Probability),
        ("binary_crossentropy(from_logits=true)", Logits),
        ("bce_loss", Probability),
        ("binary_focal_crossentropy", Probability),
        ("binary_focal_crossentropy(gamma=0)", Probability),
        (
            "binary_focal_crossentropy(gamma=1.5, apply_class_balancing=true, alpha=0.6)",
            Probability,
        ),
        (
            "binary_focal_crossentropy(from_logits=true, label_smoothing=0.2)",
            Logits,
        ),
        ("smooth_l1", Real),
        ("smooth_l1(beta=0.25)", Real),
        ("quantile(tau=0.8)", Real),
        ("pseudo_huber(delta=2)", Real),
        ("log_poisson", Real),
        ("log_poisson(log_input=false, full=true)", Positive),
        ("soft_margin", Labels),
        ("bce_with_logits(pos_weight=2.5)", Logits),
    ]
}

#[derive(Clone, Copy)]
enum Domain {
    Real,
    Positive,
    Probability,
    Logits,
    Labels,
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
}

fn sample(domain: Domain, rng: &mut Rng) -> (f64, f64) {
    match domain {
        Domain::Real => (rng.range(-3.0, 3.0), rng.range(-3.0, 3.0)),
        Domain::Positive => (rng.range(0.0, 4.0).round(), rng.range(0.05, 5.0)),
        Domain::Probability => (rng.range(0.0, 1.0), rng.range(0.02, 0.98)),
        Domain::Logits => (rng.range(0.0, 1.0).round(), rng.range(-6.0, 6.0)),
        Domain::Labels => (
            if rng.uniform() < 0.5 { -1.0 } else { 1.0 },
            rng.range(-3.0, 3.0),
        ),
    }
}

fn grad_hess(loss: &dyn DynLoss<f64>, t: f64, p: f64) -> (f64, f64, f64) {
    let t = ArrayD::from_elem(IxDyn(&[1]), t);
    let p = ArrayD::from_elem(IxDyn(&[1]), p);
    let value = loss.per_element(t.view(), p.view()).unwrap()[[0]];
    let (g, h) = loss.grad_hess(t.view(), p.view()).unwrap();
    (value, g[[0]], h[[0]])
}

#[test]
fn first_and_second_derivatives_match_finite_differences() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut compared, mut at_kinks) = (0, 0);
    for (spec, domain) in variants() {
        let loss: Box<dyn DynLoss<f64>> = losses::from_spec(spec).unwrap();
        for _ in 0..200 {
            let (t, p) = sample(domain, &mut rng);
            let h = 1e-5 * p.abs().max(1.0);
            let (_, g, hess) = grad_hess(loss.as_ref(), t, p);
            let (vl, gl, _) = grad_hess(loss.as_ref(), t, p - h);
            let (vr, gr, _) = grad_hess(loss.as_ref(), t, p + h);
            let (v0, _, _) = grad_hess(loss.as_ref(), t, p);
            // One-sided slopes that disagree mean a kink within h: not comparable.
            let left = (v0 - vl) / h;
            let right = (vr - v0) / h;
            if (left - right).abs() > 1e-3 * (1.0 + left.abs()) {
                at_kinks += 1;
                continue;
            }
            let fd_grad = (vr - vl) / (2.0 * h);
            let fd_hess = (gr - gl) / (2.0 * h);
            let tol = |x: f64| 1e-5 * (1.0 + x.abs());
            assert!(
                (g - fd_grad).abs() < tol(g),
                "{spec} at ({t}, {p}): grad {g}, finite difference {fd_grad}"
            );
            assert!(
                (hess - fd_hess).abs() < tol(hess) * 10.0,
                "{spec} at ({t}, {p}): hess {hess}, finite difference of grad {fd_hess}"
            );
            compared += 1;
        }
    }
    println!("{compared} points compared, {at_kinks} skipped at kinks");
    assert!(compared > 4000, "only {compared} points compared");
}

#[test]
fn gradients_stay_finite_where_the_loss_is_finite() {
    let preds = [
        -1e6,
        -500.0,
        -50.0,
        -1.0,
        -1e-12,
        0.0,
        1e-12,
        1e-7,
        0.5,
        1.0 - 1e-12,
        1.0,
        1.0 + 1e-12,
        50.0,
        500.0,
        1e6,
    ];
    let trues = [0.0, 1.0, 0.5, -1.0, 2.0, 1e3];
    let mut checked = 0;
    for (spec, _) in variants() {
        for f32_too in [false, true] {
            for &t in &trues {
                for &p in &preds {
                    let (value, g, h) = if f32_too {
                        let loss: Box<dyn DynLoss<f32>> = losses::from_spec(spec).unwrap();
                        let ta = ArrayD::from_elem(IxDyn(&[1]), t as f32);
                        let pa = ArrayD::from_elem(IxDyn(&[1]), p as f32);
                        let v = loss.per_element(ta.view(), pa.view()).unwrap()[[0]];
                        let (g, h) = loss.grad_hess(ta.view(), pa.view()).unwrap();
                        (f64::from(v), f64::from(g[[0]]), f64::from(h[[0]]))
                    } else {
                        let loss: Box<dyn DynLoss<f64>> = losses::from_spec(spec).unwrap();
                        grad_hess(loss.as_ref(), t, p)
                    };
                    if !value.is_finite() {
                        continue;
                    }
                    let ty = if f32_too { "f32" } else { "f64" };
                    assert!(
                        g.is_finite(),
                        "{spec} ({ty}) at y_true={t}, y_pred={p}: loss {value}, gradient {g}"
                    );
                    // (1 - p_t)^gamma has an unbounded second derivative at p_t = 1 for
                    // gamma < 2: infinity is the true value there, documented on the loss.
                    let unbounded = spec.contains("gamma=1.5")
                        && (1.0 - (t * p + (1.0 - t) * (1.0 - p))).abs() < 1e-6;
                    assert!(
                        h.is_finite() || unbounded,
                        "{spec} ({ty}) at y_true={t}, y_pred={p}: loss {value}, second derivative {h}"
                    );
                    checked += 1;
                }
            }
        }
    }
    println!("{checked} finite points checked");
    assert!(checked > 1000);
}

/// Logits and labels for the bce bit tests: `n` rows, with ±0, ±800 and ±inf first, then
/// logits up to ±120 (denser near 0), against labels 0, 1, 0.25 and 0.9 in turn.
fn bce_points<F: losses::Float>(n: usize) -> (Array2<F>, Array2<F>) {
    let x = Array2::from_shape_fn((n, 1), |(i, _)| {
        F::from_f64(match i {
            0 => 0.0,
            1 => -0.0,
            2 => 800.0,
            3 => -800.0,
            4 => f64::INFINITY,
            5 => f64::NEG_INFINITY,
            _ => ((i as f64) * 0.37).sin() * 120.0 * (i as f64 / n as f64).powi(3),
        })
    });
    let y = Array2::from_shape_fn((n, 1), |(i, _)| F::from_f64([0.0, 1.0, 0.25, 0.9][i % 4]));
    (x, y)
}

/// bce from logits is written `y softplus(-x) + (1 - y) softplus(x)`: the value and the derived
/// gradient must keep the bits of the textbook form `-(y log_sigmoid(x) + (1 - y)
/// log_sigmoid(-x))`, whose gradient is `-(y sigmoid(-x) - (1 - y) sigmoid(x))`. These `f64`
/// points have no gradient of exactly 0, where only the sign differs (`a - b` is `+0` where
/// `-(b - a)` is `-0`).
#[test]
fn bce_from_logits_has_the_bits_of_the_log_sigmoid_form() {
    use losses::{BceWithLogits, BinaryCrossentropy, Loss, Reduction, log_sigmoid, sigmoid};
    let n = 4099;
    let (x, y) = bce_points::<f64>(n);
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for pos_weight in [None, Some(2.5)] {
        let w = pos_weight.unwrap_or(1.0);
        let (value, grad) = match pos_weight {
            None => {
                let l = BinaryCrossentropy::default().from_logits(true);
                let l = l.with_reduction(Reduction::Sum);
                (
                    l.per_element(&y, &x).unwrap(),
                    l.value_and_grad(&y, &x).unwrap().1,
                )
            }
            Some(w) => {
                let l = BceWithLogits::new(w)
                    .unwrap()
                    .with_reduction(Reduction::Sum);
                (
                    l.per_element(&y, &x).unwrap(),
                    l.value_and_grad(&y, &x).unwrap().1,
                )
            }
        };
        for i in 0..n {
            let (t, p) = (y[[i, 0]], x[[i, 0]]);
            let want = -(w * t * log_sigmoid(p) + (1.0 - t) * log_sigmoid(-p));
            assert!(
                same(value[[i, 0]], want),
                "{p:e} {t}: {} {want}",
                value[[i, 0]]
            );
            let want = -(w * t * sigmoid(-p) - (1.0 - t) * sigmoid(p));
            assert!(
                same(grad[[i, 0]], want),
                "{p:e} {t}: {} {want}",
                grad[[i, 0]]
            );
        }
    }
}

/// bce from logits as a user writes it from the textbook, with `log_sigmoid` of `x` and of
/// `-x` (one shared exponential, `log_sigmoid_of_parts` in the generated code).
#[losses::loss]
fn textbook_bce_from_logits(y_true: f64, y_pred: f64) -> f64 {
    -(y_true * log_sigmoid(y_pred) + (1.0 - y_true) * log_sigmoid(-y_pred))
}

/// The user's textbook formula gives the built-in's bits, in `f32` and `f64`: the
/// shared-exponential `log_sigmoid` is `-softplus(-x)` to the last bit. The gradients differ
/// only where they are exactly 0, in the sign: `-(b - a)` is `-0` where `a - b` is `+0` (in
/// `f32` beyond about `|x| = 103.3`, where the small sigmoid underflows, with labels 0 and 1).
#[test]
fn textbook_log_sigmoid_formula_has_the_bits_of_the_built_in() {
    use losses::{BinaryCrossentropy, Float, Loss, Reduction};
    fn check<F: Float + std::fmt::Debug>(bits: impl Fn(F) -> u64) -> usize {
        let n = 4099;
        let (x, y) = bce_points::<F>(n);
        let mine = TextbookBceFromLogits::default().with_reduction(Reduction::Sum);
        let built_in = BinaryCrossentropy::default()
            .from_logits(true)
            .with_reduction(Reduction::Sum);
        let (v_mine, v_built) = (
            mine.per_element(&y, &x).unwrap(),
            built_in.per_element(&y, &x).unwrap(),
        );
        let (g_mine, g_built) = (
            mine.value_and_grad(&y, &x).unwrap().1,
            built_in.value_and_grad(&y, &x).unwrap().1,
        );
        let mut signed_zeros = 0;
        for i in 0..n {
            let p = x[[i, 0]];
            assert_eq!(
                bits(v_mine[[i, 0]]),
                bits(v_built[[i, 0]]),
                "value at {p:?}"
            );
            let (a, b) = (g_mine[[i, 0]], g_built[[i, 0]]);
            if a == F::ZERO && b == F::ZERO {
                signed_zeros += usize::from(bits(a) != bits(b));
            } else {
                assert_eq!(bits(a), bits(b), "gradient at {p:?}");
            }
        }
        signed_zeros
    }
    assert!(check::<f32>(|v| u64::from(v.to_bits())) > 0);
    assert_eq!(check::<f64>(f64::to_bits), 0);
}
