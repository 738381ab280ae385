"""SimpleFeaturePyramid: ViTDet's multi-scale features from one plain-ViT map.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022),
Sec. 3 / Fig. 2: a plain ViT keeps one stride-s map (s = 16), and a pyramid built from that last
map alone -- deconvolutions up, max-pooling down, no top-down or lateral fusion -- is as good as
an FPN over intermediate blocks. Each scale then gets a 1x1 and a 3x3 convolution with
LayerNorm to ``out_channels``, and a stride-4s level is added by sub-sampling the coarsest one
(detectron2's ``LastLevelMaxPool``), giving the 5 levels (strides 4 .. 64) Mask R-CNN expects.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn

# scale factor -> channel divisor of the rescaled map (deconvolutions halve the channels)
_CHANNEL_DIVISOR = {4.0: 4, 2.0: 2, 1.0: 1, 0.5: 1, 0.25: 1}


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid (Li et al., ECCV 2022).

    For each factor in ``scale_factors``, the backbone map (B, C, H, W) at stride s is rescaled:

    ====== ================================================================== ==============
    factor operation                                                          output
    ====== ================================================================== ==============
    4      ConvT(C, C/2, 2, 2) -> norm -> GELU -> ConvT(C/2, C/4, 2, 2)       (B, C/4, 4H, 4W)
    2      ConvT(C, C/2, 2, 2)                                                (B, C/2, 2H, 2W)
    1      identity                                                           (B, C, H, W)
    0.5    MaxPool(2, 2)                                                      (B, C, H/2, W/2)
    0.25   MaxPool(4, 4) (stride-8 backbones, e.g. the tiny CPU configs)      (B, C, H/4, W/4)
    ====== ================================================================== ==============

    then a 1x1 conv (no bias) + norm and a 3x3 conv (no bias) + norm map it to ``out_channels``.
    Levels beyond ``len(scale_factors)`` up to ``num_outs`` are ``max_pool2d(k=1, s=2)`` of the
    previous last one. Pooled sizes are floored (MaxPool2d semantics).

    Args:
        backbone_channel: C, channels of the backbone map (768 for ViT-B).
        in_channels: channels of each rescaled map (``[C/4, C/2, C, C]`` for factors 4, 2, 1,
            0.5), as mmdet's ViTDet configs state them; checked against the factors. ``None``
            derives them.
        out_channels: channels of every output level (256).
        num_outs: number of output levels (5), at least ``len(scale_factors)``.
        scale_factors: strictly decreasing factors from {4, 2, 1, 0.5, 0.25}, so the outputs go
            from fine to coarse like any mmdet neck's.
        norm_cfg: norm after the first deconvolution of factor 4 and after each conv. Default:
            mmpretrain's channel LayerNorm ``LN2d`` with eps 1e-6, which mmcv's
            ``build_norm_layer`` resolves from the mmdet scope through the scope prefix.
        init_cfg: defaults to ``Caffe2Xavier`` (kaiming-uniform, a=1) on the 1x1/3x3 convs,
            detectron2 ViTDet's ``c2_xavier_fill``; the deconvolutions keep PyTorch's default.

    Shapes: ``forward`` takes the backbone's tuple and uses its last element (B, C, H, W);
    it returns ``num_outs`` maps (B, out_channels, H * f, W * f) for f in ``scale_factors``,
    then halving.
    """

    def __init__(self,
                 backbone_channel: int,
                 in_channels: Optional[Sequence[int]] = None,
                 out_channels: int = 256,
                 num_outs: int = 5,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 norm_cfg: dict = dict(type='mmpretrain.LN2d', eps=1e-6),
                 init_cfg: Optional[Union[dict, list]] = dict(type='Caffe2Xavier',
                                                              layer='Conv2d')):
        super().__init__(init_cfg=init_cfg)
        scale_factors = tuple(float(f) for f in scale_factors)
        unknown = [f for f in scale_factors if f not in _CHANNEL_DIVISOR]
        if unknown:
            raise ValueError(f'SimpleFeaturePyramid: scale factors {unknown} are not supported; '
                             f'use factors from {sorted(_CHANNEL_DIVISOR, reverse=True)}')
        if any(a <= b for a, b in zip(scale_factors, scale_factors[1:])):
            raise ValueError(f'SimpleFeaturePyramid: scale_factors must be strictly decreasing '
                             f'(fine to coarse), got {scale_factors}')
        indivisible = [f for f in scale_factors if backbone_channel % _CHANNEL_DIVISOR[f]]
        if indivisible:
            raise ValueError(f'SimpleFeaturePyramid: backbone_channel {backbone_channel} is not '
                             f'divisible by the channel divisor of factors {indivisible}')
        rescaled = [backbone_channel // _CHANNEL_DIVISOR[f] for f in scale_factors]
        if in_channels is not None and list(in_channels) != rescaled:
            raise ValueError(
                f'SimpleFeaturePyramid: in_channels {list(in_channels)} do not match '
                f'backbone_channel {backbone_channel} with scale_factors {scale_factors}; '
                f'the rescaled maps have {rescaled} channels')
        if num_outs < len(scale_factors):
            raise ValueError(f'SimpleFeaturePyramid: num_outs {num_outs} < '
                             f'{len(scale_factors)} scale factors')
        self.backbone_channel = backbone_channel
        self.in_channels = rescaled
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.scale_factors = scale_factors
        self.norm_cfg = norm_cfg

        # Plain nn containers on purpose: mmengine's BaseModule.init_weights only re-runs
        # init_weights of *direct* children, so ConvModule's own kaiming init cannot overwrite
        # the Caffe2Xavier init_cfg applied to the convs inside these lists.
        self.rescales = nn.ModuleList([self._rescale(f, backbone_channel) for f in scale_factors])
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for channels in rescaled:
            self.lateral_convs.append(
                ConvModule(channels, out_channels, 1, bias=False, norm_cfg=norm_cfg,
                           act_cfg=None))
            self.fpn_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, bias=False,
                           norm_cfg=norm_cfg, act_cfg=None))

    def _rescale(self, factor: float, channels: int) -> nn.Module:
        """The resampling of one level: (B, C, H, W) -> (B, C / divisor, H * f, W * f)."""
        if factor == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2),
                build_norm_layer(self.norm_cfg, channels // 2)[1],
                nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, kernel_size=2, stride=2))
        if factor == 2.0:
            return nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2)
        if factor == 1.0:
            return nn.Identity()
        kernel = int(round(1 / factor))  # 0.5 -> 2, 0.25 -> 4
        return nn.MaxPool2d(kernel_size=kernel, stride=kernel)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Backbone tuple (last element (B, C, H, W) at stride s) -> ``num_outs`` maps
        (B, out_channels, ., .) at strides s / f for f in ``scale_factors``, then doubling."""
        x = inputs[-1]
        if x.dim() != 4 or x.shape[1] != self.backbone_channel:
            raise ValueError(f'SimpleFeaturePyramid expects a (B, {self.backbone_channel}, H, W) '
                             f'map, got shape {tuple(x.shape)}')
        outs = [fpn(lateral(rescale(x))) for rescale, lateral, fpn in zip(
            self.rescales, self.lateral_convs, self.fpn_convs)]
        while len(outs) < self.num_outs:
            # detectron2's LastLevelMaxPool: a k=1 max-pool is plain stride-2 sub-sampling
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2, padding=0))
        return tuple(outs)
