#!/usr/bin/env python3
"""Figure 2 (right) and Appendix B Figures 10-11: weight distributions of the language-
pretrained backbone vs scratch (and the shuffled / moment-matched controls), at
initialisation and after bridge training with correct and with random labels.

Reads the `outliers` stages weights_init / weights_after of experiments/figure-2.yaml.
Row 1: |w| histograms (fraction of the transformer blocks' weights per log-spaced bin).
Row 2: standardised values z = (w - mean) / std per tensor, pooled over the blocks (tails
beyond the sigma rule's k shaded).  Row 3: outlier counts under both rules, and the pooled
excess kurtosis, per arm and state.
usage: figure-2.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

STATES = [("init", "weights_init", None), ("after correct-label bridge", "weights_after", "true"),
          ("after 100% random-label bridge", "weights_after", "random")]


def block_groups(run, stage):
    names = run.get(f"{stage}/group_names").split("\n")
    return [i for i, n in enumerate(names) if n.startswith("block.")]


def block_stats(run, stage):
    """Outlier counts (both rules) and pooled excess kurtosis over the transformer blocks."""
    b = block_groups(run, stage)
    numel = run.get(f"{stage}/group_numel")[b]
    kurt = run.get(f"{stage}/group_kurtosis")[b]
    return {"outliers_sigma": float(run.get(f"{stage}/group_outliers_sigma")[b].sum()),
            "outliers_tau": float(run.get(f"{stage}/group_outliers_tau")[b].sum()),
            "kurtosis": float(np.sum(kurt * numel) / max(numel.sum(), 1)), "numel": int(numel.sum())}


def state_run(res, init, labels):
    """The run for an arm and state: init rows may come from either label arm (identical)."""
    runs = res.select(backbone__init=init) if labels is None else \
        res.select(backbone__init=init, stages__bridge__labels=labels)
    return runs[0] if runs else None


def main():
    path, out = lp.args()
    res = lp.Results(path)
    inits = lp.init_sorted(res.values("backbone.init"))
    fig = plt.figure(figsize=(15, 12.5))
    gs = fig.add_gridspec(3, 3, hspace=0.42, wspace=0.25, top=0.9, bottom=0.07, left=0.06, right=0.98)
    k = tau = None
    for col, (title, stage, labels) in enumerate(STATES):
        ax_m = fig.add_subplot(gs[0, col])
        ax_z = fig.add_subplot(gs[1, col])
        for init in inits:
            run = state_run(res, init, labels)
            if run is None or not run.has(f"{stage}/hist/group_magnitude"):
                continue
            k = run.get(f"{stage}/options/k")
            tau = run.get(f"{stage}/options/tau")
            blocks = block_groups(run, stage)
            color = lp.INIT_COLORS.get(init)
            bs = block_stats(run, stage)
            n_blocks, pooled_kurt = bs["numel"], bs["kurtosis"]
            # |w| on log bins: fraction of the blocks' weights per bin
            edges = run.get(f"{stage}/hist/magnitude_edges")
            counts = run.get(f"{stage}/hist/group_magnitude")[blocks].sum(axis=0)
            centers = np.sqrt(edges[:-1] * edges[1:])
            frac = counts / max(n_blocks, 1)
            ls = "-" if init in ("language", "scratch") else "--"
            ax_m.plot(centers, np.where(frac > 0, frac, np.nan), ls, color=color, lw=1.6,
                      label=f"{init} (κ={pooled_kurt:.2f})")
            # z on linear bins: density
            zedges = run.get(f"{stage}/hist/z_edges")
            zc = run.get(f"{stage}/hist/group_z")[blocks].sum(axis=0)
            zw = np.diff(zedges)
            dens = zc / max(zc.sum(), 1) / zw
            ax_z.step(zedges[:-1], np.where(dens > 0, dens, np.nan), where="post", color=color, lw=1.3,
                      ls=ls, label=init)
        ax_m.set_xscale("log")
        ax_m.set_yscale("log")
        ax_m.set_xlim(1e-5, 5)
        ax_m.set_xlabel("|w|")
        ax_m.set_ylabel("fraction of block weights per bin")
        ax_m.set_title(f"|w|, {title}", fontsize=11)
        if tau is not None:
            ax_m.axvline(tau, color="#aa0000", lw=0.8, ls=":")
            ax_m.text(tau, ax_m.get_ylim()[1], f" τ={tau:g}", color="#aa0000", fontsize=8, va="top")
        ax_m.legend(fontsize=8, loc="lower left", title="pooled excess kurtosis κ", title_fontsize=8)
        ax_z.set_yscale("log")
        ax_z.set_xlim(-12, 12)
        ax_z.set_xlabel("z = (w − mean) / std, per tensor")
        ax_z.set_ylabel("density")
        ax_z.set_title(f"standardised weights, {title}", fontsize=11)
        if k is not None:
            for s in (-k, k):
                ax_z.axvspan(s, 12 * np.sign(s), color="#cc0000", alpha=0.07)
            ax_z.text(k, ax_z.get_ylim()[1], f" |z|>{k:g}", color="#aa0000", fontsize=8, va="top")
        # N(0,1) for reference
        zz = np.linspace(-12, 12, 400)
        ax_z.plot(zz, np.exp(-zz ** 2 / 2) / np.sqrt(2 * np.pi), color="#999999", lw=0.8, ls=":", label="N(0,1)")
        ax_z.set_ylim(1e-7, 1)
        ax_z.legend(fontsize=8, loc="upper left")
    # row 3: outlier counts and kurtosis per arm and state
    panels = [("outliers_sigma", f"block weights with |w − mean| > {k:g} std (per tensor)" if k else "sigma-rule outliers"),
              ("outliers_tau", f"block weights with |w| > {tau:g}" if tau is not None else "magnitude outliers"),
              ("kurtosis", "pooled excess kurtosis of the blocks' z")]
    width = 0.8 / max(len(inits), 1)
    for col, (item, title) in enumerate(panels):
        ax = fig.add_subplot(gs[2, col])
        for i, init in enumerate(inits):
            vals = []
            for _, stage, labels in STATES:
                run = state_run(res, init, labels)
                ok = run is not None and run.has(f"{stage}/group_names")
                vals.append(block_stats(run, stage)[item] if ok else np.nan)
            x = np.arange(len(STATES)) + (i - (len(inits) - 1) / 2) * width
            bars = ax.bar(x, vals, width, color=lp.INIT_COLORS.get(init), label=init)
            for b, v in zip(bars, vals):
                if np.isfinite(v):
                    ax.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{v:.2f}" if item == "kurtosis" else f"{int(v)}",
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(STATES)))
        ax.set_xticklabels(["init", "correct labels", "random labels"])
        ax.set_title(title, fontsize=11)
        ax.axhline(0, color="black", lw=0.6)
        if col == 1:
            ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(inits), frameon=False)
    fig.suptitle("Weight distributions: language-pretrained vs scratch (Fig. 2 right, Figs. 10–11)\n"
                 "transformer-block weight matrices; shuffled = language values permuted per tensor (same histogram as language "
                 "at init),\nmoment-matched = Gaussian with each tensor's mean/std", fontsize=12)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
