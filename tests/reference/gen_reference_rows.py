#!/usr/bin/env python3
"""Generate tests/data/reference_rows.json: reference values for the row (categorical) losses.

Run (from the repo root) with the venv holding numpy, jax, keras 3 and optax; torch is taken
from Debian's python3-torch (/usr/lib/python3/dist-packages) when the venv has none:

    KERAS_BACKEND=jax /work/venv-ref/bin/python tests/reference/gen_reference_rows.py

Conventions mirror tests/reference/gen_reference.py (Keras 3, JAX backend, jax x64, floatx
float64, Keras's float64->float32 promotion patched off).

Sources:
  * "keras": keras.losses.<fn> (categorical_crossentropy, sparse_categorical_crossentropy,
    categorical_focal_crossentropy, kl_divergence, categorical_hinge, cosine_similarity).
    sparse_categorical_crossentropy with label_smoothing > 0 is keras categorical_crossentropy on
    one-hot labels with that smoothing (Keras's sparse loss has no smoothing). With ignored labels
    (ignore_class != -100) the function is called with ignore_class so ignored rows give 0.
    Every reduction (value and gradient) is cross-checked against the Keras Loss class
    (reduction "sum_over_batch_size" / "sum" / "mean_with_sample_weight"), and per-sample values
    against a float64 numpy transcription of the Keras source.
  * "torch": torch.nn.functional.cross_entropy / nll_loss, reduction='none', float64, autograd
    (double backward for the Hessian diagonal). Cross-checked against jnp closed forms.
  * "optax": optax.softmax_cross_entropy (recorded as categorical_crossentropy, from_logits=true)
    and optax.poly_loss_cross_entropy.

Per case (l_i per-sample loss, w_i sample weights (1 if null), v_i = 0 for ignored rows else 1):
  mean = sum(w l) / sum(v) (0 if sum(v) == 0), sum = sum(w l),
  weighted_mean = sum(w v l) / sum(w v) (0 if that is 0);
  grad_* = d reduced / d y_pred; elem_grad[i, j] = d l_i / d y_pred[i, j];
  elem_hess[i, j] = d^2 l_i / d y_pred[i, j]^2 (jax.jacfwd(jax.jacrev) of the library call, or
  torch double backward). kink_indices: flat indices where an input sits exactly on a
  tie/threshold (probability clip bounds, categorical_hinge margin 0 / equal maxima,
  cosine norm == epsilon); the derivative recorded there is whatever JAX returns.
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
import optax  # noqa: E402

# ---- torch ------------------------------------------------------------------------
try:
    import torch as TORCH  # noqa: N812
except Exception:
    for p in ("/usr/lib/python3/dist-packages",):
        if os.path.isdir(os.path.join(p, "torch")) and p not in sys.path:
            sys.path.append(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch as TORCH  # noqa: N812
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

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reference_rows.json")

# ---- loss definitions ----------------------------------------------------------------
DEFAULTS = {
    "categorical_crossentropy": {"from_logits": False, "label_smoothing": 0.0},
    "sparse_categorical_crossentropy": {"from_logits": False, "ignore_class": -100.0, "label_smoothing": 0.0},
    "categorical_focal_crossentropy": {"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0},
    "kl_divergence": {},
    "categorical_hinge": {},
    "cosine_similarity": {},
    "cross_entropy": {"ignore_index": -100.0, "label_smoothing": 0.0},
    "nll_loss": {"ignore_index": -100.0},
    "poly_loss_cross_entropy": {"epsilon": 2.0},
}
SPARSE = {"sparse_categorical_crossentropy", "cross_entropy", "nll_loss"}
IGNORE_PARAM = {"sparse_categorical_crossentropy": "ignore_class", "cross_entropy": "ignore_index",
                "nll_loss": "ignore_index"}


def one_hot(idx, C):
    idx = np.asarray(idx, np.float64)
    out = np.zeros((idx.shape[0], C))
    for i, k in enumerate(idx):
        if 0 <= k < C:
            out[i, int(k)] = 1.0
    return out


def valid_mask(loss, pr, yt):
    if loss not in SPARSE:
        return np.ones(np.asarray(yt).shape[0])
    ig = pr[IGNORE_PARAM[loss]]
    return (np.asarray(yt, np.float64) != ig).astype(np.float64)


# ---- Keras ----------------------------------------------------------------------------
def keras_fn(loss, pr, yt, C):
    """Per-sample function p -> (B,) calling the Keras loss function, and a Keras Loss class."""
    L = keras.losses
    yt_j = jnp.asarray(yt)
    if loss == "categorical_crossentropy":
        kp = dict(from_logits=pr["from_logits"], label_smoothing=pr["label_smoothing"])
        return (lambda p: L.categorical_crossentropy(yt_j, p, **kp)), \
            (lambda red: L.CategoricalCrossentropy(reduction=red, **kp)), yt_j
    if loss == "sparse_categorical_crossentropy":
        ic = pr["ignore_class"]
        if pr["label_smoothing"]:
            assert ic == -100.0 or not np.any(np.asarray(yt) == ic), "no Keras reference for smoothing + ignore"
            oh = jnp.asarray(one_hot(yt, C))
            kp = dict(from_logits=pr["from_logits"], label_smoothing=pr["label_smoothing"])
            return (lambda p: L.categorical_crossentropy(oh, p, **kp)), \
                (lambda red: L.CategoricalCrossentropy(reduction=red, **kp)), oh
        if ic == -100.0:
            assert not np.any(np.asarray(yt) == -100.0)
            kic = None
        else:
            kic = int(ic)
        kp = dict(from_logits=pr["from_logits"], ignore_class=kic)
        return (lambda p: L.sparse_categorical_crossentropy(yt_j, p, **kp)), \
            (lambda red: L.SparseCategoricalCrossentropy(reduction=red, **kp)), yt_j
    if loss == "categorical_focal_crossentropy":
        kp = dict(alpha=pr["alpha"], gamma=pr["gamma"], from_logits=pr["from_logits"],
                  label_smoothing=pr["label_smoothing"])
        return (lambda p: L.categorical_focal_crossentropy(yt_j, p, **kp)), \
            (lambda red: L.CategoricalFocalCrossentropy(reduction=red, **kp)), yt_j
    fn, cls = {"kl_divergence": (L.kl_divergence, L.KLDivergence),
               "categorical_hinge": (L.categorical_hinge, L.CategoricalHinge),
               "cosine_similarity": (L.cosine_similarity, L.CosineSimilarity)}[loss]
    return (lambda p: fn(yt_j, p)), (lambda red: cls(reduction=red)), yt_j


def np_logsoftmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def np_keras_rows(loss, pr, yt, yp):
    """Plain float64 numpy transcription of the Keras sources (independent check)."""
    C = yp.shape[-1]
    if loss == "sparse_categorical_crossentropy":
        v = valid_mask(loss, pr, yt)
        t = one_hot(yt, C)
        pr = dict(pr)
        out = np_keras_rows("categorical_crossentropy", {"from_logits": pr["from_logits"],
                                                         "label_smoothing": pr["label_smoothing"]}, t,
                            np.where(v[:, None] > 0, yp, 0.5))
        return np.where(v > 0, out, 0.0)
    if loss in ("categorical_crossentropy", "categorical_focal_crossentropy"):
        t = yt
        if pr["label_smoothing"]:
            t = t * (1.0 - pr["label_smoothing"]) + pr["label_smoothing"] / C
        if loss == "categorical_crossentropy" and pr["from_logits"]:
            return -np.sum(t * np_logsoftmax(yp), axis=-1)
        p = np.exp(np_logsoftmax(yp)) if pr["from_logits"] else yp
        out = np.clip(p / np.sum(p, axis=-1, keepdims=True), EPS, 1.0 - EPS)
        cce = -t * np.log(out)
        if loss == "categorical_crossentropy":
            return np.sum(cce, axis=-1)
        return np.sum(pr["alpha"] * (1.0 - out) ** pr["gamma"] * cce, axis=-1)
    if loss == "kl_divergence":
        t = np.clip(yt, EPS, 1.0)
        p = np.clip(yp, EPS, 1.0)
        return np.sum(t * np.log(t / p), axis=-1)
    if loss == "categorical_hinge":
        pos = np.sum(yt * yp, axis=-1)
        neg = np.max((1.0 - yt) * yp, axis=-1)
        return np.maximum(neg - pos + 1.0, 0.0)
    if loss == "cosine_similarity":
        with np.errstate(divide="ignore"):
            def nrm(x):
                return x * np.minimum(1.0 / np.sqrt(np.sum(x * x, axis=-1, keepdims=True)), 1.0 / EPS)
            return -np.sum(nrm(yt) * nrm(yp), axis=-1)
    raise KeyError(loss)


def cosine_mirror(yt):
    """jnp mirror of keras cosine_similarity whose derivative is finite at y_pred = 0.

    Keras: normalize(x) = x * minimum(rsqrt(sum(x^2)), 1/epsilon). For sum(x^2) < epsilon^2 this
    is exactly x / epsilon (linear), so at x = 0 the derivative is 1/epsilon; JAX's reverse mode
    gives 0 * rsqrt'(0) = 0 * inf = NaN there instead."""
    yt_j = jnp.asarray(yt)

    def nrm(x):
        s = jnp.sum(x * x, axis=-1, keepdims=True)
        big = s > EPS * EPS
        inv = jnp.where(big, jax.lax.rsqrt(jnp.where(big, s, 1.0)), 1.0 / EPS)
        return x * inv

    return lambda p: -jnp.sum(nrm(yt_j) * nrm(p), axis=-1)


