#!/usr/bin/python3
"""An independent COCO box evaluation in Python + numpy, for test_coco_eval.

pycocotools is not packaged in Debian 12, so this file re-implements COCOeval (iouType
"bbox") the way pycocotools/cocoeval.py is written: per-(image, category) dicts of
annotations, evaluateImg's greedy matching loop over IoU thresholds, detections and ground
truths, accumulate's concatenation + mergesort + cumsum, summarize's mean over entries > -1,
and maskApi.c's bbIou.  It shares no code with lbbt's C implementation
(core/src/metrics/coco_eval.c), which is organised differently.

For each case it writes tests/fixtures/coco_eval/<case>.json:
    images [ids], categories [ids], params {small_max, medium_max, area_max, max_dets}
    gt   [[image_id, category_id, x, y, w, h, area, iscrowd], ...]   (area -1: w*h)
    dt   [[image_id, category_id, x, y, w, h, score], ...]
    stats [12]                      summarize's numbers
    recall [T*K*A*M]                eval['recall'] flattened (C order)
    ap_by_threshold [T*K*A*M]       eval['precision'] averaged over the 101 recall points
                                    (-1 where the entry is -1)
    iou_thrs [10], rec_thrs [101]   the linspace values
Floats are written with repr (shortest round trip), so the C test reads them exactly.

Cases: random images of random sizes with crowds, empty images, images with detections
only, categories without ground truth, duplicate detections, tied scores, more detections
than maxDets, explicit gt areas, and degenerate datasets (no detections, no ground truth).
Run with /usr/bin/python3 (python3-numpy).
"""
import json
import os
from collections import defaultdict

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "coco_eval")


class Params:
    def __init__(self, small_max=32 ** 2, medium_max=96 ** 2, area_max=1e5 ** 2,
                 max_dets=(1, 10, 100)):
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = list(max_dets)
        self.areaRng = [[0, area_max], [0, small_max], [small_max, medium_max],
                        [medium_max, area_max]]
        self.areaRngLbl = ["all", "small", "medium", "large"]


def bb_iou(dt, gt, iscrowd):
    """maskApi.c bbIou: dt [D, 4], gt [G, 4] xywh -> [D, G]."""
    o = np.zeros((len(dt), len(gt)))
    for g, G in enumerate(gt):
        ga = G[2] * G[3]
        for d, D in enumerate(dt):
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            i = w * h
            u = da if iscrowd[g] else da + ga - i
            o[d, g] = i / u
    return o


