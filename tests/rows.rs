//! Row losses: closed forms, the sparse form against the dense one, derivatives against
//! finite differences, ignored labels, and bad labels.

use losses::ndarray::{Array2, array};
use losses::prelude::*;
use losses::{
    CategoricalCrossentropy, CategoricalHinge, CosineSimilarity, CrossEntropy, DynLoss, LossError,
    SparseCategoricalCrossentropy,
};

fn softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = row.iter().map(|x| (x - m).exp()).sum();
    row.iter().map(|x| (x - m).exp() / z).collect()
}

#[test]
fn softmax_cross_entropy_from_logits_has_the_textbook_gradient_and_hessian() {
    let y_true = array![[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]];
    let y_pred = array![[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]];
    let loss = CategoricalCrossentropy::default().from_logits(true);
    let per_sample = loss.per_sample(&y_true, &y_pred).unwrap();
    let (g, h) = loss.grad_hess(&y_true, &y_pred).unwrap();
    let (value, grad) = loss.value_and_grad(&y_true, &y_pred).unwrap();
    let mut total = 0.0;
    for i in 0..2 {
        let row: Vec<f64> = y_pred.row(i).to_vec();
        let p = softmax(&row);
        let expected: f64 = (0..3).map(|j| -y_true[[i, j]] * p[j].ln()).sum();
        assert!(
            (per_sample[i] - expected).abs() < 1e-14,
            "{} vs {expected}",
            per_sample[i]
        );
        total += expected;
        for j in 0..3 {
            assert!((g[[i, j]] - (p[j] - y_true[[i, j]])).abs() < 1e-15);
            assert!((h[[i, j]] - p[j] * (1.0 - p[j])).abs() < 1e-15);
            assert!((grad[[i, j]] - (p[j] - y_true[[i, j]]) / 2.0).abs() < 1e-15);
        }
    }
    assert!((value - total / 2.0).abs() < 1e-14);
}

#[test]
fn the_sparse_form_equals_the_dense_form_on_one_hot_labels() {
    let labels = array![[2.0], [0.0], [1.0]];
    let one_hot = array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let logits = array![[0.1, -2.0, 3.0], [5.0, 5.0, -1.0], [1000.0, 984.0, -1000.0]];
    for from_logits in [true, false] {
        let y_pred = if from_logits {
            logits.clone()
        } else {
            logits.mapv(|x: f64| (x / 1000.0).abs() + 0.01)
        };
        let dense = CategoricalCrossentropy::default()
            .from_logits(from_logits)
            .label_smoothing(0.1);
        let sparse = SparseCategoricalCrossentropy::default()
            .from_logits(from_logits)
            .label_smoothing(0.1);
        let (vd, gd) = dense.value_and_grad(&one_hot, &y_pred).unwrap();
        let (vs, gs) = sparse.value_and_grad(&labels, &y_pred).unwrap();
        assert!((vd - vs).abs() < 1e-13 * vd.abs().max(1.0), "{vd} vs {vs}");
        for (a, b) in gd.iter().zip(&gs) {
            assert!((a - b).abs() < 1e-13, "{a} vs {b}");
        }
    }
    // A confident row keeps its digits: ln(1 + e^-16) = 1.125e-7, where `logsumexp - x` as a
    // difference of two numbers near 1000 would keep only 3 of them (1.1368e-7). The sum
    // 1 + e^-16 itself is rounded, as in JAX and PyTorch, so 9 digits remain.
    let v = CrossEntropy::default()
        .per_sample(&array![[0.0]], &array![[1000.0, 984.0]])
        .unwrap();
    let exact = (-16f64).exp().ln_1p();
    assert!((v[0] - exact).abs() < 1e-9 * exact, "{} vs {exact}", v[0]);
}

#[test]
fn ignored_labels_are_left_out_of_the_mean() {
    let labels = array![[1.0], [-100.0], [0.0]];
    let logits = array![[0.5, 1.5], [9.0, -9.0], [2.0, 0.0]];
    let loss = CrossEntropy::default();
    let per_sample = loss.per_sample(&labels, &logits).unwrap();
    assert_eq!(per_sample[1], 0.0);
    let (value, grad) = loss.value_and_grad(&labels, &logits).unwrap();
    assert!((value - (per_sample[0] + per_sample[2]) / 2.0).abs() < 1e-15);
    assert_eq!(grad.row(1).to_vec(), vec![0.0, 0.0]);
    // A label outside the classes is an error, not a panic.
    let err = loss
        .forward(&array![[2.0], [0.0], [0.0]], &logits)
        .unwrap_err();
    assert!(matches!(err, LossError::InvalidLabel { .. }), "{err}");
    let err = loss
        .forward(&array![[0.5], [0.0], [0.0]], &logits)
        .unwrap_err();
    assert!(matches!(err, LossError::InvalidLabel { .. }), "{err}");
}

