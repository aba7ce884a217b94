//! The loops behind [`Loss`](crate::Loss): shape checks, layout, reductions, weights, NaN
//! diagnosis. Everything here works on contiguous slices in standard (row-major) order; the
//! class axis is the last one, so a row is a contiguous run of `c` elements.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array, ArrayRef, ArrayView, CowArray, Dimension, IxDyn};

use crate::kernel::{GROUP_MAX_COLS, GROUP_ROWS, RunWeights};
use crate::simd::multiversion;
use crate::sum::{PairwiseSum, sum_slice};
use crate::{Float, LossError, LossKernel, Reduction, Result};

/// Both inputs in standard layout (borrowed when they already are), with the row geometry.
pub(crate) struct Prepared<'a, F: Float, D: Dimension> {
    t: CowArray<'a, F, D>,
    p: CowArray<'a, F, D>,
    /// Number of rows (samples).
    pub rows: usize,
    /// Length of a `y_pred` row (the class axis; 1 for a 0-d input).
    pub c: usize,
    /// Length of a `y_true` row: `c`, or 1 for sparse kernels.
    pub ct: usize,
}

fn standard<F: Float, D: Dimension>(v: ArrayView<'_, F, D>) -> CowArray<'_, F, D> {
    if v.is_standard_layout() {
        CowArray::from(v)
    } else {
        CowArray::from(v.as_standard_layout().into_owned())
    }
}

fn slice_of<'s, F: Float, D: Dimension>(a: &'s CowArray<'_, F, D>) -> &'s [F] {
    a.as_slice()
        .expect("arrays are converted to standard layout first")
}

impl<'a, F: Float, D: Dimension> Prepared<'a, F, D> {
    /// Checks shapes and emptiness (and, for sparse kernels, the labels), and brings both
    /// inputs to standard layout.
    pub fn new<K: LossKernel<F>>(
        k: &K,
        y_true: ArrayView<'a, F, D>,
        y_pred: ArrayView<'a, F, D>,
    ) -> Result<Self> {
        let (ts, ps) = (y_true.shape(), y_pred.shape());
        let shapes_ok = if K::SPARSE {
            ts.len() == ps.len()
                && match ps.len() {
                    0 => true,
                    n => ts[..n - 1] == ps[..n - 1] && ts[n - 1] == 1,
                }
        } else {
            ts == ps
        };
        if !shapes_ok {
            return Err(LossError::ShapeMismatch {
                y_true: ts.to_vec(),
                y_pred: ps.to_vec(),
            });
        }
        if y_pred.is_empty() {
            return Err(LossError::Empty);
        }
        let c = ps.last().copied().unwrap_or(1);
        let rows = y_pred.len() / c;
        let ct = if K::SPARSE { 1 } else { c };
        let prep = Prepared {
            t: standard(y_true),
            p: standard(y_pred),
            rows,
            c,
            ct,
        };
        if K::SPARSE {
            prep.check_labels(k)?;
        }
        Ok(prep)
    }

    /// `y_true` as a flat slice, row-major.
    #[inline]
    pub fn t(&self) -> &[F] {
        slice_of(&self.t)
    }

    /// `y_pred` as a flat slice, row-major.
    #[inline]
    pub fn p(&self) -> &[F] {
        slice_of(&self.p)
    }

    pub fn pred_shape(&self) -> &[usize] {
        self.p.shape()
    }

    pub fn pred_dim(&self) -> D {
        self.p.raw_dim()
    }

    /// The shape of the per-sample losses: `y_pred`'s without the last axis.
    pub fn per_sample_shape(&self) -> &[usize] {
        let s = self.p.shape();
        &s[..s.len().saturating_sub(1)]
    }

    fn check_labels<K: LossKernel<F>>(&self, k: &K) -> Result<()> {
        let classes = self.c as f64;
        // One pass without branches first (it vectorizes: below 2^52 a label is an integer
        // when adding and subtracting 2^52 leaves it unchanged, no float-to-int conversion).
        // It never passes a bad label; a batch it flags (a bad label, or one of 2^52 or more)
        // is walked again by `find_bad_label`, which names the first bad one, if any.
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let flagged = self.t().chunks_exact(1).fold(false, |flagged, label| {
            let l = label[0].to_f64();
            let valid = l >= 0.0 && l < classes && (l + TWO_52) - TWO_52 == l;
            flagged | !(valid | k.row_ignored(label))
        });
        if flagged {
            self.find_bad_label(k)
        } else {
            Ok(())
        }
    }

    /// The error for the first label that is not a class index, if there is one (see
    /// `check_labels`).
    #[cold]
    fn find_bad_label<K: LossKernel<F>>(&self, k: &K) -> Result<()> {
        let classes = self.c as f64;
        for (i, label) in self.t().chunks_exact(1).enumerate() {
            if k.row_ignored(label) {
                continue;
            }
            let l = label[0].to_f64();
            if l.is_nan() {
                return Err(LossError::NaNInput {
                    which: "y_true",
                    index: unravel(i, self.t.shape()),
                });
            }
            // In range first, so the integer test can convert (`fract` would call libm's
            // `trunc` per row on the baseline instruction set).
            if !(l >= 0.0 && l < classes && (l as u64) as f64 == l) {
                return Err(LossError::InvalidLabel {
                    index: unravel(i, self.t.shape()),
                    label: l,
                    classes: self.c,
                });
            }
        }
        Ok(())
    }

    /// Called when a result is NaN: names the first NaN of the inputs, if there is one.
    pub fn diagnose_nan(&self, weights: Option<&Weights<'_, F>>) -> Result<()> {
        let inputs = [
            ("y_true", self.t(), self.t.shape()),
            ("y_pred", self.p(), self.p.shape()),
        ];
        for (which, data, shape) in inputs {
            if let Some(i) = data.iter().position(|x| x.is_nan()) {
                return Err(LossError::NaNInput {
                    which,
                    index: unravel(i, shape),
                });
            }
        }
        if let Some(w) = weights
            && let Some(i) = w.w().iter().position(|x| x.is_nan())
        {
            return Err(LossError::NaNInput {
                which: "sample_weight",
                index: unravel(i, w.w.shape()),
            });
        }
        Ok(())
    }

    /// Diagnoses a NaN result: an error if an input holds NaN.
    fn check_nan(&self, result: F, weights: Option<&Weights<'_, F>>) -> Result<()> {
        if result.is_nan() {
            self.diagnose_nan(weights)?;
        }
        Ok(())
    }
}

/// The multi-index of flat index `i` of a row-major array of shape `shape`.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    index
}

/// Builds an array of dimension `D2` from row-major data of the given shape.
pub(crate) fn array_from<F: Float, D2: Dimension>(data: Vec<F>, shape: &[usize]) -> Array<F, D2> {
    Array::from_shape_vec(IxDyn(shape), data)
        .and_then(|a| a.into_dimensionality::<D2>())
        .expect("the shape is computed from the input")
}

/// Sample weights in standard layout; each weight covers `group` consecutive rows.
pub(crate) struct Weights<'c, F: Float> {
    w: CowArray<'c, F, IxDyn>,
    group: usize,
}

impl<'c, F: Float> Weights<'c, F> {
    /// Checks the shape of the weights against the per-sample shape: equal, a prefix of it
    /// (the weight of a sample is broadcast over the trailing axes), or 0-d; more generally,
    /// any shape that broadcasts to it once padded with trailing axes of length 1 (`[B, 1]`
    /// for `[B, T]`). Trailing axes of length 1 beyond the per-sample rank are ignored
    /// (Keras's `[batch, 1]` weights for per-sample shape `[batch]`).
    pub fn new<E: Dimension>(
        w: ArrayView<'c, F, E>,
        per_sample: &[usize],
        rows: usize,
    ) -> Result<Self> {
        let ws = w.shape().to_vec();
        let mut q = ws.len();
        // Trailing axes of length 1 broadcast like a shorter prefix.
        while q > 0 && ws[q - 1] == 1 {
            q -= 1;
        }
        let shape_error = || LossError::WeightShape {
            weights: ws.clone(),
            per_sample: per_sample.to_vec(),
        };
        if q > per_sample.len() {
            return Err(shape_error());
        }
        if ws[..q] == per_sample[..q] {
            // A prefix: each weight covers a contiguous run of rows; no copy.
            let w = standard(w.into_dyn());
            let group = rows / w.len().max(1);
            return Ok(Weights { w, group });
        }
        if ws[..q]
            .iter()
            .zip(per_sample)
            .any(|(&a, &b)| a != b && a != 1)
        {
            return Err(shape_error());
        }
        // General broadcasting: materialise one weight per sample.
        let mut padded = ws[..q].to_vec();
        padded.resize(per_sample.len(), 1);
        let w = w.into_dyn();
        let reshaped = w.to_shape(IxDyn(&padded)).map_err(|_| shape_error())?;
        let full = reshaped
            .broadcast(IxDyn(per_sample))
            .ok_or_else(shape_error)?
            .as_standard_layout()
            .into_owned();
        Ok(Weights {
            w: CowArray::from(full),
            group: 1,
        })
    }

