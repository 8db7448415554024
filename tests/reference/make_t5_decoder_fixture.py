#!/usr/bin/python3
"""Parity fixtures for the T5 decoder (plugins/tasks/shared/t5_decoder.c, tests/unit/test_t5_decoder.c).

Tiny random T5ForConditionalGeneration checkpoints (Hugging Face layout: config.json +
model.safetensors with encoder, decoder and an untied lm_head), run through a float64 PyTorch
re-implementation of modeling_t5.py's encoder-decoder (the encoder is
make_backbone_fixtures.t5_encoder_forward; the decoder is written here: causal
self-attention with unidirectional relative-position buckets from decoder block 0, unscaled
scores, cross-attention to the encoder output without position bias, T5DenseActDense or
T5DenseGatedActDense, decoder.final_layer_norm, lm_head without rescaling since
tie_word_embeddings is false), stored beside each checkpoint:

  tests/fixtures/t5-seq2seq/<name>/config.json, model.safetensors
  tests/fixtures/t5-seq2seq/<name>/inputs.json      {"input_ids": B x S, "decoder_input_ids": B x T,
                                                     "labels": B x T}
  tests/fixtures/t5-seq2seq/<name>/expected.safetensors
      "logits" [B, T, V]; "loss" [1] (mean token cross-entropy against labels); and the loss's
      gradient for a few tensors: "grad.<name>"

Fixtures: relu (Chronos-T5's FFN; 2 encoder and 2 decoder layers), gated (gated-gelu,
d_kv * heads != d_model, 1 encoder and 3 decoder layers).  transformers is not installed here
(Debian python3-torch only), hence the re-implementation.  Run with /usr/bin/python3.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_backbone_fixtures as mbf  # noqa: E402

OUT = os.path.join(mbf.HERE, "..", "fixtures", "t5-seq2seq")
B, S, T = 2, 10, 6
GRADS = ["shared.weight", "lm_head.weight",
         "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
         "decoder.block.0.layer.1.EncDecAttention.k.weight",
         "decoder.block.1.layer.2.DenseReluDense.wo.weight",
         "encoder.block.0.layer.0.SelfAttention.q.weight"]


def attention(p, pre, h, kv, H, Dk, bias, causal):
    Bn, Tq, Tk = h.shape[0], h.shape[1], kv.shape[1]
    q = (h @ p[pre + "q.weight"].T).view(Bn, Tq, H, Dk).transpose(1, 2)
    k = (kv @ p[pre + "k.weight"].T).view(Bn, Tk, H, Dk).transpose(1, 2)
    v = (kv @ p[pre + "v.weight"].T).view(Bn, Tk, H, Dk).transpose(1, 2)
    s = q @ k.transpose(-1, -2)
    if bias is not None:
        s = s + bias
    if causal:
        s = s.masked_fill(torch.ones(Tq, Tk, dtype=torch.bool).triu(1), float("-inf"))
    a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(Bn, Tq, H * Dk)
    return a @ p[pre + "o.weight"].T


def t5_decoder_forward(cfg, p, mem, dec_ids):
    H, Dk, eps = cfg["num_heads"], cfg["d_kv"], cfg["layer_norm_epsilon"]
    Tn = dec_ids.shape[1]
    x = p["shared.weight"][dec_ids]
    ctx = torch.arange(Tn)[:, None]
    mpos = torch.arange(Tn)[None, :]
    bucket = mbf.relative_position_bucket(mpos - ctx, False, cfg["relative_attention_num_buckets"],
                                          cfg["relative_attention_max_distance"])
    bias = p["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"][bucket]
    bias = bias.permute(2, 0, 1).unsqueeze(0)
    gated = cfg["feed_forward_proj"].startswith("gated-")
    for i in range(cfg["num_decoder_layers"]):
        pre = "decoder.block.%d.layer." % i
        h = mbf.rms_norm(x, p[pre + "0.layer_norm.weight"], eps)
        x = x + attention(p, pre + "0.SelfAttention.", h, h, H, Dk, bias, True)
        h = mbf.rms_norm(x, p[pre + "1.layer_norm.weight"], eps)
        x = x + attention(p, pre + "1.EncDecAttention.", h, mem, H, Dk, None, False)
        h = mbf.rms_norm(x, p[pre + "2.layer_norm.weight"], eps)
        if gated:
            f = mbf.gelu_new(h @ p[pre + "2.DenseReluDense.wi_0.weight"].T) * (
                h @ p[pre + "2.DenseReluDense.wi_1.weight"].T)
        else:
            f = torch.relu(h @ p[pre + "2.DenseReluDense.wi.weight"].T)
        x = x + f @ p[pre + "2.DenseReluDense.wo.weight"].T
    x = mbf.rms_norm(x, p["decoder.final_layer_norm.weight"], eps)
    return x @ p["lm_head.weight"].T


def params(cfg):
    # t5_params makes num_layers encoder blocks and the given number of decoder blocks
    p = mbf.t5_params(cfg, cfg["num_decoder_layers"])
    p["lm_head.weight"] = mbf.rand(cfg["vocab_size"], cfg["d_model"], std=0.3)
    return {k: mbf.stored(v, "F32") for k, v in p.items()}


def fixture(name, cfg, seed):
    torch.manual_seed(seed)
    p = params(cfg)
    V = cfg["vocab_size"]
    ids = torch.randint(2, V, (B, S))
    labels = torch.randint(2, V, (B, T))
    labels[:, -1] = 1  # EOS
    dec_ids = torch.cat([torch.zeros(B, 1, dtype=torch.long), labels[:, :-1]], dim=1)
    for k in GRADS:
        if k in p:
            p[k].requires_grad_(True)
    mem = mbf.t5_encoder_forward(cfg, p, ids)
    logits = t5_decoder_forward(cfg, p, mem, dec_ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), labels.reshape(-1))
    loss.backward()
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    mbf.write_safetensors(os.path.join(folder, "model.safetensors"),
                          {k: v.detach() for k, v in p.items()}, metadata={"format": "pt"})
    with open(os.path.join(folder, "inputs.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "decoder_input_ids": dec_ids.tolist(),
                   "labels": labels.tolist()}, f)
        f.write("\n")
    expected = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for k in GRADS:
        if k in p:
            expected["grad." + k] = p[k].grad
    mbf.write_safetensors(os.path.join(folder, "expected.safetensors"), expected)


def main():
    torch.set_default_dtype(torch.float64)
    base = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
            "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
            "layer_norm_epsilon": 1e-6, "is_encoder_decoder": True, "tie_word_embeddings": False,
            "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
            "torch_dtype": "float32"}
    relu = dict(base, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_decoder_layers=2, num_heads=4,
                vocab_size=20, feed_forward_proj="relu", dense_act_fn="relu", is_gated_act=False,
                initializer_factor=0.05)
    gated = dict(base, d_model=16, d_kv=6, d_ff=20, num_layers=1, num_decoder_layers=3,
                 num_heads=3, vocab_size=20, feed_forward_proj="gated-gelu",
                 dense_act_fn="gelu_new", is_gated_act=True, initializer_factor=1.0)
    fixture("relu", relu, 17)
    fixture("gated", gated, 18)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT), total))


if __name__ == "__main__":
    main()