#[test]
fn cosine_similarity_and_zero_vectors() {
    let loss = CosineSimilarity::default();
    let v = loss
        .per_sample(
            &array![[1.0, 0.0], [0.0, 0.0]],
            &array![[2.0, 0.0], [1.0, 2.0]],
        )
        .unwrap();
    assert!((v[0] + 1.0).abs() < 1e-15);
    assert_eq!(v[1], 0.0);
    let g = loss
        .gradient(&array![[0.0, 0.0]], &array![[1.0, 2.0]])
        .unwrap();
    assert_eq!(g.iter().copied().collect::<Vec<_>>(), vec![0.0, 0.0]);
    let g = loss
        .gradient(&array![[1.0, 2.0]], &array![[0.0, 0.0]])
        .unwrap();
    assert!(g.iter().all(|x| x.is_finite()), "{g}");
}

/// Every row built-in, at random rows: gradient and Hessian diagonal against finite
/// differences of the per-sample loss.
#[test]
fn row_derivatives_match_finite_differences() {
    let specs: &[(&str, bool, bool)] = &[
        // (spec, probabilities in y_pred, sparse labels)
        ("categorical_crossentropy", true, false),
        ("categorical_crossentropy(label_smoothing=0.1)", true, false),
        (
            "categorical_crossentropy(from_logits=true, label_smoothing=0.1)",
            false,
            false,
        ),
        (
            "sparse_categorical_crossentropy(from_logits=true)",
            false,
            true,
        ),
        (
            "sparse_categorical_crossentropy(label_smoothing=0.2)",
            true,
            true,
        ),
        ("cross_entropy(label_smoothing=0.05)", false, true),
        ("nll_loss", false, true),
        ("categorical_focal_crossentropy", true, false),
        (
            "categorical_focal_crossentropy(from_logits=true, gamma=3, alpha=0.5)",
            false,
            false,
        ),
        ("kl_divergence", true, false),
        ("categorical_hinge", false, false),
        ("cosine_similarity", false, false),
        ("poly_loss_cross_entropy(epsilon=-1)", false, false),
    ];
    let mut state = 0x1234_5678_9ABC_DEF1_u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut compared = 0;
    for &(spec, probabilities, sparse) in specs {
        let loss: Box<dyn DynLoss<f64>> = losses::from_spec(spec).unwrap();
        for _ in 0..30 {
            let c = 2 + (uniform() * 6.0) as usize;
            let label = ((uniform() * c as f64) as usize).min(c - 1);
            let t: Vec<f64> = if sparse {
                vec![label as f64]
            } else {
                let raw: Vec<f64> = (0..c).map(|_| uniform()).collect();
                let s: f64 = raw.iter().sum();
                raw.iter().map(|x| x / s).collect()
            };
            let p: Vec<f64> = (0..c)
                .map(|_| {
                    if probabilities {
                        0.05 + uniform()
                    } else {
                        4.0 * uniform() - 2.0
                    }
                })
                .collect();
            let t = Array2::from_shape_vec((1, t.len()), t).unwrap().into_dyn();
            let value = |p: &[f64]| {
                let p = Array2::from_shape_vec((1, c), p.to_vec())
                    .unwrap()
                    .into_dyn();
                loss.per_sample(t.view(), p.view()).unwrap()[[0]]
            };
            let pa = Array2::from_shape_vec((1, c), p.clone())
                .unwrap()
                .into_dyn();
            let (g, h) = loss.grad_hess(t.view(), pa.view()).unwrap();
            for j in 0..c {
                let step = 1e-5;
                let (mut lo, mut hi) = (p.clone(), p.clone());
                lo[j] -= step;
                hi[j] += step;
                let (vl, v0, vr) = (value(&lo), value(&p), value(&hi));
                if ((v0 - vl) / step - (vr - v0) / step).abs()
                    > 1e-3 * (1.0 + ((vr - vl) / step).abs())
                {
                    continue; // a kink within the step
                }
                let fd_g = (vr - vl) / (2.0 * step);
                let fd_h = (vr - 2.0 * v0 + vl) / (step * step);
                let (gj, hj) = (g[[0, j]], h[[0, j]]);
                assert!(
                    (gj - fd_g).abs() < 1e-6 * (1.0 + gj.abs()),
                    "{spec}: grad[{j}] {gj} vs {fd_g}"
                );
                assert!(
                    (hj - fd_h).abs() < 2e-3 * (1.0 + hj.abs()),
                    "{spec}: hess[{j}] {hj} vs {fd_h}"
                );
                compared += 1;
            }
        }
    }
    println!("{compared} row derivatives compared");
    assert!(compared > 1000);
}

