#!/usr/bin/python3
"""PyTorch reference fixtures for every op in core/include/lbbt/ops.h that PyTorch has.

For each case: random f32 inputs from a seeded generator; the op evaluated in float64 on
those inputs (so the stored reference is the exact answer rounded once to f32, not PyTorch's
own f32 rounding); a fixed random cotangent R of the output's shape; the gradients of
sum(out * R) with respect to every differentiable input.  Written to
tests/fixtures/ops/<case>.safetensors with tensors

    x0, x1, ...        f32 inputs, in the lbbt op's argument order
    targets/ids/positions/key_mask   i32 integer inputs where the op takes them
    out                f32 forward output (float64 result rounded to f32)
    R                  f32 cotangent
    grad.x0, ...       f32 d sum(out*R) / d x_i for each differentiable input
    <extra>.after      f32 state the op updates (batch norm running stats)

and __metadata__ naming the op ("op"), its parameters (as text; lists as "0,2,3,1"), the
number of f32 inputs ("n_inputs"), the differentiable ones ("grads": "x0,x1"), and PyTorch's own
float32 error on the same case ("torch_f32_max_abs_err": the largest |torch f32 - reference|
over the output and the gradients), which test_parity_ops prints beside lbbt's.  The same parameters
are listed, one case per line, in tests/fixtures/ops/index.json.

Ops the reference writes out by hand (PyTorch has no module with this exact form):
  rmsnorm (LLaMA/T5 form), RoPE (transformers' rotate_half and Meta's interleaved pairs,
  inverse frequencies including rope_type "llama3" evaluated in float32 as transformers
  does), attention (explicit softmax with causal / key masks, grouped-query heads and an
  additive bias), the T5 relative position bias (transformers' _relative_position_bucket).
Not covered here: dropout and drop-path (random masks; their tests are in test_ops_seq.c).

Run with /usr/bin/python3 (Debian python3-torch).
"""
import json
import math
import os
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lbbt_ref import REPO, read_safetensors, setup_torch, write_safetensors  # noqa: E402

OUT_DIR = os.path.join(REPO, "tests", "fixtures", "ops")
F64 = torch.float64

CASES = []


def case(name, op, params=None):
    def reg(fn):
        CASES.append((name, op, params or {}, fn))
        return fn
    return reg


