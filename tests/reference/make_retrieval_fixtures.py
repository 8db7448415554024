#!/usr/bin/python3
"""Retrieval-metric fixtures for lbbt_retrieval_evaluate (core/src/metrics/retrieval.c).

Per query, the gallery is scored by cosine similarity (float64 from the float32 features
written here); scikit-learn gives AP over the full ranking (average_precision_score) and
NDCG@k (ndcg_score, binary relevance); precision@k, hit@k and recall@k are counted with
numpy.  Features are resampled until no query has two gallery scores within 1e-5 of each
other: sklearn averages over ties while lbbt breaks them by index, and float32 vs float64
rounding must not reorder the ranking.  Queries with no relevant item are left out of the
means (as lbbt does).  Writes tests/fixtures/retrieval/sklearn.txt, one block per case:

    case NAME NQ NG D SELF          (SELF 1: query i is gallery i, left out of its ranking)
    qlab l_0 ... ;  glab l_0 ...    (glab omitted when SELF)
    q <D floats>  (NQ lines);  g <D floats> (NG lines, omitted when SELF)
    ks k_0 ... ; map M ; precision ... ; hit ... ; recall ... ; ndcg ... ; scored N

Run with /usr/bin/python3 (Debian python3-numpy, python3-sklearn).
"""
import os

import numpy as np
from sklearn.metrics import average_precision_score, ndcg_score

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "retrieval", "sklearn.txt")
KS = [1, 2, 5, 10]


def tie_free(q, g, self_mode):
    s = q.astype(np.float64) @ g.astype(np.float64).T
    for i in range(len(q)):
        row = np.delete(s[i], i) if self_mode else s[i]
        srt = np.sort(row)
        if len(srt) > 1 and np.min(np.diff(srt)) < 1e-5:
            return False
    return True


def metrics(q, ql, g, gl, self_mode):
    qn = q.astype(np.float64) / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    gn = g.astype(np.float64) / np.linalg.norm(g.astype(np.float64), axis=1, keepdims=True)
    s = qn @ gn.T
    aps, prec, hit, rec, ndcg = [], [[] for _ in KS], [[] for _ in KS], [[] for _ in KS], [[] for _ in KS]
    for i in range(len(q)):
        score, lab = s[i], gl
        if self_mode:
            score, lab = np.delete(score, i), np.delete(gl, i)
        rel = (lab == ql[i]).astype(int)
        if rel.sum() == 0:
            continue
        aps.append(average_precision_score(rel, score))
        order = np.argsort(-score, kind="stable")
        for j, k in enumerate(KS):
            top = rel[order[:k]].sum()
            prec[j].append(top / k)
            hit[j].append(float(top > 0))
            rec[j].append(top / rel.sum())
            ndcg[j].append(ndcg_score([rel], [score], k=k))
    return (np.mean(aps), [np.mean(x) for x in prec], [np.mean(x) for x in hit],
            [np.mean(x) for x in rec], [np.mean(x) for x in ndcg], len(aps))


def cases():
    rng = np.random.RandomState(20261216)
    out = []
    for name, nq, ng, d, n_cls, self_mode in [("gallery_small", 6, 15, 4, 3, 0),
                                               ("self_small", 12, 12, 5, 3, 1),
                                               ("gallery_80", 30, 80, 16, 7, 0),
                                               ("self_60", 60, 60, 24, 5, 1),
                                               ("gallery_with_unmatched", 20, 40, 8, 6, 0)]:
        while True:
            q = rng.normal(size=(nq, d)).astype(np.float32)
            ql = rng.randint(0, n_cls, nq)
            if self_mode:
                g, gl = q, ql
            else:
                g = rng.normal(size=(ng, d)).astype(np.float32)
                # one class never in the gallery: its queries have no relevant item
                gl = rng.randint(0, n_cls - 1 if name.endswith("unmatched") else n_cls, ng)
            if tie_free(q, g, self_mode):
                break
        out.append((name, q, ql, g, gl, self_mode))
    return out


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    f32 = lambda row: " ".join("%.9g" % v for v in row)
    f64 = lambda xs: " ".join("%.17g" % v for v in xs)
    lines = []
    for name, q, ql, g, gl, self_mode in cases():
        lines.append(f"case {name} {len(q)} {len(g)} {q.shape[1]} {self_mode}")
        lines.append("qlab " + " ".join(map(str, ql)))
        if not self_mode:
            lines.append("glab " + " ".join(map(str, gl)))
        lines += ["q " + f32(r) for r in q]
        if not self_mode:
            lines += ["g " + f32(r) for r in g]
        m, p, h, r, n, scored = metrics(q, ql, g, gl, self_mode)
        lines += ["ks " + " ".join(map(str, KS)), "map %.17g" % m, "precision " + f64(p),
                  "hit " + f64(h), "recall " + f64(r), "ndcg " + f64(n), f"scored {scored}"]
    with open(OUT + ".tmp", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
