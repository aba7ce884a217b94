#!/usr/bin/env python3
"""Generate tests/data/reference.json: reference values for the `losses` crate.

Run (from the repo root) with a venv holding numpy, jax, jaxlib, keras 3 and torch:

    KERAS_BACKEND=jax /work/venv-ref/bin/python tests/reference/gen_reference.py

Sources:
  * "keras": the Keras 3 loss *functions* (keras.losses.<fn>) on the JAX backend,
    float64 (jax x64 + keras floatx float64). Reductions are done in jnp on the
    per-sample values and differentiated with jax.grad through the Keras call.
    Every reduction is cross-checked against the Keras Loss *class* with
    reduction "sum_over_batch_size" / "sum" / "mean_with_sample_weight".
  * "torch": torch.nn.functional.* with reduction='none' in float64, autograd.
    Cross-checked against closed-form jnp formulas written from the PyTorch docs.
    If torch cannot be imported these closed-form formulas are emitted instead,
    with "source": "closed-form".
  * "jax": quantile and pseudo_huber, written directly in jnp.

Per case: per_sample = mean over the last axis of the element losses;
mean = sum(w*l)/B, sum = sum(w*l), weighted_mean = sum(w*l)/sum(w) (0 if sum(w)==0),
grads of each w.r.t. y_pred; elem_grad / elem_hess = first / second derivative of
the element loss w.r.t. its own y_pred (jax.grad / nested grad, vmapped; or torch
autograd with create_graph for torch cases). kink_indices = flat indices where
y_pred sits exactly on a kink/threshold of the element loss (there the recorded
derivative is whatever JAX/torch returns).
"""
import json
import math
import os
import sys
import warnings
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_env import EPS, KERAS_F32_MAXREL, keras_f64  # noqa: E402

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402

# ---- torch (optional) -------------------------------------------------------
TORCH = None
TORCH_DESC = "unavailable (closed-form used)"
try:
    import torch as TORCH  # noqa: N812
