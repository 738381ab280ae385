"""Save LoMaR, MAE, SimMIM or VQ-tokenizer reconstructions as PNG grids.

    python tools/visualize_reconstruction.py CONFIG CHECKPOINT IMAGE [IMAGE ...]
        [--out-dir DIR] [--seed 0] [--panel-size 224]

Each image is resized to the config's ``img_size`` and normalised by its data preprocessor;
the model draws its windows (seeded). For window m of image ``name`` the tool writes
``DIR/name_window{m}.png`` with three panels, left to right:

1. original: the window's pixels;
2. masked input: the same with the masked patches (what the encoder replaces by the mask
   token) shown in grey;
3. reconstruction: visible patches as given, masked patches as predicted. With ``norm_pix``
   the prediction is per-patch normalised, so it is mapped back with the *target* patch's own
   mean and standard deviation (the statistics the loss normalised with).

``DIR/name_windows.png`` shows the whole image with the window outlines.

SimMIM (mmpretrain ``SimMIM`` with mim_det's ``SimMIMViT``): the mask is drawn (seeded) by the
``SimMIMMaskGenerator`` of the config's training pipeline, and ``DIR/name_simmim.png`` holds
four panels of the whole image: original | masked input (masked cells grey) | reconstruction
(visible pixels as given, masked ones as predicted; the loss only sees the masked ones) | the
raw prediction of every pixel.

MAE (mmpretrain ``MAE``): the model draws its own random mask (seeded), and
``DIR/name_mae.png`` holds three panels of the whole image: original | masked input (masked
patches grey) | reconstruction (visible patches as given, masked ones as predicted, mapped back
from ``norm_pix`` with each patch's own statistics).

VQ tokenizer (``PerceptualVQVAE``, PeCo's first stage): ``DIR/name_tokens.png`` holds three
panels: original | reconstruction decoded from the tokens | the token map (one colour per code,
a fixed palette), so a reader sees what the discrete targets keep.
"""
import argparse
import os
import os.path as osp

import _bootstrap  # noqa: F401

from mim_det.cli import CLIError, run_cli

PROG = 'visualize_reconstruction'


def parse_args():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out-dir', default='work_dirs/reconstructions')
    parser.add_argument('--seed', type=int, default=0, help='seed for windows and masks')
    parser.add_argument('--panel-size', type=int, default=224,
                        help='each panel is upscaled (nearest) to about this many pixels')
    return parser.parse_args()


def main():
    args = parse_args()
    import cv2
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, init_default_scope
    from mmengine.runner import load_checkpoint

    from mim_det.models.layers import unpatchify

    for path in [args.config, args.checkpoint, *args.images]:
        if not osp.isfile(path):
            raise CLIError(f'{path!r} does not exist; check the path')
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    simmim = cfg.model.get('type') == 'SimMIM'
    mae = cfg.model.get('type') == 'MAE'
    tokenizer = cfg.model.get('type') == 'PerceptualVQVAE'
    if not (simmim or mae or tokenizer) and not hasattr(model, 'reconstruct'):
        raise CLIError(f'{args.config}: model type {cfg.model.type!r} has no reconstruct(); '
                       'use a LoMaR, MAE, SimMIM or VQ tokenizer config')
    load_checkpoint(model, args.checkpoint, map_location='cpu', logger='silent')
    model.eval()

    size = int(cfg.get('img_size', 224) if tokenizer
               else cfg.model.backbone.get('img_size', 224))
    pre = model.data_preprocessor
    mean = pre.mean.view(3, 1, 1)
    std = pre.std.view(3, 1, 1)
    images, names = [], []
    for path in args.images:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise CLIError(f'{path!r} is not a readable image')
        rgb = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_CUBIC)[..., ::-1]
        images.append(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float())
        names.append(osp.splitext(osp.basename(path))[0])
    x = (torch.stack(images) - mean) / std
    if tokenizer:
        return write_tokens(args, model, x, names, mean, std)
    p = getattr(model.backbone, 'patch_size', None) or model.head.patch_size
    if simmim:
        return write_simmim(args, cfg, model, x, names, mean, std)
    if mae:
        return write_mae(args, model, x, names, mean, std)

    torch.manual_seed(args.seed)
    out = model.reconstruct(x)
    win = out['windows']
    k, m = win.window_size, win.num_windows
    to_pixels = lambda t: (t * std + mean).clamp(0, 255)  # noqa: E731

    def panel(patches):
        img = unpatchify(patches[None], (k, k), p)[0]
        return to_pixels(img).permute(1, 2, 0).byte().numpy()[..., ::-1]

    scale = max(1, args.panel_size // (k * p))
    os.makedirs(args.out_dir, exist_ok=True)
    gap = np.full((k * p * scale, 4, 3), 255, np.uint8)
    written = []
    for b, name in enumerate(names):
        overview = to_pixels(x[b]).permute(1, 2, 0).byte().numpy()[..., ::-1]
        overview = cv2.resize(overview, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_NEAREST)
        for j in range(m):
            row = b * m + j
            mask = win.mask[row][:, None]
            target = out['target'][row]
            grey = torch.zeros_like(target)  # 0 in normalised space = the dataset mean colour
            masked = torch.where(mask, grey, target)
            recon = torch.where(mask, out['pred_pixels'][row], target)
            tiles = [cv2.resize(panel(t), None, fx=scale, fy=scale,
                                interpolation=cv2.INTER_NEAREST) for t in (target, masked, recon)]
            grid = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)
            dst = osp.join(args.out_dir, f'{name}_window{j}.png')
            cv2.imwrite(dst, grid)
            written.append(dst)
            top, left = (int(v) * p * scale for v in win.positions[b, j])
            side = k * p * scale
            cv2.rectangle(overview, (left, top), (left + side - 1, top + side - 1),
                          (0, 255, 255), 2)
        cv2.imwrite(osp.join(args.out_dir, f'{name}_windows.png'), overview)
    print(f'{PROG}: wrote {len(written)} window grids (original | masked input | '
          f'reconstruction) and {len(names)} overviews to {args.out_dir}')


