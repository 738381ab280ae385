"""Write the views a siamese pretraining config makes of given images, as PNG grids.

    python tools/visualize_siamese_views.py CONFIG [CONFIG ...] --images IMAGE [IMAGE ...]
        [--out-dir DIR] [--seed 0] [--panel-size 160]

For each config (e.g. every step of ``configs/mscn/ladder/``) the tool runs the views of its
training pipeline's ``MultiView`` (each branch's transforms, as many views as the branch gives)
on every image and writes ``DIR/<config name>.png``: one row per image, one panel per view,
left to right branch A's views then branch B's, each drawn as the network receives it before
normalisation (a high-pass-filtered view is grey with its edges; noise fills the masked area).
Each panel's caption names its branch and, for an MSCN mask (``SiameseMask``), the mask's kind
and masked fraction. The same ``--seed`` gives every config the same random draws, so the
steps of a ladder can be compared panel by panel.
"""
import argparse
import os
import os.path as osp

import _bootstrap  # noqa: F401

from mim_det.cli import CLIError, run_cli

PROG = 'visualize_siamese_views'


def parse_args():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+', help='pretraining configs with a MultiView')
    parser.add_argument('--images', nargs='+', required=True, help='image files')
    parser.add_argument('--out-dir', default='work_dirs/siamese_views')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random views')
    parser.add_argument('--panel-size', type=int, default=160,
                        help='each view is resized (nearest) to this many pixels')
    return parser.parse_args()


def find_multiview(pipeline) -> dict:
    """The ``MultiView`` step of a training pipeline (a list of transform dicts)."""
    for step in pipeline:
        if step.get('type') == 'MultiView':
            return step
    raise CLIError('the training pipeline has no MultiView step; this tool draws the views of '
                   'siamese pretraining configs (e.g. configs/mscn/ladder/*.py)')


def branch_views(multiview: dict):
    """[(branch label, number of views, transform configs)] of a ``MultiView`` config."""
    counts = multiview['num_views']
    branches = multiview['transforms']
    counts = [counts] * len(branches) if isinstance(counts, int) else list(counts)
    if len(counts) != len(branches):
        raise CLIError(f'MultiView: num_views {counts} does not match its '
                       f'{len(branches)} transform lists')
    return [(chr(ord('A') + i), n, list(t)) for i, (n, t) in enumerate(zip(counts, branches))]


def draw_panel(img, caption: str, size: int):
    """(size + caption band, size, 3) uint8 panel of a view (clipped to [0, 255])."""
    import cv2
    import numpy as np
    view = np.clip(np.asarray(img, dtype=np.float32), 0, 255).astype(np.uint8)
    if view.ndim == 2:
        view = np.repeat(view[..., None], 3, axis=2)
    view = cv2.resize(view, (size, size), interpolation=cv2.INTER_NEAREST)
    band = np.full((22, size, 3), 255, dtype=np.uint8)
    cv2.putText(band, caption, (3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([band, view], axis=0)


def tile(rows, gap: int = 4):
    """Rows of equally sized panels -> one image with ``gap`` px of white between panels."""
    import numpy as np
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            y, x = gap + i * (h + gap), gap + j * (w + gap)
            out[y:y + h, x:x + w] = panel
    return out


def main():
    args = parse_args()
    import cv2
    import numpy as np
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    from mmpretrain.registry import TRANSFORMS

    for path in args.images:
        if not osp.isfile(path):
            raise CLIError(f'--images: {path} does not exist')
    os.makedirs(args.out_dir, exist_ok=True)
    init_default_scope('mmpretrain')
    for cfg_path in args.configs:
        if not osp.isfile(cfg_path):
            raise CLIError(f'config {cfg_path} does not exist')
        cfg = Config.fromfile(cfg_path)
        branches = [(label, n, Compose([TRANSFORMS.build(t) for t in ts]))
                    for label, n, ts in branch_views(find_multiview(
                        cfg.train_dataloader.dataset.pipeline))]
        np.random.seed(args.seed)
        rows = []
        for path in args.images:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise CLIError(f'--images: {path} is not a readable image')
            row = []
            for label, count, pipeline in branches:
                for k in range(count):
                    out = pipeline(dict(img=img.copy(), img_path=path, img_shape=img.shape[:2],
                                        ori_shape=img.shape[:2]))
                    caption = f'{label}{k + 1}' if count > 1 else label
                    if 'siamese_mask' in out:
                        caption += (f' {out["siamese_mask_kind"]} '
                                    f'{float(np.mean(out["siamese_mask"])):.2f}')
                    row.append(draw_panel(out['img'], caption, args.panel_size))
            rows.append(row)
        name = osp.splitext(osp.basename(cfg_path))[0]
        out_path = osp.join(args.out_dir, f'{name}.png')
        cv2.imwrite(out_path, tile(rows))
        print(f'{name}: {sum(n for _, n, _ in branches)} views per image -> {out_path}')
    return 0


if __name__ == '__main__':
    run_cli(main, f'{PROG}.py')