# ---- reductions and derivatives -----------------------------------------------------------
def reductions(ps, w, v, lib):
    """ps: (B,) jnp array or torch tensor; w: list or None; v: numpy 0/1 mask."""
    B = ps.shape[0]
    ww = np.ones(B) if w is None else np.asarray(w, np.float64)
    wt = (lambda a: TORCH.tensor(a.tolist(), dtype=TORCH.float64)) if lib == "torch" else jnp.asarray
    s = (ps * wt(ww)).sum()
    nv = float(v.sum())
    swv = float((ww * v).sum())
    s_wv = (ps * wt(ww * v)).sum()
    return {"mean": s / nv if nv != 0 else s * 0.0, "sum": s,
            "weighted_mean": s_wv / swv if swv != 0 else s * 0.0}


def flat(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def jax_derivs(f, yp, w, v):
    yp_j = jnp.asarray(yp)
    B, C = yp.shape
    out = {"per_sample": np.asarray(f(yp_j))}
    for k in ("mean", "sum", "weighted_mean"):
        g = lambda p, k=k: reductions(f(p), w, v, "jax")[k]  # noqa: E731
        out[k] = float(g(yp_j))
        out["grad_" + k] = np.asarray(jax.grad(g)(yp_j))
    J = np.asarray(jax.jacrev(f)(yp_j))  # (B, B, C)
    H = np.asarray(jax.jacfwd(jax.jacrev(f))(yp_j))  # (B, B, C, B, C)
    eg = np.zeros((B, C))
    eh = np.zeros((B, C))
    for i in range(B):
        eg[i] = J[i, i]
        for j in range(C):
            eh[i, j] = H[i, i, j, i, j]
        off = np.delete(J[i], i, axis=0)
        assert np.all((off == 0) | np.isnan(off)), "rows not independent"
    out["elem_grad"] = eg
    out["elem_hess"] = eh
    return out


def keras_case(loss, pr, yt, yp, w, v):
    B, C = yp.shape
    f, cls, yt_k = keras_fn(loss, pr, yt, C)
    res = jax_derivs(f, yp, w, v)
    ps = res["per_sample"]
    ref = np_keras_rows(loss, pr, np.asarray(yt, np.float64), yp)
    assert np.allclose(ref, ps, rtol=1e-12, atol=1e-300), (loss, ref, ps)
    # stock Keras (float32 promotion) vs patched
    yp_j = jnp.asarray(yp)
    keras_f64(False)
    try:
        ps32 = np.asarray(f(yp_j))
    finally:
        keras_f64(True)
    rel = float(np.max(np.abs(ps32 - ps) / np.maximum(np.abs(ps), 1e-30)))
    if rel > KERAS_F32_MAXREL[0]:
        KERAS_F32_MAXREL[:] = [rel, loss]
    # Keras Loss class reductions: values and gradients
    sw = None if w is None else jnp.asarray(w)
    for k, red in (("mean", "sum_over_batch_size"), ("sum", "sum"), ("weighted_mean", "mean_with_sample_weight")):
        L = cls(red)
        val = float(L(yt_k, yp_j, sample_weight=sw))
        assert np.isclose(val, res[k], rtol=1e-12, atol=1e-300), (loss, k, val, res[k])
        g = np.asarray(jax.grad(lambda p: L(yt_k, p, sample_weight=sw))(yp_j))
        gr = res["grad_" + k]
        fin = np.isfinite(gr)
        assert np.allclose(g[fin], gr[fin], rtol=1e-12, atol=1e-300), (loss, k, g, gr)
    note = None
    bad = {k: ~np.isfinite(res[k]) for k in res if isinstance(res[k], np.ndarray)}
    if any(m.any() for m in bad.values()):
        assert loss == "cosine_similarity", (loss, res)
        mir = jax_derivs(cosine_mirror(yt), yp, w, v)
        for k, m in bad.items():
            fin = ~m
            assert np.allclose(mir[k][fin], res[k][fin], rtol=1e-12, atol=1e-300), (k, mir[k], res[k])
            res[k] = np.where(m, mir[k], res[k])
        note = ("y_pred zero row: JAX reverse mode through Keras's x * minimum(rsqrt(sum x^2), 1/eps) gives "
                "0*inf = NaN; recorded derivatives are those of the same function, which is exactly x/eps "
                "for |x| < eps (gradient -y_true_normalised/eps = -1e7*y_true/|y_true|, Hessian 0)")
    return res, note


# ---- optax ------------------------------------------------------------------------------
def optax_case(loss, pr, yt, yp, w, v):
    yt_j = jnp.asarray(yt)
    if loss == "categorical_crossentropy":
        f = lambda p: optax.losses.softmax_cross_entropy(p, yt_j)  # noqa: E731
        ref = -np.sum(yt * np_logsoftmax(yp), axis=-1)
        # Keras categorical_crossentropy(from_logits=True) agrees with optax
        kref = np.asarray(keras.losses.categorical_crossentropy(yt_j, jnp.asarray(yp), from_logits=True))
        assert np.allclose(kref, ref, rtol=1e-13, atol=1e-300)
    else:
        eps = pr["epsilon"]
        f = lambda p: optax.losses.poly_loss_cross_entropy(p, yt_j, epsilon=eps)  # noqa: E731
        lsm = np_logsoftmax(yp)
        ref = -np.sum(yt * lsm, axis=-1) + eps * np.sum(yt * (1.0 - np.exp(lsm)), axis=-1)
    res = jax_derivs(f, yp, w, v)
    assert np.allclose(ref, res["per_sample"], rtol=1e-12, atol=1e-300), (loss, ref, res["per_sample"])
    return res, None


# ---- torch ------------------------------------------------------------------------------------
def torch_rows(loss, pr, p, t):
    F = TORCH.nn.functional
    if loss == "cross_entropy":
        return F.cross_entropy(p, t, ignore_index=int(pr["ignore_index"]),
                               label_smoothing=pr["label_smoothing"], reduction="none")
    return F.nll_loss(p, t, ignore_index=int(pr["ignore_index"]), reduction="none")


def closed_form_torch(loss, pr, yt, C):
    v = jnp.asarray(valid_mask(loss, pr, yt))
    oh = jnp.asarray(one_hot(np.where(np.asarray(valid_mask(loss, pr, yt)) > 0, yt, -1), C))
    if loss == "cross_entropy":
        ls = pr["label_smoothing"]
        return lambda x: v * -jnp.sum((oh * (1.0 - ls) + ls / C) * jax.nn.log_softmax(x, axis=-1), axis=-1)
    return lambda x: v * -jnp.sum(oh * x, axis=-1)


TORCH_CF_MAXDIFF = [0.0, ""]


def torch_case(loss, pr, yt, yp, w, v, cid):
    T = TORCH
    B, C = yp.shape
    t = T.tensor([int(x) for x in yt], dtype=T.int64)
    res = {}
    for k in ("mean", "sum", "weighted_mean"):
        p = T.tensor(yp.tolist(), dtype=T.float64, requires_grad=True)
        ps = torch_rows(loss, pr, p, t)
        r = reductions(ps, w, v, "torch")[k]
        (gr,) = T.autograd.grad(r, p)
        res[k] = float(r.item())
        res["grad_" + k] = np.asarray(gr.tolist())
        res["per_sample"] = np.asarray(ps.detach().tolist())
    # torch's own reductions (unweighted); 'mean' divides by the number of non-ignored rows
    p = T.tensor(yp.tolist(), dtype=T.float64)
    kw = dict(ignore_index=int(pr["ignore_index"]))
    if loss == "cross_entropy":
        kw["label_smoothing"] = pr["label_smoothing"]
    tf = T.nn.functional.cross_entropy if loss == "cross_entropy" else T.nn.functional.nll_loss
    tsum = float(tf(p, t, reduction="sum", **kw))
    tmean = float(tf(p, t, reduction="mean", **kw))
    assert np.isclose(tsum, float(res["per_sample"].sum()), rtol=1e-13)
    if v.sum() > 0:
        assert np.isclose(tmean, float(res["per_sample"].sum() / v.sum()), rtol=1e-13), (tmean, res)
    else:
        assert math.isnan(tmean)  # torch: 0/0; we define 0
    # element derivatives: rows are independent, so grad of sum gives d l_i / d y_ij
    p = T.tensor(yp.tolist(), dtype=T.float64, requires_grad=True)
    ps = torch_rows(loss, pr, p, t)
    (g,) = T.autograd.grad(ps.sum(), p, create_graph=True)
    eh = np.zeros((B, C))
    for j in range(C):
        if g.requires_grad:
            (hj,) = T.autograd.grad(g[:, j].sum(), p, retain_graph=True, allow_unused=True)
            eh[:, j] = 0.0 if hj is None else np.asarray(hj[:, j].tolist())
    res["elem_grad"] = np.asarray(g.detach().tolist())
    res["elem_hess"] = eh
    # closed-form check (jax) to 1e-12
    cf = jax_derivs(closed_form_torch(loss, pr, yt, C), yp, w, v)
    for k, a in res.items():
        x = np.atleast_1d(np.asarray(a, np.float64))
        y = np.atleast_1d(np.asarray(cf[k], np.float64))
        d = np.abs(x - y)
        assert np.all(d <= 1e-12 * np.maximum(1.0, np.abs(y))), (cid, k, x, y)
        m = float(np.max(d / np.maximum(1.0, np.abs(y))))
        if m > TORCH_CF_MAXDIFF[0]:
            TORCH_CF_MAXDIFF[:] = [m, f"{cid}:{k}"]
    return res, None


# ---- kinks ---------------------------------------------------------------------------------------
def kinks(loss, pr, yt, yp):
    yt = np.asarray(yt, np.float64)
    B, C = yp.shape
    m = np.zeros((B, C), bool)
    if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                "categorical_focal_crossentropy") and not pr.get("from_logits", True):
        out = yp / np.sum(yp, axis=-1, keepdims=True)  # jnp.clip(output, eps, 1 - eps)
        m = (out == EPS) | (out == 1.0 - EPS)
        if loss in SPARSE:
            m &= valid_mask(loss, pr, yt)[:, None] > 0
    elif loss == "kl_divergence":
        m = (yp == EPS) | (yp == 1.0)  # ops.clip(y_pred, eps, 1)
    elif loss == "categorical_hinge":
        prod = (1.0 - yt) * yp
        neg = prod.max(axis=-1, keepdims=True)
        tie = (prod == neg) & ((prod == neg).sum(axis=-1, keepdims=True) > 1)
        margin0 = (neg[:, 0] - np.sum(yt * yp, axis=-1) + 1.0) == 0.0
        m = tie | margin0[:, None]
    elif loss == "cosine_similarity":
        s = np.sum(yp * yp, axis=-1, keepdims=True)
        m = np.broadcast_to((s > 0) & (s == EPS * EPS), (B, C))
    return [int(i) for i in np.nonzero(m.ravel())[0]]


