#!/usr/bin/python3
"""mmseg-style mIoU fixtures for lbbt_seg_confusion (core/src/metrics/seg_metrics.c).

An independent numpy transcription of mmseg's IoUMetric (intersect_and_union per image with
histograms, summed over the set, then total_area_to_metrics with np.nanmean), run on seeded
random masks.  Writes tests/fixtures/segmetrics/mmseg.txt, one block per case:

    case NAME K IGNORE N_IMAGES
    image NPIX
    gt v0 v1 ...
    pred v0 v1 ...
    (N_IMAGES times)
    aacc A
    miou M
    macc C
    iou v_0 ... v_{K-1}      ("nan" where undefined)
    acc v_0 ... v_{K-1}

Run with /usr/bin/python3 (Debian python3-numpy).
"""
import os

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "segmetrics", "mmseg.txt")


def intersect_and_union(pred, label, k, ignore):
    mask = label != ignore
    pred, label = pred[mask], label[mask]
    inter = pred[pred == label]
    hist = lambda x: np.histogram(x, bins=k, range=(0, k - 1))[0] if k > 1 else \
        np.array([np.sum(x == 0)])
    return hist(inter), hist(pred), hist(label)


def total_metrics(images, k, ignore):
    ti = np.zeros(k); tp = np.zeros(k); tl = np.zeros(k)
    for gt, pred in images:
        i, p, l = intersect_and_union(pred, gt, k, ignore)
        ti += i; tp += p; tl += l
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = ti / (tp + tl - ti)
        acc = ti / tl
        aacc = ti.sum() / tl.sum()
    miou = np.nanmean(iou) if not np.all(np.isnan(iou)) else np.nan
    macc = np.nanmean(acc) if not np.all(np.isnan(acc)) else np.nan
    return aacc, miou, macc, iou, acc


def cases():
    rng = np.random.RandomState(20261215)
    out = []
    for name, k, ignore, n_img, npix, p_ignore, p_right, absent in [
            ("tiny_k2", 2, 255, 1, 12, 0.0, 0.6, []),
            ("k5_ignore", 5, 255, 3, 40, 0.2, 0.5, []),
            ("k8_absent_classes", 8, 255, 4, 30, 0.1, 0.4, [2, 6]),
            ("k1", 1, 255, 2, 10, 0.3, 1.0, []),
            ("k150_sparse", 150, 255, 5, 64, 0.15, 0.3, []),
            ("ignore_is_class0", 4, 0, 3, 25, 0.0, 0.5, []),
            ("no_ignore", 6, -1, 2, 50, 0.0, 0.7, [5])]:
        imgs = []
        allowed = [c for c in range(k) if c not in absent and c != ignore]
        for _ in range(n_img):
            gt = rng.choice(allowed, npix)
            pred = np.where(rng.uniform(size=npix) < p_right, gt, rng.choice(allowed, npix))
            if p_ignore > 0:
                gt = np.where(rng.uniform(size=npix) < p_ignore, ignore, gt)
            imgs.append((gt.astype(np.int64), pred.astype(np.int64)))
        out.append((name, k, ignore, imgs))
    return out


def fmt(x):
    return "nan" if np.isnan(x) else "%.17g" % x


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    lines = []
    for name, k, ignore, imgs in cases():
        lines.append(f"case {name} {k} {ignore} {len(imgs)}")
        for gt, pred in imgs:
            lines.append(f"image {len(gt)}")
            lines.append("gt " + " ".join(str(int(v)) for v in gt))
            lines.append("pred " + " ".join(str(int(v)) for v in pred))
        aacc, miou, macc, iou, acc = total_metrics(imgs, k, ignore)
        lines += [f"aacc {fmt(aacc)}", f"miou {fmt(miou)}", f"macc {fmt(macc)}",
                  "iou " + " ".join(fmt(v) for v in iou), "acc " + " ".join(fmt(v) for v in acc)]
    with open(OUT + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