def write_simmim(args, cfg, model, x, names, mean, std):
    """One four-panel PNG per image for a SimMIM model (see the module doc)."""
    import numpy as np
    import torch
    from mmpretrain.registry import TRANSFORMS

    from mim_det.models.selfsup.simmim import reconstruct

    pipeline = cfg.train_dataloader.dataset.get('pipeline', [])
    gen_cfg = next((t for t in pipeline if t.get('type') == 'SimMIMMaskGenerator'), None)
    if gen_cfg is None:
        raise CLIError(f'{args.config}: the training pipeline has no SimMIMMaskGenerator to '
                       'draw the masks with')
    if int(gen_cfg.get('input_size', 192)) != x.shape[-1]:
        raise CLIError(f'{args.config}: SimMIMMaskGenerator input_size='
                       f'{gen_cfg.get("input_size")} but the backbone img_size is {x.shape[-1]}')
    generator = TRANSFORMS.build(dict(gen_cfg))
    np.random.seed(args.seed)  # the generator draws with numpy, as in training
    mask = torch.stack([torch.from_numpy(generator.transform({})['mask']) for _ in names])
    out = reconstruct(model, x, mask)
    _write_whole_image_grids(args, x, names, mean, std, out, 'simmim', with_prediction=True)
    ratio = out['pixel_mask'].float().mean().item()
    print(f'{PROG}: wrote {len(names)} SimMIM grids (original | masked input | reconstruction | '
          f'prediction), {ratio:.0%} of the pixels masked, to {args.out_dir}')


def write_mae(args, model, x, names, mean, std):
    """One three-panel PNG per image for an mmpretrain MAE model (see the module doc)."""
    import torch

    from mim_det.models.selfsup.mae import reconstruct

    torch.manual_seed(args.seed)
    out = reconstruct(model, x)
    _write_whole_image_grids(args, x, names, mean, std, out, 'mae', with_prediction=False)
    ratio = out['pixel_mask'].float().mean().item()
    print(f'{PROG}: wrote {len(names)} MAE grids (original | masked input | reconstruction), '
          f'{ratio:.0%} of the pixels masked, to {args.out_dir}')


def write_tokens(args, model, x, names, mean, std):
    """``DIR/<name>_tokens.png``: original | reconstruction from the tokens | token map."""
    import cv2
    import numpy as np
    import torch

    with torch.no_grad():
        x_hat, idx, _ = model.tokenizer.reconstruct(x)
    palette = np.random.default_rng(0).integers(0, 256, (model.tokenizer.num_codes, 3), np.uint8)
    size = x.shape[-1]
    scale = max(1, args.panel_size // size)
    gap = np.full((size * scale, 4, 3), 255, np.uint8)

    def to_bgr(t):
        return (t * std + mean).clamp(0, 255).permute(1, 2, 0).byte().numpy()[..., ::-1]

    os.makedirs(args.out_dir, exist_ok=True)
    for b, name in enumerate(names):
        token_map = cv2.resize(palette[idx[b].numpy()], (size, size),
                               interpolation=cv2.INTER_NEAREST)
        panels = [cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
                  for img in (to_bgr(x[b]), to_bgr(x_hat[b]), token_map)]
        row = [panels[0], gap, panels[1], gap, panels[2]]
        cv2.imwrite(osp.join(args.out_dir, f'{name}_tokens.png'), np.concatenate(row, axis=1))
    used = idx.unique().numel()
    print(f'{PROG}: wrote {len(names)} tokenizer grids (original | reconstruction | tokens; '
          f'{used} distinct codes of {model.tokenizer.num_codes}) to {args.out_dir}')


def _write_whole_image_grids(args, x, names, mean, std, out, suffix, with_prediction):
    """``DIR/<name>_<suffix>.png``: original | masked input | reconstruction [| prediction]."""
    import cv2
    import numpy as np
    import torch

    def to_bgr(t):
        return (t * std + mean).clamp(0, 255).permute(1, 2, 0).byte().numpy()[..., ::-1]

    size = x.shape[-1]
    scale = max(1, args.panel_size // size)
    gap = np.full((size * scale, 4, 3), 255, np.uint8)
    os.makedirs(args.out_dir, exist_ok=True)
    for b, name in enumerate(names):
        pixel_mask = out['pixel_mask'][b]
        masked = torch.where(pixel_mask, torch.zeros_like(x[b]), x[b])  # 0 = the mean colour
        shown = [x[b], masked, out['reconstruction'][b]]
        if with_prediction:
            shown.append(out['pred'][b])
        panels = [cv2.resize(to_bgr(t), None, fx=scale, fy=scale,
                             interpolation=cv2.INTER_NEAREST) for t in shown]
        row = [panels[0]]
        for panel in panels[1:]:
            row += [gap, panel]
        cv2.imwrite(osp.join(args.out_dir, f'{name}_{suffix}.png'), np.concatenate(row, axis=1))


if __name__ == '__main__':
    run_cli(main, PROG)