class Gen:
    """Seeded f32 data for one case (seed from the case name, so adding cases changes
    nothing in the others)."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape, scale=1.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32) * scale

    def uniform(self, lo, hi, *shape):
        return torch.rand(*shape, generator=self.g, dtype=torch.float32) * (hi - lo) + lo

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g, dtype=torch.int64)


# Each case function returns (inputs, grads, ints, forward, extra):
#   inputs: list of f32 tensors x0, x1, ...; grads: indices of differentiable inputs;
#   ints: dict of int tensors; forward(xs) -> output (float64) given float64 leaves;
#   extra: optional function(xs) -> dict of state tensors after the forward.

# ---- dense algebra ----------------------------------------------------------------------
def _mm(ta, tb):
    def fwd(x):
        a = x[0].transpose(-1, -2) if ta else x[0]
        b = x[1].transpose(-1, -2) if tb else x[1]
        return torch.matmul(a, b)
    return fwd


def _matmul_case(name, sa, sb, ta, tb):
    @case(name, "matmul", {"trans_a": ta, "trans_b": tb})
    def _(g):
        return [g.randn(*sa), g.randn(*sb)], [0, 1], {}, _mm(ta, tb), None


_matmul_case("matmul_2d", (5, 7), (7, 6), 0, 0)
_matmul_case("matmul_batched", (2, 3, 5, 4), (2, 3, 4, 6), 0, 0)
_matmul_case("matmul_bcast_2d_weight", (2, 5, 4), (4, 6), 0, 0)
_matmul_case("matmul_bcast_leading", (2, 3, 5, 4), (3, 4, 6), 0, 0)
_matmul_case("matmul_trans_a", (2, 4, 5), (2, 4, 6), 1, 0)
_matmul_case("matmul_trans_b", (2, 5, 4), (2, 6, 4), 0, 1)
_matmul_case("matmul_trans_ab_bcast", (3, 4, 5), (6, 4), 1, 1)
_matmul_case("matmul_k64", (2, 9, 64), (64, 33), 0, 0)


@case("linear_bias", "linear", {"has_bias": 1})
def _(g):
    return ([g.randn(2, 3, 8), g.randn(5, 8, scale=0.3), g.randn(5)], [0, 1, 2], {},
            lambda x: F.linear(x[0], x[1], x[2]), None)


@case("linear_nobias", "linear", {"has_bias": 0})
def _(g):
    return [g.randn(4, 8), g.randn(6, 8, scale=0.3)], [0, 1], {}, lambda x: F.linear(x[0], x[1]), None


# ---- elementwise --------------------------------------------------------------------------
for _op, _f in (("add", torch.add), ("mul", torch.mul)):
    for _nm, _sa, _sb in (("same", (3, 4, 5), (3, 4, 5)), ("bcast_last", (2, 3, 6), (6,)),
                          ("bcast_trailing", (2, 3, 6), (3, 6))):
        def _mk(op=_op, f=_f, nm=_nm, sa=_sa, sb=_sb):
            @case(f"{op}_{nm}", op)
            def _(g):
                return [g.randn(*sa), g.randn(*sb)], [0, 1], {}, lambda x: f(x[0], x[1]), None
        _mk()


@case("scale", "scale", {"s": -0.7})
def _(g):
    return [g.randn(3, 7)], [0], {}, lambda x: x[0] * float(torch.tensor(-0.7, dtype=torch.float32)), None


@case("gelu_tanh", "gelu", {"form": "tanh"})
def _(g):
    return [g.randn(3, 17, scale=2.0)], [0], {}, lambda x: F.gelu(x[0], approximate="tanh"), None


@case("gelu_erf", "gelu", {"form": "erf"})
def _(g):
    return [g.randn(3, 17, scale=2.0)], [0], {}, lambda x: F.gelu(x[0]), None


@case("silu", "silu")
def _(g):
    return [g.randn(3, 17, scale=2.0)], [0], {}, lambda x: F.silu(x[0]), None


@case("sigmoid", "sigmoid")
def _(g):
    return [g.randn(3, 17, scale=4.0)], [0], {}, lambda x: torch.sigmoid(x[0]), None


@case("relu", "relu")
def _(g):
    return [g.randn(3, 17)], [0], {}, lambda x: F.relu(x[0]), None


# ---- normalisation -------------------------------------------------------------------------
@case("layernorm", "layernorm", {"eps": 1e-5, "has_bias": 1})
def _(g):
    return ([g.randn(2, 5, 16, scale=2.0) + 0.5, g.randn(16) * 0.2 + 1, g.randn(16, scale=0.1)],
            [0, 1, 2], {}, lambda x: F.layer_norm(x[0], (16,), x[1], x[2], 1e-5), None)


@case("layernorm_nobias", "layernorm", {"eps": 1e-5, "has_bias": 0})
def _(g):
    return ([g.randn(6, 24), g.randn(24) * 0.2 + 1], [0, 1], {},
            lambda x: F.layer_norm(x[0], (24,), x[1], None, 1e-5), None)


# Stress: a large common offset.  A one-pass variance (E[x^2] - E[x]^2) in f32 loses every
# digit here; PyTorch's (Welford / two-pass) does not.
@case("layernorm_offset", "layernorm", {"eps": 1e-5, "has_bias": 1})
def _(g):
    return ([g.randn(4, 32) + 300.0, g.randn(32) * 0.2 + 1, g.randn(32, scale=0.1)],
            [0, 1, 2], {}, lambda x: F.layer_norm(x[0], (32,), x[1], x[2], 1e-5), None)


def _rmsnorm(x, w, eps):
    """LLaMA / T5 RMSNorm: x / sqrt(mean(x^2) + eps) * w."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


