#!/usr/bin/env python3
"""Retrieval examples (Table 11, Appendix B): for a few test queries, the top-5 gallery images
each arm's features retrieve, relevant ones (same class) framed green, others red.

Reads the `retrieval` stage's examples of experiments/table-11.yaml (plugins/tasks/retrieval.c
saves them: the same class-balanced queries for every arm): one column block per arm (Bridge
Training and Language Bias Bridge Training, for each backbone the file holds; seed 0), one
row per query.  Each block's title gives the arm's mAP and Pass@5 over all queries.
usage: figure-retrieval.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

STAGE = "retrieval"
MAX_QUERIES = 5
GOOD, BAD = "#1a9850", "#d73027"


def arms(res):
    """(title, run) for the bridged scratch and language arms of each backbone, seed 0."""
    out = []
    plugins = res.plugins()
    for plugin in plugins:
        for init, name in (("scratch", "Bridge Training"), ("language", "Language Bias Bridge Training")):
            runs = [r for r in res.select(plugin=plugin, backbone__init=init)
                    if r.m("stages.bridge.skip", "false") == "false" and r.has(f"{STAGE}/examples/top")]
            runs.sort(key=lambda r: int(float(r.m("seed", "0"))))
            if runs:
                tag = "" if plugin == plugins[0] else (" (lbbt GPT-2)" if plugin == "gpt2" else f" ({plugin})")
                out.append((name + tag, runs[0]))
    return out


def show(ax, img, frame=None):
    img = np.asarray(img, dtype=float)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(np.transpose(img, (1, 2, 0)), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(frame is not None)
        if frame is not None:
            s.set_edgecolor(frame)
            s.set_linewidth(3)


def main():
    path, out = lp.args()
    res = lp.Results(path)
    panels = arms(res)
    if not panels:
        raise SystemExit(f"plot: no bridged scratch or language runs with retrieval examples in {path}")
    r0 = panels[0][1]
    queries = r0.get(f"{STAGE}/examples/query")
    nq = min(len(queries), MAX_QUERIES)
    top = r0.get(f"{STAGE}/examples/top").shape[1]
    names = None
    cols = 1 + len(panels) * (top + 1)  # the query, then per arm `top` images and a gap
    height = 1.15 * nq + 1.9
    fig = plt.figure(figsize=(0.95 * cols, height))
    gs = fig.add_gridspec(nq, cols, width_ratios=[1] + ([1] * top + [0.35]) * len(panels),
                          left=0.02, right=0.99, top=1 - 1.45 / height, bottom=0.3 / height,
                          wspace=0.08, hspace=0.3)
    for q in range(nq):
        ql = int(r0.get(f"{STAGE}/examples/query_label")[q])
        if names is None:
            k = int(max(ql, *r0.get(f"{STAGE}/examples/top_label").ravel())) + 1
            names = res.class_names(10 if k <= 10 else k)
        ax = fig.add_subplot(gs[q, 0])
        show(ax, r0.get(f"{STAGE}/examples/query_pixels")[q])
        ax.set_title(f"query: {names[ql] if ql < len(names) else ql}", fontsize=7)
        for a, (title, run) in enumerate(panels):
            if not np.array_equal(run.get(f"{STAGE}/examples/query"), queries):
                raise SystemExit(f"plot: run {run.id} saved other example queries than {r0.id}")
            rel = run.get(f"{STAGE}/examples/top_relevant")
            lab = run.get(f"{STAGE}/examples/top_label")
            sim = run.get(f"{STAGE}/examples/top_similarity")
            pix = run.get(f"{STAGE}/examples/top_pixels")
            c0 = 1 + a * (top + 1)
            for j in range(top):
                ax = fig.add_subplot(gs[q, c0 + j])
                show(ax, pix[q, j], GOOD if rel[q, j] else BAD)
                lj = int(lab[q, j])
                ax.set_title(f"{names[lj] if lj < len(names) else lj}\ncos {sim[q, j]:.2f}", fontsize=6,
                             color=GOOD if rel[q, j] else BAD)
                if q == 0 and j == 0:
                    ap, p5 = run.get(f"{STAGE}/map"), run.get(f"{STAGE}/pass_at_5", float("nan"))
                    fig.text(ax.get_position().x0, 1 - 0.95 / height,
                             f"{title}\nmAP {ap:.1f}, Pass@5 {p5:.1f} (seed {run.m('seed', '0')})",
                             fontsize=8, fontweight="bold", va="bottom")
    fig.suptitle(f"Retrieval: top-{top} by cosine similarity of frozen features "
                 "(green: same class as the query)", fontsize=10, y=1 - 0.1 / height, va="top")
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
