#!/usr/bin/python3
"""Greedy generation from stories260K with an independent implementation of llama2.c's run.c.

run.c's forward() is followed step by step in numpy float32: one token at a time with a KV
cache, RMSNorm (eps 1e-5), RoPE on interleaved pairs (x[2i], x[2i+1]) with freq
1/10000^(head_dim/head_size) where head_dim = i % head_size, grouped-query attention
(query head h reads kv head h / (n_heads / n_kv_heads)), scores / sqrt(head_size), SwiGLU
FFN w2(silu(w1 x) * w3 x), final RMSNorm, classifier = token embedding when vocab_size > 0.
Generation starts from BOS (token 1) and takes the argmax (run.c at temperature 0) for
N_TOKENS steps; unlike run.c it does not stop at a BOS token, so the fixture always holds
N_TOKENS ids.

Writes tests/fixtures/stories260K_greedy.txt: the model file's sha256, the prompt, the ids,
and the smallest gap between the best and second-best logit over the steps (how far the
greedy choice is from a tie; the C implementation sums in a different order).

Usage: /usr/bin/python3 tests/reference/llama2c_reference.py [MODEL.bin]
       (default ../shared/models/stories260K.bin relative to the repository root)
"""
import hashlib
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_MODEL = os.path.join(ROOT, "..", "shared", "models", "stories260K.bin")
OUT = os.path.join(ROOT, "tests", "fixtures", "stories260K_greedy.txt")
BOS = 1
N_TOKENS = 32
EPS = 1e-5


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    w = np.frombuffer(raw, dtype="<f4", offset=28)
    head = dim // n_heads
    kv_dim = dim * n_kv // n_heads
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = w[off:off + n].reshape(shape)
        off += n
        return a

    m = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab,
             seq_len=seq_len, head=head, kv_dim=kv_dim)
    m["emb"] = take(vocab, dim)
    m["rms_att"] = take(n_layers, dim)
    m["wq"] = take(n_layers, dim, dim)
    m["wk"] = take(n_layers, kv_dim, dim)
    m["wv"] = take(n_layers, kv_dim, dim)
    m["wo"] = take(n_layers, dim, dim)
    m["rms_ffn"] = take(n_layers, dim)
    m["w1"] = take(n_layers, hidden, dim)
    m["w2"] = take(n_layers, dim, hidden)
    m["w3"] = take(n_layers, hidden, dim)
    m["rms_final"] = take(dim)
    take(seq_len, head // 2)  # freq_cis_real (unused by run.c)
    take(seq_len, head // 2)  # freq_cis_imag
    m["wcls"] = m["emb"] if shared else take(vocab, dim)
    return m


def rmsnorm(x, w):
    ss = np.float32(np.dot(x, x) / np.float32(x.size) + np.float32(EPS))
    return (w * (x * np.float32(1.0 / np.sqrt(ss)))).astype(np.float32)


def forward(m, token, pos, kcache, vcache):
    dim, head, kv_dim = m["dim"], m["head"], m["kv_dim"]
    kv_mul = m["n_heads"] // m["n_kv"]
    x = m["emb"][token].copy()
    for l in range(m["n_layers"]):
        xb = rmsnorm(x, m["rms_att"][l])
        q = m["wq"][l] @ xb
        k = m["wk"][l] @ xb
        v = m["wv"][l] @ xb
        for i in range(0, dim, 2):
            head_dim = i % head
            freq = np.float32(1.0 / np.power(np.float32(10000.0), np.float32(head_dim / head)))
            val = np.float32(pos * freq)
            fcr, fci = np.float32(np.cos(val)), np.float32(np.sin(val))
            for vec in ((q, k) if i < kv_dim else (q,)):
                v0, v1 = vec[i], vec[i + 1]
                vec[i] = v0 * fcr - v1 * fci
                vec[i + 1] = v0 * fci + v1 * fcr
        kcache[l, pos] = k
        vcache[l, pos] = v
        out = np.zeros(dim, dtype=np.float32)
        for h in range(m["n_heads"]):
            qh = q[h * head:(h + 1) * head]
            kvh = (h // kv_mul) * head
            keys = kcache[l, :pos + 1, kvh:kvh + head]
            att = (keys @ qh) / np.float32(np.sqrt(head))
            att = np.exp(att - att.max())
            att /= att.sum()
            out[h * head:(h + 1) * head] = att @ vcache[l, :pos + 1, kvh:kvh + head]
        x = x + m["wo"][l] @ out
        xb = rmsnorm(x, m["rms_ffn"][l])
        h1 = m["w1"][l] @ xb
        h3 = m["w3"][l] @ xb
        h1 = h1 * (np.float32(1.0) / (np.float32(1.0) + np.exp(-h1)))
        x = x + m["w2"][l] @ (h1 * h3)
    x = rmsnorm(x, m["rms_final"])
    return m["wcls"] @ x


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    if not os.path.exists(path):
        print("llama2c_reference: %s absent; fixture left as is" % path)
        return
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    m = load(path)
    kcache = np.zeros((m["n_layers"], m["seq_len"], m["kv_dim"]), dtype=np.float32)
    vcache = np.zeros_like(kcache)
    ids, token, margin = [], BOS, float("inf")
    for pos in range(N_TOKENS):
        logits = forward(m, token, pos, kcache, vcache)
        top2 = np.sort(logits)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        token = int(np.argmax(logits))
        ids.append(token)
    with open(OUT, "w") as f:
        f.write("# stories260K greedy continuation of BOS, written by tests/reference/llama2c_reference.py\n")
        f.write("# (numpy re-implementation of llama2.c run.c; argmax at each step, no stop at BOS)\n")
        f.write("# smallest best-vs-second logit gap over the steps: %.4f\n" % margin)
        f.write("sha256 %s\n" % digest)
        f.write("prompt %d\n" % BOS)
        f.write("ids %s\n" % " ".join(str(i) for i in ids))
    print("wrote %s: %s (min margin %.4f)" % (os.path.relpath(OUT), " ".join(map(str, ids)), margin))


if __name__ == "__main__":
    main()