@case("rmsnorm", "rmsnorm", {"eps": 1e-6})
def _(g):
    return ([g.randn(2, 5, 16), g.randn(16) * 0.2 + 1], [0, 1], {},
            lambda x: _rmsnorm(x[0], x[1], 1e-6), None)


@case("rmsnorm_per_head", "rmsnorm", {"eps": 1e-6})
def _(g):
    return ([g.randn(2, 3, 4, 8), g.randn(8) * 0.2 + 1], [0, 1], {},
            lambda x: _rmsnorm(x[0], x[1], 1e-6), None)


def _bn_case(name, training):
    momentum, eps = 0.1, 1e-5

    @case(name, "batchnorm2d", {"training": training, "momentum": momentum, "eps": eps})
    def _(g):
        x = g.randn(4, 3, 5, 5, scale=1.5) + 0.3
        w, b = g.randn(3) * 0.2 + 1, g.randn(3, scale=0.1)
        rm, rv = g.randn(3, scale=0.2), g.uniform(0.5, 2.0, 3)
        state = {}

        def fwd(xs):
            # running stats are updated in place: work on float64 copies kept for extra()
            state["rm"], state["rv"] = xs[3].detach().clone(), xs[4].detach().clone()
            return F.batch_norm(xs[0], state["rm"], state["rv"], xs[1], xs[2],
                                training=bool(training), momentum=momentum, eps=eps)

        def extra(xs):
            return {"running_mean.after": state["rm"], "running_var.after": state["rv"]}
        return [x, w, b, rm, rv], [0, 1, 2], {}, fwd, extra


_bn_case("batchnorm2d_train", 1)
_bn_case("batchnorm2d_eval", 0)


@case("batchnorm2d_train_offset", "batchnorm2d", {"training": 1, "momentum": 0.1, "eps": 1e-5})
def _(g):
    x = g.randn(4, 2, 6, 6) + 200.0  # stress: large mean (see layernorm_offset)
    w, b = g.randn(2) * 0.2 + 1, g.randn(2, scale=0.1)
    rm, rv = g.randn(2, scale=0.2), g.uniform(0.5, 2.0, 2)
    state = {}

    def fwd(xs):
        state["rm"], state["rv"] = xs[3].detach().clone(), xs[4].detach().clone()
        return F.batch_norm(xs[0], state["rm"], state["rv"], xs[1], xs[2], training=True,
                            momentum=0.1, eps=1e-5)

    def extra(xs):
        return {"running_mean.after": state["rm"], "running_var.after": state["rv"]}
    return [x, w, b, rm, rv], [0, 1, 2], {}, fwd, extra


# ---- softmax and losses ---------------------------------------------------------------------
@case("softmax", "softmax")
def _(g):
    return [g.randn(3, 4, 9, scale=3.0)], [0], {}, lambda x: torch.softmax(x[0], -1), None


@case("softmax_large", "softmax")
def _(g):  # stress: logits up to ~100 (exp overflows in f32 without the max shift)
    return [g.randn(2, 3, 7, scale=40.0)], [0], {}, lambda x: torch.softmax(x[0], -1), None


def _ce_case(name, smoothing, scale=2.0):
    @case(name, "cross_entropy", {"label_smoothing": smoothing})
    def _(g):
        N, V = 8, 7
        targets = g.randint(0, V, N)
        targets[2] = targets[5] = -100  # ignored (lbbt: any negative target)

        def fwd(x):
            ls = float(torch.tensor(smoothing, dtype=torch.float32))
            out = F.cross_entropy(x[0], targets, ignore_index=-100, label_smoothing=ls)
            # the documented formula, as a check on PyTorch's mean over kept targets only
            keep = targets >= 0
            logp = torch.log_softmax(x[0][keep], -1)
            nll = -logp.gather(1, targets[keep][:, None]).squeeze(1)
            manual = ((1 - ls) * nll - ls * logp.mean(-1)).mean()
            if out.dtype == F64:
                assert torch.allclose(out, manual, rtol=1e-12, atol=1e-12), (out, manual)
            return out.reshape(1)
        return [g.randn(N, V, scale=scale)], [0], {"targets": targets}, fwd, None