#[test]
fn categorical_hinge_shares_ties() {
    let loss = CategoricalHinge::default();
    // Two wrong classes tie for the largest score: each gets half of the gradient.
    let g = loss
        .grad_hess(&array![[1.0, 0.0, 0.0]], &array![[0.5, 0.8, 0.8]])
        .unwrap()
        .0;
    assert_eq!(g.row(0).to_vec(), vec![-1.0, 0.5, 0.5]);
}

#[test]
fn scalar_access_and_per_element_of_row_losses() {
    let loss = CrossEntropy::default();
    // One row given as slices: [label] and the logits.
    let v = loss.loss_at(&[1.0], &[0.0, 0.0]).unwrap();
    assert!((v - 2f64.ln()).abs() < 1e-15);
    assert_eq!(loss.grad_at(&[1.0], &[0.0, 0.0]).unwrap(), vec![0.5, -0.5]);
    assert_eq!(loss.hess_at(&[1.0], &[0.0, 0.0]).unwrap(), vec![0.25, 0.25]);
    // A label outside the row is an error, not a panic.
    assert!(matches!(
        loss.loss_at(&[5.0], &[0.0, 0.0]),
        Err(LossError::InvalidLabel { .. })
    ));
    // Row losses have no per-element terms.
    let err = loss
        .per_element(&array![[1.0]], &array![[0.0, 0.0]])
        .unwrap_err();
    assert!(matches!(err, LossError::NotElementwise { .. }), "{err}");
    // The spec keeps every parameter, and an alias can preset one.
    let l: Box<dyn DynLoss<f32>> = losses::get("softmax_cross_entropy").unwrap();
    assert_eq!(
        l.spec(),
        "categorical_crossentropy(from_logits=true, label_smoothing=0.0, reduction=mean)"
    );
}

#[test]
fn a_logit_of_minus_infinity_costs_nothing_without_label_smoothing() {
    // Class 1 can never be predicted: its probability is 0, which is fine when it is not the
    // label. Without label smoothing its log-probability (-inf) takes no part (Keras's and
    // PyTorch's sparse cross-entropies are finite here too); with smoothing it does.
    let y_true = array![[2.0]];
    let y_pred = array![[0.0, f64::NEG_INFINITY, 1.0]];
    let e = std::f64::consts::E;
    let expected = (1.0 + e).ln() - 1.0; // logsumexp(0, -inf, 1) - 1
    for loss in [
        SparseCategoricalCrossentropy::default().from_logits(true),
        SparseCategoricalCrossentropy::default()
            .from_logits(true)
            .label_smoothing(0.0),
    ] {
        let (value, grad) = loss.value_and_grad(&y_true, &y_pred).unwrap();
        assert!((value - expected).abs() < 1e-15, "{value} vs {expected}");
        let want = [1.0 / (1.0 + e), 0.0, e / (1.0 + e) - 1.0];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{grad} vs {want:?}");
        }
    }
    let smoothed = SparseCategoricalCrossentropy::default()
        .from_logits(true)
        .label_smoothing(0.1);
    let value = smoothed.forward(&y_true, &y_pred).unwrap();
    assert_eq!(value, f64::INFINITY);
}

/// A sparse loss whose one-hot label is read by a row reduction (`sum`) and by the gradient of
/// every element (`2 y_true y_pred`, `y_true mean(..)`), next to the built-ins, which read it
/// only at the label: registered, so the group test below covers it too.
#[loss]
fn label_weighted_square(y_true: Class, y_pred: Row) -> f64 {
    sum(y_true * y_pred * y_pred) * mean(y_pred) - at_label(y_pred).ln()
}

