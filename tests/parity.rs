//! Parity with Keras 3 (JAX backend, float64), PyTorch, JAX and optax: every built-in
//! against `tests/data/reference.json` (element-wise losses, written by
//! `tests/reference/gen_reference.py`) and `tests/data/reference_rows.json` (row losses,
//! `tests/reference/gen_reference_rows.py`).
//!
//! Per case: per-sample values, the three reductions with and without sample weights, the
//! gradients of each reduced value, and the element gradient and second derivative. f64 at
//! 1e-10 relative, f32 at 1e-5.
//!
//! At kinks (inputs exactly on a threshold, listed per case in `kink_indices`) our documented
//! convention may differ from what JAX or PyTorch return. There the test asserts that our
//! gradient is a valid one-sided derivative and, where it differs from the reference, that the
//! loss is one whose difference is named in `KINK_DIFFERENCES`.

use losses::DynLoss;
use losses::ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// Where our convention at a kink differs from the reference, and why.
const KINK_DIFFERENCES: &[(&str, &str)] = &[
    (
        "kl_divergence",
        "clip passes the gradient at the bounds (y_pred = 1); JAX's clip gives half",
    ),
    (
        "categorical_hinge",
        "max(neg - pos + 1, 0) at margin 0: minimum-norm subgradient 0; JAX gives half \
         (ties for the largest share equally in both)",
    ),
    (
        "mean_absolute_error",
        "abs'(0) = 0 here; JAX gives sign(0) = +1",
    ),
    (
        "mean_absolute_percentage_error",
        "abs'(0) = 0 here; JAX gives +1",
    ),
    (
        "hinge",
        "max(1 - y p, 0) at the margin: minimum-norm subgradient 0; JAX gives half",
    ),
    (
        "squared_hinge",
        "at the margin the derivative is 0 from both sides; JAX agrees",
    ),
    (
        "quantile",
        "at e = 0 the minimum-norm subgradient; JAX gives the average of both sides",
    ),
    (
        "mean_squared_logarithmic_error",
        "max(p, EPSILON) at the tie: minimum-norm (0); JAX gives half",
    ),
    (
        "binary_crossentropy",
        "clip passes the gradient at the bounds; JAX's clip gives half",
    ),
    (
        "binary_focal_crossentropy",
        "clip passes the gradient at the bounds; JAX's clip gives half",
    ),
    (
        "huber",
        "the quadratic branch at |e| == delta (Keras's <=); same as JAX",
    ),
    (
        "smooth_l1",
        "the linear branch at |e| == beta (PyTorch's <); same as PyTorch",
    ),
];

/// Cases where the reference is less accurate than our stable form, with the tolerance that
/// covers the reference's error and how the exact value was checked.
const LESS_ACCURATE_REFERENCE: &[(&str, f64, &str)] = &[(
    "mean_squared_logarithmic_error/default/edge",
    1e-8,
    "Keras computes log(x + 1) where we use ln_1p: at y_true = 1e-7, y_pred = 2e-7 the gradient \
     is 1.99999930000018658e-7 (50-digit decimal); ours is 1.9999993000001864e-7, Keras's \
     1.9999992967270306e-7",
)];

/// Magnitudes below this are zero at the precision of a loss of order 1: PyTorch's
/// second derivatives round to 0 where the exact value is 2e-22.
const NEGLIGIBLE: f64 = 1e-18;

/// Where the reference is exactly 0 because its terms cancel exactly (the cosine gradient of
/// parallel vectors), ours may keep a few ulps of those terms, which are of order 1.
const CANCELLED_ZERO: f64 = 1e-15;