except Exception:
    # PyPI's Linux torch wheel needs the nvidia-* CUDA wheels to even import; a
    # CPU-only build (e.g. Debian's python3-torch) may live in the system site.
    for p in ("/usr/lib/python3/dist-packages",):
        if os.path.isdir(os.path.join(p, "torch")) and p not in sys.path:
            sys.path.append(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch as TORCH  # noqa: N812
    except Exception as e:  # pragma: no cover
        TORCH = None
        TORCH_DESC = f"unavailable ({type(e).__name__}); closed-form used"
if TORCH is not None:
    TORCH_DESC = f"torch {TORCH.__version__} CPU"
    if TORCH.__file__.startswith("/usr/lib/python3/"):
        import subprocess

        try:
            v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-torch"],
                               capture_output=True, text=True).stdout.strip()
            TORCH_DESC += f" (Debian python3-torch {v})"
        except OSError:
            TORCH_DESC += " (system site-packages)"
    TORCH.set_default_dtype(TORCH.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reference.json")

# ---- loss definitions ----------------------------------------------------------
# keras function name, keras class name
KERAS = {
    "mean_squared_error": ("mean_squared_error", "MeanSquaredError"),
    "mean_absolute_error": ("mean_absolute_error", "MeanAbsoluteError"),
    "mean_absolute_percentage_error": ("mean_absolute_percentage_error", "MeanAbsolutePercentageError"),
    "mean_squared_logarithmic_error": ("mean_squared_logarithmic_error", "MeanSquaredLogarithmicError"),
    "huber": ("huber", "Huber"),
    "log_cosh": ("log_cosh", "LogCosh"),
    "poisson": ("poisson", "Poisson"),
    "hinge": ("hinge", "Hinge"),
    "squared_hinge": ("squared_hinge", "SquaredHinge"),
    "binary_crossentropy": ("binary_crossentropy", "BinaryCrossentropy"),
    "binary_focal_crossentropy": ("binary_focal_crossentropy", "BinaryFocalCrossentropy"),
}
TORCH_LOSSES = {"smooth_l1", "log_poisson", "soft_margin", "bce_with_logits"}
JAX_LOSSES = {"quantile", "pseudo_huber"}

DEFAULTS = {
    "mean_squared_error": {},
    "mean_absolute_error": {},
    "mean_absolute_percentage_error": {},
    "mean_squared_logarithmic_error": {},
    "huber": {"delta": 1.0},
    "log_cosh": {},
    "poisson": {},
    "hinge": {},
    "squared_hinge": {},
    "binary_crossentropy": {"from_logits": False, "label_smoothing": 0.0},
    "binary_focal_crossentropy": {"apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0,
                                  "from_logits": False, "label_smoothing": 0.0},
    "smooth_l1": {"beta": 1.0},
    "log_poisson": {"log_input": True, "full": False, "eps": 1e-8},
    "soft_margin": {},
    "bce_with_logits": {"pos_weight": 1.0},
    "quantile": {"tau": 0.5},
    "pseudo_huber": {"delta": 1.0},
}


def hinge_labels(yt):
    """Keras convert_binary_labels_to_hinge: batch-wide; only if ALL labels are 0/1."""
    yt = np.asarray(yt, dtype=np.float64)
    if np.all((yt == 0) | (yt == 1)):
        return 2.0 * yt - 1.0
    return yt


# --- closed-form element formulas (jnp) for torch losses (from PyTorch docs) ---
def cf_elem(loss, p, t, pr):
    if loss == "smooth_l1":
        beta = pr["beta"]
        x = p - t
        ax = jnp.abs(x)
        return jnp.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)
    if loss == "log_poisson":
        if pr["log_input"]:
            l = jnp.exp(p) - t * p
        else:
            l = p - t * jnp.log(p + pr["eps"])
        if pr["full"]:
            ts = jnp.where(t > 1, t, 2.0)
            st = ts * jnp.log(ts) - ts + 0.5 * jnp.log(2 * math.pi * ts)
            l = l + jnp.where(t > 1, st, 0.0)
        return l
    if loss == "soft_margin":
        return jax.nn.softplus(-t * p)  # = log(1 + exp(-y*x)), overflow-safe
    if loss == "bce_with_logits":
        lw = 1.0 + (pr["pos_weight"] - 1.0) * t
        return (1.0 - t) * p + lw * (jnp.log1p(jnp.exp(-jnp.abs(p))) + jnp.maximum(-p, 0.0))
    raise KeyError(loss)


def jax_elem(loss, p, t, pr):
    if loss == "quantile":
        tau = pr["tau"]
        e = t - p
        return jnp.maximum(tau * e, (tau - 1.0) * e)
    if loss == "pseudo_huber":
        d = pr["delta"]
        e = p - t
        return d * d * (jnp.sqrt(1.0 + (e / d) ** 2) - 1.0)
    raise KeyError(loss)


def torch_elem(loss, p, t, pr):
    F = TORCH.nn.functional
    if loss == "smooth_l1":
        return F.smooth_l1_loss(p, t, reduction="none", beta=pr["beta"])
    if loss == "log_poisson":
        return F.poisson_nll_loss(p, t, log_input=pr["log_input"], full=pr["full"],
                                  eps=pr["eps"], reduction="none")
    if loss == "soft_margin":
        return F.soft_margin_loss(p, t, reduction="none")
    if loss == "bce_with_logits":
        pw = pr["pos_weight"]
        pwt = None if pw == 1.0 else TORCH.tensor(pw, dtype=TORCH.float64)
        return F.binary_cross_entropy_with_logits(p, t, reduction="none", pos_weight=pwt)
    raise KeyError(loss)