/// Rows of up to `GROUP_MAX_COLS` elements go through the kernels' transposed form, eight
/// rows at a time: every row loss, at several settings, lengths and both float types, gives
/// each row the bits it gets alone (a batch of one row never forms a group).
#[test]
fn rows_in_groups_give_the_bits_of_rows_alone() {
    fn check<F: Float>(spec: &str, sparse: bool, c: usize, seed: u64) -> usize {
        let mut state = seed;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let rows = 19; // two groups and three rows alone
        let ct = if sparse { 1 } else { c };
        let t: Vec<F> = (0..rows * ct)
            .map(|_| {
                if sparse {
                    F::from_f64(((uniform() * c as f64) as usize).min(c - 1) as f64)
                } else {
                    F::from_f64(uniform() / c as f64)
                }
            })
            .collect();
        let p: Vec<F> = (0..rows * c)
            .map(|_| F::from_f64(0.05 + uniform()))
            .collect();
        let loss: Box<dyn DynLoss<F>> = losses::from_spec(spec).unwrap();
        let ta = Array2::from_shape_vec((rows, ct), t.clone())
            .unwrap()
            .into_dyn();
        let pa = Array2::from_shape_vec((rows, c), p.clone())
            .unwrap()
            .into_dyn();
        let (v, g) = loss.value_and_grad(ta.view(), pa.view()).unwrap();
        let mut alone_sum = 0.0;
        for r in 0..rows {
            let tr = Array2::from_shape_vec((1, ct), t[r * ct..(r + 1) * ct].to_vec()).unwrap();
            let pr = Array2::from_shape_vec((1, c), p[r * c..(r + 1) * c].to_vec()).unwrap();
            let (vr, gr) = loss
                .value_and_grad(tr.into_dyn().view(), pr.into_dyn().view())
                .unwrap();
            alone_sum += vr.to_f64();
            for j in 0..c {
                let (a, b) = (g[[r, j]], gr[[0, j]]);
                assert!(
                    a == b || (a != a && b != b),
                    "{spec} C={c} row {r} col {j}: {a} in the batch, {b} alone"
                );
            }
        }
        let v = v.to_f64();
        assert!(
            (v - alone_sum).abs() <= 1e-5 * alone_sum.abs().max(1.0),
            "{spec} C={c}: {v} vs {alone_sum}"
        );
        rows * c
    }
    let mut specs: Vec<(String, bool)> = losses::registry()
        .entries()
        .iter()
        .filter(|e| e.kind() != losses::Kind::Elementwise)
        .map(|e| (e.name().to_string(), e.kind() == losses::Kind::Sparse))
        .collect();
    for (spec, sparse) in [
        (
            "categorical_crossentropy(from_logits=true, label_smoothing=0.1",
            false,
        ),
        (
            "categorical_focal_crossentropy(from_logits=true, gamma=3, alpha=0.5",
            false,
        ),
        ("sparse_categorical_crossentropy(from_logits=true", true),
        ("sparse_categorical_crossentropy(label_smoothing=0.2", true),
        ("cross_entropy(ignore_index=1, label_smoothing=0.05", true),
        ("poly_loss_cross_entropy(epsilon=-1", false),
    ] {
        specs.push((format!("{spec}, reduction=sum)"), sparse));
    }
    let mut compared = 0;
    for (i, (spec, sparse)) in specs.iter().enumerate() {
        let spec = if spec.ends_with(')') {
            spec.clone()
        } else {
            format!("{spec}(reduction=sum)")
        };
        for (k, c) in [1, 2, 3, 7, 8, 9, 15, 16, 17, 33].into_iter().enumerate() {
            let seed = 0x9E37_79B9_7F4A_7C15 ^ ((i * 16 + k) as u64);
            compared += check::<f64>(&spec, *sparse, c, seed);
            compared += check::<f32>(&spec, *sparse, c, seed);
        }
    }
    println!(
        "{} specs, {compared} gradient elements compared",
        specs.len()
    );
    assert!(specs.len() >= 12);
}

/// Labels are checked by one branch-free pass, and a flagged batch is walked again to name the
/// first bad label: every kind of bad label is caught (in both float types), the first of two
/// is named, and the edges that are class indices pass.
#[test]
fn the_first_bad_label_is_named() {
    fn first_error<F: Float>(labels: &[f64]) -> Result<(), LossError> {
        let n = labels.len();
        let t = Array2::from_shape_fn((n, 1), |(i, _)| F::from_f64(labels[i]));
        let p = Array2::from_elem((n, 3), F::from_f64(0.25));
        let loss = SparseCategoricalCrossentropy::default().from_logits(true);
        loss.value_and_grad(&t, &p).map(|_| ())
    }
    fn check<F: Float>() {
        // Class indices, -0 included, in a batch long enough for the vector loop.
        let mut good: Vec<f64> = (0..37).map(|i| (i % 3) as f64).collect();
        good[5] = -0.0;
        assert_eq!(first_error::<F>(&good), Ok(()), "{}", F::NAME);
        for (bad, at) in [(3.0, 4), (-1.0, 0), (0.5, 36), (2.999, 17), (1e-30, 9)] {
            let mut labels = good.clone();
            labels[at] = bad;
            labels[at + 1..]
                .iter_mut()
                .step_by(7)
                .for_each(|l| *l = 7.0);
            let err = first_error::<F>(&labels).unwrap_err();
            assert!(
                matches!(&err, LossError::InvalidLabel { index, .. } if index[..] == [at, 0]),
                "{} label {bad} at {at}: {err}",
                F::NAME
            );
        }
        for (bad, at) in [(f64::INFINITY, 3), (f64::NEG_INFINITY, 30)] {
            let mut labels = good.clone();
            labels[at] = bad;
            let err = first_error::<F>(&labels).unwrap_err();
            assert!(
                matches!(&err, LossError::InvalidLabel { index, .. } if index[..] == [at, 0]),
                "{} label {bad}: {err}",
                F::NAME
            );
        }
        let mut labels = good.clone();
        labels[11] = f64::NAN;
        let err = first_error::<F>(&labels).unwrap_err();
        assert!(
            matches!(&err, LossError::NaNInput { which: "y_true", index } if index[..] == [11, 0]),
            "{} NaN label: {err}",
            F::NAME
        );
    }
    check::<f32>();
    check::<f64>();
}