# ---- case construction -----------------------------------------------------------------------------
CASES = []
NOTES = []


def rng_for(cid):
    return np.random.default_rng(zlib.crc32(cid.encode()))


def pstr(pr):
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in pr.items()) or "default"


def add(loss, params, tag, yt, yp, w, source=None, note=None):
    pr = dict(DEFAULTS[loss])
    pr.update(params)
    for k in ("label_smoothing", "ignore_class", "ignore_index", "alpha", "gamma", "epsilon"):
        if k in pr:
            pr[k] = float(pr[k])
    if source is None:
        source = {"cross_entropy": "torch", "nll_loss": "torch", "poly_loss_cross_entropy": "optax"}.get(loss, "keras")
    cid = f"{loss}/{pstr(params)}/{tag}" if source != "optax" or loss != "categorical_crossentropy" \
        else f"{loss}/{pstr(params)}/optax_{tag}"
    yt = np.asarray(yt, np.float64)
    yp = np.asarray(yp, np.float64)
    sparse = loss in SPARSE
    assert yp.ndim == 2 and (yt.shape == (yp.shape[0],) if sparse else yt.shape == yp.shape), cid
    if w is not None:
        w = [float(x) for x in w][: yp.shape[0]]
        assert len(w) == yp.shape[0]
    v = valid_mask(loss, pr, yt)
    if source == "keras":
        res, auto_note = keras_case(loss, pr, yt, yp, w, v)
    elif source == "optax":
        res, auto_note = optax_case(loss, pr, yt, yp, w, v)
    else:
        res, auto_note = torch_case(loss, pr, yt, yp, w, v, cid)
    # ignored rows: loss 0 and zero gradient
    for i in np.nonzero(v == 0)[0]:
        assert res["per_sample"][i] == 0.0
        for k in ("grad_mean", "grad_sum", "grad_weighted_mean", "elem_grad", "elem_hess"):
            assert np.all(res[k][i] == 0.0), (cid, k)
    case = {"id": cid, "loss": loss, "params": pr, "source": source, "shape": list(yp.shape),
            "y_true": flat(yt), "sparse": sparse, "y_pred": flat(yp), "sample_weight": w}
    for k in ("per_sample", "mean", "sum", "weighted_mean", "grad_mean", "grad_sum",
              "grad_weighted_mean", "elem_grad", "elem_hess"):
        case[k] = flat(res[k]) if isinstance(res[k], np.ndarray) else float(res[k])
    case["kink_indices"] = kinks(loss, pr, yt, yp)
    notes = [n for n in (note, auto_note) if n]
    if notes:
        case["note"] = "; ".join(notes)
    if auto_note:
        NOTES.append(f"{cid}: {auto_note}")
    assert all(c["id"] != cid for c in CASES), cid
    CASES.append(case)
    return case