def np_keras_elem(loss, pr, t, p):
    """Plain float64 numpy transcription of the Keras element formulas (check only)."""
    if loss == "mean_squared_error":
        return (t - p) ** 2
    if loss == "mean_absolute_error":
        return np.abs(t - p)
    if loss == "mean_absolute_percentage_error":
        return 100.0 * np.abs((t - p) / np.maximum(np.abs(t), EPS))
    if loss == "mean_squared_logarithmic_error":
        return (np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)) ** 2
    if loss == "huber":
        d = pr["delta"]
        a = np.abs(p - t)
        return np.where(a <= d, 0.5 * (p - t) ** 2, d * a - 0.5 * d * d)
    if loss == "log_cosh":
        x = p - t
        return x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0)
    if loss == "poisson":
        return p - t * np.log(p + EPS)
    if loss in ("hinge", "squared_hinge"):
        h = np.maximum(1.0 - hinge_labels(t) * p, 0.0)
        return h if loss == "hinge" else h * h
    if loss in ("binary_crossentropy", "binary_focal_crossentropy"):
        ls = pr["label_smoothing"]
        if ls:
            t = t * (1.0 - ls) + 0.5 * ls
        if loss == "binary_crossentropy" and pr["from_logits"]:
            return -t * -np.logaddexp(0.0, -p) - (1.0 - t) * -np.logaddexp(0.0, p)
        if pr["from_logits"]:
            p = 1.0 / (1.0 + np.exp(-p))
        q = np.clip(p, EPS, 1.0 - EPS)
        bce = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
        if loss == "binary_crossentropy":
            return bce
        pt = t * p + (1.0 - t) * (1.0 - p)
        f = (1.0 - pt) ** pr["gamma"] * bce
        if pr["apply_class_balancing"]:
            f = (t * pr["alpha"] + (1.0 - t) * (1.0 - pr["alpha"])) * f
        return f
    raise KeyError(loss)


def kinks(loss, yt, yp, pr):
    """Flat indices where y_pred sits exactly on a kink/threshold of the element loss."""
    yt = np.asarray(yt, np.float64).ravel()
    yp = np.asarray(yp, np.float64).ravel()
    m = np.zeros(yp.shape, bool)
    if loss in ("mean_absolute_error", "mean_absolute_percentage_error", "quantile"):
        m = yp == yt  # |.| / max(.,.) at zero error
    elif loss == "mean_squared_logarithmic_error":
        m = yp == EPS  # ops.maximum(y_pred, epsilon)
    elif loss == "huber":
        m = np.abs(yp - yt) == pr["delta"]
    elif loss == "smooth_l1":
        m = np.abs(yp - yt) == pr["beta"]
    elif loss in ("hinge", "squared_hinge"):
        m = hinge_labels(yt) * yp == 1.0
    elif loss in ("binary_crossentropy", "binary_focal_crossentropy") and not pr["from_logits"]:
        m = (yp == EPS) | (yp == 1.0 - EPS)  # jnp.clip(output, eps, 1 - eps)
    return [int(i) for i in np.nonzero(m)[0]]


