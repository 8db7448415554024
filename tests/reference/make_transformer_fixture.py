#!/usr/bin/python3
"""Reference for tests/unit/test_parity_transformer.c: a tiny ViT-style classifier built
exactly as lbbt's vision wrapper builds it (core/src/nn/vision.c, core/src/nn/block.c),
trained for 3 AdamW steps.

Model (GPT-2 blocks, Hugging Face names):
  images [B, 1, S, S] -> Conv2d(1, C, P, stride P) "vision.patch_embed.{weight,bias}"
  -> [B, C, g, g] -> [B, N, C] (N = g*g) -> + "vision.pos_embed" [N, C]
  -> 2 pre-norm GPT-2 blocks, bidirectional attention:
       h = ln_1(x); qkv = h @ c_attn.weight [C, 3C] + c_attn.bias (Conv1D layout [in, out]);
       q, k, v = split(qkv); heads [B, H, N, D]; softmax(q k^T / sqrt(D)) v;
       x = x + (merge heads) @ attn.c_proj.weight [C, C] + bias
       x = x + gelu_tanh(ln_2(x) @ mlp.c_fc.weight [C, 4C] + b) @ mlp.c_proj.weight [4C, C] + b
  -> ln_f -> mean over tokens -> "vision.head.{weight [classes, C], bias}"
Loss: mean cross-entropy.  Optimizer: torch.optim.AdamW with two parameter groups, weight
decay on the parameters lbbt_no_decay_rule keeps (ndim >= 2 and no "norm", "ln_", "bias",
"embed" in the name) and 0 on the rest; torch.nn.utils.clip_grad_norm_(all, 1.0) before each
step.

The reference runs in float64 from the f32 initial weights (the stored numbers are the exact
trajectory rounded to f32).  The same run in float32 is done too and its deviation from
float64 printed: that is PyTorch's own f32 noise on this problem, the floor for any f32
implementation, including lbbt's.

Output: tests/fixtures/transformer/vit_tiny_adamw3.safetensors with
  init.<name>, final.<name>   f32 weights before step 1 and after step 3
  images f32 [B, 1, S, S], labels i32 [B]
  losses f32 [3]       loss at each step (before its update)
  grad_norms f32 [3]   total gradient norm at each step, before clipping
and the configuration in __metadata__.
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lbbt_ref import REPO, no_decay_rule, read_safetensors, setup_torch, write_safetensors  # noqa: E402

OUT = os.path.join(REPO, "tests", "fixtures", "transformer", "vit_tiny_adamw3.safetensors")

CFG = dict(image_size=16, in_channels=1, patch_size=4, dim=32, n_heads=4, n_blocks=2,
           mlp_ratio=4, num_classes=10, batch=8, norm_eps=1e-5,
           lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, max_grad_norm=1.0, steps=3)


def param_shapes(c):
    C, P, N = c["dim"], c["patch_size"], (c["image_size"] // c["patch_size"]) ** 2
    F4 = c["mlp_ratio"] * C
    shapes = {"vision.patch_embed.weight": (C, c["in_channels"], P, P),
              "vision.patch_embed.bias": (C,),
              "vision.pos_embed": (N, C)}
    for i in range(c["n_blocks"]):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (C,), p + "ln_1.bias": (C,),
            p + "attn.c_attn.weight": (C, 3 * C), p + "attn.c_attn.bias": (3 * C,),
            p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
            p + "ln_2.weight": (C,), p + "ln_2.bias": (C,),
            p + "mlp.c_fc.weight": (C, F4), p + "mlp.c_fc.bias": (F4,),
            p + "mlp.c_proj.weight": (F4, C), p + "mlp.c_proj.bias": (C,)})
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,),
                   "vision.head.weight": (c["num_classes"], C),
                   "vision.head.bias": (c["num_classes"],)})
    return shapes


def init_weights(c, g):
    """O(1) activations everywhere (weights ~ 1/sqrt(fan_in)), norm gains near 1, non-zero
    biases, so every op in the model moves the result."""
    w = {}
    for name, shape in param_shapes(c).items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            t = 0.05 * torch.randn(shape, generator=g)
        elif name == "vision.pos_embed":
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
            if "c_attn" in name or "c_fc" in name or "c_proj" in name:
                fan_in = shape[0]  # Conv1D [in, out]
            t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        w[name] = t.to(torch.float32)
    return w


def forward(p, images, c):
    B = images.shape[0]
    C, H = c["dim"], c["n_heads"]
    D = C // H
    x = F.conv2d(images, p["vision.patch_embed.weight"], p["vision.patch_embed.bias"],
                 stride=c["patch_size"])
    x = x.reshape(B, C, -1).transpose(1, 2)               # [B, N, C]
    x = x + p["vision.pos_embed"]
    N = x.shape[1]
    for i in range(c["n_blocks"]):
        q = f"h.{i}."
        h = F.layer_norm(x, (C,), p[q + "ln_1.weight"], p[q + "ln_1.bias"], c["norm_eps"])
        qkv = h @ p[q + "attn.c_attn.weight"] + p[q + "attn.c_attn.bias"]
        qh, kh, vh = (t.reshape(B, N, H, D).transpose(1, 2) for t in qkv.split(C, dim=2))
        att = torch.softmax((qh @ kh.transpose(-1, -2)) / math.sqrt(D), -1)  # bidirectional
        a = (att @ vh).transpose(1, 2).reshape(B, N, C)
        x = x + a @ p[q + "attn.c_proj.weight"] + p[q + "attn.c_proj.bias"]
        h = F.layer_norm(x, (C,), p[q + "ln_2.weight"], p[q + "ln_2.bias"], c["norm_eps"])
        m = F.gelu(h @ p[q + "mlp.c_fc.weight"] + p[q + "mlp.c_fc.bias"], approximate="tanh")
        x = x + m @ p[q + "mlp.c_proj.weight"] + p[q + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], c["norm_eps"])
    f = x.mean(1)
    return F.linear(f, p["vision.head.weight"], p["vision.head.bias"])


def train(init, images, labels, c, dtype):
    p = {k: v.to(dtype).clone().requires_grad_(True) for k, v in init.items()}
    decay = [t for k, t in p.items() if not no_decay_rule(k, t.dim())]
    no_decay = [t for k, t in p.items() if no_decay_rule(k, t.dim())]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"])
    losses, norms = [], []
    x = images.to(dtype)
    for _ in range(c["steps"]):
        opt.zero_grad()
        loss = F.cross_entropy(forward(p, x, c), labels)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(p.values()), c["max_grad_norm"])))
        opt.step()
        losses.append(float(loss))
    return {k: v.detach() for k, v in p.items()}, losses, norms


def main():
    setup_torch()
    c = CFG
    g = torch.Generator().manual_seed(20240601)
    init = init_weights(c, g)
    images = torch.randn(c["batch"], c["in_channels"], c["image_size"], c["image_size"], generator=g)
    labels = torch.randint(0, c["num_classes"], (c["batch"],), generator=g)
    final64, losses64, norms64 = train(init, images, labels, c, torch.float64)
    final32, losses32, norms32 = train(init, images, labels, c, torch.float32)

    # PyTorch's own f32 deviation from the float64 trajectory (the f32 noise floor), with the
    # key third of c_attn.bias apart: its exact gradient is 0 (softmax ignores a constant
    # shift of a query's scores), so in f32 Adam turns rounding noise into steps of ~lr.
    C = c["dim"]
    worst, worst_ratio, key_bias = {}, {}, 0.0
    for k in init:
        d = (final32[k].double() - final64[k]).abs()
        ref = final64[k].abs()
        if k.endswith("attn.c_attn.bias"):
            key_bias = max(key_bias, float(d[C:2 * C].max()))
            d, ref = torch.cat([d[:C], d[2 * C:]]), torch.cat([ref[:C], ref[2 * C:]])
        worst[k] = float(d.max())
        worst_ratio[k] = float((d / (1e-6 + 1e-5 * ref)).max())
    print("make_transformer_fixture: losses (f64)", ["%.7f" % v for v in losses64],
          "grad norms", ["%.4f" % v for v in norms64])
    print("  torch f32 vs f64: max |loss diff| %.2e; max |weight diff| %.2e (%s), "
          "%.2f x (1e-6 + 1e-5 |w|) at worst (%s); key biases moved by noise up to %.2e" % (
              max(abs(a - b) for a, b in zip(losses32, losses64)), max(worst.values()),
              max(worst, key=worst.get), max(worst_ratio.values()),
              max(worst_ratio, key=worst_ratio.get), key_bias))

    tensors = {}
    for k in init:
        tensors["init." + k] = init[k]
    for k in init:
        tensors["final." + k] = final64[k]
    tensors["images"] = images
    tensors["labels"] = labels
    tensors["losses"] = torch.tensor(losses64, dtype=torch.float64)
    tensors["grad_norms"] = torch.tensor(norms64, dtype=torch.float64)
    meta = {k: v for k, v in c.items()}
    meta.update(generator="tests/reference/make_transformer_fixture.py", torch=torch.__version__,
                params=",".join(init.keys()),
                torch_f32_max_weight_dev=f"{max(worst.values()):.3e}")
    write_safetensors(OUT, tensors, meta)
    back, _ = read_safetensors(OUT)
    assert set(back) == set(tensors)
    print(f"  wrote {OUT} ({os.path.getsize(OUT) / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