class CocoEvalRef:
    def __init__(self, images, categories, gts, dts, params):
        self.p = params
        self.imgIds = sorted(images)
        self.catIds = sorted(categories)
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        for n, g in enumerate(gts):
            ann = {"id": n + 1, "image_id": g[0], "category_id": g[1], "bbox": list(g[2:6]),
                   "area": g[6] if g[6] >= 0 else g[4] * g[5], "iscrowd": g[7]}
            ann["ignore"] = ann["iscrowd"]
            self._gts[ann["image_id"], ann["category_id"]].append(ann)
        for n, d in enumerate(dts):  # loadRes: id = index + 1, area = w * h, iscrowd 0
            assert d[0] in self.imgIds
            ann = {"id": n + 1, "image_id": d[0], "category_id": d[1], "bbox": list(d[2:6]),
                   "score": d[6], "area": d[4] * d[5], "iscrowd": 0}
            if ann["category_id"] in self.catIds:
                self._dts[ann["image_id"], ann["category_id"]].append(ann)

    def computeIoU(self, imgId, catId):
        gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in inds]
        if len(dt) > self.p.maxDets[-1]:
            dt = dt[0:self.p.maxDets[-1]]
        if len(gt) == 0 or len(dt) == 0:
            return []
        return bb_iou([d["bbox"] for d in dt], [g["bbox"] for g in gt],
                      [int(o["iscrowd"]) for o in gt])

    def evaluateImg(self, imgId, catId, aRng, maxDet):
        gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            g["_ignore"] = 1 if (g["ignore"] or g["area"] < aRng[0] or g["area"] > aRng[1]) else 0
        gtind = np.argsort([g["_ignore"] for g in gt], kind="mergesort")
        gt = [gt[i] for i in gtind]
        dtind = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in dtind[0:maxDet]]
        iscrowd = [int(o["iscrowd"]) for o in gt]
        ious = self.ious[imgId, catId]
        ious = ious[:, gtind] if len(ious) > 0 else ious
        T, G, D = len(self.p.iouThrs), len(gt), len(dt)
        gtm, dtm = np.zeros((T, G)), np.zeros((T, D))
        gtIg = np.array([g["_ignore"] for g in gt])
        dtIg = np.zeros((T, D))
        if not len(ious) == 0:
            for tind, t in enumerate(self.p.iouThrs):
                for dind, d in enumerate(dt):
                    iou = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gtIg[m] == 0 and gtIg[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dtIg[tind, dind] = gtIg[m]
                    dtm[tind, dind] = gt[m]["id"]
                    gtm[tind, m] = d["id"]
        a = np.array([d["area"] < aRng[0] or d["area"] > aRng[1] for d in dt]).reshape((1, len(dt)))
        dtIg = np.logical_or(dtIg, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {"dtMatches": dtm, "dtScores": [d["score"] for d in dt], "gtIgnore": gtIg,
                "dtIgnore": dtIg}

    def evaluate(self):
        self.ious = {(i, c): self.computeIoU(i, c) for i in self.imgIds for c in self.catIds}
        maxDet = self.p.maxDets[-1]
        self.evalImgs = [self.evaluateImg(i, c, aRng, maxDet)
                         for c in self.catIds for aRng in self.p.areaRng for i in self.imgIds]

    def accumulate(self):
        p = self.p
        T, R, K, A, M = len(p.iouThrs), len(p.recThrs), len(self.catIds), len(p.areaRng), len(p.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        I0, A0 = len(self.imgIds), len(p.areaRng)
        for k in range(K):
            Nk = k * A0 * I0
            for a in range(A):
                Na = a * I0
                for m, maxDet in enumerate(p.maxDets):
                    E = [self.evalImgs[Nk + Na + i] for i in range(I0)]
                    E = [e for e in E if e is not None]
                    if len(E) == 0:
                        continue
                    dtScores = np.concatenate([e["dtScores"][0:maxDet] for e in E])
                    inds = np.argsort(-dtScores, kind="mergesort")
                    dtm = np.concatenate([e["dtMatches"][:, 0:maxDet] for e in E], axis=1)[:, inds]
                    dtIg = np.concatenate([e["dtIgnore"][:, 0:maxDet] for e in E], axis=1)[:, inds]
                    gtIg = np.concatenate([e["gtIgnore"] for e in E])
                    npig = np.count_nonzero(gtIg == 0)
                    if npig == 0:
                        continue
                    tps = np.logical_and(dtm, np.logical_not(dtIg))
                    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dtIg))
                    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                        tp, fp = np.array(tp), np.array(fp)
                        nd = len(tp)
                        rc = tp / npig
                        pr = tp / (fp + tp + np.spacing(1))
                        q = np.zeros((R,))
                        recall[t, k, a, m] = rc[-1] if nd else 0
                        pr, q = pr.tolist(), q.tolist()
                        for i in range(nd - 1, 0, -1):
                            if pr[i] > pr[i - 1]:
                                pr[i - 1] = pr[i]
                        inds2 = np.searchsorted(rc, p.recThrs, side="left")
                        try:
                            for ri, pi in enumerate(inds2):
                                q[ri] = pr[pi]
                        except IndexError:
                            pass
                        precision[t, :, k, a, m] = np.array(q)
        self.precision, self.recall = precision, recall

    def summarize(self):
        p = self.p

        def _summarize(ap=1, iouThr=None, areaRng="all", maxDets=100):
            aind = [i for i, aRng in enumerate(p.areaRngLbl) if aRng == areaRng]
            mind = [i for i, mDet in enumerate(p.maxDets) if mDet == maxDets]
            if ap == 1:
                s = self.precision
                if iouThr is not None:
                    s = s[np.where(iouThr == p.iouThrs)[0]]
                s = s[:, :, :, aind, mind]
            else:
                s = self.recall
                if iouThr is not None:
                    s = s[np.where(iouThr == p.iouThrs)[0]]
                s = s[:, :, aind, mind]
            return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

        md = p.maxDets
        return [_summarize(1, maxDets=md[2]), _summarize(1, iouThr=.5, maxDets=md[2]),
                _summarize(1, iouThr=.75, maxDets=md[2]),
                _summarize(1, areaRng="small", maxDets=md[2]),
                _summarize(1, areaRng="medium", maxDets=md[2]),
                _summarize(1, areaRng="large", maxDets=md[2]),
                _summarize(0, maxDets=md[0]), _summarize(0, maxDets=md[1]),
                _summarize(0, maxDets=md[2]), _summarize(0, areaRng="small", maxDets=md[2]),
                _summarize(0, areaRng="medium", maxDets=md[2]),
                _summarize(0, areaRng="large", maxDets=md[2])]


# ---- cases ------------------------------------------------------------------------------------
def random_case(rng, n_img, n_cat, canvas, crowd_p=0.1, fp_per_img=3, dup_p=0.2, tie=False,
                extra_cat=False, explicit_area_p=0.0, many_dets=False):
    images = [int(x) for x in rng.choice(np.arange(1, 1000), n_img, replace=False)]
    cats = [int(x) for x in rng.choice(np.arange(1, 100), n_cat, replace=False)]
    gts, dts = [], []
    for img in images:
        if rng.uniform() < 0.15:
            continue  # an image without ground truth (detections on it are false positives)
        for _ in range(rng.randint(1, 6)):
            cat = int(rng.choice(cats[:-1] if extra_cat and n_cat > 1 else cats))
            side = float(np.exp(rng.uniform(np.log(4), np.log(canvas * 0.8))))
            w, h = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
            x, y = rng.uniform(0, canvas - w / 2), rng.uniform(0, canvas - h / 2)
            crowd = int(rng.uniform() < crowd_p)
            area = float(w * h * rng.uniform(0.5, 1.0)) if rng.uniform() < explicit_area_p else -1.0
            gts.append([img, cat, float(x), float(y), float(w), float(h), area, crowd])
            for _ in range(rng.randint(0, 3)):  # detections near it
                j = rng.normal(0, 0.07 * side, 4)
                dts.append([img, cat, float(x + j[0]), float(y + j[1]),
                            float(max(1.0, w + j[2])), float(max(1.0, h + j[3])),
                            float(rng.uniform())])
                if rng.uniform() < dup_p:
                    dts.append(list(dts[-1][:6]) + [float(rng.uniform())])
        for _ in range(rng.randint(0, fp_per_img + 1)):
            cat = int(rng.choice(cats))
            side = float(np.exp(rng.uniform(np.log(4), np.log(canvas * 0.8))))
            dts.append([img, cat, float(rng.uniform(0, canvas)), float(rng.uniform(0, canvas)),
                        side, side * float(rng.uniform(0.5, 2)), float(rng.uniform())])
        if many_dets:
            for _ in range(rng.randint(90, 130)):
                cat = int(rng.choice(cats))
                dts.append([img, cat, float(rng.uniform(0, canvas)), float(rng.uniform(0, canvas)),
                            float(rng.uniform(4, 60)), float(rng.uniform(4, 60)),
                            float(rng.uniform())])
    if tie:
        for d in dts:
            d[6] = round(d[6] * 4) / 4.0
    # detection order matters for ties: shuffle as a detector's output would be
    order = rng.permutation(len(dts))
    dts = [dts[i] for i in order]
    return images, cats, gts, dts


def hand_cases():
    """Small cases whose numbers test_coco_eval also works out by hand."""
    out = {}
    # a detection matched at IoU 0.5..0.6 only, a duplicate, a crowd that absorbs one
    out["hand_crowd_duplicate"] = (
        [1, 2], [7],
        [[1, 7, 10, 10, 40, 40, -1, 0], [1, 7, 100, 100, 50, 50, -1, 1]],
        [[1, 7, 10, 10, 40, 40, 0.9], [1, 7, 10, 10, 40, 40, 0.8], [1, 7, 110, 110, 20, 20, 0.7],
         [2, 7, 0, 0, 30, 30, 0.95]])
    out["no_detections"] = ([1, 2, 3], [1, 2], [[1, 1, 0, 0, 10, 10, -1, 0],
                                                [2, 2, 5, 5, 100, 100, -1, 0]], [])
    out["no_ground_truth"] = ([1, 2], [1], [], [[1, 1, 0, 0, 10, 10, 0.5]])
    out["boundary_areas"] = (  # areas exactly at 32^2 and 96^2: in both neighbouring ranges
        [1], [3],
        [[1, 3, 0, 0, 32, 32, -1, 0], [1, 3, 50, 50, 96, 96, -1, 0], [1, 3, 200, 0, 20, 20, 1024, 0]],
        [[1, 3, 0, 0, 32, 32, 0.6], [1, 3, 50, 50, 96, 96, 0.6], [1, 3, 200, 0, 20, 20, 0.6]])
    # a detection with equal IoU (7/13) to two ground truths: the later one takes it, which
    # decides whether the next detection still finds a match
    out["tied_ious"] = ([1], [1], [[1, 1, 0, 0, 10, 10, -1, 0], [1, 1, 6, 0, 10, 10, -1, 0]],
                        [[1, 1, 3, 0, 10, 10, 0.9], [1, 1, 0, 0, 10, 10, 0.8]])
    return out


def run(images, cats, gts, dts, params):
    ev = CocoEvalRef(images, cats, gts, dts, params)
    ev.evaluate()
    ev.accumulate()
    stats = ev.summarize()
    prec = ev.precision
    ap_t = np.where((prec > -1).all(axis=1), prec.mean(axis=1), -1.0)
    return stats, ev.recall.ravel().tolist(), ap_t.ravel().tolist()


def write(name, images, cats, gts, dts, params_kw):
    params = Params(**params_kw)
    stats, recall, ap_t = run(images, cats, gts, dts, params)
    doc = {"case": name, "generator": "tests/reference/coco_eval_reference.py",
           "images": images, "categories": cats,
           "params": {"small_max": params.areaRng[1][1], "medium_max": params.areaRng[2][1],
                      "area_max": params.areaRng[0][1], "max_dets": params.maxDets},
           "gt": gts, "dt": dts, "stats": stats, "recall": recall, "ap_by_threshold": ap_t,
           "iou_thrs": params.iouThrs.tolist(), "rec_thrs": params.recThrs.tolist()}
    with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    return stats


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    coco = {}
    for name, (images, cats, gts, dts) in hand_cases().items():
        print(name, ["%.4f" % s for s in write(name, images, cats, gts, dts, coco)])
    rng = np.random.RandomState(14)
    specs = [
        ("random_small", dict(n_img=4, n_cat=2, canvas=200)),
        ("random_crowds_dups", dict(n_img=8, n_cat=3, canvas=300, crowd_p=0.3, dup_p=0.5)),
        ("random_ties", dict(n_img=10, n_cat=3, canvas=300, tie=True)),
        ("random_extra_category", dict(n_img=6, n_cat=4, canvas=250, extra_cat=True)),
        ("random_explicit_area", dict(n_img=6, n_cat=2, canvas=400, explicit_area_p=0.5)),
        ("random_many_dets", dict(n_img=3, n_cat=2, canvas=300, many_dets=True)),
        ("random_large", dict(n_img=25, n_cat=5, canvas=640, crowd_p=0.05)),
    ]
    for name, kw in specs:
        images, cats, gts, dts = random_case(rng, **kw)
        print(name, ["%.4f" % s for s in write(name, images, cats, gts, dts, coco)])
    # a canvas of 96 px with thresholds scaled from COCO's 640 px, and other maxDets
    images, cats, gts, dts = random_case(rng, n_img=8, n_cat=3, canvas=96)
    s = (96 / 640) ** 2
    print("random_canvas96", ["%.4f" % v for v in write(
        "random_canvas96", images, cats, gts, dts,
        dict(small_max=32 * 32 * s, medium_max=96 * 96 * s, max_dets=(1, 5, 20)))])


if __name__ == "__main__":
    main()