# ---- computation ------------------------------------------------------------------
def flat(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def reductions(per_sample, w):
    """per_sample: (B,) array (jnp or torch); w: python list or None."""
    B = per_sample.shape[0]
    if w is None:
        s = per_sample.sum()
        return {"mean": s / B, "sum": s, "weighted_mean": s / B}
    ww = (jnp.asarray(w, dtype=jnp.float64) if not (TORCH is not None and isinstance(per_sample, TORCH.Tensor))
          else TORCH.tensor(w, dtype=TORCH.float64))
    s = (per_sample * ww).sum()
    sw = float(sum(w))
    return {"mean": s / B, "sum": s, "weighted_mean": (s / sw) if sw != 0.0 else s * 0.0}


def keras_case(loss, pr, yt, yp, w):
    fname, cname = KERAS[loss]
    fn = getattr(keras.losses, fname)
    kp = dict(pr)
    yt_j = jnp.asarray(yt)

    def per_sample(p):
        return fn(yt_j, p, **kp)

    yp_j = jnp.asarray(yp)
    ps = per_sample(yp_j)
    out = {"per_sample": flat(ps)}
    # independent float64 numpy check of the per-sample values
    ref = np.mean(np_keras_elem(loss, pr, np.asarray(yt, np.float64), np.asarray(yp, np.float64)), axis=-1)
    assert np.allclose(ref, ps, rtol=1e-12, atol=1e-300), (loss, ref, ps)
    # how far the stock (float32-accumulating) Keras is from this
    keras_f64(False)
    try:
        ps32 = np.asarray(per_sample(yp_j))
        g32 = np.asarray(jax.grad(lambda p: per_sample(p).sum())(yp_j))
    finally:
        keras_f64(True)
    g64 = np.asarray(jax.grad(lambda p: per_sample(p).sum())(yp_j))
    for a, b in ((ps32, np.asarray(ps)), (g32, g64)):
        rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))
        assert rel < 1e-6 or np.max(np.abs(a - b)) < 1e-12, (loss, a, b)
        if rel > KERAS_F32_MAXREL[0]:
            KERAS_F32_MAXREL[:] = [rel, loss]
    for k in ("mean", "sum", "weighted_mean"):
        f = lambda p, k=k: reductions(per_sample(p), w)[k]  # noqa: E731
        out[k] = float(f(yp_j))
        out["grad_" + k] = flat(jax.grad(f)(yp_j))
    # cross-check with the Keras Loss class and its own reductions
    cls = getattr(keras.losses, cname)
    for k, red in (("mean", "sum_over_batch_size"), ("sum", "sum"), ("weighted_mean", "mean_with_sample_weight")):
        v = float(cls(reduction=red, **kp)(yt_j, yp_j, sample_weight=None if w is None else jnp.asarray(w)))
        assert np.isclose(v, out[k], rtol=1e-12, atol=1e-300) or (math.isnan(v) and math.isnan(out[k])), \
            (loss, k, v, out[k])
    # element derivatives
    if loss in ("hinge", "squared_hinge"):
        # Mirror of keras hinge/squared_hinge with the batch-wide label mapping applied first.
        t_el = jnp.asarray(hinge_labels(yt)).ravel()
        if loss == "hinge":
            el = lambda t, p: jnp.maximum(1.0 - t * p, 0.0)  # noqa: E731
        else:
            el = lambda t, p: jnp.square(jnp.maximum(1.0 - t * p, 0.0))  # noqa: E731
        chk = jnp.mean(jax.vmap(el)(t_el, yp_j.ravel()).reshape(yp_j.shape), axis=-1)
        assert np.allclose(chk, ps, rtol=1e-14, atol=0)
    else:
        # The Keras function itself on a 1x1 batch is exactly the element loss.
        t_el = yt_j.ravel()
        el = lambda t, p: fn(t.reshape(1, 1), p.reshape(1, 1), **kp)[0]  # noqa: E731
    g = jax.grad(el, argnums=1)
    h = jax.grad(g, argnums=1)
    out["elem_grad"] = flat(jax.vmap(g)(t_el, yp_j.ravel()))
    out["elem_hess"] = flat(jax.vmap(h)(t_el, yp_j.ravel()))
    return out


def jnp_case(elem_fn, pr, yt, yp, w):
    yt_j = jnp.asarray(yt)
    yp_j = jnp.asarray(yp)

    def per_sample(p):
        return jnp.mean(elem_fn(p, yt_j, pr), axis=-1)

    out = {"per_sample": flat(per_sample(yp_j))}
    for k in ("mean", "sum", "weighted_mean"):
        f = lambda p, k=k: reductions(per_sample(p), w)[k]  # noqa: E731
        out[k] = float(f(yp_j))
        out["grad_" + k] = flat(jax.grad(f)(yp_j))
    el = lambda t, p: elem_fn(p, t, pr)  # noqa: E731
    g = jax.grad(el, argnums=1)
    h = jax.grad(g, argnums=1)
    out["elem_grad"] = flat(jax.vmap(g)(yt_j.ravel(), yp_j.ravel()))
    out["elem_hess"] = flat(jax.vmap(h)(yt_j.ravel(), yp_j.ravel()))
    return out


