"""Shared helpers for tools/plot/figure-N.py: read an lbbt results file, group its runs by
matrix values, and save a figure with its provenance in the footer.

A results file (core/include/lbbt/results.h) holds /runs/<id> groups with attributes
matrix.<key> (the run's matrix values as text) and the run record's items: scalars and
series as datasets, arrays as datasets, strings as attributes of their parent group."""
import os
import re
import sys

import numpy as np

try:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
except ImportError as e:  # the Debian packages python3-h5py and python3-matplotlib
    sys.exit(f"plot: {e}; install python3-h5py and python3-matplotlib (tools/install-deps)")

# Colours used for the arms in every figure (the paper draws scratch blue, pretrained orange).
INIT_COLORS = {
    "language": "#e6862a",
    "scratch": "#2f6db5",
    "shuffled": "#3a9a4a",
    "moment-matched": "#8a4fb0",
    "scratch-rescaled": "#8c6d31",
}
INIT_ORDER = ["language", "scratch", "shuffled", "moment-matched", "scratch-rescaled"]
# Arms of a second backbone (an experiment's `groups:`, e.g. lbbt's GPT-2 pair of the cpu tier).
OTHER_BACKBONE_COLORS = {"language": "#b2182b", "scratch": "#542788"}
FASHION_MNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"]


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


class Run:
    """One run: its matrix values (text) and access to its record items."""

    def __init__(self, rid, group):
        self.id = rid
        self.group = group
        self.matrix = {k[len("matrix."):]: _text(v) for k, v in group.attrs.items()
                       if k.startswith("matrix.")}
        self.label = _text(group.attrs.get("label", ""))

    def has(self, path):
        return self.get(path, None) is not None

    def get(self, path, default=KeyError):
        """A dataset's value (numpy array or float) or a string attribute."""
        if path in self.group and isinstance(self.group[path], h5py.Dataset):
            v = self.group[path][()]
            return float(v) if np.ndim(v) == 0 else np.asarray(v)
        parent, _, name = path.rpartition("/")
        g = self.group[parent] if parent and parent in self.group else (self.group if not parent else None)
        if g is not None and name in g.attrs:
            return _text(g.attrs[name])
        if default is KeyError:
            raise KeyError(f"run {self.id} ({self.label}) has no item '{path}'")
        return default

    def m(self, key, default=None):
        return self.matrix.get(key, default)

    @property
    def plugin(self):
        """The backbone plugin, from the run's resolved config (matrix values do not say it
        for runs whose backbone comes from base)."""
        hit = re.search(r"(?m)^backbone:\n  plugin: (\S+)$", _text(self.group.attrs.get("config", "")))
        return hit.group(1) if hit else None


class Results:
    def __init__(self, path):
        if not os.path.exists(path):
            sys.exit(f"plot: {path} does not exist; run the experiment first (make figure-N runs it)")
        self.path = path
        self.file = h5py.File(path, "r")
        if "lbbt_format" not in self.file.attrs:
            sys.exit(f"plot: {path} is not an lbbt results file")
        self.attrs = {k: _text(v) for k, v in self.file.attrs.items()}
        runs = self.file.get("runs")
        self.runs = [Run(rid, runs[rid]) for rid in runs] if runs is not None else []
        # The figures draw the paper's protocol (one shared learning rate): the fair-comparison
        # runs that tune it per arm (Tables 1 and 4) are left out of every arm.
        self.runs = [r for r in self.runs
                     if not any(k.endswith(".lr_sweep") and v == "per-arm" for k, v in r.matrix.items())]
        if not self.runs:
            sys.exit(f"plot: {path} holds no runs")

    def select(self, plugin=None, **matrix):
        """Runs whose matrix values equal the given ones (keys with '.' written as '__'), and
        whose backbone plugin is `plugin` when given."""
        want = {k.replace("__", "."): str(v) for k, v in matrix.items()}
        return [r for r in self.runs if all(r.m(k) == v for k, v in want.items())
                and (plugin is None or r.plugin == plugin)]

    def plugins(self):
        """The backbone plugins of the runs: the experiment's own first (most runs that do not
        swap the backbone through a `backbone` matrix or group value), then by run count and
        name.  Runs of two backbones must not be averaged together: figures draw one arm per
        (plugin, init)."""
        own, count = {}, {}
        for r in self.runs:
            count[r.plugin] = count.get(r.plugin, 0) + 1
            own[r.plugin] = own.get(r.plugin, 0) + (r.m("backbone") is None)
        return sorted(count, key=lambda p: (-own[p], -count[p], str(p)))

    def values(self, key):
        """Distinct values of a matrix key, in first-seen order."""
        seen = []
        for r in self.runs:
            v = r.m(key)
            if v is not None and v not in seen:
                seen.append(v)
        return seen

    def footer(self):
        a = self.attrs
        data = self.runs[0].get("data/train", "")
        data = data.split(" (")[0] + (", " + data.split("), ")[1] if "), " in data else "")
        return (f"lbbt {a.get('lbbt_version', '?')} · {a.get('experiment_name', '?')} · tier "
                f"{a.get('tier', '?')} · {data} · git {a.get('git_commit', '?')[:10]}"
                f"{' (dirty)' if a.get('git_dirty') == 'yes' else ''} · {os.path.basename(self.path)}")

    def class_names(self, k):
        src = self.runs[0].get("data/train", "")
        if src.startswith("fashion-mnist") and k == 10:
            return FASHION_MNIST
        return [f"class {i}" for i in range(k)]


def arm_color(init, plugin, plugins):
    """The init's colour for the first backbone, a second palette for the others."""
    if plugins and plugin != plugins[0]:
        return OTHER_BACKBONE_COLORS.get(init, "#777777")
    return INIT_COLORS.get(init)


def init_sorted(values):
    return sorted(values, key=lambda v: INIT_ORDER.index(v) if v in INIT_ORDER else len(INIT_ORDER))


def mean_std(xs):
    xs = np.asarray(xs, dtype=float)
    return float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def stack_series(runs, path):
    """Series of several runs (seeds) cut to the shortest: array [n_runs, n_epochs]."""
    series = [np.asarray(r.get(path), dtype=float) for r in runs if r.has(path)]
    if not series:
        return None
    n = min(len(s) for s in series)
    return np.stack([s[:n] for s in series])


def save(fig, results, out):
    fig.text(0.5, 0.003, results.footer(), ha="center", va="bottom", fontsize=7, color="#555555")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    print(f"wrote {out}")


def args(n_extra=0):
    if len(sys.argv) != 3 + n_extra:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} RESULTS.h5 OUT.png")
    return sys.argv[1], sys.argv[2]
