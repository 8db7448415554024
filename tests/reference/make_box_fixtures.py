#!/usr/bin/python3
"""DETR's Hungarian matcher as the reference for lbbt_match_cost, lbbt_boxes_giou_pairwise
and lbbt_linear_assignment used together (match_*), and DETR's SetCriterion as the reference
for lbbt_set_loss (setloss_*: logits, boxes, targets, the three losses, the weighted total,
its gradients w.r.t. logits and boxes, and the matching).

The matcher below is DETR's models/matcher.py HungarianMatcher.forward for one image, with
util/box_ops.py generalized_box_iou written out (no torchvision, no DETR checkout needed):

    cost = w_l1 * cdist(pred, tgt, p=1) - w_cls * prob[:, labels] - w_giou * giou(xyxy, xyxy)
    rows, cols = scipy.optimize.linear_sum_assignment(cost)

evaluated in float64.  For each case tests/fixtures/boxes/<case>.safetensors holds

    probs [Q, K] f32 (softmax of random logits, K includes the no-object class)
    pred [Q, 4], tgt [G, 4] f32 cxcywh in (0, 1)
    labels [G] i32
    cost [Q, G] f32, giou [Q, G] f32 (pairwise GIoU of the xyxy boxes)
    pred_to_tgt [Q] i32 (scipy's assignment; -1 for unmatched predictions)

with metadata w_cls, w_l1, w_giou and the total cost ("total", %.17g).
Run with /usr/bin/python3 (python3-torch, python3-scipy, python3-numpy).
"""
import os
import sys
import zlib

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import torch  # noqa: E402

from lbbt_ref import REPO, setup_torch, write_safetensors  # noqa: E402

OUT_DIR = os.path.join(REPO, "tests", "fixtures", "boxes")
F64 = torch.float64