def torch_case(loss, pr, yt, yp, w):
    T = TORCH
    t = T.tensor(np.asarray(yt).tolist(), dtype=T.float64)
    out = {}
    for k in ("mean", "sum", "weighted_mean"):
        p = T.tensor(np.asarray(yp).tolist(), dtype=T.float64, requires_grad=True)
        ps = torch_elem(loss, p, t, pr).mean(dim=-1)
        r = reductions(ps, w)[k]
        (gr,) = T.autograd.grad(r, p)
        out[k] = float(r.item())
        out["grad_" + k] = flat(gr.detach().tolist())
        out["per_sample"] = flat(ps.detach().tolist())
    p = T.tensor(np.asarray(yp).tolist(), dtype=T.float64, requires_grad=True)
    e = torch_elem(loss, p, t, pr)
    (g,) = T.autograd.grad(e.sum(), p, create_graph=True)  # elements are independent
    (h,) = T.autograd.grad(g.sum(), p)
    out["elem_grad"] = flat(g.detach().tolist())
    out["elem_hess"] = flat(h.detach().tolist())
    return out


MISMATCHES = []


def compare(cid, a, b, kink_idx):
    """Compare torch result a with closed-form result b (values & first derivatives)."""
    for k in ("per_sample", "mean", "sum", "weighted_mean", "grad_mean", "grad_sum",
              "grad_weighted_mean", "elem_grad", "elem_hess"):
        x = np.atleast_1d(np.asarray(a[k], np.float64))
        y = np.atleast_1d(np.asarray(b[k], np.float64))
        ok = np.isclose(x, y, rtol=1e-9, atol=1e-12) | (np.isnan(x) & np.isnan(y))
        if k == "elem_hess" and kink_idx:
            ok[kink_idx] = True  # second derivative at a kink is convention
        if not ok.all():
            MISMATCHES.append(f"{cid}: {k} torch={x[~ok].tolist()} closed-form={y[~ok].tolist()}")


# ---- case construction ---------------------------------------------------------------
CASES = []


def rng_for(cid):
    return np.random.default_rng(zlib.crc32(cid.encode()))


def pstr(pr):
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pr.items()) or "default"


def add(loss, params, tag, yt, yp, w, note=None):
    pr = dict(DEFAULTS[loss])
    pr.update(params)
    cid = f"{loss}/{pstr(params)}/{tag}"
    yt = np.asarray(yt, np.float64)
    yp = np.asarray(yp, np.float64)
    assert yt.shape == yp.shape and yt.ndim == 2
    if w is not None:
        assert len(w) == yt.shape[0]
        w = [float(x) for x in w]
    kink_idx = kinks(loss, yt, yp, pr)
    if loss in KERAS:
        src, res = "keras", keras_case(loss, pr, yt, yp, w)
    elif loss in JAX_LOSSES:
        src, res = "jax", jnp_case(lambda p, t, q: jax_elem(loss, p, t, q), pr, yt, yp, w)
    else:
        cf = jnp_case(lambda p, t, q: cf_elem(loss, p, t, q), pr, yt, yp, w)
        if TORCH is not None:
            src, res = "torch", torch_case(loss, pr, yt, yp, w)
            compare(cid, res, cf, kink_idx)
        else:
            src, res = "closed-form", cf
    case = {"id": cid, "loss": loss, "params": pr, "source": src, "shape": list(yt.shape),
            "y_true": flat(yt), "y_pred": flat(yp), "sample_weight": w}
    case.update({k: res[k] for k in ("per_sample", "mean", "sum", "weighted_mean", "grad_mean",
                                     "grad_sum", "grad_weighted_mean", "elem_grad", "elem_hess")})
    case["kink_indices"] = kink_idx
    if note:
        case["note"] = note
    assert all(c["id"] != cid for c in CASES), cid
    CASES.append(case)
    return case


W4 = [0.5, 1.0, 2.0, 0.0]
W4B = [1.5, 0.0, 0.25, 3.0]
W2 = [0.5, 2.0]
SHAPE = (4, 3)


