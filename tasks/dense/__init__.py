"""Dense transfer: how are detection, segmentation and surface normals evaluated?

- ``detection.py``: ``task=voc_det | fmnist_det``, Faster R-CNN on the stage maps, VOC AP;
- ``segmentation.py``: ``task=ade20k_seg | fmnist_seg``, UPerNet, mIoU;
- ``normals.py``: ``task=nyuv2_normals``, UPerNet regressing unit normals, angular errors;
- ``splits.py``: where each task's train / test sets come from (official splits or offline canvases);
- ``heads.py``: the Faster R-CNN and UPerNet heads on a backbone's stage maps;
- ``pixel_protocol.py``: the segmentation / normals protocol (augment, fit, predict at full size);
- ``transforms.py``: mmseg-style joint augmentation and the test-time view;
- ``finetune.py``: the one SGD fine-tuning loop and its schedules;
- ``metrics.py`` (segmentation and normals) and ``voc_ap.py`` (detection).
"""
from tasks.dense import detection, normals, segmentation  # noqa: F401  (registers the tasks)