struct Case {
    id: String,
    spec_base: String,
    loss: String,
    shape: Vec<usize>,
    /// `[B, 1]` for sparse labels (one class index per row).
    true_shape: Vec<usize>,
    y_true: Vec<f64>,
    y_pred: Vec<f64>,
    weights: Option<Vec<f64>>,
    json: Value,
    kinks: Vec<usize>,
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(&path);
    let root: Value = serde_json::from_str(&text).expect("valid JSON");
    root["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let loss = c["loss"].as_str().unwrap().to_string();
            let params: Vec<String> = c["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let sparse = c["sparse"].as_bool().unwrap_or(false);
            let shape: Vec<usize> = c["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            Case {
                id: c["id"].as_str().unwrap().to_string(),
                true_shape: if sparse {
                    vec![shape[0], 1]
                } else {
                    shape.clone()
                },
                spec_base: format!("{loss}({})", params.join(", ")),
                loss,
                shape,
                y_true: floats(&c["y_true"]),
                y_pred: floats(&c["y_pred"]),
                weights: (!c["sample_weight"].is_null()).then(|| floats(&c["sample_weight"])),
                kinks: c["kink_indices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect(),
                json: c.clone(),
            }
        })
        .collect()
}

/// Cases that cannot be compared in f32 against a float64 reference, and why.
const NOT_IN_F32: &[(&str, &str)] = &[
    (
        "binary_crossentropy/default/edge",
        "predictions at 0 and 1 are clipped to 1 - EPSILON, which is 0.99999988 in f32: \
         -ln(1.19e-7) = 15.94 instead of 16.12, as Keras in float32 gives too",
    ),
    (
        "binary_focal_crossentropy/default/edge",
        "clipped to 1 - EPSILON = 0.99999988 in f32, as above",
    ),
    (
        "binary_focal_crossentropy/from_logits=true/edge",
        "sigmoid(50) is 1 in f32 and is clipped to 0.99999988, as above",
    ),
];

trait Real: losses::Float {
    /// Relative tolerance.
    const TOL: f64;
    /// Values smaller than this fraction of the largest value in the same vector are compared
    /// at that scale: an f32 result cannot be more exact than its epsilon times the scale.
    const FLOOR: f64;
    const F32: bool;
}
impl Real for f64 {
    const TOL: f64 = 1e-10;
    // An element computed through a cancellation (a softmax near 1 minus its label) carries
    // an absolute error of a few ulps of the vector's scale, in the reference as in ours.
    const FLOOR: f64 = 1e-5;
    const F32: bool = false;
}
impl Real for f32 {
    const TOL: f64 = 1e-5;
    const FLOOR: f64 = 1e-2;
    const F32: bool = true;
}

struct Checker {
    failures: Vec<String>,
    compared: usize,
}

impl Checker {
    /// Relative `tol`, with `floor` as the smallest magnitude treated relatively (values near
    /// zero in a vector of large ones are compared at the vector's scale).
    fn close(&mut self, what: &str, ours: f64, theirs: f64, tol: f64, floor: f64) {
        self.compared += 1;
        let ok = (ours - theirs).abs() <= tol * theirs.abs().max(floor)
            || (ours.abs() < NEGLIGIBLE && theirs.abs() < NEGLIGIBLE)
            || (theirs == 0.0 && ours.abs() < CANCELLED_ZERO);
        if !ok {
            self.failures
                .push(format!("{what}: ours {ours:e}, reference {theirs:e}"));
        }
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0_f64, |m, x| m.max(x.abs()))
}

fn to_array<F: Real>(shape: &[usize], v: &[f64]) -> ArrayD<F> {
    ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| F::from_f64(x)).collect()).unwrap()
}

fn make<F: Real>(case: &Case, reduction: &str) -> Box<dyn DynLoss<F>> {
    let spec = if case.spec_base.ends_with("()") {
        format!("{}(reduction={reduction})", case.loss)
    } else {
        format!(
            "{}, reduction={reduction})",
            &case.spec_base[..case.spec_base.len() - 1]
        )
    };
    losses::from_spec::<F>(&spec).unwrap_or_else(|e| panic!("{}: {spec}: {e}", case.id))
}

fn check_case<F: Real>(case: &Case, ck: &mut Checker) {
    let tol = LESS_ACCURATE_REFERENCE
        .iter()
        .find(|(id, _, _)| *id == case.id)
        .map_or(F::TOL, |&(_, tol, _)| tol.max(F::TOL));
    let t = to_array::<F>(&case.true_shape, &case.y_true);
    let p = to_array::<F>(&case.shape, &case.y_pred);
    let rows = case.shape[0];
    let w = case.weights.as_ref().map(|w| to_array::<F>(&[rows], w));
    let j = &case.json;
    let per_sample_ref = floats(&j["per_sample"]);
    let scale = max_abs(&per_sample_ref) * F::FLOOR;

    let loss = make::<F>(case, "mean");
    let ps = loss.per_sample(t.view(), p.view()).unwrap();
    for (i, (&ours, &theirs)) in ps.iter().zip(&per_sample_ref).enumerate() {
        ck.close(
            &format!("{} per_sample[{i}]", case.id),
            ours.to_f64(),
            theirs,
            tol,
            scale,
        );
    }

    let kink_diff_allowed = KINK_DIFFERENCES.iter().any(|(l, _)| *l == case.loss);
    let elem_grad_ref = floats(&j["elem_grad"]);
    let elem_hess_ref = floats(&j["elem_hess"]);
    let (g, h) = loss.grad_hess(t.view(), p.view()).unwrap();
    let gscale = max_abs(&elem_grad_ref) * F::FLOOR;
    let hscale = max_abs(&elem_hess_ref) * F::FLOOR;
    for i in 0..elem_grad_ref.len() {
        let (ours_g, ours_h) = (
            g.as_slice().unwrap()[i].to_f64(),
            h.as_slice().unwrap()[i].to_f64(),
        );
        if case.kinks.contains(&i) {
            // (Row losses have no element loss to take one-sided slopes of.)
            if !F::F32 && case.json.get("sparse").is_none() {
                check_kink_convention(case, make::<f64>(case, "mean").as_ref(), i, ours_g, ck);
            }
            if (ours_g - elem_grad_ref[i]).abs() > tol * elem_grad_ref[i].abs().max(gscale)
                && !kink_diff_allowed
            {
                ck.failures.push(format!(
                    "{} elem_grad[{i}] at a kink: ours {ours_g:e}, reference {:e}, and no difference is documented",
                    case.id, elem_grad_ref[i]
                ));
            }
            continue;
        }
        ck.close(
            &format!("{} elem_grad[{i}]", case.id),
            ours_g,
            elem_grad_ref[i],
            tol,
            gscale,
        );
        ck.close(
            &format!("{} elem_hess[{i}]", case.id),
            ours_h,
            elem_hess_ref[i],
            tol * 10.0,
            hscale,
        );
    }

    for reduction in ["mean", "sum", "weighted_mean"] {
        let loss = make::<F>(case, reduction);
        let value_ref = j[reduction].as_f64().unwrap();
        let grad_ref = floats(&j[format!("grad_{reduction}").as_str()]);
        let (value, grad) = match &w {
            Some(w) => loss
                .value_and_grad_weighted(t.view(), p.view(), w.view())
                .unwrap(),
            None => loss.value_and_grad(t.view(), p.view()).unwrap(),
        };
        let forward = match &w {
            Some(w) => loss.forward_weighted(t.view(), p.view(), w.view()).unwrap(),
            None => loss.forward(t.view(), p.view()).unwrap(),
        };
        ck.close(
            &format!("{} {reduction}", case.id),
            value.to_f64(),
            value_ref,
            tol,
            scale,
        );
        ck.close(
            &format!("{} forward {reduction}", case.id),
            forward.to_f64(),
            value_ref,
            tol,
            scale,
        );
        let gs = max_abs(&grad_ref) * F::FLOOR;
        for (i, (&ours, &theirs)) in grad.iter().zip(&grad_ref).enumerate() {
            if case.kinks.contains(&i) {
                continue;
            }
            ck.close(
                &format!("{} grad_{reduction}[{i}]", case.id),
                ours.to_f64(),
                theirs,
                tol,
                gs,
            );
        }
    }
}