W4 = [0.5, 1.0, 2.0, 0.0]
W4B = [1.5, 0.0, 0.25, 3.0]
WE = [0.5, 1.0, 2.0, 0.0, 1.5, 0.25, 3.0]  # edge cases: first B entries
B0, C0 = 4, 5


def gen(kind, cid, B=B0, C=C0):
    r = rng_for(cid)
    if kind == "onehot_prob":
        return one_hot(r.integers(0, C, B), C), r.dirichlet(np.ones(C), B)
    if kind == "onehot_logit":
        return one_hot(r.integers(0, C, B), C), r.normal(0, 2, (B, C))
    if kind == "soft_prob":
        return r.dirichlet(np.ones(C), B), r.dirichlet(np.ones(C), B)
    if kind == "soft_logit":
        return r.dirichlet(np.ones(C), B), r.normal(0, 2, (B, C))
    if kind == "idx_prob":
        return r.integers(0, C, B).astype(float), r.dirichlet(np.ones(C), B)
    if kind == "idx_logit":
        return r.integers(0, C, B).astype(float), r.normal(0, 2, (B, C))
    if kind == "idx_logprob":
        return r.integers(0, C, B).astype(float), np.asarray(jax.nn.log_softmax(r.normal(0, 2, (B, C)), axis=-1))
    if kind == "hinge":
        return one_hot(r.integers(0, C, B), C), r.normal(0, 1.5, (B, C))
    if kind == "cosine":
        return r.normal(0, 1, (B, C)), r.normal(0, 1, (B, C))
    raise KeyError(kind)