_ce_case("cross_entropy", 0.0)
_ce_case("cross_entropy_smooth", 0.1)
_ce_case("cross_entropy_large_logits", 0.1, scale=60.0)  # stress: log-sum-exp stability


# Per-class weights (x1, not differentiated), the last class a detector's no-object class
# weighted by DETR's eos_coef 0.1; most targets are that class, as in DETR's loss_labels.
@case("cross_entropy_weighted", "cross_entropy_weighted")
def _(g):
    N, V = 12, 6
    targets = g.randint(0, V - 1, N)
    targets[[0, 3, 4, 7, 9, 10]] = V - 1
    targets[5] = -100  # ignored (lbbt: any negative target)
    w = torch.tensor([1.0, 1.5, 0.5, 1.0, 2.0, 0.1], dtype=torch.float32)

    def fwd(x):
        return F.cross_entropy(x[0], targets, weight=x[1], ignore_index=-100).reshape(1)
    return [g.randn(N, V, scale=2.0), w], [0], {"targets": targets}, fwd, None


@case("mse", "mse")
def _(g):
    return [g.randn(3, 10), g.randn(3, 10)], [0, 1], {}, lambda x: F.mse_loss(x[0], x[1]).reshape(1), None


@case("l1", "l1")
def _(g):
    return [g.randn(3, 10), g.randn(3, 10)], [0, 1], {}, lambda x: F.l1_loss(x[0], x[1]).reshape(1), None


# ---- reductions and shape ------------------------------------------------------------------
for _nm, _dim, _keep in (("mid", 1, 0), ("last_keep", -1, 1), ("first", 0, 0)):
    def _mk(nm=_nm, dim=_dim, keep=_keep):
        @case(f"mean_{nm}", "mean", {"dim": dim, "keepdim": keep})
        def _(g):
            return [g.randn(3, 4, 5)], [0], {}, lambda x: x[0].mean(dim, keepdim=bool(keep)), None

        @case(f"sum_{nm}", "sum", {"dim": dim, "keepdim": keep})
        def _(g):
            return [g.randn(3, 4, 5)], [0], {}, lambda x: x[0].sum(dim, keepdim=bool(keep)), None
    _mk()


@case("mean_all", "mean_all")
def _(g):
    return [g.randn(3, 4, 5)], [0], {}, lambda x: x[0].mean().reshape(1), None


@case("sum_all", "sum_all")
def _(g):
    return [g.randn(3, 4, 5)], [0], {}, lambda x: x[0].sum().reshape(1), None


@case("reshape", "reshape", {"shape": "4,-1"})
def _(g):
    return [g.randn(2, 3, 4)], [0], {}, lambda x: x[0].reshape(4, -1), None


@case("transpose", "transpose", {"d0": 1, "d1": 3})
def _(g):
    return [g.randn(2, 3, 4, 5)], [0], {}, lambda x: x[0].transpose(1, 3).contiguous(), None


@case("permute", "permute", {"perm": "0,2,3,1"})
def _(g):
    return [g.randn(2, 3, 4, 5)], [0], {}, lambda x: x[0].permute(0, 2, 3, 1).contiguous(), None


@case("concat", "concat", {"n": 3, "dim": 1})
def _(g):
    xs = [g.randn(2, 1, 4), g.randn(2, 3, 4), g.randn(2, 2, 4)]
    return xs, [0, 1, 2], {}, lambda x: torch.cat(list(x), 1), None


@case("slice", "slice", {"dim": 2, "start": 1, "len": 3})
def _(g):
    return [g.randn(2, 3, 6)], [0], {}, lambda x: x[0][:, :, 1:4], None