def gen(kind, cid, shape=SHAPE):
    r = rng_for(cid)
    if kind == "reg":
        return r.normal(0, 2, shape), r.normal(0, 2, shape)
    if kind == "pos":  # mape / msle
        return r.uniform(0.1, 5.0, shape), r.uniform(0.05, 5.0, shape)
    if kind == "poisson":
        return r.poisson(2.0, shape).astype(float), r.uniform(0.1, 5.0, shape)
    if kind == "prob":
        return r.integers(0, 2, shape).astype(float), r.uniform(0.01, 0.99, shape)
    if kind == "logit":
        return r.integers(0, 2, shape).astype(float), r.normal(0, 3, shape)
    if kind == "hinge01":
        return r.integers(0, 2, shape).astype(float), r.normal(0, 1.5, shape)
    if kind == "pm1":
        return r.choice([-1.0, 1.0], shape), r.normal(0, 3, shape)
    if kind == "pois_log":
        return r.poisson(2.0, shape).astype(float), r.normal(0, 1, shape)
    raise KeyError(kind)


def random_cases(loss, kind, nondefault=()):
    for tag, w in (("random_weighted", W4), ("random_unweighted", None)):
        yt, yp = gen(kind, f"{loss}/{tag}")
        add(loss, {}, tag, yt, yp, w)
    for i, (params, k2) in enumerate(nondefault):
        yt, yp = gen(k2 or kind, f"{loss}/{pstr(params)}")
        add(loss, params, "random_weighted", yt, yp, W4B if i % 2 else W4)


# probability-edge inputs (labels / predictions), shape [2, 4]
PROB_T = [[1, 0, 1, 0], [1, 0, 1, 0]]
PROB_P = [[0.0, 1.0, 1.0, 0.0], [1e-12, 1.0 - 1e-12, EPS, 1.0 - EPS]]
LOGIT_T = [[1, 1, 1, 1], [0, 0, 0, 0]]
LOGIT_P = [[50.0, -50.0, 500.0, -500.0], [50.0, -50.0, 500.0, -500.0]]
DELTA_T = [[0.25, 0.25, 0.0, 1.0], [-1.0, 2.0, 0.5, 0.0]]
DELTA_P = [[0.75, -0.25, 0.0, 1.5], [-1.5, 2.25, 3.0, 0.5]]  # |e| = .5 .5 0 .5 / .5 .25 2.5 .5


