"""PyTorch adapter."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import Backend

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
# dtypes torch has and lossbridge only reads (labels it casts, inputs it rejects
# by name): known here so that ``dtype()`` names them instead of a KeyError
for _name in ("uint16", "uint32", "uint64", "complex64", "complex128"):
    if hasattr(torch, _name):
        _DTYPES[_name] = getattr(torch, _name)
_NAMES = {v: k for k, v in _DTYPES.items()}
# dtype -> the Tensor method that casts to it: ``x.to(dtype)`` first matches
# its arguments against ~20 overloads, and the dtype's own method (the same
# cast, ``x.to(dtype)`` by definition) is 1.5-3 us quicker a call on a CPU;
# dtypes without a method (uint16, ...) keep ``to``
_CASTERS = {
    torch.float16: torch.Tensor.half,
    torch.bfloat16: torch.Tensor.bfloat16,
    torch.float32: torch.Tensor.float,
    torch.float64: torch.Tensor.double,
    torch.int8: torch.Tensor.char,
    torch.int16: torch.Tensor.short,
    torch.int32: torch.Tensor.int,
    torch.int64: torch.Tensor.long,
    torch.uint8: torch.Tensor.byte,
    torch.bool: torch.Tensor.bool,
}
_HALF = (torch.float16, torch.bfloat16)
_NO_ID = -(2**63)  # an ignore_index that no int32 label and no sane int64 label takes
#: the log-probability a -inf score (a masked-out token) enters F.ctc_loss as; a loss this large is +inf
_CTC_FLOOR = -1e30
# (factor, dtype) -> 0-d CPU tensor: torch wraps a Python operand into a tensor
# on every op (~1.2 us, as much as a small kernel); a 0-d CPU tensor joins
# tensors on any device and, being 0-d, never changes their dtype
_CONSTANTS: dict = {}


def _constant(value, dtype):
    constant = _CONSTANTS.get((value, dtype))
    if constant is None:
        if len(_CONSTANTS) > 256:  # values depend on shapes: keep the cache bounded
            _CONSTANTS.clear()
        constant = _CONSTANTS[value, dtype] = torch.tensor(value, dtype=dtype)
    return constant


def _dims(axis):
    return list(axis) if isinstance(axis, tuple) else axis


def _float(x):
    return x if x.is_floating_point() else x.to(torch.float32)


class TorchBackend(Backend):
    name = "torch"
    extra = "torch"

    # --- conversion and metadata
    def is_tensor(self, x):
        return isinstance(x, torch.Tensor)

    def convert_to_tensor(self, x, dtype=None, like=None):
        device = like.device if isinstance(like, torch.Tensor) else None
        if isinstance(x, np.ndarray) and x.dtype.name == "bfloat16":
            x = x.astype(np.float32)  # torch cannot read ml_dtypes' bfloat16
            dtype = dtype or "bfloat16"
        try:
            return torch.as_tensor(x, dtype=_DTYPES[dtype] if dtype else None, device=device)
        except ValueError:  # a NumPy view with negative strides (a[::-1]) cannot be shared: copy it
            return torch.as_tensor(np.ascontiguousarray(x), dtype=_DTYPES[dtype] if dtype else None, device=device)

    def to_numpy(self, x):
        x = x.detach().cpu()
        return x.float().numpy().astype(_np_bfloat16()) if x.dtype == torch.bfloat16 else x.numpy()

    def from_dlpack(self, x):
        return torch.from_dlpack(x)

    def cast(self, x, dtype):
        target = _DTYPES[dtype]
        if x.dtype is target:  # a no-op cast still costs ~0.5 us
            return x
        caster = _CASTERS.get(target)
        return x.to(target) if caster is None else caster(x)

    def dtype(self, x):
        return _NAMES[x.dtype]

    def shape(self, x):
        return tuple(x.shape)

    def same_shape(self, x, y):
        return x.shape == y.shape

    def scale(self, x, factor):
        x = _float(x)
        if torch.compiler.is_compiling():
            return x * factor  # the compiler folds it into the kernel
        return x * _constant(factor, x.dtype)

    def ndim(self, x):
        return x.dim()

    def device(self, x):
        return str(x.device)

    def stop_gradient(self, x):
        # a tensor outside autograd is returned as it is: a detached view costs
        # more than the check, and later ops on a view cost more too (~1.5 us
        # a metric update at 32 x 10)
        return x.detach() if x.requires_grad else x

    def is_concrete(self, x):
        return not torch.compiler.is_compiling()

    def tracing_python(self):
        return torch.compiler.is_compiling()

    def rows_first_when_compiled(self):
        # Inductor makes CCE's log_softmax and its row sum one kernel (92% of
        # an H100's copy bandwidth, against 73% for one sum over all terms)
        return True

    # --- reductions (torch has no dim=None with keepdim, hence the branches)
    def mean(self, x, axis=None, keepdims=False):
        dtype = x.dtype
        if dtype is torch.float32 or dtype is torch.float64:  # the common case, straight through
            if axis is None:
                if keepdims:
                    return self._reduce(torch.mean, x, axis, keepdims)
                count = x.numel()
                if count and not torch.compiler.is_compiling():
                    # torch.mean is a sum, then a division by a number it wraps
                    # per call: 2.6 us at 32x10, where this takes 1.9
                    return torch.sum(x).mul_(_constant(1.0 / count, dtype))
                return torch.mean(x)
            return torch.mean(x, axis if type(axis) is int else list(axis), keepdims)
        x = _float(x)
        if x.dtype in _HALF:
            return self._reduce(torch.mean, x.float(), axis, keepdims).to(x.dtype)
        return self._reduce(torch.mean, x, axis, keepdims)

    def sum(self, x, axis=None, keepdims=False):
        dtype = x.dtype
        if dtype is torch.float32 or dtype is torch.float64:
            if axis is None:
                return torch.sum(x) if not keepdims else self._reduce(torch.sum, x, axis, keepdims)
            return torch.sum(x, axis if type(axis) is int else list(axis), keepdims)
        if x.dtype in _HALF:
            return self._reduce(torch.sum, x.float(), axis, keepdims).to(x.dtype)
        return self._reduce(torch.sum, x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce(torch.amax, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return self._reduce(torch.amin, x, axis, keepdims)

    def any(self, x, axis=None, keepdims=False):
        return self._reduce(torch.any, x, axis, keepdims)

    def all(self, x, axis=None, keepdims=False):
        return self._reduce(torch.all, x, axis, keepdims)

    @staticmethod
    def _reduce(op, x, axis, keepdims):
        if axis is None:
            out = op(x) if op not in (torch.amax, torch.amin) else op(x, dim=tuple(range(x.dim())))
            return out.reshape((1,) * x.dim()) if keepdims else out
        return op(x, dim=_dims(axis), keepdim=keepdims)

    def argmax(self, x, axis=-1):
        # torch has no bool argmax ("does not support bool input"), and a one-hot label may be bool
        if x.dtype is torch.bool:
            x = x.byte()
        if x.is_cpu:
            if torch.compiler.is_compiling():
                if _ROLLED_ARGMAX <= x.shape[axis] <= _EXACT_FLOAT32_POSITIONS:
                    return _first_largest(x, axis)
            elif x.numel() >= _MAX_INDICES_FROM:
                # the same indices (first among ties, a NaN largest), from CPU kernels that were 1.1-1.9x
                # faster from 10^4 elements on ((10^6, 10) float32: 30 ms against 44 ms, 1 thread) and
                # slower below (32 x 10: 5.7 against 3.3 us)
                return torch.max(x, dim=axis).indices
        return torch.argmax(x, dim=axis)

    def cumsum(self, x, axis=0):
        return torch.cumsum(x, dim=axis)

    # --- elementwise
    def square(self, x):
        return torch.square(x)

    def abs(self, x):
        return torch.abs(x)

    def sqrt(self, x):
        return torch.sqrt(_float(x))

    def rsqrt(self, x):
        return torch.rsqrt(_float(x))

    def exp(self, x):
        return torch.exp(_float(x))

    def log(self, x):
        return torch.log(_float(x))

    def log1p(self, x):
        return torch.log1p(_float(x))

    def tanh(self, x):
        return torch.tanh(_float(x))

    def sign(self, x):
        # torch.sign(nan) is 0: keep nan, as the contract and NumPy do
        return torch.where(torch.isnan(x), x, torch.sign(x)) if x.is_floating_point() else torch.sign(x)

    def power(self, x, y):
        return torch.pow(x, y)

    def isfinite(self, x):
        return torch.isfinite(x)

    def isnan(self, x):
        return torch.isnan(x)

    def clip(self, x, min=None, max=None):
        return torch.clamp(x, min, max)

    def maximum(self, x, y):
        return torch.clamp_min(x, y) if isinstance(y, (int, float)) else torch.maximum(x, _like(y, x))

    def minimum(self, x, y):
        return torch.clamp_max(x, y) if isinstance(y, (int, float)) else torch.minimum(x, _like(y, x))

    def where(self, condition, x, y):
        return torch.where(condition, x, y)

    def equal(self, x, y):
        return torch.eq(x, y)

    def logical_and(self, x, y):
        return torch.logical_and(x, y)

    def logical_or(self, x, y):
        return torch.logical_or(x, y)

    def logical_not(self, x):
        return torch.logical_not(x)

    # --- shapes and creation
    def reshape(self, x, shape):
        return torch.reshape(x, tuple(shape))

    def expand_dims(self, x, axis):
        return torch.unsqueeze(x, axis)

    def squeeze(self, x, axis=None):
        return torch.squeeze(x) if axis is None else torch.squeeze(x, _dims(axis) if isinstance(axis, tuple) else axis)

    def transpose(self, x, axes=None):
        return x.permute(*(axes if axes is not None else reversed(range(x.dim()))))

    def broadcast_to(self, x, shape):
        return torch.broadcast_to(x, tuple(shape))

    def concatenate(self, xs, axis=0):
        return torch.cat(list(xs), dim=axis)

    def stack(self, xs, axis=0):
        return torch.stack(list(xs), dim=axis)

    def zeros(self, shape, dtype="float32", like=None):
        return torch.zeros(shape, dtype=_DTYPES[dtype], device=_device(like))

    def ones(self, shape, dtype="float32", like=None):
        return torch.ones(shape, dtype=_DTYPES[dtype], device=_device(like))

    def zeros_like(self, x, dtype=None):
        return torch.zeros_like(x, dtype=_DTYPES[dtype] if dtype else None)

    def ones_like(self, x, dtype=None):
        return torch.ones_like(x, dtype=_DTYPES[dtype] if dtype else None)

    def arange(self, n, dtype="int32", like=None):
        return torch.arange(n, dtype=_DTYPES[dtype], device=_device(like))

    # --- indexing
    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        hot = F.one_hot(indices.long(), num_classes).to(_DTYPES[dtype or self._floatx])
        return hot if axis in (-1, indices.dim()) else torch.movedim(hot, -1, axis)

    def take_along_axis(self, x, indices, axis):
        return torch.take_along_dim(x, indices.long(), dim=axis)

    def pick_along_axis(self, x, indices, axis):
        if not x.is_cpu or not self.is_concrete(x):
            return super().pick_along_axis(x, indices, axis)  # CUDA's gather asserts on the device
        try:  # the CPU gather checks every index, at no cost (take_along_dim does not)
            return torch.gather(x, axis, indices.long().unsqueeze(axis)).squeeze(axis)
        except RuntimeError as error:
            raise IndexError(str(error)) from None

    def top_k(self, x, k):
        return torch.topk(x, k, dim=-1)

    def sort(self, x, axis=-1):
        return torch.sort(x, dim=axis).values

    def bincount(self, x, weights=None, minlength=0):
        if weights is None:
            return torch.bincount(x.reshape(-1), None, minlength)
        # torch.bincount sums weights in float64: back to the weights' dtype
        return torch.bincount(x.reshape(-1), weights.reshape(-1), minlength).to(weights.dtype)

    def matmul(self, x, y):
        return torch.matmul(x, y)

    def segment_sum(self, data, segment_ids, num_segments):
        # index_add keeps a fixed output shape (torch.bincount's depends on the
        # values, a graph break under torch.compile) and takes int32 indices;
        # eager counting (data None) uses bincount, about twice as fast, and
        # keeps its int64 counts (the callers' states are int64 or float64)
        ids = segment_ids.reshape(-1)
        if data is None:
            if not torch.compiler.is_compiling():
                return torch.bincount(ids, minlength=num_segments)
            data = torch.ones_like(ids, dtype=torch.int32)
        out = torch.zeros(num_segments, dtype=data.dtype, device=data.device)
        return out.index_add(0, ids, data.reshape(-1))

    def flip(self, x, axis=None):
        dims = tuple(range(x.dim())) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        return torch.flip(x, dims)

    def ceil(self, x):
        return torch.ceil(_float(x))

    # --- fused natives
    def softplus(self, x):
        return F.softplus(_float(x), threshold=40.0)

    def sigmoid(self, x):
        return torch.sigmoid(_float(x))

    def log_sigmoid(self, x):
        return F.logsigmoid(_float(x))

    def logsumexp(self, x, axis=None, keepdims=False):
        dims = tuple(range(x.dim())) if axis is None else _dims(axis)
        return torch.logsumexp(_float(x), dim=dims, keepdim=keepdims)

    def log_softmax(self, x, axis=-1):
        return torch.log_softmax(_float(x), dim=axis)

    def sigmoid_cross_entropy(self, labels, logits):
        x = _float(logits)
        # a CPU batch without an infinite logit (the common case) needs neither
        # the clip nor the fix-up of the exact form: one host read of isinf.any()
        # is cheaper than their four ops (32x10: 12 vs 15 us). Not on a GPU (the
        # read would synchronise the stream) nor under torch.compile (a graph break)
        if x.is_cpu and not torch.compiler.is_compiling() and not torch.isinf(x).any():
            softplus = F.softplus(x, threshold=40.0)
            if isinstance(labels, torch.Tensor) and labels.dtype == x.dtype:
                return torch.addcmul(softplus, labels, x, value=-1)
            return softplus - labels * x
        return super().sigmoid_cross_entropy(labels, x)

    def sparse_softmax_cross_entropy(self, labels, logits, axis=-1):
        # F.cross_entropy is one kernel where log_softmax + gather are two and a
        # negation (5.4 vs 7.6 us at 32x10); its classes sit on axis 1
        # compiled, the contract's NaN for an id out of range (inductor's kernel raises mid-graph on the CPU
        # and asserts on a GPU, which ends the CUDA context)
        if (
            logits.dtype in _HALF
            or not logits.is_cpu
            or logits.dim() != 2
            or axis not in (-1, 1)
            or torch.compiler.is_compiling()
        ):
            return super().sparse_softmax_cross_entropy(labels, logits, axis)
        # on the CPU it checks every target (IndexError); no id equals the sentinel ignore_index
        return F.cross_entropy(logits, labels.long(), reduction="none", ignore_index=_NO_ID)

    def softmax(self, x, axis=-1):
        return torch.softmax(_float(x), dim=axis)

    def xlogy(self, x, y):
        # y = 1 where x == 0: the native gradient there is 0/0 in y
        x, y = _float(x), _float(y)
        return torch.special.xlogy(x, torch.where(x == 0, torch.ones_like(y), y))

    def logaddexp(self, x, y):
        return torch.logaddexp(x, y)

    def ctc_loss(self, labels, logits, label_length, logit_length, blank=0):
        # F.ctc_loss has no half kernels on CPU: compute those in float32
        work = torch.float32 if logits.dtype in _HALF or not logits.is_floating_point() else logits.dtype
        # a -inf log-probability (a token masked out) makes F.ctc_loss's gradient nan throughout: it enters
        # at a finite floor instead (its gradient 0, as it should be), which leaves every path through it
        # e**-1e30 = 0 likely, and a loss that only such paths give (>= -floor) is the +inf it stands for
        log_probs = torch.log_softmax(logits.to(work), dim=-1).clamp_min(_CTC_FLOOR).transpose(0, 1)
        loss = F.ctc_loss(
            log_probs, labels.long(), logit_length.long(), label_length.long(), blank=blank, reduction="none"
        )
        loss = torch.where(loss >= -_CTC_FLOOR, torch.inf, loss)  # a nan (a +inf score) stays nan
        return loss.to(logits.dtype) if logits.is_floating_point() else loss

    # --- hooks
    def value_and_grad(self, fn):
        def run(*args):
            *rest, wrt = args
            wrt = wrt.detach().requires_grad_(True)
            value = fn(*rest, wrt)
            (grad,) = torch.autograd.grad(value.sum(), wrt, allow_unused=True)
            return value.detach(), torch.zeros_like(wrt) if grad is None else grad

        return run

    def compile(self, fn):
        return torch.compile(fn)

    # --- replicas (Metric.sync): torch.distributed, on the tensors' device
    def replica_group(self, group=None):
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            if group is None:
                return None
            raise ValueError(
                f"`group` {group!r} was given but torch.distributed is not initialised here; call "
                "torch.distributed.init_process_group(...) on every process first."
            )
        group = dist.group.WORLD if group is None else group
        if dist.get_world_size(group) < 1:
            raise ValueError(f"this process (rank {dist.get_rank()}) is not a member of `group` {group!r}.")
        # a world of one still runs its collectives: the device path is the one a larger world takes
        return group

    def all_reduce(self, tensors, reduction, group):
        op = {"sum": torch.distributed.ReduceOp.SUM, "min": torch.distributed.ReduceOp.MIN}.get(
            reduction, torch.distributed.ReduceOp.MAX
        )

        def reduce(flat):
            torch.distributed.all_reduce(flat, op=op, group=group)
            return flat

        return _per_dtype(tensors, group, reduce, replicas=None)

    def all_gather(self, tensors, group):
        size = torch.distributed.get_world_size(group)

        def gather(flat):
            parts = [torch.empty_like(flat) for _ in range(size)]
            torch.distributed.all_gather(parts, flat, group=group)
            return torch.stack(parts)

        return _per_dtype(tensors, group, gather, replicas=size)

    def devices(self):
        cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        return ["cpu:0", *cuda]

    def to_device(self, x, device):
        return x.to("cpu" if device == "cpu:0" else device)


#: positions a float32 holds exactly: the compiled argmax's candidate indices are float32
_EXACT_FLOAT32_POSITIONS = 2**24
#: axes shorter than this Inductor unrolls (its unroll_reductions_threshold), and its own argmax
#: is then the faster (10^7 float32 as (N, 2) to (N, 6): 4-8 ms, the pair of reductions 31-43 ms)
_ROLLED_ARGMAX = 8
#: elements from which an eager CPU argmax takes torch.max's indices (argmax above)
_MAX_INDICES_FROM = 1 << 14


def _first_largest(x, axis):
    """``torch.argmax`` as Inductor compiles well on a CPU: the row max, then the
    first position that holds it (or, in a row with a NaN, the first NaN, which
    ``argmax`` ranks largest). Inductor's own argmax over an axis of 8 to ~100
    entries ran 4-6x slower than this pair of reductions on a 2-core CPU, 1
    thread (10^7 float32: 79 against 12 ms at (N, 10), 27 against 5 ms at
    (N, 100)); at 1000 they were even."""
    top = torch.amax(x, dim=axis, keepdim=True)
    size = x.shape[axis]
    positions = torch.arange(size, device=x.device, dtype=torch.float32)
    positions = positions.reshape((size,) + (1,) * (x.dim() - 1 - (axis % x.dim())))
    # x != x is isnan: Inductor vectorises the comparison, not torch.isnan (3x slower here)
    held = (x == top) | (x != x)
    return torch.amin(torch.where(held, positions, float(size)), dim=axis).to(torch.int64)


def _device(like):
    return like.device if isinstance(like, torch.Tensor) else None


def _per_dtype(tensors, group, collective, replicas):
    """``collective`` run once per dtype on one flat buffer of all
    ``tensors`` of that dtype (a new buffer: the inputs are not changed), the
    result split back into their shapes; ``replicas``: the collective stacks
    that many buffers (an all-gather), each tensor then ``(replicas, *shape)``.
    An NCCL group communicates CUDA tensors: others move to the current one."""
    device = tensors[0].device
    if device.type != "cuda" and torch.distributed.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    out = list(tensors)
    groups: dict = {}
    for i, x in enumerate(tensors):
        groups.setdefault(x.dtype, []).append(i)
    for indices in groups.values():
        flat = torch.cat([tensors[i].detach().reshape(-1).to(device) for i in indices])
        result = collective(flat)
        sizes = [tensors[i].numel() for i in indices]
        for i, piece in zip(indices, result.split(sizes, dim=-1), strict=True):
            shape = tuple(tensors[i].shape)
            out[i] = piece.reshape(shape if replicas is None else (replicas, *shape))
    return out


def _like(y, x):
    return y if isinstance(y, torch.Tensor) else torch.as_tensor(y, dtype=x.dtype, device=x.device)


def _np_bfloat16():
    from ml_dtypes import bfloat16

    return bfloat16