    #[inline]
    pub fn w(&self) -> &[F] {
        slice_of(&self.w)
    }
}

// ---------------------------------------------------------------------------------------------
// Work splitting. The input is cut into tasks of a fixed size (`CHUNK` elements, or whole
// rows of about that size for row kernels); each task returns a partial sum, and partial sums
// are combined pairwise in task order. The result therefore does not depend on how many
// threads ran the tasks. Large inputs are spread over the cores by rayon's pool, each worker
// claiming runs of adjacent tasks (see `run`).

/// Elements per task (a multiple of the element loops' block).
const CHUNK: usize = 1 << 15;
/// Inputs smaller than this many elements run on the calling thread.
const PARALLEL_MIN: usize = 1 << 17;

static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Limits the threads a loss computation may use (`0`: automatic, the default: the
/// `LOSSES_NUM_THREADS` environment variable if set, else the available parallelism; `1`:
/// only the calling thread). Inputs under 131072 elements always run on the calling thread.
/// Results do not depend on the number of threads: partial sums are combined in a fixed order.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads a large loss computation uses (see [`set_max_threads`]).
pub fn max_threads() -> usize {
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => {
            static AUTO: OnceLock<usize> = OnceLock::new();
            *AUTO.get_or_init(|| {
                std::env::var("LOSSES_NUM_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            })
        }
        n => n,
    }
}

/// The work (elements) from which [`run`], called from outside rayon's pool, runs every task
/// on the pool's threads, the calling thread waiting, instead of working beside them. Pool
/// threads that have just finished other work look for more for a while before they sleep:
/// beside the calling thread and the one pool thread given a share, such a thread made three
/// on two cores, and calls after other parallel work were up to twice as slow. mse over
/// 2^24 `f32` on two threads, timed in alternation with the hand-written loop and the triads
/// (8 tables each, scratch switch): 5.84-9.65 ms (4 of 8 over 6.8) beside the pool, 5.46-5.87
/// on it; repeated calls 3.99-4.72 against 3.98-4.46. Smaller calls keep the calling thread
/// working, which saves waking it (2^20: 0.231-0.268 ms against 0.258-0.282 on the pool).
const POOLED_MIN: usize = 1 << 22;

/// Runs `f` on every task and returns the pairwise sum of the results, in task order. `work`
/// is the number of elements, to decide whether threads are worth waking. Threads come from
/// rayon's pool (started once).
fn run<F: Float, T: Send>(work: usize, tasks: Vec<T>, f: impl Fn(T) -> F + Sync) -> F {
    let threads = if work >= PARALLEL_MIN {
        max_threads().min(tasks.len())
    } else {
        1
    };
    let mut total = PairwiseSum::new();
    if threads <= 1 {
        for task in tasks {
            total.add(f(task));
        }
        return total.sum();
    }
    // `threads` workers take tasks from a shared queue until it is empty: a worker slowed by
    // the rest of the machine takes fewer tasks instead of holding the others up. A worker
    // takes adjacent tasks, `1 / (2 threads)` of those left at a time (at least one): its
    // arrays then go on where its last task ended, so the prefetchers keep their streams
    // instead of starting new ones at every task, and the claims shrink towards the end, so
    // the workers still finish together (2^24 f32, two threads, in the same rounds as one
    // task at a time: 0.81-1.05 of the time over 15 runs of six losses, median 0.967, 11
    // below 0.99). Each result is filed under its task's index, so the sum is in task order.
    // Below `POOLED_MIN`, the calling thread is one of the workers (`in_place_scope`), so it
    // starts at once instead of sleeping while a pool thread wakes up for it (measured: calls
    // over 2^17 and 2^18 elements took up to a third less).
    // From `POOLED_MIN` elements on, a call from outside the pool leaves the work to the
    // pool's threads and waits (see there).
    let pooled = work >= POOLED_MIN && rayon::current_thread_index().is_none();
    let count = tasks.len();
    let queue = std::sync::Mutex::new(tasks.into_iter().enumerate());
    let partials = std::sync::Mutex::new(vec![F::ZERO; count]);
    let work = || {
        let mut claimed = Vec::new();
        loop {
            // `f` does not panic, so the locks are never poisoned; if they were, the data
            // would still be consistent.
            {
                let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                let take = (queue.len() / (2 * threads)).max(1);
                claimed.extend(queue.by_ref().take(take));
            }
            if claimed.is_empty() {
                break;
            }
            for (i, task) in claimed.drain(..) {
                let v = f(task);
                partials.lock().unwrap_or_else(|e| e.into_inner())[i] = v;
            }
        }
    };
    if pooled {
        rayon::scope(|s| {
            for _ in 0..threads {
                s.spawn(|_| work());
            }
        });
    } else {
        rayon::in_place_scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| work());
            }
            work();
        });
    }
    total.extend(partials.into_inner().unwrap_or_else(|e| e.into_inner()));
    total.sum()
}

/// NaN if any of `xs` is NaN, else 0: how output-only tasks report a NaN to [`run`].
#[inline]
fn nan_flag<F: Float>(xs: &[F]) -> F {
    // A fold, not `any`: without the early exit the scan vectorizes (2^20 f32: 0.06 ms
    // against 0.39), and a NaN is the rare case.
    if xs.iter().fold(false, |seen, x| seen | x.is_nan()) {
        F::NAN
    } else {
        F::ZERO
    }
}

impl<F: Float, D: Dimension> Prepared<'_, F, D> {
    /// Rows per task for row kernels: about `CHUNK` elements, at least one row.
    fn rows_per_task(&self) -> usize {
        (CHUNK / self.c).max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Computations. `K::ELEMENTWISE` is a constant, so each function compiles to one branch.

/// The per-sample losses (row values), in row order.
pub(crate) fn per_sample<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
) -> Result<Vec<F>> {
    let (ct, c, rpt) = (prep.ct, prep.c, prep.rows_per_task());
    let mut out = crate::pages::zeros(prep.rows);
    let tasks: Vec<_> = prep
        .t()
        .chunks(rpt * ct)
        .zip(prep.p().chunks(rpt * c))
        .zip(out.chunks_mut(rpt))
        .collect();
    let flag = run(prep.p().len(), tasks, |((t, p), o)| {
        row_values(k, t, p, o, ct, c)
    });
    prep.check_nan(flag, None)?;
    Ok(out)
}

multiversion! {
    /// The value of each row of a run of rows into `o` (0 for ignored rows); the NaN flag.
    fn row_values[F: Float, K: LossKernel<F>](
        k: &K,
        t: &[F],
        p: &[F],
        o: &mut [F],
        ct: usize,
        c: usize,
    ) -> F {
        if K::ELEMENTWISE {
            // Element-wise kernels never ignore a row; `ct == c`.
            k.flat_row_means(t, p, c, o);
            return nan_flag(o);
        }
        let mut done = 0;
        if K::GROUPED && c <= GROUP_MAX_COLS {
            let mut scratch = [F::ZERO; GROUP_ROWS * GROUP_MAX_COLS];
            let (groups, _) = in_groups(t, p, ct, c);
            for ((tb, pb), ob) in groups.zip(o.as_chunks_mut::<GROUP_ROWS>().0) {
                if !group_values(k, tb, pb, (ct, c), &mut scratch, ob) {
                    values_one_by_one(k, tb, pb, ob, (ct, c));
                }
                done += GROUP_ROWS;
            }
        }
        values_one_by_one(k, &t[done * ct..], &p[done * c..], &mut o[done..], (ct, c));
        nan_flag(o)
    }
}

/// The value of each row into `o` (0 for ignored rows), one row at a time.
#[inline(always)]
fn values_one_by_one<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    o: &mut [F],
    (ct, c): (usize, usize),
) {
    for ((tr, pr), o) in t.chunks_exact(ct).zip(p.chunks_exact(c)).zip(o.iter_mut()) {
        *o = if k.row_ignored(tr) {
            F::ZERO
        } else {
            k.row_value(tr, pr)
        };
    }
}