def random_cases(loss, kind, nondefault=(), source=None):
    key = loss if source is None else f"{loss}/{source}"
    for tag, w in (("random_weighted", W4), ("random_unweighted", None)):
        yt, yp = gen(kind, f"{key}/{tag}")
        add(loss, {}, tag, yt, yp, w, source)
    for i, (params, k2) in enumerate(nondefault):
        yt, yp = gen(k2 or kind, f"{key}/{pstr(params)}")
        add(loss, params, "random_weighted", yt, yp, W4B if i % 2 else W4, source)


# logit edge rows (C = 3): (logits, target)
EL = [([1000.0, -1000.0, 0.0], 0),  # loss exactly 0
      ([1000.0, -1000.0, 0.0], 1),  # loss 2000
      ([1000.0, 984.0, 0.0], 0),  # loss log1p(e^-16) ~ 1.125e-7
      ([-1000.0, -1000.0, -1000.0], 2),  # tie, loss log 3
      ([0.5, 0.5, -3.0], 1)]  # tie of the two maxima
EL_P = [r[0] for r in EL]
EL_T = [float(r[1]) for r in EL]
# dense extra row: unnormalised labels (sum 3) with a zero entry
EL_DENSE_T = one_hot(EL_T, 3).tolist() + [[1.5, 0.0, 1.5]]
EL_DENSE_P = EL_P + [[3.0, -1.0, 0.5]]
# probability edge rows (C = 4): (probabilities, target)
EP = [([0.0, 1.0, 0.0, 0.0], 1),  # clipped to 1 - eps: loss -log(1 - 1e-7)
      ([0.0, 1.0, 0.0, 0.0], 0),  # clipped to eps: loss -log(1e-7)
      ([0.1, 0.2, 0.15, 0.05], 2),  # sum 0.5 (renormalised)
      ([1.2, 0.3, 0.9, 0.6], 3),  # sum 3
      ([0.25, 0.25, 0.25, 0.25], 0)]  # tie