def build():
    # ---- keras regression losses
    random_cases("mean_squared_error", "reg")
    add("mean_squared_error", {}, "edge", [[0, 1, -1, 1e3], [2, 2, 0, -5]],
        [[0, 1, 1, -1e3], [2, 2.5, 1e-12, -5]], W2)
    add("mean_squared_error", {}, "all_zero_weights", *gen("reg", "mse/zero_w"), [0.0, 0.0, 0.0, 0.0],
        note="sum of weights is 0: weighted_mean is defined as 0 (Keras divide_no_nan)")
    random_cases("mean_absolute_error", "reg")
    add("mean_absolute_error", {}, "edge", [[0, 1, -1, 2], [0.5, 0.5, 3, -3]],
        [[0, 1, 1, 2], [0.5, 0.25, 3, 3]], W2, note="y_pred == y_true at kinks: JAX takes d|x|/dx = +1 at x = 0 (x = y_true - y_pred), so d/dy_pred = -1")
    random_cases("mean_absolute_percentage_error", "pos")
    add("mean_absolute_percentage_error", {}, "edge", [[0, 0, 1e-9, -2], [1, 2, -1, 1e-7]],
        [[1, 0, 0.5, -2], [1, 0, 1, 0]], W2,
        note="denominator is max(|y_true|, 1e-7): y_true = 0 divides by 1e-7; at y_pred == y_true JAX's "
             "d|x|/dx(0) = +1 gives d/dy_pred = -100/(C*max(|y_true|,1e-7))")
    random_cases("mean_squared_logarithmic_error", "pos")
    add("mean_squared_logarithmic_error", {}, "edge", [[0, 1, 2, 0.5], [0, 3, 1e-7, 1]],
        [[-0.5, -0.999, 0, EPS], [-1e-9, 3, 2e-7, 1]], W2,
        note="Keras uses log(max(y, 1e-7) + 1) for both y_pred and y_true: negative y_pred is clamped, grad 0")
    random_cases("huber", "reg", [({"delta": 0.5}, None), ({"delta": 2.5}, None)])
    add("huber", {"delta": 0.5}, "edge", DELTA_T, DELTA_P, W2,
        note="|e| == delta takes the quadratic branch (abs_error <= delta)")
    random_cases("log_cosh", "reg")
    add("log_cosh", {}, "edge", [[0, 0, 0, 0], [1, -1, 2, 0]], [[50, -50, 500, -500], [1, 1e-8, -2, 1e-3]], W2)
    random_cases("poisson", "poisson")
    add("poisson", {}, "edge", [[0, 1, 3, 0], [2, 0, 1, 5]], [[0, 0, 1e-12, 1e-7], [1e-3, 10, 1, 5]], W2)
    # ---- hinge family
    random_cases("hinge", "hinge01")
    yt, yp = gen("pm1", "hinge/pm1")
    add("hinge", {}, "labels_pm1", yt, yp, W4, note="labels already -1/+1: Keras leaves them unchanged")
    HT = [[1, 0, 1, 0], [1, 0, 1, 0]]
    HP = [[1.0, -1.0, 0.0, 2.0], [1.0, -1.0, 1.5, -0.5]]
    add("hinge", {}, "edge", HT, HP, W2, note="0/1 labels mapped to -1/+1; y*y_pred == 1 at kinks (jnp.maximum tie: grad halved)")
    random_cases("squared_hinge", "hinge01")
    yt, yp = gen("pm1", "squared_hinge/pm1")
    add("squared_hinge", {}, "labels_pm1", yt, yp, W4)
    add("squared_hinge", {}, "edge", HT, HP, W2)
    # ---- crossentropies
    random_cases("binary_crossentropy", "prob", [({"from_logits": True}, "logit"), ({"label_smoothing": 0.1}, None)])
    add("binary_crossentropy", {}, "edge", PROB_T, PROB_P, W2,
        note="probabilities clipped to [1e-7, 1-1e-7] (jnp.clip); grad 0 outside, halved at the bounds")
    add("binary_crossentropy", {"from_logits": True}, "edge", LOGIT_T, LOGIT_P, W2)
    random_cases("binary_focal_crossentropy", "prob", [
        ({"gamma": 0.0}, None), ({"gamma": 1.0}, None), ({"gamma": 3.0}, None),
        ({"apply_class_balancing": True, "alpha": 0.75}, None),
        ({"from_logits": True}, "logit"), ({"label_smoothing": 0.2}, None)])
    add("binary_focal_crossentropy", {}, "edge", PROB_T, PROB_P, W2,
        note="only the bce factor uses the clipped probability; p_t uses the raw y_pred")
    add("binary_focal_crossentropy", {"from_logits": True}, "edge", LOGIT_T, LOGIT_P, W2,
        note="from_logits: sigmoid first, then the probability path (clip); saturates at |logit| >= ~37")
    # ---- torch losses
    random_cases("smooth_l1", "reg", [({"beta": 0.5}, None)])
    add("smooth_l1", {"beta": 0.5}, "edge", DELTA_T, DELTA_P, W2, note="|e| == beta takes the L1 branch (torch: |e| < beta is quadratic)")
    random_cases("log_poisson", "pois_log", [({"log_input": False}, "poisson"), ({"full": True}, None)])
    add("log_poisson", {"log_input": False, "full": True}, "edge", [[0, 1, 2, 3], [0, 1, 2, 5]],
        [[0.0, 1e-12, 1e-8, 1.0], [50.0, 0.5, 2.0, 5.0]], W2,
        note="Stirling term added only where y_true > 1")
    add("log_poisson", {}, "edge", [[0, 1, 2, 3], [0, 1, 4, 0]], [[50, -50, 0, 1], [-500, 20, 1e-12, -1]], W2)
    random_cases("soft_margin", "pm1")
    add("soft_margin", {}, "edge", [[1, -1, 1, -1], [1, -1, 1, -1]],
        [[50, 50, 500, 500], [-50, -50, -500, -500]], W2)
    random_cases("bce_with_logits", "logit", [({"pos_weight": 3.0}, None)])
    add("bce_with_logits", {}, "edge", LOGIT_T, LOGIT_P, W2)
    add("bce_with_logits", {"pos_weight": 3.0}, "edge", LOGIT_T, LOGIT_P, W2)
    # ---- jax losses
    random_cases("quantile", "reg", [({"tau": 0.1}, None), ({"tau": 0.9}, None)])
    add("quantile", {"tau": 0.9}, "edge", [[0, 1, -1, 2], [0.5, 0, 3, 1e-12]],
        [[0, 1, -1, 2.5], [0.25, 1e3, 3, 0]], W2, note="e == 0 at kinks: jnp.maximum tie gives grad -(tau - 0.5)")
    random_cases("pseudo_huber", "reg", [({"delta": 2.0}, None)])
    add("pseudo_huber", {"delta": 2.0}, "edge", [[0, 0, 0, 1], [0, 0, 5, -1]], [[2, -2, 0, 1e-8], [1e3, -1e6, 5, 1]], W2)
    # ---- tutorial checks
    tut = []
    for p, exp in (([[0.5, 0.5]], 0.0866434), ([[0.9, 0.1]], 0.000526803)):
        c = add("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.75, "gamma": 2.0},
                f"tutorial_p={p[0][0]}", [[1, 0]], p, None)
        c["expected"] = exp
        tut.append(c)
    for p, exp in (([[0.5, 0.5]], 0.6931472), ([[0.9, 0.1]], 0.1053605)):
        c = add("binary_crossentropy", {}, f"tutorial_p={p[0][0]}", [[1, 0]], p, None)
        c["expected"] = exp
        tut.append(c)
    c = add("mean_squared_error", {}, "tutorial", [[0, 0, 1, 1]], [[1, 1, 1, 0]], None)
    c["expected"] = 0.75
    tut.append(c)
    return tut


