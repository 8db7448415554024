#!/usr/bin/python3
"""Score a COCO instances file and a COCO results file with the independent numpy COCOeval
(coco_eval_reference.py), reading them as pycocotools' COCO() and COCO.loadRes read them:
the check of lbbt's exported detection files (tests/cli/detr.sh).

    coco_files_score.py INSTANCES.json RESULTS.json [CANVAS_SIDE]

CANVAS_SIDE > 0 scales COCO's area bounds to that image side, as lbbt_coco_params_default
does; prints the 12 stats, one per line, in COCOeval.summarize's order."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coco_eval_reference as ref  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        inst = json.load(f)
    with open(sys.argv[2]) as f:
        res = json.load(f)
    side = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    scale = (side / 640.0) ** 2 if side > 0 else 1.0
    params = ref.Params(small_max=32 ** 2 * scale, medium_max=96 ** 2 * scale)
    images = [im["id"] for im in inst["images"]]
    cats = [c["id"] for c in inst["categories"]]
    gts = [[a["image_id"], a["category_id"], *a["bbox"], a["area"], a["iscrowd"]] for a in inst["annotations"]]
    dts = [[d["image_id"], d["category_id"], *d["bbox"], d["score"]] for d in res]
    stats, _, _ = ref.run(images, cats, gts, dts, params)
    for s in stats:
        print(repr(float(s)))


if __name__ == "__main__":
    main()
