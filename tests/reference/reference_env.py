"""Shared set-up of the reference generators: Keras 3 on JAX in float64.

Keras 3's type-promotion lattice maps float64 -> float32 on non-TF backends
(keras/src/backend/common/dtypes.py BIT64_TO_BIT32_DTYPE, "to be aligned with
JAX's default behavior", i.e. x64 disabled). ops.mean computes in
result_type(x.dtype, "float32"), so every Keras loss's mean over the last axis
would be accumulated in float32 and cast back: ~1e-7 relative error in values
and gradients (e.g. d mean/dx = float32(1/3)). With jax x64 enabled we make
Keras follow JAX's x64 promotion instead (`keras_f64(True)`). The generators
compute the unpatched result too and require it to agree to 1e-6 relative
(reported through KERAS_F32_MAXREL).
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_ENABLE_X64", "1")
if os.environ["KERAS_BACKEND"] != "jax":
    sys.exit("KERAS_BACKEND must be jax")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import keras  # noqa: E402
from keras.src.backend.common import dtypes as _kdtypes  # noqa: E402

keras.config.set_floatx("float64")
EPS = keras.config.epsilon()  # 1e-7


def keras_f64(on):
    _kdtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64" if on else "float32"


keras_f64(True)
# [largest relative difference of the unpatched (float32-accumulating) Keras, the loss]
KERAS_F32_MAXREL = [0.0, ""]