def sanitize(x):
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError("non-finite value in output")
    if isinstance(x, dict):
        return {k: sanitize(v) for k, v in x.items()}
    if isinstance(x, list):
        return [sanitize(v) for v in x]
    return x


def main():
    tut = build()
    gen_str = (f"tests/reference/gen_reference.py: keras {keras.__version__} (KERAS_BACKEND=jax, floatx float64, "
               f"epsilon {EPS}, float64->float32 promotion patched off), jax {jax.__version__}, jaxlib {jax.lib.__version__} (x64), "
               f"{TORCH_DESC}, numpy {np.__version__}, python {sys.version.split()[0]}")
    doc = sanitize({"generator": gen_str, "cases": CASES})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(gen_str)
    print(f"stock Keras (float32 mean accumulation) vs float64-patched: max rel diff "
          f"{KERAS_F32_MAXREL[0]:.3g} ({KERAS_F32_MAXREL[1]})")
    counts = {}
    for c in CASES:
        counts[c["loss"]] = counts.get(c["loss"], 0) + 1
    print(f"{len(CASES)} cases, {os.path.getsize(OUT)} bytes -> {os.path.normpath(OUT)}")
    for k, v in counts.items():
        print(f"  {k}: {v} ({CASES[[c['loss'] for c in CASES].index(k)]['source']})")
    print("tutorial checks (per_sample vs expected):")
    for c in tut:
        got = c["per_sample"][0]
        ok = abs(got - c["expected"]) <= 5e-7 * max(1.0, abs(c["expected"]))
        print(f"  {c['id']}: {got:.9g} expected {c['expected']} {'OK' if ok else 'MISMATCH'}")
    if MISMATCHES:
        print("torch vs closed-form mismatches:")
        for m in MISMATCHES:
            print("  " + m)
    else:
        print("torch vs closed-form: all agree" if TORCH is not None else "")


if __name__ == "__main__":
    main()
