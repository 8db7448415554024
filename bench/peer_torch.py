#!/usr/bin/python3
"""PyTorch peer of build/bench_train (run by tools/bench; not a test).

    /usr/bin/python3 bench/peer_torch.py --dim 128 --layers 4 --heads 4 --batch 128 [--seconds 8]
    /usr/bin/python3 bench/peer_torch.py --sgemm [--size 1024]
    /usr/bin/python3 bench/peer_torch.py --config     (which BLAS / oneDNN torch uses)
    /usr/bin/python3 bench/peer_torch.py --lm [--dim 128 --layers 4 --heads 4 --batch 32
                                               --context 128] [--seconds 8]

The same workload as bench/bench_train.c, written the way a PyTorch user would: a ViT-style
classifier of GPT-2 blocks (patch 4 on 28x28 single-channel images = 49 tokens, learned
positions, bidirectional attention with an explicit softmax as GPT-2's eager attention does,
MLP 4x with GELU tanh, final LayerNorm, mean pool, 10 classes), f32, cross-entropy,
clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-3, weight decay 0.01 except on the
parameters lbbt's no-decay rule excludes).  torch.set_num_threads(2) unless --threads says
otherwise.  Prints one "RESULT key=value ..." line with the same keys as bench_train (no tape
figures; peak_rss_mb includes the Python interpreter and libtorch, baseline_rss_mb is the
RSS before the model is built; *_img_cpu_s are images per CPU-second of the process).

--lm: the peer of `bench_train --lm` (the cpu tier's language model of `make models`): a
minimal GPT-2 of the same shape (token + learned position embeddings, the same pre-norm blocks
with causal attention, final LayerNorm, head tied to the token embedding), vocab 257, random
token ids, cross-entropy over all B*T positions, clip 1.0, AdamW (lr 0.004, weight decay 0.1
except the no-decay rule's parameters).  Training only: train_tok_s, train_tok_cpu_s.
"""
import argparse
import math
import os
import re
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE, PATCH, CLASSES, WARMUP_STEPS, MIN_STEPS = 28, 4, 10, 2, 3


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Conv1D(nn.Module):
    """GPT-2's Conv1D: weight [in, out], y = x @ W + b."""

    def __init__(self, nin, nout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nin, nout) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nout))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(
            *x.shape[:-1], -1)


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = Conv1D(C, 3 * C)
        self.c_proj = Conv1D(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = Conv1D(C, 4 * C)
        self.mlp_proj = Conv1D(4 * C, C)

    def forward(self, x, causal_mask=None):
        B, N, C = x.shape
        D = C // self.H
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.reshape(B, N, self.H, D).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        if causal_mask is not None:  # GPT-2's eager attention: masked scores get the dtype min
            scores = scores.masked_fill(causal_mask, torch.finfo(scores.dtype).min)
        att = torch.softmax(scores, -1)
        a = (att @ v).transpose(1, 2).reshape(B, N, C)
        x = x + self.c_proj(a)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class VitGpt2(nn.Module):
    def __init__(self, C, L, H):
        super().__init__()
        n = (IMAGE // PATCH) ** 2
        self.patch_embed = nn.Conv2d(1, C, PATCH, stride=PATCH)
        self.pos_embed = nn.Parameter(torch.randn(n, C) * 0.02)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        self.head = nn.Linear(C, CLASSES)

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        for blk in self.h:
            x = blk(x)
        return self.head(self.ln_f(x).mean(1))


class Gpt2Lm(nn.Module):
    """GPT-2 language model: wte + wpe, causal pre-norm blocks, ln_f, head tied to wte."""

    def __init__(self, C, L, H, vocab, context):
        super().__init__()
        self.wte = nn.Embedding(vocab, C)
        self.wpe = nn.Embedding(context, C)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        self.register_buffer(
            "causal_mask", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe.weight[:T]
        mask = self.causal_mask[:T, :T]
        for blk in self.h:
            x = blk(x, mask)
        return self.ln_f(x) @ self.wte.weight.t()  # tied head: logits [B, T, V]


def no_decay_rule(name, ndim):  # lbbt_no_decay_rule
    return ndim < 2 or any(s in name for s in ("norm", "ln_", "bias", "embed"))


def forward_flops_per_image(C, L):  # as bench/bench_train.c
    N = (IMAGE // PATCH) ** 2
    return 2.0 * N * C * PATCH * PATCH + L * (24.0 * N * C * C + 4.0 * N * N * C) + 2.0 * C * CLASSES


def blas_line():
    """Which BLAS torch's CPU matmuls call: torch's build info plus the library libblas.so.3
    resolves to in this process (Debian's alternatives pick OpenBLAS when installed)."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if re.search(r"lib(open)?blas|libmkl|libblis|libdnnl", p):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    cap = re.search(r"CPU capability usage: ([^\n]+)", cfg)
    return "torch %s BLAS_INFO=%s mkldnn=%s ATen CPU capability %s OpenBLAS core %s loaded: %s" % (
        torch.__version__, m.group(1) if m else "?", torch.backends.mkldnn.is_available(),
        cap.group(1) if cap else "?", openblas_core(libs), " ".join(sorted(libs)) or "?")


def openblas_core(libs):
    """The kernel set OpenBLAS chose (OPENBLAS_CORETYPE caps it), or "-" without OpenBLAS."""
    import ctypes
    for p in libs:
        if "openblas" in os.path.basename(p):
            try:
                f = ctypes.CDLL(p).openblas_get_corename
                f.restype = ctypes.c_char_p
                return f().decode()
            except (OSError, AttributeError):
                return "?"
    return "-"


def timed(work, seconds):
    """WARMUP_STEPS untimed calls of work(), then calls until at least MIN_STEPS and `seconds`
    of wall time: (calls, wall seconds, CPU seconds) - the same rule as bench_train.c."""
    for _ in range(WARMUP_STEPS):
        work()
    calls, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        work()
        calls += 1
        el = time.perf_counter() - t0
        if calls >= MIN_STEPS and el >= seconds:
            return calls, el, time.process_time() - c0


def run_sgemm(n, reps):
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    print("RESULT impl=torch sgemm_n=%d sgemm_gflops=%.1f" % (n, 2.0 * n ** 3 / best * 1e-9))


def run_lm(a):
    """Training tokens/s of the GPT-2 language model (see the module docstring)."""
    vocab = 257  # bytes + end-of-document (lbbt's byte tokenizer)
    baseline = rss_mb()
    model = Gpt2Lm(a.dim, a.layers, a.heads, vocab, a.context)
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if not no_decay_rule(n, p.dim())], "weight_decay": 0.1},
         {"params": [p for n, p in named if no_decay_rule(n, p.dim())], "weight_decay": 0.0}],
        lr=0.004)
    ids = torch.randint(0, vocab, (a.batch, a.context))
    targets = torch.randint(0, vocab, (a.batch * a.context,))
    params = [p for _, p in named]

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(ids).reshape(-1, vocab), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    model.train()
    steps, el, cpu = timed(step, a.seconds)
    tokens = steps * a.batch * a.context
    tok_s, tok_cpu_s = tokens / el, tokens / cpu
    C, T = a.dim, a.context
    fwd = a.layers * (24.0 * C * C + 4.0 * T * C) + 2.0 * C * vocab  # as bench_train --lm
    print("RESULT impl=torch lm=1 dim=%d layers=%d heads=%d batch=%d context=%d vocab=%d "
          "train_steps=%d train_tok_s=%.1f train_tok_cpu_s=%.1f fwd_mflop_per_tok=%.4f "
          "train_gflops=%.2f peak_rss_mb=%.1f baseline_rss_mb=%.1f params=%d" % (
              a.dim, a.layers, a.heads, a.batch, a.context, vocab, steps, tok_s, tok_cpu_s,
              fwd * 1e-6, tok_s * 3 * fwd * 1e-9, rss_mb(), baseline,
              sum(p.numel() for p in params)))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=None, help="default 128; 32 with --lm")
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--lm", action="store_true")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sgemm", action="store_true")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--config", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.config:
        print("BLAS", blas_line())
        return
    if a.sgemm:
        run_sgemm(a.size, 5)
        return
    if a.lm:
        a.batch = a.batch or 32
        run_lm(a)
        return
    a.batch = a.batch or 128
    baseline = rss_mb()
    model = VitGpt2(a.dim, a.layers, a.heads)
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if not no_decay_rule(n, p.dim())], "weight_decay": 0.01},
         {"params": [p for n, p in named if no_decay_rule(n, p.dim())], "weight_decay": 0.0}],
        lr=1e-3)
    images = torch.randn(a.batch, 1, IMAGE, IMAGE)
    labels = torch.randint(0, CLASSES, (a.batch,))
    params = [p for _, p in named]

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    model.train()
    steps, el, cpu = timed(step, a.seconds)
    train_img_s = steps * a.batch / el
    train_img_cpu_s = steps * a.batch / cpu

    model.eval()
    with torch.no_grad():
        passes, el, cpu = timed(lambda: model(images), a.seconds / 2)
    infer_img_s = passes * a.batch / el
    infer_img_cpu_s = passes * a.batch / cpu
    fwd = forward_flops_per_image(a.dim, a.layers)
    print("RESULT impl=torch dim=%d layers=%d heads=%d batch=%d train_steps=%d train_img_s=%.2f "
          "infer_img_s=%.2f fwd_mflop_per_img=%.3f train_gflops=%.2f infer_gflops=%.2f "
          "peak_rss_mb=%.1f baseline_rss_mb=%.1f params=%d train_img_cpu_s=%.2f "
          "infer_img_cpu_s=%.2f" % (
              a.dim, a.layers, a.heads, a.batch, steps, train_img_s, infer_img_s, fwd * 1e-6,
              train_img_s * 3 * fwd * 1e-9, infer_img_s * fwd * 1e-9, rss_mb(), baseline,
              sum(p.numel() for p in params), train_img_cpu_s, infer_img_cpu_s))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