/// Rows long enough for the staged exponential pass (whole blocks of `EXP_BLOCK` = 32
/// elements, then the rest one chunk at a time), dense and sparse, `f32` and `f64`: per-sample
/// values (the value-only pass) and the mean's gradient against the textbook softmax in `f64`.
#[test]
fn long_rows_match_the_textbook_softmax() {
    fn check<F: Float>(spec: &str, sparse: bool, c: usize, tol: f64) -> usize {
        let rows = 3;
        let mut state = 0x2545_F491_4F6C_DD1D_u64 ^ c as u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Logits over a wide range, some far below the maximum (their exponentials are 0).
        let p: Vec<f64> = (0..rows * c)
            .map(|k| {
                if k % 29 == 3 {
                    -150.0
                } else {
                    24.0 * uniform() - 12.0
                }
            })
            .collect();
        let labels: Vec<usize> = (0..rows).map(|i| (i * 37 + c / 2) % c).collect();
        let t: Vec<f64> = if sparse {
            labels.iter().map(|&l| l as f64).collect()
        } else {
            (0..rows * c)
                .map(|k| f64::from(u8::from(k % c == labels[k / c])))
                .collect()
        };
        let ct = if sparse { 1 } else { c };
        let ta = Array2::from_shape_vec((rows, ct), t.iter().map(|&x| F::from_f64(x)).collect())
            .unwrap()
            .into_dyn();
        let pa = Array2::from_shape_vec((rows, c), p.iter().map(|&x| F::from_f64(x)).collect())
            .unwrap()
            .into_dyn();
        let loss: Box<dyn DynLoss<F>> = losses::from_spec(spec).unwrap();
        let per_sample = loss.per_sample(ta.view(), pa.view()).unwrap();
        let (value, grad) = loss.value_and_grad(ta.view(), pa.view()).unwrap();
        let mut total = 0.0;
        for i in 0..rows {
            // The logits as the loss saw them (rounded to F).
            let row: Vec<f64> = (0..c).map(|j| pa[[i, j]].to_f64()).collect();
            let s = softmax(&row);
            let want = -s[labels[i]].ln();
            let got = per_sample[i].to_f64();
            assert!(
                (got - want).abs() <= tol * want.abs().max(1.0),
                "{spec} {} C={c} row {i}: {got} vs {want}",
                F::NAME
            );
            total += want;
            for (j, &sj) in s.iter().enumerate() {
                let want = (sj - f64::from(u8::from(j == labels[i]))) / rows as f64;
                let got = grad[[i, j]].to_f64();
                assert!(
                    (got - want).abs() <= tol * (want.abs() + 1e-30),
                    "{spec} {} C={c} grad[{i}, {j}]: {got} vs {want}",
                    F::NAME
                );
            }
        }
        let want = total / rows as f64;
        assert!((value.to_f64() - want).abs() <= tol * want.abs());
        rows * c
    }
    let mut compared = 0;
    for c in [31, 32, 33, 63, 64, 65, 129, 200, 1000] {
        for (spec, sparse) in [
            ("cross_entropy", true),
            ("sparse_categorical_crossentropy(from_logits=true)", true),
            ("categorical_crossentropy(from_logits=true)", false),
        ] {
            compared += check::<f64>(spec, sparse, c, 1e-13);
            compared += check::<f32>(spec, sparse, c, 2e-5);
        }
    }
    assert!(compared > 20_000, "{compared}");
}
