"""Helpers shared by the PyTorch reference generators in tests/reference/.

Fixtures are written as safetensors files by hand (no `safetensors` package needed):
    8-byte little-endian header length N, N bytes of JSON, then the raw tensor bytes.
The JSON maps each tensor name to {"dtype": "F32"|"I32", "shape": [...],
"data_offsets": [begin, end]} (offsets relative to the end of the header) and holds string
key/value pairs under "__metadata__".  The header is padded with spaces to a multiple of 8 so
the data section is 8-byte aligned, as the reference writer does.

Every generator is deterministic: fixed seeds, one torch thread (reductions do not depend on
a thread split), so rerunning `make parity` rewrites byte-identical files.
"""
import json
import os
import struct

import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}


def as_numpy(x):
    """A torch tensor (any float dtype, or integer) or numpy array -> float32/int32 numpy."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.to(torch.float32) if x.is_floating_point() else x.to(torch.int32)
        x = x.numpy()
    x = np.ascontiguousarray(x)
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
    elif x.dtype.kind in "iub":
        x = x.astype(np.int32)
    return x


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered dict-like name -> tensor/array (stored as F32 or I32, in the given
    order); metadata: dict of str -> str (non-str values are converted with str())."""
    header = {}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        arr = as_numpy(value)
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Inverse of write_safetensors (for self-checks): (dict name -> numpy, metadata)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        dt = {"F32": np.float32, "I32": np.int32}[h["dtype"]]
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"])
    return out, meta


def setup_torch():
    """Single-threaded, deterministic torch."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def no_decay_rule(name, ndim):
    """lbbt_no_decay_rule (core/include/lbbt/optim.h): fewer than 2 dims, or the name
    contains "norm", "ln_", "bias" or "embed"."""
    return ndim < 2 or any(s in name for s in ("norm", "ln_", "bias", "embed"))