# ---- embeddings and positions ---------------------------------------------------------------
@case("embedding", "embedding", {"B": 2, "T": 5})
def _(g):
    ids = torch.tensor([3, 0, 10, 3, 7, 7, 1, 3, 9, 0])  # repeats accumulate in the gradient
    return [g.randn(11, 6)], [0], {"ids": ids}, lambda x: F.embedding(ids.reshape(2, 5), x[0]), None


def _hf_inv_freq(theta, dim, llama3=None):
    """transformers' _compute_default_rope_parameters / _compute_llama3_parameters, in
    float32 exactly as they run."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if llama3 is None:
        return inv_freq
    factor, low_freq_factor, high_freq_factor, old_context_len = llama3
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def _rope(x, positions, layout, theta, rotary_dim, llama3=None):
    """x [B, H, T, D] float64.  Angles are the float32 product inv_freq * position, as the
    Hugging Face rotary embedding computes them (inv_freq @ positions in float32); cos and
    sin of that angle in float64."""
    D = x.shape[-1]
    rd = rotary_dim or D
    inv = _hf_inv_freq(theta, rd, llama3)                                   # [rd/2] f32
    ang = (positions.float()[:, None] * inv[None, :]).to(F64)              # [T, rd/2]
    cos, sin = ang.cos(), ang.sin()
    xr, xp = x[..., :rd], x[..., rd:]
    if layout == "half":  # transformers: q * cos + rotate_half(q) * sin
        cos2, sin2 = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
        x1, x2 = xr[..., : rd // 2], xr[..., rd // 2:]
        rot = torch.cat([-x2, x1], -1)
        y = xr * cos2 + rot * sin2
    else:  # Meta / llama2.c: complex multiply of pairs (x[2i], x[2i+1]) by e^{i angle}
        pr = xr.reshape(*xr.shape[:-1], rd // 2, 2)
        a, b = pr[..., 0], pr[..., 1]
        y = torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(xr.shape)
    return torch.cat([y, xp], -1)


def _rope_case(name, layout, theta, rotary_dim, D, positions=None, llama3=None):
    params = {"layout": layout, "theta": theta, "rotary_dim": rotary_dim}
    if llama3:
        params.update(llama3_factor=llama3[0], llama3_low_freq_factor=llama3[1],
                      llama3_high_freq_factor=llama3[2], llama3_original_max_positions=llama3[3])

    @case(name, "rope", params)
    def _(g):
        T = 6
        pos = torch.arange(T) if positions is None else torch.tensor(positions)
        ints = {} if positions is None else {"positions": pos}
        return ([g.randn(2, 3, T, D)], [0], ints,
                lambda x: _rope(x[0], pos, layout, theta, rotary_dim, llama3), None)


_rope_case("rope_half", "half", 10000.0, 0, 8)
_rope_case("rope_interleaved", "interleaved", 10000.0, 0, 8)
_rope_case("rope_half_partial_positions", "half", 10000.0, 4, 8, positions=[5, 0, 17, 3, 40, -2])
_rope_case("rope_interleaved_partial", "interleaved", 10000.0, 6, 10)
# D = 16 with theta 5e5: wavelengths 6.3 ... 2.3e5 span all three llama3 regions (high
# frequency kept, medium smoothed, low divided by the factor).
_rope_case("rope_llama3_half", "half", 500000.0, 0, 16, positions=[0, 1, 2, 30, 31, 63],
           llama3=(32.0, 1.0, 4.0, 8192))
_rope_case("rope_llama3_interleaved", "interleaved", 500000.0, 0, 16,
           positions=[7, 1, 2, 3, 100, 9], llama3=(8.0, 1.0, 4.0, 8192))


# ---- attention --------------------------------------------------------------------------------
def _attention(q, k, v, causal, scale, bias=None, key_mask=None):
    """Explicit softmax attention.  q [B,Hq,T,D], k/v [B,Hkv,S,D]; query head h uses kv head
    h // (Hq/Hkv); causal: key s allowed when s <= t + (S - T)."""
    B, Hq, T, D = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    rep = Hq // Hkv
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    sc = scale if scale else 1.0 / math.sqrt(D)
    scores = sc * (q @ k.transpose(-1, -2))
    if bias is not None:
        scores = scores + bias
    allowed = torch.ones(B, 1, T, S, dtype=torch.bool)
    if causal:
        t = torch.arange(T)[:, None]
        s = torch.arange(S)[None, :]
        allowed = allowed & (s <= t + (S - T))
    if key_mask is not None:
        allowed = allowed & (key_mask != 0)[:, None, None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(scores, -1)
    return p @ v


def _attn_case(name, B, Hq, Hkv, T, S, D, causal, scale=0.0, bias=False, mask=None):
    params = {"causal": causal, "scale": scale, "has_bias": int(bias)}

    @case(name, "attention", params)
    def _(g):
        xs = [g.randn(B, Hq, T, D), g.randn(B, Hkv, S, D), g.randn(B, Hkv, S, D)]
        grads = [0, 1, 2]
        if bias:
            xs.append(g.randn(Hq, T, S))
            grads.append(3)
        ints = {}
        km = None
        if mask is not None:
            km = torch.tensor(mask)
            ints["key_mask"] = km

        def fwd(x):
            return _attention(x[0], x[1], x[2], causal, scale, x[3] if bias else None, km)
        return xs, grads, ints, fwd, None


_attn_case("attention_causal", 2, 2, 2, 5, 5, 8, 1)
_attn_case("attention_bidirectional", 2, 3, 3, 4, 6, 8, 0)
_attn_case("attention_gqa_causal_kv", 2, 4, 2, 3, 6, 8, 1)
_attn_case("attention_bias_mask", 2, 4, 2, 5, 5, 4, 0, bias=True,
           mask=[[1, 1, 0, 1, 1], [0, 1, 1, 1, 0]])
_attn_case("attention_t5_scale1_bias", 1, 2, 2, 6, 6, 4, 0, scale=1.0, bias=True)
_attn_case("attention_causal_mask_gqa", 2, 6, 3, 5, 5, 4, 1, mask=[[1, 1, 1, 1, 1], [1, 0, 1, 1, 0]])
# stress: scores of magnitude ~100 (scale 8 on unit q, k with D = 16)
_attn_case("attention_large_scores", 1, 2, 2, 4, 6, 16, 0, scale=8.0)


def _t5_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """transformers T5Attention._relative_position_bucket, verbatim."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


def _relpos_case(name, T, S, H, bidirectional, num_buckets, max_distance):
    params = {"T": T, "S": S, "bidirectional": bidirectional, "num_buckets": num_buckets,
              "max_distance": max_distance}

    @case(name, "relative_position_bias", params)
    def _(g):
        ctx = torch.arange(T, dtype=torch.long)[:, None]
        mem = torch.arange(S, dtype=torch.long)[None, :]
        buckets = _t5_bucket(mem - ctx, bool(bidirectional), num_buckets, max_distance)

        def fwd(x):  # T5Attention.compute_bias: table[bucket] [T,S,H] -> [H,T,S]
            return F.embedding(buckets, x[0]).permute(2, 0, 1).contiguous()
        return [g.randn(num_buckets, H)], [0], {}, fwd, None


_relpos_case("relpos_bidirectional", 20, 20, 2, 1, 32, 128)
_relpos_case("relpos_unidirectional_far", 24, 24, 3, 0, 8, 16)
_relpos_case("relpos_rect", 5, 30, 2, 1, 16, 20)


# ---- convolution and pooling ----------------------------------------------------------------
@case("conv2d_s2_p1", "conv2d", {"stride": 2, "padding": 1, "has_bias": 1})
def _(g):
    return ([g.randn(2, 3, 9, 9), g.randn(4, 3, 3, 3, scale=0.3), g.randn(4)], [0, 1, 2], {},
            lambda x: F.conv2d(x[0], x[1], x[2], stride=2, padding=1), None)


@case("conv2d_patch", "conv2d", {"stride": 4, "padding": 0, "has_bias": 1})
def _(g):
    return ([g.randn(2, 1, 8, 8), g.randn(5, 1, 4, 4, scale=0.3), g.randn(5)], [0, 1, 2], {},
            lambda x: F.conv2d(x[0], x[1], x[2], stride=4), None)


@case("conv2d_nobias", "conv2d", {"stride": 1, "padding": 1, "has_bias": 0})
def _(g):
    return ([g.randn(1, 2, 6, 5), g.randn(3, 2, 3, 3, scale=0.3)], [0, 1], {},
            lambda x: F.conv2d(x[0], x[1], None, stride=1, padding=1), None)


for _k, _s, _p in ((3, 2, 1), (2, 2, 0)):
    def _mk(k=_k, s=_s, p=_p):
        @case(f"maxpool2d_k{k}s{s}p{p}", "maxpool2d", {"kernel": k, "stride": s, "padding": p})
        def _(g):
            return [g.randn(2, 3, 7, 7)], [0], {}, lambda x: F.max_pool2d(x[0], k, s, p), None

        @case(f"avgpool2d_k{k}s{s}p{p}", "avgpool2d", {"kernel": k, "stride": s, "padding": p})
        def _(g):
            return ([g.randn(2, 3, 7, 7)], [0], {},
                    lambda x: F.avg_pool2d(x[0], k, s, p, count_include_pad=False), None)
    _mk()


# ---- boxes (DETR util/box_ops.py, written out: torchvision is not needed) -------------------------
def _cxcywh_to_xyxy(x):
    cx, cy, w, h = x.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def _xyxy_to_cxcywh(x):
    x0, y0, x1, y1 = x.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)


def _giou_loss(a, b):
    """1 - diag(generalized_box_iou(a, b)) of DETR, elementwise over [..., 4]."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a + area_b - inter
    iou = inter / union
    lt_c = torch.minimum(a[..., :2], b[..., :2])
    rb_c = torch.maximum(a[..., 2:], b[..., 2:])
    wh_c = (rb_c - lt_c).clamp(min=0)
    area_c = wh_c[..., 0] * wh_c[..., 1]
    return 1 - (iou - (area_c - union) / area_c)


def _boxes(g, n, jitter_of=None):
    """n valid xyxy boxes; with jitter_of, boxes near those (overlapping pairs)."""
    if jitter_of is None:
        xy = g.randn(n, 2)
        wh = g.uniform(0.3, 1.5, n, 2)
    else:
        xy = jitter_of[:, :2] + g.randn(n, 2, scale=0.25)
        wh = (jitter_of[:, 2:] - jitter_of[:, :2]) * g.uniform(0.6, 1.4, n, 2)
    return torch.cat([xy, xy + wh], dim=-1)


@case("box_cxcywh_to_xyxy", "box_cxcywh_to_xyxy")
def _(g):
    return [g.randn(3, 5, 4)], [0], {}, lambda x: _cxcywh_to_xyxy(x[0]), None


@case("box_xyxy_to_cxcywh", "box_xyxy_to_cxcywh")
def _(g):
    return [g.randn(2, 6, 4)], [0], {}, lambda x: _xyxy_to_cxcywh(x[0]), None


@case("giou_loss_overlapping", "giou_loss")
def _(g):
    a = _boxes(g, 16)
    return [a, _boxes(g, 16, jitter_of=a)], [0, 1], {}, lambda x: _giou_loss(x[0], x[1]), None


@case("giou_loss_mixed_3d", "giou_loss")
def _(g):
    a = _boxes(g, 10)
    b = torch.cat([_boxes(g, 5, jitter_of=a[:5]), _boxes(g, 5)])
    return ([a.reshape(2, 5, 4), b.reshape(2, 5, 4)], [0, 1], {},
            lambda x: _giou_loss(x[0], x[1]), None)


@case("giou_loss_cxcywh_chain", "giou_loss", {"cxcywh": 1})
def _(g):
    # the way a detector uses it: predicted boxes as sigmoid outputs, converted on the tape
    # (with param "cxcywh" the lbbt runner converts both with lbbt_box_cxcywh_to_xyxy first)
    a = torch.cat([g.uniform(0.2, 0.8, 8, 2), g.uniform(0.1, 0.5, 8, 2)], dim=-1)
    b = torch.cat([a[:, :2] + g.randn(8, 2, scale=0.1), g.uniform(0.1, 0.5, 8, 2)], dim=-1)
    return ([a, b], [0, 1], {},
            lambda x: _giou_loss(_cxcywh_to_xyxy(x[0]), _cxcywh_to_xyxy(x[1])), None)


# ---- bilinear resize (Segmenter's mask upsampling, multi-scale inference) ------------------
def _upsample_case(name, shape, size):
    @case(name, "upsample_bilinear", {"out_h": size[0], "out_w": size[1]})
    def _(g):
        return ([g.randn(*shape)], [0], {},
                lambda x: F.interpolate(x[0], size=size, mode="bilinear", align_corners=False), None)


_upsample_case("upsample_bilinear_up", (2, 3, 4, 4), (16, 16))
_upsample_case("upsample_bilinear_down", (1, 2, 9, 7), (4, 5))
_upsample_case("upsample_bilinear_odd", (2, 2, 3, 5), (7, 11))


# ---- driver ------------------------------------------------------------------------------------
def build(name, op, params, fn):
    g = Gen(name)
    inputs, grads, ints, fwd, extra = fn(g)

    def run(dtype):
        leaves = [x.to(dtype).requires_grad_(i in grads) for i, x in enumerate(inputs)]
        return leaves, fwd(leaves)

    leaves, out = run(F64)
    R = g.randn(*out.shape)
    (out * R.to(F64)).sum().backward()
    tensors = {}
    for i, x in enumerate(inputs):
        tensors[f"x{i}"] = x
    for k, v in ints.items():
        tensors[k] = v
    tensors["out"] = out
    tensors["R"] = R
    for i in grads:
        tensors[f"grad.x{i}"] = leaves[i].grad
    if extra:
        tensors.update(extra(leaves))
    # PyTorch's own float32 error on the same inputs (forward and gradients), for context:
    # test_parity_ops prints it beside lbbt's.
    leaves32, out32 = run(torch.float32)
    (out32 * R).sum().backward()
    err32 = float((out32.double() - out).abs().max())
    for i in grads:
        err32 = max(err32, float((leaves32[i].grad.double() - leaves[i].grad).abs().max()))
    meta = {"op": op, "case": name, "n_inputs": len(inputs),
            "grads": ",".join(f"x{i}" for i in grads),
            "generator": "tests/reference/make_op_fixtures.py",
            "torch": torch.__version__, "torch_f32_max_abs_err": "%.3g" % err32}
    meta.update({k: v for k, v in params.items()})
    return tensors, meta


def main():
    setup_torch()
    index = {}
    total = 0
    names = set()
    for name, op, params, fn in CASES:
        assert name not in names, name
        names.add(name)
        tensors, meta = build(name, op, params, fn)
        path = os.path.join(OUT_DIR, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        back, back_meta = read_safetensors(path)
        assert back_meta == {k: str(v) for k, v in meta.items()}
        total += os.path.getsize(path)
        index[name] = {"op": op, "params": params, "grads": meta["grads"]}
    with open(os.path.join(OUT_DIR, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"make_op_fixtures: {len(CASES)} cases, {total / 1024:.1f} KiB in {OUT_DIR}")


if __name__ == "__main__":
    main()