/// The whole groups of [`GROUP_ROWS`] rows of a run of rows (labels and predictions), and the
/// rows after them.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn in_groups<'a, F>(
    t: &'a [F],
    p: &'a [F],
    ct: usize,
    c: usize,
) -> (impl Iterator<Item = (&'a [F], &'a [F])>, (&'a [F], &'a [F])) {
    let groups = t.len() / ct / GROUP_ROWS;
    let (tg, t_rest) = t.split_at(groups * GROUP_ROWS * ct);
    let (pg, p_rest) = p.split_at(groups * GROUP_ROWS * c);
    let blocks = tg
        .chunks_exact(GROUP_ROWS * ct)
        .zip(pg.chunks_exact(GROUP_ROWS * c));
    (blocks, (t_rest, p_rest))
}

/// The values of a group of rows by the kernel's grouped form, their gradients into
/// `scratch`: with the bits of `row_value_grad`, and in about half the time of `row_value`
/// row by row even though the gradient is computed too. False, and nothing computed, if a
/// row of the group is ignored.
#[inline(always)]
fn group_values<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    (ct, c): (usize, usize),
    scratch: &mut [F; GROUP_ROWS * GROUP_MAX_COLS],
    values: &mut [F; GROUP_ROWS],
) -> bool {
    if any_ignored(k, t, ct) {
        return false;
    }
    k.group_value_grad(t, p, F::ONE, &mut scratch[..GROUP_ROWS * c], values);
    true
}

/// The unreduced element losses (element-wise kernels only).
pub(crate) fn per_element<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    name: &'static str,
) -> Result<Vec<F>> {
    if !K::ELEMENTWISE {
        return Err(LossError::NotElementwise { loss: name });
    }
    let mut out = crate::pages::zeros(prep.p().len());
    let tasks: Vec<_> = prep
        .t()
        .chunks(CHUNK)
        .zip(prep.p().chunks(CHUNK))
        .zip(out.chunks_mut(CHUNK))
        .collect();
    let flag = run(prep.p().len(), tasks, |((t, p), o)| {
        element_values(k, t, p, o)
    });
    prep.check_nan(flag, None)?;
    Ok(out)
}

multiversion! {
    /// The element values of a run of elements into `o`; the NaN flag.
    fn element_values[F: Float, K: LossKernel<F>](k: &K, t: &[F], p: &[F], o: &mut [F]) -> F {
        k.per_element(t, p, o);
        nan_flag(o)
    }
}

/// The reduced loss without weights.
pub(crate) fn value<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    reduction: Reduction,
) -> Result<F> {
    let (t, p, n) = (prep.t(), prep.p(), prep.p().len());
    let v = if K::ELEMENTWISE {
        let tasks: Vec<_> = t.chunks(CHUNK).zip(p.chunks(CHUNK)).collect();
        let sum = run(n, tasks, |(t, p)| k.flat_value(t, p));
        match reduction {
            Reduction::Sum => sum / F::from_usize(prep.c),
            Reduction::Mean | Reduction::WeightedMean => sum / F::from_usize(n),
        }
    } else {
        let denom = match reduction {
            Reduction::Sum => F::ONE,
            Reduction::Mean | Reduction::WeightedMean => match active_rows(k, prep) {
                0 => return Ok(F::ZERO),
                rows => F::from_usize(rows),
            },
        };
        let (ct, c, rpt) = (prep.ct, prep.c, prep.rows_per_task());
        let tasks: Vec<_> = t.chunks(rpt * ct).zip(p.chunks(rpt * c)).collect();
        let sum = run(n, tasks, |(t, p)| rows_value(k, t, p, ct, c));
        sum / denom
    };
    prep.check_nan(v, None)?;
    Ok(v)
}

multiversion! {
    /// The sum of the row values of a run of rows (ignored rows left out).
    fn rows_value[F: Float, K: LossKernel<F>](k: &K, t: &[F], p: &[F], ct: usize, c: usize) -> F {
        let mut s = PairwiseSum::new();
        let (mut t, mut p) = (t, p);
        if K::GROUPED && c <= GROUP_MAX_COLS {
            let mut scratch = [F::ZERO; GROUP_ROWS * GROUP_MAX_COLS];
            let (groups, rest) = in_groups(t, p, ct, c);
            for (tb, pb) in groups {
                let mut values = [F::ZERO; GROUP_ROWS];
                if group_values(k, tb, pb, (ct, c), &mut scratch, &mut values) {
                    s.add_eight(&values);
                } else {
                    sum_one_by_one(k, tb, pb, (ct, c), &mut s);
                }
            }
            (t, p) = rest;
        }
        sum_one_by_one(k, t, p, (ct, c), &mut s);
        s.sum()
    }
}

/// `rows_value` of each row in turn, into `s` (ignored rows left out).
#[inline(always)]
fn sum_one_by_one<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    (ct, c): (usize, usize),
    s: &mut PairwiseSum<F>,
) {
    for (tr, pr) in t.chunks_exact(ct).zip(p.chunks_exact(c)) {
        if !k.row_ignored(tr) {
            s.add(k.row_value(tr, pr));
        }
    }
}

multiversion! {
    /// The sum of the row values of a run of rows; their gradients, times `scale`, into `g`.
    fn rows_value_grad[F: Float, K: LossKernel<F>](
        k: &K,
        t: &[F],
        p: &[F],
        g: &mut [F],
        shape: (usize, usize),
        scale: F,
        streamed: bool,
    ) -> F {
        let (ct, c) = shape;
        let mut s = PairwiseSum::new();
        if streamed {
            let row = Some(&mut vec![F::ZERO; c][..]);
            rows_one_by_one(k, t, p, g, (ct, c), scale, &mut s, row);
            crate::streamed::fence();
            return s.sum();
        }
        if !(K::GROUPED && c <= GROUP_MAX_COLS) {
            rows_one_by_one(k, t, p, g, (ct, c), scale, &mut s, None);
            return s.sum();
        }
        // Small rows in groups (same bits as one by one); a group with an ignored row, and
        // the last rows, one by one.
        let (groups, (t_rest, p_rest)) = in_groups(t, p, ct, c);
        let mut done = 0;
        for ((tb, pb), gb) in groups.zip(g.chunks_exact_mut(GROUP_ROWS * c)) {
            if any_ignored(k, tb, ct) {
                rows_one_by_one(k, tb, pb, gb, (ct, c), scale, &mut s, None);
            } else {
                let mut values = [F::ZERO; GROUP_ROWS];
                if c == GROUP_MAX_COLS {
                    // A copy of the kernel's body of its own, for which the number of columns
                    // is a constant: its loops unroll and the transposed rows stay in
                    // registers. Softmax rows of 16, f32, 2^20 and 2^24 elements: 0.79-0.83
                    // of the time in one process (same rounds), 0.81-0.90 between binaries.
                    // Only here, on the path of training steps: each copy adds to the build
                    // time.
                    const FULL: usize = GROUP_ROWS * GROUP_MAX_COLS;
                    let (pb, gb) = (&pb[..FULL], &mut gb[..FULL]);
                    k.group_value_grad(tb, pb, scale, gb, &mut values);
                } else {
                    k.group_value_grad(tb, pb, scale, gb, &mut values);
                }
                s.add_eight(&values);
            }
            done += GROUP_ROWS;
        }
        rows_one_by_one(k, t_rest, p_rest, &mut g[done * c..], (ct, c), scale, &mut s, None);
        s.sum()
    }
}

/// Whether any of the rows of labels `t` (`ct` each) is ignored: every row is asked, without
/// stopping at the first, so that the eight rows of a group are checked in a few vector
/// operations inside the caller (a search that stops early was a loop of its own, called out
/// of line for every group).
#[inline(always)]
fn any_ignored<F: Float, K: LossKernel<F>>(k: &K, t: &[F], ct: usize) -> bool {
    if K::SPARSE {
        return t
            .iter()
            .fold(false, |any, l| any | k.row_ignored(std::slice::from_ref(l)));
    }
    t.chunks_exact(ct)
        .fold(false, |any, tr| any | k.row_ignored(tr))
}