EP_P = [r[0] for r in EP]
EP_T = [float(r[1]) for r in EP]
EP_DENSE_T = one_hot(EP_T, 4).tolist() + [[0.0, 0.5, 0.5, 0.0]]
EP_DENSE_P = EP_P + [[0.5, 0.5, 0.0, 0.0]]
# 2-class rows
T2_IDX = [0.0, 1.0, 1.0]
P2_PROB = [[0.3, 0.7], [0.999, 0.001], [0.0, 1.0]]
P2_LOGIT = [[0.4, -1.2], [1000.0, 984.0], [3.0, 3.0]]

NOTE_LOGIT = "rows: [1000,-1000,0] (loss 0 / 2000), [1000,984,0] (loss ~1.125e-7), equal logits"
NOTE_PROB = ("probabilities renormalised by the row sum then clipped to [1e-7, 1-1e-7]: exact 0 and 1 "
             "are clipped (zero derivative through the clipped entry); rows summing to 0.5 and 3")


def build():
    # ---- categorical_crossentropy (keras)
    cce = "categorical_crossentropy"
    random_cases(cce, "onehot_prob", [({"from_logits": True}, "onehot_logit"), ({"label_smoothing": 0.1}, None),
                                      ({"from_logits": True, "label_smoothing": 0.1}, "onehot_logit")])
    yt, yp = gen("soft_prob", "cce/soft")
    add(cce, {}, "soft_labels", yt, yp, W4)
    add(cce, {}, "edge", EP_DENSE_T, EP_DENSE_P, WE, note=NOTE_PROB)
    add(cce, {"label_smoothing": 0.1}, "edge", EP_DENSE_T, EP_DENSE_P, None, note=NOTE_PROB)
    add(cce, {"from_logits": True}, "edge", EL_DENSE_T, EL_DENSE_P, WE, note=NOTE_LOGIT)
    add(cce, {}, "two_class", one_hot(T2_IDX, 2), P2_PROB, W4)
    add(cce, {"from_logits": True}, "two_class", one_hot(T2_IDX, 2), P2_LOGIT, None)
    # ---- categorical_crossentropy from logits (optax.softmax_cross_entropy)
    for tag, w, kind in (("random_weighted", W4, "onehot_logit"), ("random_unweighted", None, "onehot_logit"),
                         ("soft_labels", W4B, "soft_logit")):
        yt, yp = gen(kind, f"optax_cce/{tag}")
        add(cce, {"from_logits": True}, tag, yt, yp, w, "optax")
    add(cce, {"from_logits": True}, "edge", EL_DENSE_T, EL_DENSE_P, WE, "optax", note=NOTE_LOGIT)
    add(cce, {"from_logits": True}, "two_class", one_hot(T2_IDX, 2), P2_LOGIT, W4, "optax")

    # ---- sparse_categorical_crossentropy (keras)
    scce = "sparse_categorical_crossentropy"
    random_cases(scce, "idx_prob", [({"from_logits": True}, "idx_logit"), ({"label_smoothing": 0.1}, None),
                                    ({"from_logits": True, "label_smoothing": 0.1}, "idx_logit")])
    yt, yp = gen("idx_prob", "scce/ignore1")
    yt[1] = -1.0
    add(scce, {"ignore_class": -1}, "ignore_one_weighted", yt, yp, W4,
        note="row 1 ignored (Keras SparseCategoricalCrossentropy(ignore_class=-1): mask, mean divides by valid count)")
    yt, yp = gen("idx_logit", "scce/ignore2")
    yt[0] = yt[2] = -1.0
    add(scce, {"ignore_class": -1, "from_logits": True}, "ignore_two_unweighted", yt, yp, None)
    yt, yp = gen("idx_prob", "scce/ignore2w")
    yt[0] = yt[3] = -1.0
    add(scce, {"ignore_class": -1}, "ignore_two_weighted", yt, yp, W4B)
    yt, yp = gen("idx_prob", "scce/ignore_all", B=2, C=3)
    add(scce, {"ignore_class": -1}, "ignore_all", [-1.0, -1.0], yp, [0.5, 2.0],
        note="every row ignored: mean and weighted_mean are 0")
    add(scce, {}, "edge", EP_T, EP_P, WE, note=NOTE_PROB)
    add(scce, {"from_logits": True}, "edge", EL_T, EL_P, WE, note=NOTE_LOGIT)
    add(scce, {"ignore_class": -1, "from_logits": True}, "edge_ignore", EL_T[:2] + [-1.0] + EL_T[3:], EL_P, None,
        note="row 2 ([1000,984,0]) ignored")
    add(scce, {}, "two_class", T2_IDX, P2_PROB, W4)
    add(scce, {"from_logits": True}, "two_class", T2_IDX, P2_LOGIT, None)

    # ---- categorical_focal_crossentropy (keras)
    fce = "categorical_focal_crossentropy"
    random_cases(fce, "onehot_prob", [({"gamma": 0.0}, None), ({"gamma": 3.0}, None), ({"alpha": 0.5}, None),
                                      ({"from_logits": True}, "onehot_logit"), ({"label_smoothing": 0.1}, None)])
    yt, yp = gen("soft_prob", "fce/soft")
    add(fce, {}, "soft_labels", yt, yp, W4)
    add(fce, {}, "edge", EP_DENSE_T, EP_DENSE_P, WE, note=NOTE_PROB)
    add(fce, {"gamma": 0.0}, "edge", EP_DENSE_T, EP_DENSE_P, None)
    add(fce, {"from_logits": True}, "edge", EL_DENSE_T, EL_DENSE_P, WE,
        note=NOTE_LOGIT + "; from_logits: softmax, then renormalise and clip like probabilities (saturates)")
    add(fce, {}, "two_class", one_hot(T2_IDX, 2), P2_PROB, W4)

    # ---- kl_divergence (keras)
    kl = "kl_divergence"
    random_cases(kl, "soft_prob")
    add(kl, {}, "edge",
        [[0, 1, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.15, 0.05], [0.5, 0.5, 0, 0], [0.3, 0.3, 0.2, 0.2],
         [0, 0, 0, 0]],
        [[0, 1, 0, 0], [0, 0.5, 0.5, 0], [1.2, 0.3, 0.9, 0.6], [0.25, 0.25, 0.25, 0.25], [EPS, 0.5, 0.3, 0.2 - EPS],
         [0.1, 0.2, 0.3, 0.4]], WE,
        note="y_true and y_pred clipped to [1e-7, 1] (no renormalisation): y_pred 0 -> 1e-7 (zero derivative), "
             "y_pred 1 and 1e-7 on the clip bound (kinks, JAX halves the derivative), 1.2 -> 1; zero y_true -> 1e-7")
    add(kl, {}, "two_class", [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]], [[0.3, 0.7], [0.999, 0.001], [0.0, 1.0]], W4)

    # ---- categorical_hinge (keras)
    ch = "categorical_hinge"
    random_cases(ch, "hinge")
    add(ch, {}, "edge",
        [[0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0.5, 0.5, 0]],
        [[0.5, 1.5, 0.2], [0.7, 0.2, 0.7], [-0.2, 0.5, -3.0], [0.0, 0.5, -0.5], [3.0, -1.0, 0.5], [1.0, 2.0, 0.3]],
        WE, note="neg = max((1-y)*y_pred) includes the target's 0 entry, so neg >= 0 for one-hot labels "
                 "(row 2: loss 0.5, not 0.3); row 0 margin exactly 0; rows 1 and 3 equal maxima "
                 "(JAX splits the max derivative equally among ties); row 5 soft labels")
    add(ch, {}, "two_class", one_hot(T2_IDX, 2), [[0.4, -1.2], [2.0, 1.5], [-0.3, -0.6]], W4)

    # ---- cosine_similarity (keras)
    cs = "cosine_similarity"
    random_cases(cs, "cosine")
    a = [1.0, -1.0, 2.0, 0.5]
    add(cs, {}, "edge",
        [[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0], [1, 2, 0, 0], a, a, [1, 1, 1, 1]],
        [[0.3, -1, 2, 0.5], [0, 0, 0, 0], [0, 0, 0, 0], [1e-9, 0, 0, 0], [3 * x for x in a], [-2 * x for x in a],
         [1e6, -1e6, 2e6, 5e5]],
        WE, note="Keras: loss = -sum(l2_normalize(y_true) * l2_normalize(y_pred)), "
                 "l2_normalize(x) = x * minimum(rsqrt(sum(x^2)), 1/1e-7); zero vectors give 0; "
                 "|y_pred| < 1e-7 is scaled by 1e7 (row 3)")
    add(cs, {}, "two_class", [[1.0, 0.0], [0.0, 0.0], [1.0, -1.0]], [[0.4, -1.2], [2.0, 1.5], [-0.3, 0.3]], W4)

    # ---- cross_entropy (torch)
    ce = "cross_entropy"
    random_cases(ce, "idx_logit", [({"label_smoothing": 0.1}, None)])
    yt, yp = gen("idx_logit", "ce/ignore1")
    yt[1] = -100.0
    add(ce, {}, "ignore_one_weighted", yt, yp, W4, note="row 1 has the default ignore_index -100")
    yt, yp = gen("idx_logit", "ce/ignore2")
    yt[0] = yt[2] = -1.0
    add(ce, {"ignore_index": -1, "label_smoothing": 0.1}, "ignore_two_unweighted", yt, yp, None,
        note="torch: ignored rows give 0 also in the smoothing term; 'mean' divides by the non-ignored count")
    yt, yp = gen("idx_logit", "ce/ignore2w")
    yt[0] = yt[3] = -1.0
    add(ce, {"ignore_index": -1}, "ignore_two_weighted", yt, yp, W4B)
    yt, yp = gen("idx_logit", "ce/ignore_all", B=2, C=3)
    add(ce, {}, "ignore_all", [-100.0, -100.0], yp, [0.5, 2.0],
        note="every row ignored: torch reduction='mean' gives NaN (0/0); our mean/weighted_mean are 0")
    add(ce, {}, "edge", EL_T + [-100.0], EL_P + [[1000.0, -1000.0, 0.0]], WE, note=NOTE_LOGIT + "; last row ignored")
    add(ce, {"label_smoothing": 0.1}, "edge", EL_T, EL_P, None, note=NOTE_LOGIT)
    add(ce, {}, "two_class", T2_IDX, P2_LOGIT, W4)

    # ---- nll_loss (torch)
    nl = "nll_loss"
    random_cases(nl, "idx_logprob")
    yt, yp = gen("idx_logprob", "nll/ignore1")
    yt[1] = -100.0
    add(nl, {}, "ignore_one_weighted", yt, yp, W4)
    yt, yp = gen("idx_logprob", "nll/ignore2")
    yt[0] = yt[2] = -1.0
    add(nl, {"ignore_index": -1}, "ignore_two_unweighted", yt, yp, None)
    lp = np.asarray(jax.nn.log_softmax(jnp.asarray(EL_P), axis=-1)).tolist()
    add(nl, {}, "edge", EL_T + [2.0, -100.0], lp + [[0.3, -2.0, 5.0], [0.0, -2000.0, -1000.0]], WE,
        note="y_pred = log_softmax of the logit edge rows; row 5 unnormalised; row 6 ignored")
    add(nl, {}, "two_class", T2_IDX, np.asarray(jax.nn.log_softmax(jnp.asarray(P2_LOGIT), axis=-1)), W4)

    # ---- poly_loss_cross_entropy (optax)
    pl = "poly_loss_cross_entropy"
    random_cases(pl, "onehot_logit", [({"epsilon": -1.0}, None), ({"epsilon": 5.0}, None),
                                      ({"epsilon": 0.0}, "soft_logit")])
    yt, yp = gen("soft_logit", "poly/soft")
    add(pl, {}, "soft_labels", yt, yp, W4)
    add(pl, {}, "edge", EL_DENSE_T, EL_DENSE_P, WE, note=NOTE_LOGIT)
    add(pl, {"epsilon": -1.0}, "edge", EL_DENSE_T, EL_DENSE_P, None, note=NOTE_LOGIT)
    add(pl, {}, "two_class", one_hot(T2_IDX, 2), P2_LOGIT, W4)