/// Losses whose kinks are ties of `abs`/`max`/`min`, where our convention is the minimum-norm
/// subgradient. At the other kinks (a select's threshold, a clip bound) the derivative is
/// that of the branch the condition picks: one of the two one-sided derivatives.
const MIN_NORM_AT_KINKS: &[&str] = &[
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "hinge",
    "squared_hinge",
    "quantile",
    "mean_squared_logarithmic_error",
];

/// At a kink: our derivative is the documented one, computed from the one-sided difference
/// quotients of the element loss.
fn check_kink_convention(
    case: &Case,
    loss: &dyn DynLoss<f64>,
    i: usize,
    ours: f64,
    ck: &mut Checker,
) {
    let t = to_array::<f64>(&[1], &[case.y_true[i]]);
    let value = |p: f64| {
        let p = to_array::<f64>(&[1], &[p]);
        loss.per_element(t.view(), p.view()).unwrap()[[0]]
    };
    let p = case.y_pred[i];
    let h = 1e-10 * p.abs().max(1e-3);
    let v0 = value(p);
    // Second-order one-sided differences: the loss curves hard near a clip bound.
    let left = (3.0 * v0 - 4.0 * value(p - h) + value(p - 2.0 * h)) / (2.0 * h);
    let right = (-3.0 * v0 + 4.0 * value(p + h) - value(p + 2.0 * h)) / (2.0 * h);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()));
    let expected_ok = if MIN_NORM_AT_KINKS.contains(&case.loss.as_str()) {
        let min_norm = if left * right <= 0.0 {
            0.0
        } else if left.abs() < right.abs() {
            left
        } else {
            right
        };
        close(ours, min_norm)
    } else {
        close(ours, left) || close(ours, right)
    };
    ck.compared += 1;
    if !expected_ok {
        ck.failures.push(format!(
            "{} elem_grad[{i}] at a kink: ours {ours:e} is not the documented choice between the one-sided slopes {left:e} and {right:e}",
            case.id
        ));
    }
}

fn run<F: Real>(file: &str, at_least: usize) {
    let mut ck = Checker {
        failures: Vec::new(),
        compared: 0,
    };
    let all = cases(file);
    assert!(all.len() >= at_least, "only {} reference cases", all.len());
    for case in &all {
        if F::F32 && NOT_IN_F32.iter().any(|(id, _)| *id == case.id) {
            continue;
        }
        check_case::<F>(case, &mut ck);
    }
    println!(
        "{} cases, {} values compared, {} mismatches",
        all.len(),
        ck.compared,
        ck.failures.len()
    );
    assert!(
        ck.failures.is_empty(),
        "{} mismatches:\n{}",
        ck.failures.len(),
        ck.failures.join("\n")
    );
}

#[test]
fn every_elementwise_builtin_matches_the_reference_in_f64() {
    run::<f64>("reference.json", 80);
}

#[test]
fn every_elementwise_builtin_matches_the_reference_in_f32() {
    run::<f32>("reference.json", 80);
}

#[test]
fn every_row_builtin_matches_the_reference_in_f64() {
    run::<f64>("reference_rows.json", 79);
}

#[test]
fn every_row_builtin_matches_the_reference_in_f32() {
    run::<f32>("reference_rows.json", 79);
}