/// `rows_value_grad` of each row in turn, into `s`. (A function, not a closure: a closure
/// that is not inlined would be compiled without the instruction set of its caller.)
///
/// With `row` (a buffer of one row), each row's gradient is computed there and copied to `g`
/// by streaming stores (see [`crate::streamed::streams_rows`]; the caller fences them): the
/// same bits. An ordinary store would first read the gradient's line from memory, so long
/// rows past the caches moved three bytes for every two of their arrays. The row is copied
/// whole, after the kernel returns: a kernel writes its label's element twice, and a line
/// read or written again after its streaming store costs a trip to memory. Softmax
/// cross-entropy over rows of 1000, 2^24 `f32`, two threads, `value_and_grad_into`
/// (`peers_table --only C=1000`, binaries before and after run alternately, three pairs):
/// 4.85-5.10 -> 4.59-4.70 ms.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_one_by_one<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    g: &mut [F],
    (ct, c): (usize, usize),
    scale: F,
    s: &mut PairwiseSum<F>,
    mut row: Option<&mut [F]>,
) {
    let rows = t.chunks_exact(ct).zip(p.chunks_exact(c));
    for ((tr, pr), gr) in rows.zip(g.chunks_exact_mut(c)) {
        if k.row_ignored(tr) {
            gr.fill(F::ZERO);
        } else if let Some(row) = row.as_deref_mut() {
            s.add(k.row_value_grad(tr, pr, scale, row));
            crate::streamed::copy_streaming(gr, row);
        } else {
            s.add(k.row_value_grad(tr, pr, scale, gr));
        }
    }
}

/// The reduced loss without weights and its gradient, in one pass. `g` has `y_pred`'s length.
pub(crate) fn value_grad<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    reduction: Reduction,
    g: &mut [F],
) -> Result<F> {
    let (t, p, n) = (prep.t(), prep.p(), prep.p().len());
    let v = if K::ELEMENTWISE {
        // SUM of the element values, each gradient scaled by 1 / denominator.
        let denom = match reduction {
            Reduction::Sum => F::from_usize(prep.c),
            Reduction::Mean | Reduction::WeightedMean => F::from_usize(n),
        };
        let scale = F::ONE / denom;
        let tasks: Vec<_> = t
            .chunks(CHUNK)
            .zip(p.chunks(CHUNK))
            .zip(g.chunks_mut(CHUNK))
            .collect();
        let streamed = crate::streamed::streams::<F>(n);
        let task = |((t, p), g): ((&[F], &[F]), &mut [F])| {
            if streamed {
                k.flat_value_grad_streamed(t, p, scale, g)
            } else {
                k.flat_value_grad(t, p, scale, g)
            }
        };
        run(n, tasks, task) / denom
    } else {
        let denom = match reduction {
            Reduction::Sum => F::ONE,
            Reduction::Mean | Reduction::WeightedMean => match active_rows(k, prep) {
                0 => {
                    g.fill(F::ZERO);
                    return Ok(F::ZERO);
                }
                rows => F::from_usize(rows),
            },
        };
        let scale = F::ONE / denom;
        let (ct, c, rpt) = (prep.ct, prep.c, prep.rows_per_task());
        let tasks: Vec<_> = t
            .chunks(rpt * ct)
            .zip(p.chunks(rpt * c))
            .zip(g.chunks_mut(rpt * c))
            .collect();
        let streamed = crate::streamed::streams_rows::<F>(n, c);
        let sum = run(n, tasks, |((t, p), g)| {
            rows_value_grad(k, t, p, g, (ct, c), scale, streamed)
        });
        sum / denom
    };
    prep.check_nan(v, None)?;
    Ok(v)
}

/// The number of rows the kernel does not ignore (every row for element-wise kernels).
fn active_rows<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
) -> usize {
    if K::ELEMENTWISE {
        return prep.rows;
    }
    if K::SPARSE {
        // Labels of one element: a known length, so the count vectorizes.
        return prep
            .t()
            .iter()
            .map(|l| usize::from(!k.row_ignored(std::slice::from_ref(l))))
            .sum();
    }
    prep.t()
        .chunks_exact(prep.ct)
        .filter(|tr| !k.row_ignored(tr))
        .count()
}

/// The denominator of a weighted reduction (None: the rows taking part, or their weights
/// under WeightedMean, sum to 0).
fn weighted_denominator<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
) -> Option<F> {
    let total = match reduction {
        Reduction::Sum => return Some(F::ONE),
        Reduction::Mean => F::from_usize(active_rows(k, prep)),
        Reduction::WeightedMean if active_rows(k, prep) == prep.rows => {
            sum_slice(w.w()) * F::from_usize(w.group)
        }
        Reduction::WeightedMean => {
            let rows = prep.t().chunks_exact(prep.ct).enumerate();
            rows.filter(|(_, tr)| !k.row_ignored(tr))
                .map(|(i, _)| w.w()[i / w.group])
                .collect::<PairwiseSum<F>>()
                .sum()
        }
    };
    if total == F::ZERO { None } else { Some(total) }
}

multiversion! {
    /// Weighted, row kernels: `Σ w_r · l_r` over a run of rows starting at row `row0`. With `g`,
    /// writes `w_r * inv_denom * d l_r`.
    #[allow(clippy::too_many_arguments)]
    fn weighted_rows[F: Float, K: LossKernel<F>](
        k: &K,
        t: &[F],
        p: &[F],
        g: Option<&mut [F]>,
        shape: (usize, usize),
        row0: usize,
        w: &Weights<'_, F>,
        inv_denom: F,
    ) -> F {
        let (ct, c) = shape;
        let weight = |r: usize| w.w()[(row0 + r) / w.group];
        let mut s = PairwiseSum::new();
        let mut done = 0;
        let (has_g, mut g) = (g.is_some(), g);
        if K::GROUPED && c <= GROUP_MAX_COLS {
            // One call site of the grouped form (unoptimized, its frame is large).
            let mut scratch = [F::ZERO; GROUP_ROWS * GROUP_MAX_COLS];
            let (groups, _) = in_groups(t, p, ct, c);
            for (tb, pb) in groups {
                let gb = match g.as_deref_mut() {
                    Some(g) => &mut g[done * c..(done + GROUP_ROWS) * c],
                    None => &mut scratch[..GROUP_ROWS * c],
                };
                if any_ignored(k, tb, ct) {
                    let gb = has_g.then_some(gb);
                    weighted_one_by_one(k, tb, pb, gb, shape, (done, weight), inv_denom, &mut s);
                    done += GROUP_ROWS;
                    continue;
                }
                // The derivatives unscaled (times 1, exact), then times each row's weight
                // over the denominator: the bits of the rows one by one.
                let mut values = [F::ZERO; GROUP_ROWS];
                k.group_value_grad(tb, pb, F::ONE, gb, &mut values);
                for (r, (&v, gr)) in values.iter().zip(gb.chunks_exact_mut(c)).enumerate() {
                    let wi = weight(done + r);
                    s.add(wi * v);
                    if has_g {
                        let scale = wi * inv_denom;
                        gr.iter_mut().for_each(|d| *d = scale * *d);
                    }
                }
                done += GROUP_ROWS;
            }
        }
        let (t, p, g) = (&t[done * ct..], &p[done * c..], g.map(|g| &mut g[done * c..]));
        weighted_one_by_one(k, t, p, g, shape, (done, weight), inv_denom, &mut s);
        s.sum()
    }
}

/// `weighted_rows` one row at a time, into `s`: `rows` is the index of the first row (within
/// the run) and the weight of a row by its index.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weighted_one_by_one<F: Float, K: LossKernel<F>>(
    k: &K,
    t: &[F],
    p: &[F],
    g: Option<&mut [F]>,
    (ct, c): (usize, usize),
    (first, weight): (usize, impl Fn(usize) -> F),
    inv_denom: F,
    s: &mut PairwiseSum<F>,
) {
    let rows = t.chunks_exact(ct).zip(p.chunks_exact(c)).enumerate();
    match g {
        Some(g) => {
            for ((j, (tr, pr)), gr) in rows.zip(g.chunks_exact_mut(c)) {
                if k.row_ignored(tr) {
                    gr.fill(F::ZERO);
                    continue;
                }
                let wi = weight(first + j);
                s.add(wi * k.row_value_grad(tr, pr, wi * inv_denom, gr));
            }
        }
        None => {
            for (j, (tr, pr)) in rows {
                if !k.row_ignored(tr) {
                    s.add(weight(first + j) * k.row_value(tr, pr));
                }
            }
        }
    }
}