def sanitize(x):
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError("non-finite value in output")
    if isinstance(x, dict):
        return {k: sanitize(v) for k, v in x.items()}
    if isinstance(x, list):
        return [sanitize(v) for v in x]
    return x


def main():
    build()
    gen_str = (f"tests/reference/gen_reference_rows.py: keras {keras.__version__} (KERAS_BACKEND=jax, floatx float64, "
               f"epsilon {EPS}, float64->float32 promotion patched off), optax {optax.__version__}, "
               f"jax {jax.__version__}, jaxlib {jax.lib.__version__} (x64), {TORCH_DESC}, "
               f"numpy {np.__version__}, python {sys.version.split()[0]}")
    doc = sanitize({"generator": gen_str, "cases": CASES})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(gen_str)
    print(f"stock Keras (float32 promotion) vs float64-patched per-sample: max rel diff "
          f"{KERAS_F32_MAXREL[0]:.3g} ({KERAS_F32_MAXREL[1]})")
    print(f"torch vs jax closed form: max diff (relative to max(1,|x|)) {TORCH_CF_MAXDIFF[0]:.3g} "
          f"({TORCH_CF_MAXDIFF[1]})")
    counts = {}
    for c in CASES:
        k = (c["loss"], c["source"])
        counts[k] = counts.get(k, 0) + 1
    print(f"{len(CASES)} cases, {os.path.getsize(OUT)} bytes -> {os.path.normpath(OUT)}")
    for (l, s), n in counts.items():
        print(f"  {l} ({s}): {n}")
    print("cases with kink_indices:")
    for c in CASES:
        if c["kink_indices"]:
            print(f"  {c['id']}: {c['kink_indices']}")
    if NOTES:
        print("derivative substitutions:")
        for n in NOTES:
            print("  " + n)
    print("edge per-sample values:")
    for c in CASES:
        if "edge" in c["id"] or "two_class" in c["id"]:
            print(f"  {c['id']}: {[float(f'{x:.10g}') for x in c['per_sample']]}")


if __name__ == "__main__":
    main()
