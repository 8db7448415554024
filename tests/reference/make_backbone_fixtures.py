#!/usr/bin/python3
"""Parity fixtures for the backbone plugins (tests/unit/test_backbones.c).

Builds TINY random checkpoints of each architecture the backbone plugins read, in the exact
Hugging Face layout (config.json + model.safetensors, or an index + shards), runs them through
small PyTorch re-implementations written here from the Hugging Face modeling code, and stores
the token ids and the expected hidden states and logits beside each checkpoint:

  tests/fixtures/backbones/<name>/config.json            as transformers writes it
  tests/fixtures/backbones/<name>/model.safetensors      (or model.safetensors.index.json + shards)
  tests/fixtures/backbones/<name>/inputs.json            {"input_ids": [[...], ...]}  (B x T)
  tests/fixtures/backbones/<name>/expected.safetensors   F32 "hidden" [B,T,C], "logits" [B,T,V]

Fixtures: gpt2 (plain names, as the openai checkpoints, with the attn.bias mask buffers),
gpt2-sharded (GPT2LMHeadModel names with the "transformer." prefix, index + 2 shards),
llama (Llama-3.2 style: GQA, half-split RoPE with llama3 frequency scaling, tied head),
llama-bf16 (the same layout, weights stored as BF16), qwen3 (q/k-norm, explicit head_dim,
untied head), chronos-t5 (the T5 encoder with the ReLU FFN that the published Chronos-T5
configs use, plus a one-layer decoder the plugin must ignore), t5-gated (T5 v1.1 gated-GELU
FFN, d_kv * heads != d_model).

No transformers package is available here (Debian python3-torch 1.13 only), so each model
below follows the modeling code's semantics line by line: modeling_gpt2.py (Conv1D [in, out]
weights, fused c_attn, gelu_new, LayerNorm eps), modeling_llama.py (RMSNorm, rotate_half RoPE,
_compute_llama3_parameters, repeat_kv), modeling_qwen3.py (q_norm/k_norm on each head before
RoPE), modeling_t5.py (T5LayerNorm, _relative_position_bucket, no score scaling, bias from
layer 0 shared by every layer, T5DenseActDense / T5DenseGatedActDense).  The references run in
float64 (from the stored f32 or bf16 weights) so the expected values carry no f32 rounding of
their own.

Run with /usr/bin/python3 (it has torch): deterministic, a few seconds, total < 1 MB.
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "backbones")
B, T = 2, 12  # token batch of every fixture

torch.set_default_dtype(torch.float64)


# ---- safetensors, written by hand ----------------------------------------------------------
# Layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to a multiple
# of 8), then the tensors' bytes back to back; each header entry has dtype, shape and
# data_offsets [begin, end) relative to the end of the header.
def tensor_bytes(t, dtype):
    if dtype == "F32":
        return t.to(torch.float32).contiguous().numpy().tobytes()
    if dtype == "BF16":
        return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
    if dtype == "I32":
        return t.to(torch.int32).contiguous().numpy().tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        data = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_sharded(folder, tensors, n_shards=2):
    """model-0000k-of-0000n.safetensors + model.safetensors.index.json (transformers layout)."""
    names = sorted(tensors)
    per = (len(names) + n_shards - 1) // n_shards
    weight_map, total = {}, 0
    for k in range(n_shards):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, n_shards)
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        write_safetensors(os.path.join(folder, fname), part, metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += part[n].numel() * 4
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


def write_fixture(name, config, tensors, ids, hidden, logits, dtype="F32", sharded=False):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        os.remove(os.path.join(folder, old))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    if sharded:
        write_sharded(folder, tensors)
    else:
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors, dtype,
                          metadata={"format": "pt"})
    with open(os.path.join(folder, "inputs.json"), "w") as f:
        json.dump({"input_ids": ids.tolist()}, f)
        f.write("\n")
    expected = {"hidden": hidden}
    if logits is not None:
        expected["logits"] = logits
    write_safetensors(os.path.join(folder, "expected.safetensors"), expected)


def stored(t, dtype):
    """The value a reader gets back from the file: f32 or bf16 rounding, then float64."""
    if dtype == "BF16":
        return t.to(torch.bfloat16).to(torch.float64)
    return t.to(torch.float32).to(torch.float64)


def rand(*shape, std=1.0):
    return torch.randn(*shape) * std


# ---- GPT-2 (modeling_gpt2.py) --------------------------------------------------------------
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gpt2_forward(cfg, p, ids):
    C, H = cfg["n_embd"], cfg["n_head"]
    D = C // H
    Bn, Tn = ids.shape
    x = p["wte.weight"][ids] + p["wpe.weight"][torch.arange(Tn)]
    causal = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        pre = "h.%d." % i
        h = layer_norm(x, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], cfg["layer_norm_epsilon"])
        qkv = h @ p[pre + "attn.c_attn.weight"] + p[pre + "attn.c_attn.bias"]  # Conv1D: x W + b
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (z.view(Bn, Tn, H, D).transpose(1, 2) for z in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~causal, torch.finfo(s.dtype).min)
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(Bn, Tn, C)
        x = x + a @ p[pre + "attn.c_proj.weight"] + p[pre + "attn.c_proj.bias"]
        h = layer_norm(x, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], cfg["layer_norm_epsilon"])
        h = gelu_new(h @ p[pre + "mlp.c_fc.weight"] + p[pre + "mlp.c_fc.bias"])
        x = x + h @ p[pre + "mlp.c_proj.weight"] + p[pre + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], cfg["layer_norm_epsilon"])
    return x, x @ p["wte.weight"].T  # tied LM head


def gpt2_fixtures():
    torch.manual_seed(1)
    C, L, H, P, V = 32, 2, 4, 32, 64
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": C, "n_layer": L,
           "n_head": H, "n_positions": P, "n_ctx": P, "vocab_size": V, "n_inner": None,
           "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
           "initializer_range": 0.02, "bos_token_id": V - 1, "eos_token_id": V - 1,
           "tie_word_embeddings": True, "torch_dtype": "float32"}
    p = {"wte.weight": rand(V, C, std=0.5), "wpe.weight": rand(P, C, std=0.2),
         "ln_f.weight": 1 + rand(C, std=0.1), "ln_f.bias": rand(C, std=0.1)}
    for i in range(L):
        pre = "h.%d." % i
        p[pre + "ln_1.weight"] = 1 + rand(C, std=0.1)
        p[pre + "ln_1.bias"] = rand(C, std=0.1)
        p[pre + "attn.c_attn.weight"] = rand(C, 3 * C, std=0.2)  # Conv1D: [in, out]
        p[pre + "attn.c_attn.bias"] = rand(3 * C, std=0.1)
        p[pre + "attn.c_proj.weight"] = rand(C, C, std=0.2)
        p[pre + "attn.c_proj.bias"] = rand(C, std=0.1)
        p[pre + "ln_2.weight"] = 1 + rand(C, std=0.1)
        p[pre + "ln_2.bias"] = rand(C, std=0.1)
        p[pre + "mlp.c_fc.weight"] = rand(C, 4 * C, std=0.2)
        p[pre + "mlp.c_fc.bias"] = rand(4 * C, std=0.1)
        p[pre + "mlp.c_proj.weight"] = rand(4 * C, C, std=0.1)
        p[pre + "mlp.c_proj.bias"] = rand(C, std=0.1)
    p = {k: stored(v, "F32") for k, v in p.items()}
    ids = torch.randint(0, V, (B, T))
    hidden, logits = gpt2_forward(cfg, p, ids)
    # The openai checkpoints carry the causal-mask buffers h.N.attn.bias [1, 1, P, P] next to
    # the weights and use no prefix; a loader must skip them.
    plain = dict(p)
    for i in range(L):
        plain["h.%d.attn.bias" % i] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
    write_fixture("gpt2", cfg, plain, ids, hidden, logits)
    # GPT2LMHeadModel.save_pretrained: "transformer." prefix, tied lm_head not stored; sharded.
    prefixed = {"transformer." + k: v for k, v in p.items()}
    write_fixture("gpt2-sharded", cfg, prefixed, ids, hidden, logits, sharded=True)


# ---- Llama and Qwen3 (modeling_llama.py, modeling_qwen3.py) --------------------------------
def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_inv_freq(cfg, head_dim):
    # inv_freq as transformers computes it: int64 arange -> float32 division and power.
    base = cfg["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(torch.float32) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":  # _compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_l)
    return inv.to(torch.float64)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_forward(cfg, p, ids):
    C, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // H)
    eps = cfg["rms_norm_eps"]
    qk_norm = cfg["model_type"] == "qwen3"
    Bn, Tn = ids.shape
    freqs = torch.outer(torch.arange(Tn, dtype=torch.float64), rope_inv_freq(cfg, D))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    x = p["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(Bn, Tn, H, D)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(Bn, Tn, Hkv, D)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(Bn, Tn, Hkv, D)
        if qk_norm:  # Qwen3: RMSNorm over each head's D before the transpose and RoPE
            q = rms_norm(q, p[pre + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, p[pre + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)  # repeat_kv: query head h uses kv head h // n_rep
        v = v.repeat_interleave(H // Hkv, dim=1)
        s = (q @ k.transpose(-1, -2)) * D ** -0.5
        s = s.masked_fill(~causal, torch.finfo(s.dtype).min)
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(Bn, Tn, H * D)
        x = x + a @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(h @ p[pre + "mlp.gate_proj.weight"].T)
        x = x + (g * (h @ p[pre + "mlp.up_proj.weight"].T)) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"]
    return x, x @ head.T


def llama_params(cfg, seed):
    torch.manual_seed(seed)
    C, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", C // H)
    p = {"model.embed_tokens.weight": rand(V, C, std=0.5), "model.norm.weight": 1 + rand(C, std=0.1)}
    if not cfg["tie_word_embeddings"]:
        p["lm_head.weight"] = rand(V, C, std=0.2)
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        p[pre + "input_layernorm.weight"] = 1 + rand(C, std=0.1)
        p[pre + "post_attention_layernorm.weight"] = 1 + rand(C, std=0.1)
        p[pre + "self_attn.q_proj.weight"] = rand(H * D, C, std=0.2)
        p[pre + "self_attn.k_proj.weight"] = rand(Hkv * D, C, std=0.2)
        p[pre + "self_attn.v_proj.weight"] = rand(Hkv * D, C, std=0.2)
        p[pre + "self_attn.o_proj.weight"] = rand(C, H * D, std=0.2)
        if cfg["model_type"] == "qwen3":
            p[pre + "self_attn.q_norm.weight"] = 1 + rand(D, std=0.1)
            p[pre + "self_attn.k_norm.weight"] = 1 + rand(D, std=0.1)
        p[pre + "mlp.gate_proj.weight"] = rand(F, C, std=0.2)
        p[pre + "mlp.up_proj.weight"] = rand(F, C, std=0.2)
        p[pre + "mlp.down_proj.weight"] = rand(C, F, std=0.15)
    return p


def llama_fixtures():
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
           "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 8, "vocab_size": 64,
           "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           # head_dim 8, theta 5e5: wavelengths 6.3, 167, 4443, 118000 -> the first two keep
           # their frequency, 4443 is smoothed, 118000 is divided by the factor.
           "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 8192, "rope_type": "llama3"},
           "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
           "hidden_act": "silu", "initializer_range": 0.02, "bos_token_id": 1,
           "eos_token_id": 2, "torch_dtype": "float32"}
    raw = llama_params(cfg, 2)
    torch.manual_seed(3)
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    p = {k: stored(v, "F32") for k, v in raw.items()}
    write_fixture("llama", cfg, p, ids, *llama_forward(cfg, p, ids))
    # BF16 storage (as Llama-3.2 ships): the reader widens to f32; the expected values come
    # from the bf16-rounded weights, so the tolerance stays the f32 one.
    cfg16 = dict(cfg, torch_dtype="bfloat16")
    p16 = {k: stored(v, "BF16") for k, v in raw.items()}
    write_fixture("llama-bf16", cfg16, p16, ids, *llama_forward(cfg16, p16, ids), dtype="BF16")

    qcfg = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 64,
            "max_position_embeddings": 40960, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "rope_scaling": None, "tie_word_embeddings": False, "attention_bias": False,
            "hidden_act": "silu", "initializer_range": 0.02, "torch_dtype": "float32"}
    p = {k: stored(v, "F32") for k, v in llama_params(qcfg, 4).items()}
    torch.manual_seed(5)
    ids = torch.randint(0, qcfg["vocab_size"], (B, T))
    write_fixture("qwen3", qcfg, p, ids, *llama_forward(qcfg, p, ids))


# ---- T5 encoder (modeling_t5.py) -----------------------------------------------------------
def relative_position_bucket(rel, bidirectional, num_buckets, max_distance):
    # T5Attention._relative_position_bucket, including its float32 log
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = max_exact + (torch.log(rel.to(torch.float32) / max_exact)
                         / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


def t5_encoder_forward(cfg, p, ids):
    H, Dk, eps = cfg["num_heads"], cfg["d_kv"], cfg["layer_norm_epsilon"]
    Bn, Tn = ids.shape
    x = p["shared.weight"][ids]
    ctx = torch.arange(Tn)[:, None]
    mem = torch.arange(Tn)[None, :]
    bucket = relative_position_bucket(mem - ctx, True, cfg["relative_attention_num_buckets"],
                                      cfg["relative_attention_max_distance"])
    # layer 0's table gives the bias that every layer adds: [1, H, T, S]
    bias = p["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"][bucket]
    bias = bias.permute(2, 0, 1).unsqueeze(0)
    gated = cfg["feed_forward_proj"].startswith("gated-")
    for i in range(cfg["num_layers"]):
        pre = "encoder.block.%d.layer." % i
        h = rms_norm(x, p[pre + "0.layer_norm.weight"], eps)
        q, k, v = ((h @ p[pre + "0.SelfAttention.%s.weight" % n].T).view(Bn, Tn, H, Dk).transpose(1, 2)
                   for n in "qkv")
        s = q @ k.transpose(-1, -2) + bias  # no 1/sqrt(d): folded into the q init
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(Bn, Tn, H * Dk)
        x = x + a @ p[pre + "0.SelfAttention.o.weight"].T
        h = rms_norm(x, p[pre + "1.layer_norm.weight"], eps)
        if gated:  # T5DenseGatedActDense, act gelu_new for "gated-gelu"
            f = gelu_new(h @ p[pre + "1.DenseReluDense.wi_0.weight"].T) * (
                h @ p[pre + "1.DenseReluDense.wi_1.weight"].T)
        else:      # T5DenseActDense, act relu
            f = torch.relu(h @ p[pre + "1.DenseReluDense.wi.weight"].T)
        x = x + f @ p[pre + "1.DenseReluDense.wo.weight"].T
    return rms_norm(x, p["encoder.final_layer_norm.weight"], eps)


def t5_params(cfg, decoder_layers):
    C, H, Dk, F, V = cfg["d_model"], cfg["num_heads"], cfg["d_kv"], cfg["d_ff"], cfg["vocab_size"]
    I = H * Dk
    gated = cfg["feed_forward_proj"].startswith("gated-")
    p = {"shared.weight": rand(V, C, std=0.5), "encoder.final_layer_norm.weight": 1 + rand(C, std=0.1)}

    def attention(pre, rel_bias):
        p[pre + "q.weight"] = rand(I, C, std=0.08)
        p[pre + "k.weight"] = rand(I, C, std=0.2)
        p[pre + "v.weight"] = rand(I, C, std=0.2)
        p[pre + "o.weight"] = rand(C, I, std=0.2)
        if rel_bias:
            p[pre + "relative_attention_bias.weight"] = rand(cfg["relative_attention_num_buckets"], H, std=0.5)

    def ffn(pre):
        if gated:
            p[pre + "wi_0.weight"] = rand(F, C, std=0.2)
            p[pre + "wi_1.weight"] = rand(F, C, std=0.2)
        else:
            p[pre + "wi.weight"] = rand(F, C, std=0.2)
        p[pre + "wo.weight"] = rand(C, F, std=0.15)

    for i in range(cfg["num_layers"]):
        pre = "encoder.block.%d.layer." % i
        p[pre + "0.layer_norm.weight"] = 1 + rand(C, std=0.1)
        attention(pre + "0.SelfAttention.", i == 0)
        p[pre + "1.layer_norm.weight"] = 1 + rand(C, std=0.1)
        ffn(pre + "1.DenseReluDense.")
    # The decoder: present in every T5ForConditionalGeneration checkpoint, unused by the
    # encoder backbone.
    for i in range(decoder_layers):
        pre = "decoder.block.%d.layer." % i
        p[pre + "0.layer_norm.weight"] = 1 + rand(C, std=0.1)
        attention(pre + "0.SelfAttention.", i == 0)
        p[pre + "1.layer_norm.weight"] = 1 + rand(C, std=0.1)
        attention(pre + "1.EncDecAttention.", False)
        p[pre + "2.layer_norm.weight"] = 1 + rand(C, std=0.1)
        ffn(pre + "2.DenseReluDense.")
    if decoder_layers:
        p["decoder.final_layer_norm.weight"] = 1 + rand(C, std=0.1)
    return p


def t5_fixtures():
    # chronos-t5: the published configs (amazon/chronos-t5-{tiny,mini,small,base,large}) use
    # "feed_forward_proj": "relu" (is_gated_act false, dense_act_fn relu), vocab 4096,
    # initializer_factor 0.05; this is the same layout at toy size.
    cfg = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 32,
           "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 1, "num_heads": 4,
           "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
           "layer_norm_epsilon": 1e-6, "feed_forward_proj": "relu", "dense_act_fn": "relu",
           "is_gated_act": False, "is_encoder_decoder": True, "vocab_size": 64,
           "initializer_factor": 0.05, "pad_token_id": 0, "eos_token_id": 1,
           "decoder_start_token_id": 0, "n_positions": 512, "torch_dtype": "float32",
           "chronos_config": {"tokenizer_class": "MeanScaleUniformBins",
                              "tokenizer_kwargs": {"low_limit": -15.0, "high_limit": 15.0},
                              "n_tokens": 64, "n_special_tokens": 2, "context_length": 512,
                              "prediction_length": 64, "model_type": "seq2seq"}}
    torch.manual_seed(6)
    p = {k: stored(v, "F32") for k, v in t5_params(cfg, 1).items()}
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    write_fixture("chronos-t5", cfg, p, ids, t5_encoder_forward(cfg, p, ids), None)

    # T5 v1.1 (google/t5-v1_1-*, flan-t5): gated-gelu; here d_kv * heads = 64 != d_model 32.
    gcfg = {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 32, "d_kv": 16,
            "d_ff": 48, "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 32,
            "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6,
            "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": True,
            "vocab_size": 64, "initializer_factor": 1.0, "tie_word_embeddings": False,
            "torch_dtype": "float32"}
    torch.manual_seed(7)
    p = {k: stored(v, "F32") for k, v in t5_params(gcfg, 0).items()}
    ids = torch.randint(0, gcfg["vocab_size"], (B, T))
    write_fixture("t5-gated", gcfg, p, ids, t5_encoder_forward(gcfg, p, ids), None)


def main():
    os.makedirs(OUT, exist_ok=True)
    gpt2_fixtures()
    llama_fixtures()
    t5_fixtures()
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT), total))
    if total > 1 << 20:
        sys.exit("fixtures exceed 1 MB: shrink the models")


if __name__ == "__main__":
    main()
