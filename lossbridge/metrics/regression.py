"""Regression metrics that are not plain loss means: cosine similarity (the
positive one), Pearson and concordance correlation, RMSE and R2.

Semantics are Keras 3's (``keras/src/metrics/regression_metrics.py`` and
``correlation_metrics.py``): the correlations are computed per sample along
``axis`` and averaged over samples; ``R2Score`` keeps per-output sums and is
computed over all data seen.
"""

from __future__ import annotations

from .. import dispatch
from ..backends.base import HALF_DTYPES
from ..inputs import align_pair
from ..k import K, fused
from ..losses.definition import loss_function
from .base import Metric, accumulate, read_sum, sum_state, warn_if_concrete
from .reduction import Mean
from .registry import metric_function
from .wrappers import MeanMetricWrapper


# ---------------------------------------------------------------- functions
@metric_function
@loss_function
def cosine_similarity(y_true, y_pred, axis=-1):
    """``sum(unit(y_true) * unit(y_pred), axis)`` with ``unit(x) = x /
    max(||x||, eps)``: +1 for parallel vectors (the loss is its negative)."""
    # epsilon on the squared norm: max(||x||, 1e-7), Keras' normalize
    return K.sum(
        K.l2_normalize(y_true, axis=axis, epsilon=1e-14) * K.l2_normalize(y_pred, axis=axis, epsilon=1e-14), axis=axis
    )


def _centered(x, axis):
    return x - K.mean(x, axis=axis, keepdims=True)


@metric_function
@loss_function
def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's r along ``axis``: ``mean(zt * zp, axis)`` with ``z = (x -
    mean(x)) / std(x)`` (population std). NaN when either input is constant
    along ``axis``, as in Keras."""
    t, p = _centered(y_true, axis), _centered(y_pred, axis)
    t = t / K.sqrt(K.mean(K.square(t), axis=axis, keepdims=True))
    p = p / K.sqrt(K.mean(K.square(p), axis=axis, keepdims=True))
    return K.mean(t * p, axis=axis)


@metric_function
@loss_function
def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along ``axis``:
    ``2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))**2 + eps)``
    (population moments; eps = 1e-7 as in Keras). Half precision computes in
    float32: eps is subnormal in float16, and XLA flushes it to 0."""
    dtype = K.dtype(y_pred)
    if dtype in HALF_DTYPES:
        return K.cast(concordance_correlation.raw(K.cast(y_true, "float32"), K.cast(y_pred, "float32"), axis), dtype)
    mean_t, mean_p = K.mean(y_true, axis=axis, keepdims=True), K.mean(y_pred, axis=axis, keepdims=True)
    t, p = y_true - mean_t, y_pred - mean_p
    var_t, var_p = K.mean(K.square(t), axis=axis, keepdims=True), K.mean(K.square(p), axis=axis, keepdims=True)
    norm = var_t + var_p + K.square(mean_t - mean_p)
    return K.mean(2.0 * t * p / (norm + K.epsilon()), axis=axis)


# ---------------------------------------------------------------- mean metrics
class _AxisMean(MeanMetricWrapper):
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self._fn_kwargs["axis"]}


class CosineSimilarity(_AxisMean):
    """Mean over samples of the cosine similarity along ``axis`` (+1 is best;
    the *loss* ``cosine_similarity`` is its negative)."""

    examples = "regression"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


class PearsonCorrelation(_AxisMean):
    """Mean over samples of Pearson's r along ``axis``."""

    examples = "regression"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)


class ConcordanceCorrelation(_AxisMean):
    """Mean over samples of the concordance correlation along ``axis``."""

    examples = "regression"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)


def _prepared(y_true, y_pred):
    y_pred = K.ensure_float(y_pred)
    return align_pair(K, K.cast(y_true, K.dtype(y_pred)), y_pred)