def box_cxcywh_to_xyxy(x):
    cx, cy, w, h = x.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def box_area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def generalized_box_iou(b1, b2):
    """DETR util/box_ops.py, verbatim in substance."""
    area1, area2 = box_area(b1), box_area(b2)
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    iou = inter / union
    lt = torch.min(b1[:, None, :2], b2[:, :2])
    rb = torch.max(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[:, :, 0] * wh[:, :, 1]
    return iou - (area - union) / area


def make_case(name, Q, G, K, w_cls, w_l1, w_giou):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    logits = torch.randn(Q, K, generator=g, dtype=torch.float32) * 2
    probs = logits.double().softmax(-1).float()
    def boxes(n):
        c = torch.rand(n, 2, generator=g) * 0.6 + 0.2
        wh = torch.rand(n, 2, generator=g) * 0.35 + 0.05
        return torch.cat([c, wh], -1).float()
    pred, tgt = boxes(Q), boxes(G)
    if G and Q > 2:  # a few predictions close to targets, as after some training
        k = min(G, Q // 2)
        pred[:k] = (tgt[:k].double() + torch.randn(k, 4, generator=g).double() * 0.02).float()
        pred[:k, 2:] = pred[:k, 2:].abs() + 0.01
    labels = torch.randint(0, K - 1, (G,), generator=g, dtype=torch.int64)
    p64, t64 = pred.double(), tgt.double()
    giou = generalized_box_iou(box_cxcywh_to_xyxy(p64), box_cxcywh_to_xyxy(t64)) if G else \
        torch.zeros(Q, 0, dtype=F64)
    cost_bbox = torch.cdist(p64, t64, p=1) if G else torch.zeros(Q, 0, dtype=F64)
    cost_class = -probs.double()[:, labels]
    cost = w_l1 * cost_bbox + w_cls * cost_class + w_giou * (-giou)
    r, c = linear_sum_assignment(cost.numpy())
    p2t = np.full(Q, -1, dtype=np.int32)
    p2t[r] = c
    tensors = {"probs": probs, "pred": pred, "tgt": tgt, "labels": labels.int(),
               "cost": cost, "giou": giou, "pred_to_tgt": torch.from_numpy(p2t)}
    meta = {"w_cls": w_cls, "w_l1": w_l1, "w_giou": w_giou,
            "total": "%.17g" % float(cost.numpy()[r, c].sum()),
            "generator": "tests/reference/make_box_fixtures.py"}
    write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, meta)


def set_criterion_case(name, B, Q, K, counts, eos_coef=0.1):
    """DETR's SetCriterion (loss_labels, loss_boxes) with its HungarianMatcher, float64,
    weights ce 1, bbox 5, giou 2; gradients of the weighted total w.r.t. logits and boxes."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    logits = (torch.randn(B, Q, K + 1, generator=g) * 1.5).float()
    boxes = torch.randn(B, Q, 4, generator=g).sigmoid().float()
    labels, tboxes = [], []
    for n in counts:
        labels.append(torch.randint(0, K, (n,), generator=g))
        c = torch.rand(n, 2, generator=g) * 0.6 + 0.2
        wh = torch.rand(n, 2, generator=g) * 0.35 + 0.05
        tboxes.append(torch.cat([c, wh], -1).float())
    lg = logits.double().requires_grad_(True)
    bx = boxes.double().requires_grad_(True)
    src_rows, tgt_lab, tgt_box = [], [], []
    match = np.full(B * Q, -1, dtype=np.int32)
    with torch.no_grad():
        for b in range(B):
            if counts[b] == 0:
                continue
            prob = lg[b].softmax(-1)
            t64 = tboxes[b].double()
            C = (5.0 * torch.cdist(bx[b], t64, p=1) - 1.0 * prob[:, labels[b]]
                 - 2.0 * generalized_box_iou(box_cxcywh_to_xyxy(bx[b]), box_cxcywh_to_xyxy(t64)))
            r, c = linear_sum_assignment(C.numpy())
            for i, j in zip(r, c):
                src_rows.append(b * Q + int(i))
                tgt_lab.append(int(labels[b][j]))
                tgt_box.append(t64[j])
                match[b * Q + int(i)] = int(j)
    num_boxes = max(1, sum(counts))
    target_classes = torch.full((B * Q,), K, dtype=torch.int64)
    if src_rows:
        target_classes[src_rows] = torch.tensor(tgt_lab)
    weight = torch.ones(K + 1, dtype=F64)
    weight[-1] = eos_coef
    loss_ce = torch.nn.functional.cross_entropy(lg.reshape(B * Q, K + 1), target_classes, weight)
    if src_rows:
        src = bx.reshape(B * Q, 4)[src_rows]
        tgt = torch.stack(tgt_box)
        loss_bbox = (src - tgt).abs().sum() / num_boxes
        loss_giou = (1 - torch.diag(generalized_box_iou(box_cxcywh_to_xyxy(src),
                                                        box_cxcywh_to_xyxy(tgt)))).sum() / num_boxes
    else:
        loss_bbox = loss_giou = torch.zeros((), dtype=F64)
    total = 1.0 * loss_ce + 5.0 * loss_bbox + 2.0 * loss_giou
    total.backward()
    tensors = {"logits": logits, "boxes": boxes,
               "tgt_counts": torch.tensor(counts, dtype=torch.int32),
               "tgt_labels": torch.cat(labels).int() if sum(counts) else torch.zeros(1, dtype=torch.int32),
               "tgt_boxes": torch.cat(tboxes) if sum(counts) else torch.zeros(1, 4),
               "loss_ce": loss_ce.reshape(1), "loss_bbox": loss_bbox.reshape(1),
               "loss_giou": loss_giou.reshape(1), "total": total.reshape(1),
               "grad.logits": lg.grad, "grad.boxes": bx.grad, "match": torch.from_numpy(match)}
    write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors,
                      {"eos_coef": eos_coef, "generator": "tests/reference/make_box_fixtures.py"})


def main():
    setup_torch()
    os.makedirs(OUT_DIR, exist_ok=True)
    make_case("match_detr_weights", 12, 5, 11, 1.0, 5.0, 2.0)
    make_case("match_more_targets_than_queries", 4, 7, 6, 1.0, 5.0, 2.0)
    make_case("match_many", 40, 17, 92, 1.0, 5.0, 2.0)
    make_case("match_other_weights", 9, 9, 4, 2.0, 1.0, 0.5)
    set_criterion_case("setloss_basic", 2, 6, 4, [2, 3])
    set_criterion_case("setloss_empty_image", 3, 5, 3, [0, 4, 1])
    set_criterion_case("setloss_full", 1, 4, 7, [4], eos_coef=0.2)
    print(f"make_box_fixtures: 7 cases in {OUT_DIR}")


if __name__ == "__main__":
    main()
