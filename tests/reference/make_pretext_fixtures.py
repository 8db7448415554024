#!/usr/bin/python3
"""Pretext-task fixtures for plugins/tasks/shared/pretext.c (the `ssl` task), in numpy.

- NT-Xent (SimCLR; as solo-learn's / the SimCLR paper's): z [2N, D] rows i and i+N are the
  two views; z normalised, s = z z^T / tau, diagonal excluded, loss = mean over rows of
  -log softmax(s_i)[pair(i)]; its gradient dL/dz derived by hand (checked here against
  central differences in float64 before writing).
- MAE's patchify with norm_pix_loss (einsum 'nchpwq->nhwpqc', unbiased var, eps 1e-6) and
  its masked loss: mean over masked patches of the mean squared error.
- torch.rot90(x, k, dims=(1, 2)) is np.rot90(x, k, axes=(1, 2)).
Writes tests/fixtures/pretext/numpy.txt (one "name shape... : values" line per array).
Run with /usr/bin/python3 (Debian python3-numpy).
"""
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "pretext", "numpy.txt")


def nt_xent(z, tau):
    m = len(z)
    n = m // 2
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = zn @ zn.T / tau
    np.fill_diagonal(s, -np.inf)
    target = (np.arange(m) + n) % m
    mx = s.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(s - mx).sum(axis=1))
    loss = np.mean(lse - s[np.arange(m), target])
    # gradient: dL/ds = (softmax - onehot) / m; s = zn zn^T / tau
    p = np.exp(s - lse[:, None])
    g = p.copy()
    g[np.arange(m), target] -= 1
    g /= m
    dzn = (g + g.T) @ zn / tau
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    dz = (dzn - zn * np.sum(dzn * zn, axis=1, keepdims=True)) / norm
    return loss, dz


def patchify(imgs, p, norm_pix):
    b, c, h, w = imgs.shape
    g = h // p
    x = imgs.reshape(b, c, g, p, g, p)
    x = np.einsum("nchpwq->nhwpqc", x).reshape(b, g * g, p * p * c)
    if norm_pix:
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, ddof=1, keepdims=True)
        x = (x - mean) / np.sqrt(var + 1e-6)
    return x


def line(name, a):
    a = np.asarray(a, dtype=np.float64)
    return "%s %s : %s\n" % (name, " ".join(str(d) for d in a.shape) or "1",
                             " ".join("%.9g" % v for v in a.ravel()))


def main():
    rng = np.random.default_rng(7)
    out = []
    z = rng.normal(size=(6, 5)).astype(np.float32)
    tau = 0.3
    loss, dz = nt_xent(z.astype(np.float64), tau)
    # self-check of the hand-derived gradient
    h = 1e-6
    for i in range(z.size):
        zp, zm = z.astype(np.float64).copy(), z.astype(np.float64).copy()
        zp.ravel()[i] += h
        zm.ravel()[i] -= h
        num = (nt_xent(zp, tau)[0] - nt_xent(zm, tau)[0]) / (2 * h)
        assert abs(num - dz.ravel()[i]) < 1e-6, (i, num, dz.ravel()[i])
    out += [line("ntxent_z", z), line("ntxent_tau", [tau]), line("ntxent_loss", [loss]), line("ntxent_grad", dz)]

    imgs = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    for norm in (0, 1):
        out.append(line("patch_targets_%d" % norm, patchify(imgs.astype(np.float64), 4, norm)))
    out.append(line("patch_images", imgs))
    pred = rng.normal(size=(2, 4, 48)).astype(np.float32)
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 0]], dtype=np.float64)
    target = patchify(imgs.astype(np.float64), 4, 1)
    err = ((pred - target) ** 2).mean(axis=-1)
    out += [line("mae_pred", pred), line("mae_mask", mask), line("mae_loss", [(err * mask).sum() / mask.sum()])]

    x = rng.normal(size=(2, 5, 5)).astype(np.float32)
    out.append(line("rot_x", x))
    for k in range(4):
        out.append(line("rot_%d" % k, np.rot90(x, k, axes=(1, 2))))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# written by tests/reference/make_pretext_fixtures.py\n")
        f.writelines(out)


if __name__ == "__main__":
    main()
