"""ViTBase: the one ViT skeleton every mim_det encoder extends.

It owns what all of them share -- the arch table (mmpretrain's names), the patch embedding, the
optional cls token and absolute position table, the :class:`~mim_det.models.layers.ViTBlock`
stack (window/global attention, relative positions and layer scale by config), an optional
relative position bias shared by all blocks (BEiT/SimMIM), drop-path rates, the final norm,
activation checkpointing, the output formats, initialisation, loading through the one checkpoint
loader, and ``get_layer_depth`` for layer-wise lr decay. Subclasses override
only what differs: the embedding (a pretraining method's masking, e.g. LoMaR's windows), the
masking itself and the output (mmpretrain's ``MAEViT(VisionTransformer)`` pattern).

Token layout inside the blocks: (B, N, D) with ``num_extra_tokens`` (0 or 1: cls) first, then
the ``grid_h x grid_w`` patch tokens row-major.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import build_norm_layer
from torch import nn

from ..layers import VIT_ARCHS, ViTBlock, build_rel_pos, resize_abs_pos, resolve_vit_arch
from ...checkpoint import load_vit_checkpoint  # noqa: I001  (it builds on layers only)

OUT_TYPES = ('raw', 'cls_token', 'featmap', 'avg_featmap')
ABS_POS_GRIDS = ('pretrain', 'finetune')


class ViTBase(BaseModule):
    """Plain ViT encoder (Dosovitskiy et al. 2021) with mim_det's position and window options.

    Args:
        arch: a name of mmpretrain's ``VisionTransformer.arch_zoo`` (``'b'``, ``'l'``,
            ``'deit-s'``, ...) or a dict with ``embed_dims, num_layers, num_heads,
            feedforward_channels``.
        img_size: the input size the model is built for: sizes the tables of global blocks and,
            with ``abs_pos_grid='finetune'``, the position table. Other sizes work at run time.
        patch_size, in_channels: p and C; inputs of any size are zero-padded at the
            bottom/right to a multiple of p.
        with_cls_token: a cls token (no position unless ``use_abs_pos``) before the patches.
        use_abs_pos: add a trainable absolute position table ``pos_embed`` (1, E + G_h G_w, D)
            (E = 1 with the cls token).
        pretrain_img_size: with ``abs_pos_grid='pretrain'``, the table holds the pretraining
            grid (pretrain_img_size / p) and is resized bicubically to every input on the fly
            (ViTDet). Defaults to ``img_size``.
        abs_pos_grid: ``'pretrain'`` (above) or ``'finetune'``: the table holds the grid of
            ``img_size``; a checkpoint's table is resized once, when loaded, and trained there
            (the BEiT/MAE segmentation protocol, mmseg's ``MAE`` backbone).
        rel_pos_cfgs: relative position biases of every block, e.g.
            ``[dict(type='DecomposedRelPos')]`` (ViTDet), ``[dict(type='ContextualRPE',
            alpha=1.9, beta=3.8, gamma=15.2)]`` (LoMaR), ``[dict(type='RelPosBiasTable')]``
            (BEiT/MAE segmentation); see :mod:`mim_det.models.layers.relative_position`.
        shared_rel_pos_cfg: ONE relative position bias owned by the backbone, computed once
            per forward pass and added in every block, e.g. ``dict(type='RelPosBiasTable')``
            (BEiT's / SimMIM's ``use_shared_rel_pos_bias``: parameter
            ``rel_pos_bias.relative_position_bias_table``, sized for the ``img_size`` grid).
            Only query-independent biases (``shareable``) and global attention; ``None``: none.
        window_size: ``w > 0``: blocks attend inside w x w windows except
            ``global_attn_indexes``; ``0``: every block is global.
        global_attn_indexes: global blocks among windowed ones (ViTDet ViT-B: 2, 5, 8, 11).
        layer_scale_init_value: ``> 0`` adds BEiT's layer scale to every block.
        out_indices: blocks whose outputs are returned (negative counts from the end).
        out_type: ``'raw'`` (B, N, D) tokens, ``'cls_token'`` (B, D), ``'featmap'``
            (B, D, G_h, G_w) or ``'avg_featmap'`` (B, D): mean patch token through ``ln2``
            (MAE/LoMaR fine-tuning's global pool + fc_norm).
        final_norm: LayerNorm ``ln1`` on the last block's output.
        drop_rate, attn_drop_rate, drop_path_rate: dropout and stochastic depth (linear rule).
        qkv_bias, norm_cfg: as the names say (LayerNorm eps 1e-6 as MAE/LoMaR).
        with_cp: activation checkpointing of every block during training.
        use_sdpa: attention through ``scaled_dot_product_attention`` (``False``: explicit
            matmul, the reference for benchmarks and tests).
        rel_pos_impl: how the attention adds its biases (see
            :class:`~mim_det.models.layers.Attention`): ``'auto'`` is, on CPU,
            ``'chunked'``: it folds a lone ``DecomposedRelPos`` (ViTDet) into the queries and
            keys, so SDPA's fused kernels run without an (N, N) bias, and builds other biases
            (LoMaR's contextual RPE, BEiT's table, with or without the decomposed one) per
            block of query rows when the (N, N) attention of a block would be large (global
            blocks at 1024 px); on CUDA the explicit bias, or ``'flex'`` for large attentions
            with BEiT's table; ``'folded'``: the fold only; ``'flex'``: FlexAttention;
            ``'explicit'``: the (N, N) bias (the reference).
        recompute_attention: in every block keep only q, k, v of the attention core for the
            backward pass and recompute the position biases, the fold and the attention there
            (:class:`~mim_det.models.layers.Attention`): a selective activation checkpoint
            for where memory binds (the ViTDet layout at 1024 px on a CPU); the blocks' other
            activations are kept, unlike ``with_cp``.
        compile_blocks: ``torch.compile`` every block in place (``nn.Module.compile``, so
            state-dict keys and checkpoints are unchanged); ``True`` or a dict of
            ``torch.compile`` arguments (e.g. ``dict(mode='max-autotune')``). The blocks are
            what is compiled, not the runner's ``train_step``: mmengine's own ``compile=True``
            also compiles the optimizer step. Off by default: the first steps compile (tens of
            seconds per input shape); on an H200 (bf16) it made the ViTDet-layout ViT-B at
            1024 px 1.33x faster (README, "On a GPU").
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=None)`` loads any supported
            checkpoint through :func:`mim_det.checkpoint.load_vit_checkpoint` (it prints a
            categorised report); ``None``: initialisation from scratch.
    """
    arch_zoo = VIT_ARCHS
    #: initialisation of Linear layers from scratch: MAE/LoMaR use Xavier-uniform, ViTDet/timm
    #: truncated normal (std 0.02)
    linear_init = 'xavier_uniform'

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 with_cls_token: bool = True,
                 use_abs_pos: bool = False,
                 pretrain_img_size: Optional[int] = None,
                 abs_pos_grid: str = 'pretrain',
                 rel_pos_cfgs: Sequence[dict] = (),
                 shared_rel_pos_cfg: Optional[dict] = None,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (),
                 layer_scale_init_value: float = 0.,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'raw',
                 final_norm: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 with_cp: bool = False,
                 use_sdpa: bool = True,
                 rel_pos_impl: str = 'auto',
                 recompute_attention: bool = False,
                 compile_blocks: Union[bool, dict] = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        arch = resolve_vit_arch(arch, name)
        if out_type not in OUT_TYPES:
            raise ValueError(f'{name}: out_type={out_type!r}; use one of {OUT_TYPES}')
        if abs_pos_grid not in ABS_POS_GRIDS:
            raise ValueError(f'{name}: abs_pos_grid={abs_pos_grid!r}; use one of {ABS_POS_GRIDS}')
        self.arch_settings = arch
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.num_heads = arch['num_heads']
        self.img_size = int(img_size)
        self.patch_size = int(patch_size)
        self.with_cls_token = bool(with_cls_token)
        self.num_extra_tokens = int(self.with_cls_token)
        self.use_abs_pos = bool(use_abs_pos)
        self.abs_pos_grid = abs_pos_grid
        pos_size = pretrain_img_size if abs_pos_grid == 'pretrain' and pretrain_img_size else \
            self.img_size
        self.pos_embed_grid = (pos_size // self.patch_size, ) * 2
        self.rel_pos_cfgs = [dict(cfg) for cfg in rel_pos_cfgs]
        self.window_size = int(window_size)
        self.global_attn_indexes = tuple(i % self.num_layers for i in global_attn_indexes)
        self.out_type = out_type
        self.final_norm = final_norm
        self.with_cp = with_cp
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = tuple(i % self.num_layers for i in out_indices)

        # 'corner' padding: inputs of any size give ceil(H / p) x ceil(W / p) tokens
        self.patch_embed = PatchEmbed(in_channels=in_channels, input_size=None,
                                      embed_dims=self.embed_dims, conv_type='Conv2d',
                                      kernel_size=patch_size, stride=patch_size,
                                      padding='corner')
        if self.with_cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        if self.use_abs_pos:
            num = self.num_extra_tokens + self.pos_embed_grid[0] * self.pos_embed_grid[1]
            self.pos_embed = nn.Parameter(torch.zeros(1, num, self.embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)

        full_grid = (self.img_size // self.patch_size, ) * 2
        self.shared_rel_pos_name = None
        if shared_rel_pos_cfg is not None:
            self._build_shared_rel_pos(dict(shared_rel_pos_cfg), full_grid)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.layers = ModuleList()
        for i in range(self.num_layers):
            window = 0 if i in self.global_attn_indexes else self.window_size
            self.layers.append(ViTBlock(
                self.embed_dims, self.num_heads, arch['feedforward_channels'],
                window_size=window, rel_pos_cfgs=self.rel_pos_cfgs,
                rel_pos_grid=(window, window) if window else full_grid,
                layer_scale_init_value=layer_scale_init_value, drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path_rate=dpr[i], qkv_bias=qkv_bias,
                norm_cfg=norm_cfg, use_sdpa=use_sdpa, rel_pos_impl=rel_pos_impl,
                recompute_attention=recompute_attention))
        if compile_blocks:
            compile_kwargs = compile_blocks if isinstance(compile_blocks, dict) else {}
            for layer in self.layers:
                layer.compile(**compile_kwargs)
        if final_norm:
            self.ln1 = build_norm_layer(norm_cfg, self.embed_dims)
        if out_type == 'avg_featmap':
            self.ln2 = build_norm_layer(norm_cfg, self.embed_dims)

    def _build_shared_rel_pos(self, cfg: dict, grid_hw: Tuple[int, int]):
        name = type(self).__name__
        if self.window_size:
            raise ValueError(f'{name}: shared_rel_pos_cfg is one bias for the whole token map, '
                             f'but window_size={self.window_size}; use window_size=0 or '
                             'per-block rel_pos_cfgs')
        module = build_rel_pos(cfg, self.embed_dims // self.num_heads, self.num_heads, grid_hw)
        if not getattr(module, 'shareable', False):
            raise ValueError(f'{name}: {cfg.get("type")} depends on each block\'s queries and '
                             "cannot be shared; use shared_rel_pos_cfg=dict(type="
                             "'RelPosBiasTable') or put it in rel_pos_cfgs")
        self.add_module(module.attr_name, module)
        self.shared_rel_pos_name = module.attr_name

    # ------------------------------------------------------------------ init
    def init_weights(self):
        pretrained = isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'
        if self.init_cfg is not None and not pretrained:
            super().init_weights()
            return
        self.init_from_scratch()  # what a checkpoint does not hold starts sensibly
        if pretrained:
            load_vit_checkpoint(self, self.init_cfg['checkpoint'],
                                prefix=self.init_cfg.get('prefix'))
        self._is_init = True

    def init_from_scratch(self):
        """MAE/ViT initialisation: patch projection like a Linear, Linears by ``linear_init``
        with zero bias, unit LayerNorms, tokens N(0, 0.02), a trainable position table
        truncated-normal(0.02); relative position tables stay zero (plain attention)."""
        w = self.patch_embed.projection.weight
        nn.init.xavier_uniform_(w.data.view(w.shape[0], -1))
        for name in ('cls_token', 'mask_token'):
            if isinstance(getattr(self, name, None), nn.Parameter):
                nn.init.normal_(getattr(self, name), std=.02)
        if self.use_abs_pos:
            trunc_normal_(self.pos_embed, std=.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if self.linear_init == 'xavier_uniform':
                    nn.init.xavier_uniform_(m.weight)
                else:
                    trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # --------------------------------------------------------------- forward
    def add_position(self, tokens: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        """Patch tokens (B, G_h G_w, D) -> the encoder sequence: absolute position added (the
        table resized to ``grid_hw`` when it holds another grid) and the cls token prepended."""
        extra = self.num_extra_tokens
        if self.use_abs_pos:
            grid = resize_abs_pos(self.pos_embed[:, extra:], self.pos_embed_grid, grid_hw)
            tokens = tokens + grid.flatten(1, 2).to(tokens.dtype)
        if self.with_cls_token:
            cls = self.cls_token
            if self.use_abs_pos:
                cls = cls + self.pos_embed[:, :1]
            tokens = torch.cat([cls.to(tokens.dtype).expand(tokens.shape[0], -1, -1), tokens],
                               dim=1)
        return self.drop_after_pos(tokens)

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Images (B, C, H, W) -> (sequence (B, N, D), patch grid (ceil(H/p), ceil(W/p)))."""
        tokens, grid_hw = self.patch_embed(x)
        return self.add_position(tokens, tuple(grid_hw)), tuple(grid_hw)

    def shared_position_bias(self, x: torch.Tensor,
                             grid_hw: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The backbone's shared relative position bias (1, h, N, N) for the sequence x
        (B, N, D) of ``grid_hw`` (only its dtype, device and length are used), or ``None``."""
        if self.shared_rel_pos_name is None:
            return None
        num_extra = x.shape[1] - grid_hw[0] * grid_hw[1]
        return getattr(self, self.shared_rel_pos_name)(x, grid_hw, num_extra)

    def encode(self, x: torch.Tensor, grid_hw: Tuple[int, int]) -> Tuple[torch.Tensor, ...]:
        """Run the blocks on a sequence (B, N, D); outputs at ``out_indices``."""
        outs = []
        bias = self.shared_position_bias(x, grid_hw)  # once, for every block (BEiT/SimMIM)
        for i, layer in enumerate(self.layers):
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(layer, x, grid_hw, bias, use_reentrant=False)
            else:
                x = layer(x, grid_hw, bias)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self.format_output(x, grid_hw))
        return tuple(outs)

    def tokens_entering(self, x: torch.Tensor, index: int
                        ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Images (B, C, H, W) -> (the sequence (B, N, D) entering block ``index``, the patch
        grid). Blocks after it are not run (TinyMIM's relations, the attention analyses);
        ``index`` may count from the end (-1: the input of the last block)."""
        index = _block_index(index, self.num_layers, type(self).__name__)
        tokens, grid_hw = self.embed(x)
        bias = self.shared_position_bias(tokens, grid_hw)
        for layer in self.layers[:index]:
            if self.with_cp and tokens.requires_grad:
                tokens = cp.checkpoint(layer, tokens, grid_hw, bias, use_reentrant=False)
            else:
                tokens = layer(tokens, grid_hw, bias)
        return tokens, grid_hw

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Images (B, C, H, W) -> tuple of outputs at ``out_indices``, shaped by ``out_type``."""
        return self.encode(*self.embed(x))

    def format_output(self, x: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        patches = x[:, self.num_extra_tokens:]
        if self.out_type == 'featmap':
            return patches.reshape(x.shape[0], *grid_hw, -1).permute(0, 3, 1, 2).contiguous()
        return self.ln2(patches.mean(dim=1))

    # ------------------------------------------------------------ layer decay
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id for layer-wise lr decay (BEiT/MAE rule): patch embedding, position and
        tokens 0, block i -> i + 1, anything else (final norm, neck, heads) num_layers + 1.

        Returns:
            (layer_depth, num_layers + 2): mmpretrain's convention, so the lr scale is
            ``decay ** (num_layers + 1 - depth)``.
        """
        num = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num - 1, num
        name = param_name[len(prefix):]
        if name.startswith(('patch_embed', 'pos_embed', 'cls_token', 'mask_token')):
            return 0, num
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1, num
        return num - 1, num


def _block_index(index: int, num_layers: int, owner: str) -> int:
    """``index`` in [-num_layers, num_layers) as a 0-based block index, or a clear error."""
    if not -num_layers <= index < num_layers:
        raise ValueError(f'{owner}: block index {index} is out of range for {num_layers} '
                         f'blocks; use 0..{num_layers - 1} (or -1 for the last)')
    return index % num_layers
