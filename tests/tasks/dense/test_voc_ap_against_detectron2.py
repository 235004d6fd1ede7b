"""The suite's VOC detection metric (tasks/dense/voc_ap.py, fed as the built-in voc_det task feeds it) against
detectron2's own PascalVOCDetectionEvaluator on the same detections of the same VOC2007-test replica: AP,
AP50 and AP75 agree to 1e-6 (once detectron2's mean over all 20 classes is taken into account; see below).
detectron2 is an optional extra; without it this skips, saying how to install."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data import build_dataset
from benchmark.data.voc_detection import CLASSES
from tasks.dense.detection import voc_prediction
from tasks.dense.voc_ap import voc_detection_metrics
from tests.helpers.replicas import write_voc_detection_replica

INSTALL = ("detectron2 not installed: make test GANREP_WHEELS=<folder of the wheels of ../shared/wheels/README.md>, "
           "or pip install --find-links <that folder> 'ganrep-bench[detectron2]'")


def detector_outputs(truths: list[dict], seed: int) -> list[dict]:
    """What a torchvision detector would return on each image (half-open boxes, labels after the background):
    each true box jittered (some far enough to miss at IoU 0.5 or 0.75), plus false positives, random scores."""
    rng = np.random.default_rng(seed)
    outputs = []
    for truth in truths:
        boxes, labels = [], []
        for box, label in zip(truth["boxes"].numpy(), truth["labels"].numpy()):
            size = box[2:] - box[:2] + 1
            for _ in range(rng.integers(1, 3)):
                shift = rng.normal(0, 0.12, 4) * np.concatenate([size, size])
                half_open = box + np.array([0, 0, 1, 1]) + shift
                boxes.append(half_open)
                labels.append(label if rng.random() > 0.15 else rng.integers(0, len(CLASSES)))
        for _ in range(rng.integers(0, 3)):  # false positives anywhere
            x1, y1 = rng.uniform(0, 40, 2)
            boxes.append([x1, y1, x1 + rng.uniform(5, 30), y1 + rng.uniform(5, 30)])
            labels.append(rng.integers(0, len(CLASSES)))
        boxes = np.maximum(np.asarray(boxes, dtype=np.float64), 0)
        outputs.append({"boxes": torch.tensor(boxes, dtype=torch.float32),
                        "scores": torch.tensor(rng.uniform(0.05, 1, len(boxes)), dtype=torch.float32),
                        "labels": torch.tensor(labels, dtype=torch.int64) + 1})
    return outputs


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("voc_list,split", [("test", "07_test"), ("trainval", "07_trainval")])
def test_voc_ap_equals_detectron2s_evaluator_on_the_same_detections(tmp_path, seed, voc_list, split):
    pytest.importorskip("detectron2", reason=INSTALL)
    from detectron2.data import MetadataCatalog
    from detectron2.evaluation import PascalVOCDetectionEvaluator
    from detectron2.structures import Boxes, Instances

    root = write_voc_detection_replica(tmp_path)
    test_set = build_dataset({"name": "voc_detection", "root": str(root)}, split)
    truths = [test_set.annotations[i] for i in range(len(test_set))]
    outputs = detector_outputs(truths, seed)

    ours = voc_detection_metrics([voc_prediction(out) for out in outputs],
                                 [{k: v.numpy() for k, v in t.items() if k in ("boxes", "labels", "difficult")}
                                  for t in truths], len(CLASSES))

    name = f"ganrep_voc07_{voc_list}_{seed}"
    MetadataCatalog.get(name).set(dirname=str(root / "VOCdevkit" / "VOC2007"), year=2007, split=voc_list,
                                  thing_classes=list(CLASSES))
    evaluator = PascalVOCDetectionEvaluator(name)
    evaluator.reset()
    for path, out in zip(test_set.paths, outputs):
        image_id = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        # a detectron2 model predicts half-open boxes in its loader's frame, which is the suite's (both take
        # 1 from the XML's xmin / ymin); the evaluator adds it back when writing them out
        instances = Instances((500, 500), pred_boxes=Boxes(out["boxes"]), scores=out["scores"],
                              pred_classes=out["labels"] - 1)
        evaluator.process([{"image_id": image_id}], [{"instances": instances}])
    theirs = evaluator.evaluate()["bbox"]
    # detectron2 averages over all 20 classes, a class with no ground-truth box scoring 0 (VOC2007 test has
    # every class, so on it the two means are one); voc_ap leaves such classes out: on the replica's few
    # classes, detectron2's mean is voc_ap's times (classes scored / 20)
    present = ours["classes_scored"] / len(CLASSES)
    assert 0 < present < 1
    for key in ("AP", "AP50", "AP75"):
        assert abs(ours[key] * present - theirs[key]) < 1e-6, (key, ours[key], theirs[key])
    assert 0 < ours["AP"] < 100  # the jitter makes the case non-trivial (misses at the higher IoU thresholds)