class RootMeanSquaredError(Mean):
    """``sqrt(weighted mean of (y_pred - y_true)**2)`` over every entry seen
    (per-sample means first, as ``Mean`` does)."""

    examples = "regression"
    input_names = ("y_true", "y_pred")

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def increments(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _prepared(y_true, y_pred)
        error = y_pred - y_true
        if K.dtype(error) in HALF_DTYPES:  # an error of 1e4 squares past float16's 65504
            error = K.cast(error, "float32")
        return Mean.increments(self, K.square(error), sample_weight=sample_weight)

    def compute(self, state):
        return K.sqrt(super().compute(state))


# ---------------------------------------------------------------- R2
_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")
_R2_SUMS = ("sum", "squared_sum", "residual", "count")


class R2Score(Metric):
    """Coefficient of determination ``1 - SS_res / SS_tot`` per output column
    of 2-D ``(batch, outputs)`` data, over all data seen.

    State, per output: weighted ``sum(y)``, ``sum(y**2)``, ``sum((y -
    y_pred)**2)``, ``sum(w)``, and ``num_samples`` (every entry, as Keras
    counts it). ``SS_tot = sum(y**2) - sum(y)**2 / sum(w)``. A column with
    ``SS_tot = 0`` scores 0 (NaN if its residual is 0 too), as in Keras.
    The sums are float64; where the backend holds only float32 (JAX without
    x64, MLX on a GPU), ``result()`` warns when ``SS_tot`` cancels (targets
    whose mean dwarfs their spread) instead of returning a wrong score
    silently.

    Args:
        class_aggregation: None (one score per output), ``"uniform_average"``
            or ``"variance_weighted_average"`` (weights ``SS_tot``).
        num_regressors: p > 0 gives the adjusted score ``1 - (1 - R2)(n - 1) /
            (n - p - 1)``; when ``p >= n - 1`` it falls back to R2 with a warning.
    """

    examples = "regression"

    state_aliases = {"total_mse": "residual"}  # Keras' attribute for its residual variable

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(
                f"`class_aggregation` must be one of {_AGGREGATIONS}; received class_aggregation={class_aggregation!r}."
            )
        if not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError(f"`num_regressors` must be an int >= 0; received num_regressors={num_regressors!r}.")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors

    def initial_state(self, like):
        shape = K.shape(like) if like is not None else ()
        outputs = shape[-1] if len(shape) == 2 else 1
        return {**sum_state(_R2_SUMS, (outputs,), like), **sum_state(("num_samples",), (), like)}

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _prepared(y_true, y_pred)
        _check_2d(y_true, y_pred, K.shape(state["sum"])[0])
        y_true, y_pred = K.cast(y_true, K.accumulator_dtype), K.cast(y_pred, K.accumulator_dtype)
        rows = K.shape(y_true)[0]
        if sample_weight is None and isinstance(rows, int):
            # unweighted: each sum reads the data once and no (batch, outputs) tensor of ones is made
            # (10^6 entries, old and new update interleaved, medians of 21: numpy 23.6 -> 14.1 ms, torch 36.3 -> 18.9 ms)
            total = K.sum(y_true, axis=0)
            count = K.zeros_like(total) + float(rows)
            return accumulate(
                state,
                sum=total,
                squared_sum=K.sum(K.square(y_true), axis=0),
                residual=K.sum(K.square(y_true - y_pred), axis=0),
                count=count,
                num_samples=K.sum(count),
            )
        weight = K.ones_like(y_true) if sample_weight is None else _r2_weight(sample_weight, y_true)
        weighted = y_true * weight
        return accumulate(
            state,
            sum=K.sum(weighted, axis=0),
            squared_sum=K.sum(y_true * weighted, axis=0),
            residual=K.sum(K.square(y_true - y_pred) * weight, axis=0),
            count=K.sum(weight, axis=0),
            num_samples=K.sum(K.ones_like(y_true)),
        )

    def compute(self, state):
        # one fused kernel (lossbridge.k.fused): on JAX its ~20 eager ops were most of a small update + result
        if K.dtype(state["squared_sum"]) != "float32":
            score = fused(_r2_score, self.class_aggregation)(state)
        else:  # JAX without x64, MLX on a GPU: float32 sums (compensated pairs), whose SS_tot can cancel
            score, cancels = fused(_r2_score_and_cancellation, self.class_aggregation)(state)
            warn_if_concrete(
                cancels,
                "R2Score: sum(y**2) - sum(y)**2 / n cancels in this float32 state (JAX without jax_enable_x64, "
                "MLX on a GPU): the targets' mean dwarfs their spread, and SS_tot keeps fewer than 3 significant "
                "digits, so the score is off. On JAX, jax.config.update('jax_enable_x64', True) gives float64 "
                "state; or subtract a constant near the targets' mean from y_true and y_pred before updating.",
            )
        return self._adjusted(score, read_sum(state, "num_samples"))

    def _adjusted(self, score, n):
        if not self.num_regressors:
            return score
        p = float(self.num_regressors)
        valid = n - 1.0 > p
        warn_if_concrete(
            K.logical_not(valid),
            f"R2Score: num_regressors={self.num_regressors} needs more than {self.num_regressors + 1} "
            "samples for the adjusted score; falling back to the standard R2 score.",
        )
        denominator = K.where(valid, n - p - 1.0, K.ones_like(n))
        return K.where(valid, 1.0 - (1.0 - score) * (n - 1.0) / denominator, score)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


def _total_sum_of_squares(state):
    """``(SS_tot, empty)`` per output: ``sum(y**2) - sum(y) * mean(y)``, and
    where no weight was seen yet."""
    total_sum, count = read_sum(state, "sum"), read_sum(state, "count")
    empty = count == 0
    mean = total_sum / K.where(empty, K.ones_like(count), count)
    return read_sum(state, "squared_sum") - total_sum * mean, empty


def _r2_score(state, class_aggregation):
    """The score of an R2Score state, aggregated over the outputs."""
    return _aggregated_score(state, *_total_sum_of_squares(state), class_aggregation)


def _aggregated_score(state, total, empty, class_aggregation):
    """The per-output scores of ``SS_tot`` (``total``) and the state's
    residual, aggregated over the outputs."""
    residual = read_sum(state, "residual")
    scores = K.where(empty, K.zeros_like(total), _r2_per_output(residual, total))
    if class_aggregation == "uniform_average":
        return K.mean(scores)
    if class_aggregation == "variance_weighted_average":
        return K.sum(total * scores) / K.sum(total)
    return scores


#: SS_tot = sum(y**2) - sum(y)**2 / n errs by about float32's epsilon (2**-23) times sum(y**2);
#: below this fraction of sum(y**2), that is more than 1e-3 of SS_tot
_FLOAT32_CANCELLED = 1e3 * 2.0**-23


def _r2_score_and_cancellation(state, class_aggregation):
    """``_r2_score``, and whether some seen output's ``SS_tot`` is below the
    fraction of its ``sum(y**2)`` that a float32 state resolves (0-d bool).
    An ``SS_tot`` of exactly 0 is a constant column, which Keras' rule
    scores, not a loss."""
    total, empty = _total_sum_of_squares(state)
    lost = K.logical_and(total != 0, total < _FLOAT32_CANCELLED * read_sum(state, "squared_sum"))
    score = _aggregated_score(state, total, empty, class_aggregation)
    return score, K.any(K.logical_and(K.logical_not(empty), lost))


def _r2_per_output(residual, total):
    """``1 - residual / total``, with Keras' rule for ``total == 0``: 0 when
    ``residual > 0`` (an infinite score is replaced by 0), NaN when both are 0.
    Written without dividing by zero, so NumPy raises no warnings."""
    flat = total == 0
    ratio = residual / K.where(flat, K.ones_like(total), total)
    nan = K.convert_to_tensor(float("nan"), dtype=K.dtype(total), like=total)
    return K.where(flat, K.where(residual == 0, nan + K.zeros_like(total), K.zeros_like(total)), 1.0 - ratio)


def _r2_weight(sample_weight, y_true):
    """Weights of shape (), (batch,) or (batch, outputs) as (batch, outputs)."""
    weight = K.cast(sample_weight, K.dtype(y_true))
    if len(K.shape(weight)) == 1:
        weight = K.expand_dims(weight, 1)
    shape = K.shape(y_true)
    if len(K.shape(weight)) > 2 or any(
        w not in (1, d, None) and d is not None
        for w, d in zip(reversed(K.shape(weight)), reversed(shape), strict=False)
    ):
        raise ValueError(
            f"`sample_weight` of R2Score must have shape (), (batch,) or (batch, outputs) for y_true of shape "
            f"{shape}; received {dispatch.describe(sample_weight)}."
        )
    return K.broadcast_to(weight, shape)


def _check_2d(y_true, y_pred, outputs):
    true_shape, pred_shape = K.shape(y_true), K.shape(y_pred)
    if len(true_shape) != 2 or len(pred_shape) != 2 or pred_shape[-1] is None:
        raise ValueError(
            f"R2Score expects 2-D inputs (batch, outputs) with a known number of outputs; received y_true "
            f"{dispatch.describe(y_true)} and y_pred {dispatch.describe(y_pred)}."
        )
    if pred_shape[-1] != outputs:
        raise ValueError(
            f"R2Score has state for {outputs} outputs but y_pred has {pred_shape[-1]} "
            f"({dispatch.describe(y_pred)}); call reset_state() to start over with other data."
        )


__all__ = [
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "PearsonCorrelation",
    "R2Score",
    "RootMeanSquaredError",
    "concordance_correlation",
    "cosine_similarity",
    "pearson_correlation",
]
