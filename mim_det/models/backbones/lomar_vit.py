"""LoMaRViT: the plain ViT LoMaR pretrains and fine-tunes (no absolute position anywhere).

Chen et al., "Efficient Self-supervised Vision Pretraining with Local Masked Reconstruction"
(arXiv 2206.00790). Differences from a standard ViT (Dosovitskiy et al. 2021):

* no absolute position embedding is added, in pretraining or downstream; position enters only
  through the contextual relative position bias on keys in every layer
  (:class:`~mim_det.models.utils.ContextualRPE`), whose buckets clip at +-3 patches, so the same
  weights run on a 7x7 window and on a whole image of any size;
* in pretraining the encoder sees ``B * M`` short sequences, one per window: the window's
  ``K * K`` patch embeddings (masked ones replaced by the learned ``mask_token``) after a cls
  token, i.e. input (B * M, K * K + 1, D) (LoMaR Sec. 3.1).

Parameter names follow mmpretrain's ``VisionTransformer`` (``patch_embed.projection``,
``layers.i.ln1 / attn.qkv / attn.proj / ln2 / ffn.layers.*``, final ``ln1``), so mmpretrain's
layer-decay constructor and tooling work unchanged; the RPE table of layer i is
``layers.i.attn.rpe_k.lookup_table_weight`` (1, d, 50), the official checkpoints' layout.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import ModuleList
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS
from torch import nn

from ..utils.backbone_export import load_pretrained_backbone
from ..utils.patch_ops import patchify
from ..utils.rpe_transformer_layer import RPETransformerEncoderLayer
from ..utils.vit_archs import VIT_ARCHS, resolve_vit_arch
from ..utils.window_sampler import WindowSample


@MODELS.register_module()
class LoMaRViT(BaseBackbone):
    """ViT encoder with contextual relative position on keys and no absolute position.

    Args:
        arch: ``'b'``/``'base'``, ``'l'``/``'large'``, ``'s'``/``'small'`` or a dict with
            ``embed_dims, num_layers, num_heads, feedforward_channels``.
        img_size: nominal input size (any size divisible by the patch works at run time).
        patch_size: p.
        out_indices: layers whose outputs are returned (negative counts from the end).
        drop_rate, attn_drop_rate, drop_path_rate: dropout / stochastic depth (linear rule).
        qkv_bias: bias of the qkv projections.
        norm_cfg: norm layers (LayerNorm eps 1e-6 as in LoMaR/MAE).
        final_norm: apply ``ln1`` to the last layer's tokens (pretraining; the paper's head
            starts with this LayerNorm).
        out_type: ``'raw'`` (B', N, D) tokens incl. cls, ``'cls_token'`` (B, D), ``'featmap'``
            (B, D, G_h, G_w) or ``'avg_featmap'`` (B, D): mean patch token through ``ln2``
            (the fine-tuning recipe's global pool + fc_norm).
        rpe_cfg: :class:`ContextualRPE` options (alpha 1.9, beta 3.8, gamma 15.2).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` loads a mim_det export
            (``.safetensors``) or a ``.pth`` checkpoint; otherwise LoMaR/MAE initialisation.
    """
    arch_zoo = VIT_ARCHS
    num_extra_tokens = 1  # cls
    OUT_TYPES = ('raw', 'cls_token', 'featmap', 'avg_featmap')

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 final_norm: bool = True,
                 out_type: str = 'raw',
                 rpe_cfg: dict = dict(alpha=1.9, beta=3.8, gamma=15.2),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        arch = resolve_vit_arch(arch, 'LoMaRViT')
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'LoMaRViT: out_type={out_type!r}; use one of {self.OUT_TYPES}')
        self.arch_settings = dict(arch)
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.num_heads = arch['num_heads']
        self.img_size = img_size
        self.patch_size = patch_size
        self.out_type = out_type
        self.rpe_cfg = dict(rpe_cfg)

        self.patch_embed = PatchEmbed(in_channels=in_channels, input_size=img_size,
                                      embed_dims=self.embed_dims, conv_type='Conv2d',
                                      kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = [i % self.num_layers for i in out_indices]
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.layers = ModuleList([
            RPETransformerEncoderLayer(
                embed_dims=self.embed_dims, num_heads=self.num_heads,
                feedforward_channels=arch['feedforward_channels'], drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[i], qkv_bias=qkv_bias,
                norm_cfg=norm_cfg, rpe_cfg=dict(self.rpe_cfg, num_extra_tokens=1))
            for i in range(self.num_layers)
        ])
        self.final_norm = final_norm
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)
        if out_type == 'avg_featmap':
            self.ln2 = build_norm_layer(norm_cfg, self.embed_dims)

    # ------------------------------------------------------------------ init
    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            load_pretrained_backbone(self, self.init_cfg['checkpoint'],
                                     prefix=self.init_cfg.get('prefix', ''))
            self._is_init = True
            return
        super().init_weights()
        if self.init_cfg is not None:
            return
        # LoMaR/MAE initialisation: patch projection like a Linear, Xavier-uniform Linears with
        # zero bias, unit LayerNorms, tokens N(0, 0.02); the RPE tables stay zero.
        w = self.patch_embed.projection.weight
        nn.init.xavier_uniform_(w.data.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=.02)
        nn.init.normal_(self.mask_token, std=.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # --------------------------------------------------------------- forward
    def embed_windows(self, x: torch.Tensor, windows: WindowSample):
        """Patch-embed the sampled windows only, then mask them.

        The patch embedding is a per-patch linear map, so embedding the gathered window patches
        equals gathering from the whole embedded image (what the official code does) while the
        cost stays independent of the image size.

        Args:
            x: images (B, C, H, W).
            windows: the batch's :class:`WindowSample` on the (H/p, W/p) grid.

        Returns:
            (B * M, K * K, D) window tokens, masked ones equal to ``mask_token``.
        """
        p = self.patch_size
        grid_hw = (x.shape[-2] // p, x.shape[-1] // p)
        if grid_hw != tuple(windows.grid_hw):
            raise ValueError(f'LoMaRViT: windows were drawn on a {tuple(windows.grid_hw)} grid '
                             f'but the images give {grid_hw}')
        pixels = windows.gather(patchify(x, p))  # (B*M, K*K, p*p*C) in (row, col, channel)
        proj = self.patch_embed.projection
        weight = proj.weight.permute(0, 2, 3, 1).reshape(proj.out_channels, -1)
        tokens = F.linear(pixels, weight.to(pixels.dtype), proj.bias)
        return torch.where(windows.mask[..., None], self.mask_token.to(tokens.dtype), tokens)

    def forward(self, x: torch.Tensor, windows: Optional[WindowSample] = None):
        """Encode whole images, or the masked windows of a LoMaR batch.

        Args:
            x: images (B, 3, H, W), H and W multiples of the patch size.
            windows: when given, pretraining mode: the encoder runs on (B * M, K*K + 1, D).

        Returns:
            tuple of outputs at ``out_indices``, each shaped by ``out_type``.
        """
        if windows is not None:
            tokens = self.embed_windows(x, windows)
            grid_hw = (windows.window_size, windows.window_size)
        else:
            tokens, grid_hw = self.patch_embed(x)
        cls = self.cls_token.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        x = self.drop_after_pos(torch.cat([cls, tokens], dim=1))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, grid_hw)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, grid_hw, windows is not None))
        return tuple(outs)

    def _format_output(self, x, grid_hw, windowed):
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        patches = x[:, self.num_extra_tokens:]
        if self.out_type == 'featmap':
            return patches.reshape(x.shape[0], *grid_hw, -1).permute(0, 3, 1, 2).contiguous()
        return self.ln2(patches.mean(dim=1))

    # ------------------------------------------------------------ layer decay
    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer id for layer-wise lr decay: stem 0, layer i -> i + 1, the rest last.

        Returns:
            (layer_depth, num_layers + 2), mmpretrain's convention.
        """
        num = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num - 1, num
        name = param_name[len(prefix):]
        if name in ('cls_token', 'mask_token') or name.startswith('patch_embed'):
            return 0, num
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1, num
        return num - 1, num