/// The reduced loss with sample weights, and its gradient when `g` is given, in one pass.
fn weighted<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
    g: Option<&mut [F]>,
) -> Result<F> {
    let Some(denom) = weighted_denominator(k, prep, w, reduction) else {
        if let Some(g) = g {
            g.fill(F::ZERO);
        }
        return Ok(F::ZERO);
    };
    let (t, p, n) = (prep.t(), prep.p(), prep.p().len());
    let v = if K::ELEMENTWISE {
        let group_len = w.group * prep.c;
        let cf = F::from_usize(prep.c);
        let grad_scale = F::ONE / (denom * cf);
        let ws = w.w();
        let sum = match g {
            Some(g) => {
                let tasks: Vec<_> = t
                    .chunks(CHUNK)
                    .zip(p.chunks(CHUNK))
                    .zip(g.chunks_mut(CHUNK))
                    .enumerate()
                    .collect();
                let streamed = crate::streamed::streams::<F>(n);
                run(n, tasks, |(i, ((t, p), g))| {
                    let w = RunWeights {
                        w: ws,
                        group: group_len,
                        start: i * CHUNK,
                    };
                    if streamed {
                        k.flat_weighted_value_grad_streamed(t, p, w, grad_scale, g)
                    } else {
                        k.flat_weighted_value_grad(t, p, w, grad_scale, g)
                    }
                })
            }
            None => {
                let tasks: Vec<_> = t.chunks(CHUNK).zip(p.chunks(CHUNK)).enumerate().collect();
                run(n, tasks, |(i, (t, p))| {
                    let w = RunWeights {
                        w: ws,
                        group: group_len,
                        start: i * CHUNK,
                    };
                    k.flat_weighted_value(t, p, w)
                })
            }
        };
        sum / cf / denom
    } else {
        let (ct, c, rpt) = (prep.ct, prep.c, prep.rows_per_task());
        let inv = F::ONE / denom;
        let sum = match g {
            Some(g) => {
                let tasks: Vec<_> = t
                    .chunks(rpt * ct)
                    .zip(p.chunks(rpt * c))
                    .zip(g.chunks_mut(rpt * c))
                    .enumerate()
                    .collect();
                run(n, tasks, |(i, ((t, p), g))| {
                    weighted_rows(k, t, p, Some(g), (ct, c), i * rpt, w, inv)
                })
            }
            None => {
                let tasks: Vec<_> = t
                    .chunks(rpt * ct)
                    .zip(p.chunks(rpt * c))
                    .enumerate()
                    .collect();
                run(n, tasks, |(i, (t, p))| {
                    weighted_rows(k, t, p, None, (ct, c), i * rpt, w, inv)
                })
            }
        };
        sum / denom
    };
    prep.check_nan(v, Some(w))?;
    Ok(v)
}

/// The reduced loss with sample weights.
pub(crate) fn weighted_value<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
) -> Result<F> {
    weighted(k, prep, w, reduction, None)
}

/// The reduced loss with sample weights and its gradient, in one pass.
pub(crate) fn weighted_value_grad<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    w: &Weights<'_, F>,
    reduction: Reduction,
    g: &mut [F],
) -> Result<F> {
    weighted(k, prep, w, reduction, Some(g))
}

/// First and second derivatives of each unreduced term.
pub(crate) fn grad_hess<F: Float, D: Dimension, K: LossKernel<F>>(
    k: &K,
    prep: &Prepared<'_, F, D>,
    g: &mut [F],
    h: &mut [F],
) -> Result<()> {
    let (t, p, n) = (prep.t(), prep.p(), prep.p().len());
    let (ct, c) = (prep.ct, prep.c);
    // Element-wise kernels: any run of elements; row kernels: whole rows.
    let (tl, pl) = if K::ELEMENTWISE {
        (CHUNK, CHUNK)
    } else {
        let rpt = prep.rows_per_task();
        (rpt * ct, rpt * c)
    };
    let tasks: Vec<_> = t
        .chunks(tl)
        .zip(p.chunks(pl))
        .zip(g.chunks_mut(pl).zip(h.chunks_mut(pl)))
        .collect();
    let streamed = K::ELEMENTWISE && crate::streamed::streams::<F>(n);
    let flag = run(n, tasks, |((t, p), (g, h))| {
        if streamed && let Some(flag) = k.flat_grad_hess_streamed(t, p, g, h) {
            return flag;
        }
        grad_hess_run(k, t, p, g, h, ct, c)
    });
    prep.check_nan(flag, None)
}

multiversion! {
    /// The derivatives of a run of elements (or whole rows) into `g` and `h`; the NaN flag.
    fn grad_hess_run[F: Float, K: LossKernel<F>](
        k: &K,
        t: &[F],
        p: &[F],
        g: &mut [F],
        h: &mut [F],
        ct: usize,
        c: usize,
    ) -> F {
        if K::ELEMENTWISE {
            k.row_grad_hess(t, p, g, h);
        } else {
            let rows = t.chunks_exact(ct).zip(p.chunks_exact(c));
            for ((tr, pr), (gr, hr)) in rows.zip(g.chunks_exact_mut(c).zip(h.chunks_exact_mut(c))) {
                if k.row_ignored(tr) {
                    gr.fill(F::ZERO);
                    hr.fill(F::ZERO);
                } else {
                    k.row_grad_hess(tr, pr, gr, hr);
                }
            }
        }
        nan_flag(g)
    }
}

/// Runs `f` on `grad` as a flat row-major slice: directly when `grad` is in standard layout,
/// through a temporary and `assign` otherwise. Checks `grad`'s shape first.
pub(crate) fn into_buffer<F: Float, D: Dimension, R>(
    grad: &mut ArrayRef<F, D>,
    pred_shape: &[usize],
    f: impl FnOnce(&mut [F]) -> Result<R>,
) -> Result<R> {
    Buffer::Grad.check(grad.shape(), pred_shape)?;
    as_flat(grad, f)
}

/// [`into_buffer`] for the two buffers of `grad_hess_into`; checks both shapes first.
pub(crate) fn into_buffers<F: Float, D: Dimension, R>(
    grad: &mut ArrayRef<F, D>,
    hess: &mut ArrayRef<F, D>,
    pred_shape: &[usize],
    f: impl FnOnce(&mut [F], &mut [F]) -> Result<R>,
) -> Result<R> {
    Buffer::Grad.check(grad.shape(), pred_shape)?;
    Buffer::Hess.check(hess.shape(), pred_shape)?;
    as_flat(grad, |g| as_flat(hess, |h| f(g, h)))
}

/// Which caller's buffer a shape error names.
#[derive(Clone, Copy)]
enum Buffer {
    Grad,
    Hess,
}

impl Buffer {
    fn check(self, shape: &[usize], pred_shape: &[usize]) -> Result<()> {
        if shape == pred_shape {
            return Ok(());
        }
        let (buffer, y_pred) = (shape.to_vec(), pred_shape.to_vec());
        Err(match self {
            Buffer::Grad => LossError::GradShape {
                grad: buffer,
                y_pred,
            },
            Buffer::Hess => LossError::HessShape {
                hess: buffer,
                y_pred,
            },
        })
    }
}

/// `f` on `buf` as a flat row-major slice (see [`into_buffer`]).
fn as_flat<F: Float, D: Dimension, R>(
    buf: &mut ArrayRef<F, D>,
    f: impl FnOnce(&mut [F]) -> Result<R>,
) -> Result<R> {
    if let Some(s) = buf.as_slice_mut() {
        return f(s);
    }
    let mut tmp = crate::pages::zeros(buf.len());
    let r = f(&mut tmp)?;
    let view =
        ArrayView::from_shape(buf.raw_dim(), &tmp).expect("the temporary has the buffer's shape");
    buf.assign(&view);
    Ok(r)
}

