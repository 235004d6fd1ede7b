"""Dense heads on a pretrained backbone's stage maps: the networks the dense transfer tasks fine-tune.

Every backbone exposes ``forward_stages(x)``: its stage maps, finest first (four, at strides 1/2/4/8 for
the CIFAR ResNet and 4/8/16/32 for torchvision's; three, at 2/4/8, for the small GAN's discriminator). On
top of them:
  - ``build_faster_rcnn``: torchvision's Faster R-CNN with a feature pyramid (FPN) on the stage maps plus a
    max-pooled fifth level, anchors ``anchor_scale`` x stride per level (detectron2's 32..512 px at
    strides 4..64 is anchor_scale 8);
  - ``UPerNetHead``: segmentation-models-pytorch's UPerNet decoder (Xiao et al., ECCV 2018: a pyramid
    pooling module on the coarsest map, an FPN over the others, all fused at the finest) and a 1x1
    classifier, upsampled to the input size. Used for semantic classes and, with 3 outputs, for normals.
``StageMaps`` wraps the backbone; ``frozen=True`` keeps it in eval mode without gradients (a dense
probe of the representation), otherwise it is fine-tuned with the head.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class StageMaps(nn.Module):
    def __init__(self, backbone: nn.Module, frozen: bool = False):
        super().__init__()
        self.body, self.frozen = backbone, frozen
        # fine-tuning trains every weight, even of a backbone its method kept frozen (the discriminator)
        backbone.requires_grad_(not frozen)
        if frozen:
            backbone.eval()

    def train(self, mode: bool = True) -> "StageMaps":
        super().train(mode)
        if self.frozen:  # the detector's .train() must not switch a frozen backbone's BN to batch statistics
            self.body.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.frozen:
            with torch.no_grad():
                return self.body.forward_stages(x)
        return self.body.forward_stages(x)


def stage_geometry(backbone: nn.Module, probe_size: int = 64) -> tuple[list[int], list[int]]:
    """(channels, strides) of the backbone's stage maps, measured on a probe image."""
    was_training = backbone.training
    with torch.no_grad():
        maps = backbone.eval().forward_stages(torch.zeros(1, backbone.in_channels, probe_size, probe_size,
                                                          device=next(backbone.parameters()).device))
    backbone.train(was_training)
    return [m.shape[1] for m in maps], [probe_size // m.shape[-1] for m in maps]


class StagesWithPyramid(nn.Module):
    """Stage maps through torchvision's FPN (+ a max-pooled level): the feature dict its detectors take."""

    def __init__(self, stages: StageMaps, channels: list[int], out_channels: int):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.stages = stages
        self.fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(self.stages(x))))


def build_faster_rcnn(backbone: nn.Module, num_classes: int, cfg, frozen: bool = False):
    """Faster R-CNN (+FPN) with ``num_classes`` foreground classes; images are mapped [0, 1] -> [-1, 1]
    (the generators' range, which the backbone was pretrained on) and resized so the short side is
    ``cfg.min_size`` (a tuple: one drawn per training batch) and the long side at most ``cfg.max_size``."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    channels, strides = stage_geometry(backbone)
    strides = strides + [strides[-1] * 2]  # the pooled fifth level
    features = StagesWithPyramid(StageMaps(backbone, frozen), channels, cfg.fpn_channels)
    anchors = AnchorGenerator(sizes=tuple((cfg.anchor_scale * s,) for s in strides),
                              aspect_ratios=((0.5, 1.0, 2.0),) * len(strides))
    pre_nms, post_nms = cfg.proposals
    levels = [str(i) for i in range(len(channels))]  # RoIs pool from the stage levels, not the pooled one
    return FasterRCNN(features, rpn_anchor_generator=anchors,
                      box_roi_pool=MultiScaleRoIAlign(levels, 7, 2),
                      box_head=TwoMLPHead(cfg.fpn_channels * 7 * 7, cfg.box_head_dim),
                      box_predictor=FastRCNNPredictor(cfg.box_head_dim, num_classes + 1),  # + background
                      box_batch_size_per_image=cfg.rois_per_image,
                      rpn_pre_nms_top_n_train=pre_nms, rpn_post_nms_top_n_train=post_nms,
                      rpn_pre_nms_top_n_test=pre_nms, rpn_post_nms_top_n_test=post_nms,
                      min_size=tuple(cfg.min_size), max_size=cfg.max_size,
                      image_mean=[0.5] * backbone.in_channels, image_std=[0.5] * backbone.in_channels,
                      box_score_thresh=cfg.score_threshold, box_detections_per_img=cfg.detections_per_image)


class UPerNetHead(nn.Module):
    """Backbone stage maps -> UPerNet decoder -> ``out_channels`` per pixel, at the input's size.

    Inputs are images in [-1, 1]."""

    def __init__(self, backbone: nn.Module, out_channels: int, decoder_channels: int = 256,
                 frozen: bool = False, dropout: float = 0.1):
        super().__init__()
        from segmentation_models_pytorch.decoders.upernet.decoder import UPerNetDecoder

        self.stages = StageMaps(backbone, frozen)
        channels, _ = stage_geometry(backbone)
        # the decoder skips the first two entries of its input (smp encoders' 1/1 and 1/2 maps) and
        # fuses the rest at the first kept one; the stage maps go after two placeholders
        self.decoder = UPerNetDecoder([0, 0] + channels, encoder_depth=len(channels) + 1,
                                      decoder_channels=decoder_channels)
        self.dropout = nn.Dropout2d(dropout)  # mmseg's UPerHead: dropout 0.1 before the classifier
        self.classifier = nn.Conv2d(decoder_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = list(self.stages(x))
        fused = self.decoder([x, x] + maps)
        return F.interpolate(self.classifier(self.dropout(fused)), size=x.shape[-2:], mode="bilinear",
                             align_corners=False)