/// A zeroed array of `y_pred`'s shape (`calloc`ed: its pages are touched only when written).
pub(crate) fn zeros_like<F: Float, D: Dimension>(prep: &Prepared<'_, F, D>) -> Array<F, D> {
    let zeros = crate::pages::zeros(prep.p().len());
    Array::from_shape_vec(prep.pred_dim(), zeros).expect("the length of y_pred")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Loss;
    use crate::testing::{TestHuber, TestMse, TestSoftmaxCe, TestSparseCe};
    use ndarray::{Array1, Array2, Array3};

    /// Runs `f` with 1 and with 3 threads; the results must be identical.
    fn same_with_threads<R: PartialEq + std::fmt::Debug>(f: impl Fn() -> R) -> R {
        set_max_threads(1);
        let one = f();
        set_max_threads(3);
        let three = f();
        set_max_threads(0);
        assert_eq!(one, three);
        one
    }

    fn naive_weighted(t: &Array2<f64>, p: &Array2<f64>, w: &Array1<f64>, r: Reduction) -> f64 {
        let c = t.ncols() as f64;
        let mut s = 0.0;
        for ((tr, pr), wi) in t.rows().into_iter().zip(p.rows()).zip(w) {
            let l: f64 = tr
                .iter()
                .zip(pr)
                .map(|(a, b)| (b - a) * (b - a))
                .sum::<f64>()
                / c;
            s += wi * l;
        }
        match r {
            Reduction::Mean => s / t.nrows() as f64,
            Reduction::Sum => s,
            Reduction::WeightedMean => s / w.sum(),
        }
    }

    #[test]
    fn large_inputs_are_split_deterministically() {
        // 50_000 rows of 3: tasks of 32768 elements cut rows and weight groups.
        let n = 50_000;
        let t = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 1e-3).sin());
        let p = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 7e-4).cos());
        let w = Array1::from_shape_fn(n, |i| (i % 7) as f64 * 0.5);
        for r in Reduction::ALL {
            let l = TestMse { reduction: r };
            let (v, g) = same_with_threads(|| l.value_and_grad_weighted(&t, &p, &w).unwrap());
            let want = naive_weighted(&t, &p, &w, r);
            assert!((v - want).abs() < 1e-12 * want.abs(), "{r:?} {v} {want}");
            let v2 = same_with_threads(|| l.forward_weighted(&t, &p, &w).unwrap());
            assert!((v2 - v).abs() < 1e-14 * v.abs());
            let denom = match r {
                Reduction::Mean => n as f64,
                Reduction::Sum => 1.0,
                Reduction::WeightedMean => w.sum(),
            };
            for i in [0, 1, 10_922, 10_923, 32_767, 49_999] {
                for j in 0..3 {
                    let want = w[i] * 2.0 * (p[[i, j]] - t[[i, j]]) / 3.0 / denom;
                    assert!((g[[i, j]] - want).abs() <= 1e-15 * want.abs().max(1e-300));
                }
            }
            same_with_threads(|| l.value_and_grad(&t, &p).unwrap());
            same_with_threads(|| l.forward(&t, &p).unwrap());
            same_with_threads(|| l.per_sample(&t, &p).unwrap());
            same_with_threads(|| l.per_element(&t, &p).unwrap());
            same_with_threads(|| l.grad_hess(&t, &p).unwrap());
            let ce = TestSoftmaxCe { reduction: r };
            same_with_threads(|| ce.value_and_grad_weighted(&t, &p, &w).unwrap());
            same_with_threads(|| ce.value_and_grad(&t, &p).unwrap());
            same_with_threads(|| ce.grad_hess(&t, &p).unwrap());
        }
        // Prefix weights over a 3-D input: a weight covers 40 rows of 5.
        let t3 = Array3::from_shape_fn((1000, 40, 5), |(i, j, k)| ((i + j * k) as f64).sin());
        let p3 = Array3::from_shape_fn((1000, 40, 5), |(i, j, k)| ((i * j + k) as f64).cos());
        let w3 = Array1::from_shape_fn(1000, |i| 1.0 + (i % 3) as f64);
        let l = TestHuber::default();
        let (v, _) = same_with_threads(|| l.value_and_grad_weighted(&t3, &p3, &w3).unwrap());
        let w_full = Array2::from_shape_fn((1000, 40), |(i, _)| w3[i]);
        let (v_full, _) = l.value_and_grad_weighted(&t3, &p3, &w_full).unwrap();
        assert!((v - v_full).abs() < 1e-13 * v.abs());
        // One huge row (1-D input) with a 0-d weight: element tasks inside a row.
        let t1 = Array1::from_shape_fn(300_000, |i| (i as f64 * 1e-4).sin());
        let p1 = Array1::zeros(300_000);
        let w0 = ndarray::arr0(2.0);
        let (v1, g1) = same_with_threads(|| l.value_and_grad_weighted(&t1, &p1, &w0).unwrap());
        let (u1, h1) = l.value_and_grad(&t1, &p1).unwrap();
        assert!((v1 - 2.0 * u1).abs() < 1e-14 * v1.abs());
        assert!(g1.iter().zip(&h1).all(|(a, b)| *a == 2.0 * b));
        // Sparse rows.
        let labels = Array2::from_shape_fn((n, 1), |(i, _)| (i % 3) as f64);
        let sp = TestSparseCe::default();
        same_with_threads(|| sp.value_and_grad_weighted(&labels, &p, &w).unwrap());
        same_with_threads(|| sp.per_sample(&labels, &p).unwrap());
    }

    /// Sparse softmax cross-entropy that ignores rows labelled -1 (Keras's `ignore_class`).
    struct IgnoringCe;
    impl<F: Float> LossKernel<F> for IgnoringCe {
        const ELEMENTWISE: bool = false;
        const SPARSE: bool = true;
        fn row_ignored(&self, t: &[F]) -> bool {
            t[0] == -F::ONE
        }
        fn row_value(&self, t: &[F], p: &[F]) -> F {
            assert!(t[0] != -F::ONE, "called on an ignored row");
            LossKernel::row_value(&crate::testing::SparseCeK, t, p)
        }
        fn row_value_grad(&self, t: &[F], p: &[F], scale: F, g: &mut [F]) -> F {
            assert!(t[0] != -F::ONE, "called on an ignored row");
            crate::testing::SparseCeK.row_value_grad(t, p, scale, g)
        }
        fn row_grad_hess(&self, t: &[F], p: &[F], g: &mut [F], h: &mut [F]) {
            assert!(t[0] != -F::ONE, "called on an ignored row");
            crate::testing::SparseCeK.row_grad_hess(t, p, g, h)
        }
        fn per_element(&self, _: &[F], _: &[F], out: &mut [F]) {
            out.fill(F::NAN);
        }
    }

    struct Ignoring(Reduction);
    impl Loss for Ignoring {
        type Kernel<F: Float> = IgnoringCe;
        fn kernel<F: Float>(&self) -> Result<IgnoringCe> {
            Ok(IgnoringCe)
        }
        fn name(&self) -> &'static str {
            "ignoring_ce"
        }
        fn reduction(&self) -> Reduction {
            self.0
        }
        fn spec(&self) -> String {
            String::new()
        }
    }

    #[test]
    fn ignored_rows_are_left_out() {
        // Every third row is ignored; the result must equal the loss over the other rows.
        let (rows, c) = (60_000, 5);
        let p = Array2::from_shape_fn((rows, c), |(i, j)| ((i * c + j) as f64 * 0.37).sin());
        let labels =
            Array2::from_shape_fn(
                (rows, 1),
                |(i, _)| {
                    if i % 3 == 1 { -1.0 } else { (i % c) as f64 }
                },
            );
        let w = Array1::from_shape_fn(rows, |i| 0.5 + (i % 4) as f64);
        let kept: Vec<usize> = (0..rows).filter(|i| i % 3 != 1).collect();
        let pk = p.select(ndarray::Axis(0), &kept);
        let lk = labels.select(ndarray::Axis(0), &kept);
        let wk = w.select(ndarray::Axis(0), &kept);
        let ps = Ignoring(Reduction::Mean).per_sample(&labels, &p).unwrap();
        let want_ps = TestSparseCe::default().per_sample(&lk, &pk).unwrap();
        for (j, &i) in kept.iter().enumerate() {
            assert_eq!(ps[i], want_ps[j]);
        }
        assert!((0..rows).filter(|i| i % 3 == 1).all(|i| ps[i] == 0.0));
        let (_, h) = Ignoring(Reduction::Mean).grad_hess(&labels, &p).unwrap();
        assert!(h.row(1).iter().all(|&x| x == 0.0) && h.row(0).iter().all(|&x| x > 0.0));
        for r in Reduction::ALL {
            let l = Ignoring(r);
            let reference = TestSparseCe { reduction: r };
            let (v, g) = same_with_threads(|| l.value_and_grad(&labels, &p).unwrap());
            let (vk, gk) = reference.value_and_grad(&lk, &pk).unwrap();
            assert!((v - vk).abs() <= 1e-13 * vk.abs(), "{r:?} {v} {vk}");
            assert_eq!(same_with_threads(|| l.forward(&labels, &p).unwrap()), v);
            let (vw, gw) =
                same_with_threads(|| l.value_and_grad_weighted(&labels, &p, &w).unwrap());
            let (vwk, gwk) = reference.value_and_grad_weighted(&lk, &pk, &wk).unwrap();
            assert!((vw - vwk).abs() <= 1e-13 * vwk.abs(), "{r:?} {vw} {vwk}");
            let fw = same_with_threads(|| l.forward_weighted(&labels, &p, &w).unwrap());
            assert!((fw - vw).abs() <= 1e-14 * vw.abs());
            for (j, &i) in kept.iter().enumerate() {
                for k in 0..c {
                    assert!((g[[i, k]] - gk[[j, k]]).abs() <= 1e-15 * gk[[j, k]].abs().max(1e-300));
                    assert!(
                        (gw[[i, k]] - gwk[[j, k]]).abs() <= 1e-15 * gwk[[j, k]].abs().max(1e-300)
                    );
                }
            }
            for i in (1..rows).step_by(3) {
                assert!(g.row(i).iter().chain(gw.row(i)).all(|&x| x == 0.0));
            }
        }
        // Nothing left: 0 with a zero gradient (Sum is 0 through the arithmetic).
        let all = Array2::from_elem((4, 1), -1.0);
        let p4 = Array2::from_elem((4, c), 0.3);
        for r in Reduction::ALL {
            let (v, g) = Ignoring(r).value_and_grad(&all, &p4).unwrap();
            assert_eq!(v, 0.0);
            assert!(g.iter().all(|&x| x == 0.0));
            let (v, g) = Ignoring(r)
                .value_and_grad_weighted(&all, &p4, &Array1::from_elem(4, 2.0))
                .unwrap();
            assert_eq!(v, 0.0);
            assert!(g.iter().all(|&x| x == 0.0));
            assert_eq!(Ignoring(r).forward(&all, &p4), Ok(0.0));
        }
        // Ignored labels are not checked; others still are.
        let bad = Array2::from_shape_vec((2, 1), vec![-1.0, 7.0]).unwrap();
        assert!(matches!(
            Ignoring(Reduction::Mean).forward(&bad, &p4.slice(ndarray::s![..2, ..])),
            Err(LossError::InvalidLabel { .. })
        ));
    }

    /// Grouped row kernels (the generated sparse and dense softmax cross-entropies, rows of
    /// at most 16) give `forward`, `per_sample` and the weighted calls through their groups:
    /// the bits of the unweighted value and gradient, each row's value times its weight, each
    /// gradient times its weight over the denominator. Rows of 13 (not a multiple of a
    /// vector), 203 of them (groups of 8 and a rest), every fifth row ignored.
    #[test]
    fn grouped_rows_in_every_path() {
        use crate::builtins::{CategoricalCrossentropy, SparseCategoricalCrossentropy};

        /// `l` and the same loss with `Reduction::Sum`; rows `r % 5 == 2` ignored if `ignoring`.
        fn check<L: Loss>(l: &L, sum: &L, t: &Array2<f32>, p: &Array2<f32>, ignoring: bool) {
            let rows = p.nrows();
            let w = Array1::from_shape_fn(rows, |i| 0.5 + (i % 4) as f32);
            let per = l.per_sample(t, p).unwrap();
            // A row on its own goes one by one (`row_value`): the same bits.
            for r in [0, 1, 7, 8, 100, 199, 202] {
                let one = ndarray::s![r..r + 1, ..];
                let alone = l.per_sample(&t.slice(one), &p.slice(one)).unwrap();
                assert_eq!(per[r].to_bits(), alone[0].to_bits(), "row {r}");
            }
            let (v, g) = same_with_threads(|| l.value_and_grad(t, p).unwrap());
            let f = same_with_threads(|| l.forward(t, p).unwrap());
            assert_eq!(f.to_bits(), v.to_bits());
            // Weights of 1: the bits of the unweighted calls.
            let ones = Array1::from_elem(rows, 1.0f32);
            let (v1, g1) = l.value_and_grad_weighted(t, p, &ones).unwrap();
            assert_eq!(v1.to_bits(), v.to_bits());
            assert!(g1.iter().zip(&g).all(|(a, b)| a.to_bits() == b.to_bits()));
            // Other weights: against the row values and the gradient of the sum.
            let d = sum.gradient(t, p).unwrap();
            let (vw, gw) = same_with_threads(|| l.value_and_grad_weighted(t, p, &w).unwrap());
            let fw = same_with_threads(|| l.forward_weighted(t, p, &w).unwrap());
            assert_eq!(fw.to_bits(), vw.to_bits());
            let kept = (0..rows).filter(|r| !ignoring || r % 5 != 2).count() as f32;
            let want = (0..rows).map(|r| f64::from(w[r] * per[r])).sum::<f64>();
            let want = want / f64::from(kept);
            assert!((f64::from(vw) - want).abs() <= 1e-6 * want, "{vw} {want}");
            let inv = 1.0 / kept;
            for r in 0..rows {
                for j in 0..p.ncols() {
                    let want = (w[r] * inv) * d[[r, j]];
                    assert_eq!(gw[[r, j]].to_bits(), want.to_bits(), "row {r}, {j}");
                }
            }
        }

        // Every row length up to a group's: the grouped loops take four lanes at a time and
        // finish each lane's last element alone when some of the four have none.
        let rows = 203;
        for c in [1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16] {
            let p =
                Array2::from_shape_fn((rows, c), |(i, j)| ((i * c + j) as f32 * 0.37).sin() * 4.0);
            let labels =
                Array2::from_shape_fn(
                    (rows, 1),
                    |(i, _)| {
                        if i % 5 == 2 { -1.0 } else { (i % c) as f32 }
                    },
                );
            let sparse = SparseCategoricalCrossentropy::default()
                .from_logits(true)
                .ignore_class(-1.0);
            let sparse_sum = sparse.with_reduction(Reduction::Sum);
            check(&sparse, &sparse_sum, &labels, &p, true);
            let dense_t =
                Array2::from_shape_fn((rows, c), |(i, j)| f32::from(u8::from(i % c == j)));
            let dense = CategoricalCrossentropy::default().from_logits(true);
            let dense_sum = dense.with_reduction(Reduction::Sum);
            check(&dense, &dense_sum, &dense_t, &p, false);
        }
    }

    #[test]
    fn row_maxima_are_found_in_every_chain_and_the_tail() {
        use crate::builtins::{CategoricalHinge, SparseCategoricalCrossentropy};
        // Rows of 70: two quads of 32 (four chains of comparisons each) and a tail of 6. Row
        // `r` has its largest logit at `j = r`, 200 above the rest: a maximum missed by the
        // four-chain pass would overflow the exponential (`e^200` is not an f32).
        let c = 70;
        let p = Array2::from_shape_fn((c, c), |(r, j)| {
            if j == r {
                200.0 + (r % 7) as f32
            } else {
                ((r * 31 + j * 17) % 23) as f32 / 4.0 - 3.0
            }
        });
        let labels = Array2::from_shape_fn((c, 1), |(r, _)| ((r * 13) % c) as f32);
        let ce = SparseCategoricalCrossentropy::default().from_logits(true);
        let per = ce.per_sample(&labels, &p).unwrap();
        let (v, g) = ce.value_and_grad(&labels, &p).unwrap();
        let mut mean = 0.0;
        for r in 0..c {
            let row: Vec<f64> = p.row(r).iter().map(|&x| f64::from(x)).collect();
            let lse = row[r] + row.iter().map(|x| (x - row[r]).exp()).sum::<f64>().ln();
            let want = lse - row[(r * 13) % c];
            mean += want / c as f64;
            let got = f64::from(per[r]);
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "row {r}: {got} {want}"
            );
            // The gradient of the mean: (softmax - one-hot) / rows.
            for j in 0..c {
                let onehot = if j == (r * 13) % c { 1.0 } else { 0.0 };
                let want = ((row[j] - lse).exp() - onehot) / c as f64;
                let got = f64::from(g[[r, j]]);
                assert!((got - want).abs() <= 1e-6, "row {r}, {j}: {got} {want}");
            }
        }
        assert!((f64::from(v) - mean).abs() <= 1e-5 * mean, "{v} {mean}");
        // A dense row's maximum (categorical hinge: the largest wrong-class score), with the
        // one-hot label away from the maximum.
        let t = Array2::from_shape_fn((c, c), |(r, j)| f32::from(u8::from(j == (r + 1) % c)));
        let hinge = CategoricalHinge::default().per_sample(&t, &p).unwrap();
        for r in 0..c {
            let neg = (0..c).filter(|&j| j != (r + 1) % c).map(|j| p[[r, j]]);
            let neg = neg.fold(f32::NEG_INFINITY, f32::max);
            let want = (neg - p[[r, (r + 1) % c]] + 1.0).max(0.0);
            assert_eq!(hinge[r], want, "hinge row {r}");
        }
    }

    #[test]
    fn f32_over_2_pow_24_is_accurate_and_deterministic() {
        // 2^24 elements in rows of 16: the f32 result within 1e-6 of the f64 one, the same
        // bits for 1 and 3 threads.
        let n = 1 << 24;
        let t64 = Array2::from_shape_fn((n / 16, 16), |(i, j)| ((i * 16 + j) as f64 * 1e-3).sin());
        let p64 = Array2::from_shape_fn((n / 16, 16), |(i, j)| ((i * 16 + j) as f64 * 7e-4).cos());
        let (t32, p32) = (t64.mapv(|x| x as f32), p64.mapv(|x| x as f32));
        let (t32w, p32w) = (t32.mapv(f64::from), p32.mapv(f64::from));
        let l = TestHuber::default();
        let exact = l.forward(&t32w, &p32w).unwrap();
        let (v, _) = same_with_threads(|| l.value_and_grad(&t32, &p32).unwrap());
        let rel = (f64::from(v) - exact).abs() / exact;
        assert!(rel < 1e-6, "{v} vs {exact}: {rel:e}");
        let m = TestMse::default();
        let exact = m.forward(&t32w, &p32w).unwrap();
        let v = same_with_threads(|| m.forward(&t32, &p32).unwrap());
        assert!((f64::from(v) - exact).abs() / exact < 1e-6);
    }

    /// 16 MiB of `f32` and a partial chunk in rows of 8: runs that stream their derivatives
    /// where the CPU can.
    fn streamed_inputs() -> (Array2<f32>, Array2<f32>) {
        let n = (4 << 20) + 1000;
        assert!(crate::streamed::streams::<f32>(n));
        let t = Array2::from_shape_fn((n / 8, 8), |(i, j)| ((i * 8 + j) as f32 * 1e-3).sin());
        let p = Array2::from_shape_fn((n / 8, 8), |(i, j)| ((i * 8 + j) as f32 * 7e-4).cos());
        (t, p)
    }

    /// Asserts that `call`, writing its gradient into a buffer of NaN of shape `dim`, gives
    /// the bits of `v_want` and `want` on 1 and on 3 threads.
    fn same_value_and_gradient(
        v_want: f32,
        want: &[f32],
        dim: ndarray::Ix2,
        call: impl Fn(&mut Array2<f32>) -> f32,
    ) {
        let (v, g) = same_with_threads(|| {
            let mut g = Array2::from_elem(dim, f32::NAN);
            (call(&mut g).to_bits(), g)
        });
        assert_eq!(v, v_want.to_bits());
        let g = g.as_slice().unwrap();
        assert!(g.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn streamed_gradients_have_the_bits_of_the_ordinary_loop() {
        // 16 MiB of f32 gradient and a partial chunk: the run streams its gradient where the
        // CPU can. The same run through the ordinary loop, task by task, is the reference.
        use crate::kernel::Elementwise;
        let (t, p) = streamed_inputs();
        let n = t.len();
        let scale = 1.0 / n as f32;
        let mut want = vec![f32::NAN; n];
        let mut sum = PairwiseSum::new();
        let chunks = t.as_slice().unwrap().chunks(CHUNK);
        let chunks = chunks.zip(p.as_slice().unwrap().chunks(CHUNK));
        for ((t, p), g) in chunks.zip(want.chunks_mut(CHUNK)) {
            sum.add(Elementwise(crate::testing::MseK).flat_value_grad(t, p, scale, g));
        }
        let v_want = sum.sum() / n as f32;
        same_value_and_gradient(v_want, &want, t.raw_dim(), |g| {
            TestMse::default().value_and_grad_into(&t, &p, g).unwrap()
        });
    }

    /// Rows of `c` (every fifth ignored) through the streamed and the ordinary row loop, with
    /// the gradient starting at each of 16 offsets from a line: the same value and gradient.
    fn same_streamed_rows<F: Float>(c: usize, to_bits: impl Fn(F) -> u64) {
        let rows = 37;
        let t: Vec<F> = (0..rows)
            .map(|i| match i % 5 {
                4 => -F::ONE,
                _ => F::from_usize(i * 7 % c),
            })
            .collect();
        let p: Vec<F> = (0..rows * c)
            .map(|i| F::from_f64((i as f64 * 0.37).sin() * 3.0))
            .collect();
        let scale = F::from_f64(0.01);
        let mut want = vec![F::NAN; rows * c];
        let v_want = rows_value_grad(&IgnoringCe, &t, &p, &mut want, (1, c), scale, false);
        let mut buffer = vec![F::NAN; rows * c + 16];
        for offset in 0..16 {
            buffer.fill(F::NAN);
            let g = &mut buffer[offset..offset + rows * c];
            let v = rows_value_grad(&IgnoringCe, &t, &p, g, (1, c), scale, true);
            assert_eq!(to_bits(v), to_bits(v_want), "c {c}, offset {offset}");
            let same = g.iter().zip(&want).all(|(&a, &b)| to_bits(a) == to_bits(b));
            assert!(same, "c {c}, offset {offset}");
        }
    }

    #[test]
    fn streamed_rows_have_the_bits_of_the_ordinary_loop() {
        for c in [64, 65, 100, 1000, 1001] {
            same_streamed_rows::<f32>(c, |x| x.to_bits().into());
            same_streamed_rows::<f64>(c, f64::to_bits);
        }
        // Long rows past the caches stream where the CPU can, short or very long ones not.
        let streams =
            cfg!(target_arch = "x86_64") && crate::simd::level() != crate::simd::Level::Portable;
        let n = 4 << 20;
        assert_eq!(crate::streamed::streams_rows::<f32>(n, 1000), streams);
        assert!(!crate::streamed::streams_rows::<f32>(n, 16));
        assert!(!crate::streamed::streams_rows::<f32>(n, 1 << 20));
        assert!(!crate::streamed::streams_rows::<f32>(1 << 20, 1000));
    }

    #[test]
    fn streamed_weighted_gradients_have_the_bits_of_the_ordinary_loop() {
        // As above, with a weight per row of 8: the ordinary weighted loop, task by task, is
        // the reference.
        use crate::kernel::{Elementwise, RunWeights};
        let (t, p) = streamed_inputs();
        let (n, rows) = (t.len(), t.nrows());
        let w = Array1::from_shape_fn(rows, |i| 0.5 + (i % 7) as f32 * 0.25);
        // Mean over the rows: the element values over 8, then over the rows.
        let (cf, denom) = (8.0f32, rows as f32);
        let scale = 1.0 / (denom * cf);
        let mut want = vec![f32::NAN; n];
        let mut sum = PairwiseSum::new();
        let chunks = t.as_slice().unwrap().chunks(CHUNK);
        let chunks = chunks.zip(p.as_slice().unwrap().chunks(CHUNK));
        for (i, ((t, p), g)) in chunks.zip(want.chunks_mut(CHUNK)).enumerate() {
            let run = RunWeights {
                w: w.as_slice().unwrap(),
                group: 8,
                start: i * CHUNK,
            };
            let k = Elementwise(crate::testing::MseK);
            sum.add(k.flat_weighted_value_grad(t, p, run, scale, g));
        }
        let v_want = sum.sum() / cf / denom;
        same_value_and_gradient(v_want, &want, t.raw_dim(), |g| {
            let l = TestMse::default();
            l.value_and_grad_weighted_into(&t, &p, &w, g).unwrap()
        });
    }

    #[test]
    fn streamed_derivatives_have_the_bits_of_the_ordinary_loop() {
        // As above, for `grad_hess_into`: 16 MiB of each derivative and a partial chunk.
        use crate::kernel::Elementwise;
        let (t, p) = streamed_inputs();
        let n = t.len();
        let k = Elementwise(crate::testing::HuberK {
            delta: 0.5f32,
            double: false,
        });
        let (mut g_want, mut h_want) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        k.row_grad_hess(
            t.as_slice().unwrap(),
            p.as_slice().unwrap(),
            &mut g_want,
            &mut h_want,
        );
        let huber = TestHuber {
            delta: 0.5,
            ..TestHuber::default()
        };
        let (g, h) = same_with_threads(|| {
            let mut g = Array2::from_elem(t.raw_dim(), f32::NAN);
            let mut h = Array2::from_elem(t.raw_dim(), f32::NAN);
            huber.grad_hess_into(&t, &p, &mut g, &mut h).unwrap();
            (g, h)
        });
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same(g.as_slice().unwrap(), &g_want));
        assert!(same(h.as_slice().unwrap(), &h_want));
        // A NaN prediction is still found.
        let mut p = p;
        p[[n / 16, 3]] = f32::NAN;
        let mut g = Array2::from_elem(t.raw_dim(), 0.0);
        let mut h = Array2::from_elem(t.raw_dim(), 0.0);
        let err = huber.grad_hess_into(&t, &p, &mut g, &mut h).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("y_pred contains NaN at index [{}, 3]", n / 16)
        );
    }

    #[test]
    fn max_threads_is_positive() {
        assert!(max_threads() >= 1);
    }

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
        assert_eq!(unravel(4, &[5]), vec![4]);
    }
}
