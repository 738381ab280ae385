"""Attention distance, head diversity and layer CKA of pretrained ViTs (the "dark secrets" of MIM).

    python tools/analysis/attention_analysis.py CHECKPOINT [CHECKPOINT ...] --images PATH [...]
        [--labels NAME ...] [--num-images 16] [--img-size S] [--batch-size 8]
        [--out-dir work_dirs/attention_analysis] [--max-cka-samples 4096] [--device cpu]
        [--arch ARCH] [--patch-size P] [--pos-encoding auto] [--prefix PREFIX]

Xie et al., "Revealing the Dark Secrets of Masked Image Modeling" (CVPR 2023, arXiv 2205.13543)
find that MIM keeps local attention (small averaged attention distance, their Fig. 1) and
diverse heads (KL divergence between heads) in every layer, where supervised ViTs go global and
lose diversity in the last layers; this tool measures both, and the linear CKA (Kornblith et al.
ICML 2019) between layers, for any ViT checkpoint the shared loader reads.

Each checkpoint becomes a global-attention ViT: a mim_det export (``tools/export_backbone.py``)
describes itself (arch, patch size, position encoding); any other layout needs ``--arch`` (the
patch size and position encoding are read from its tensor names, or given with
``--patch-size`` / ``--pos-encoding``). Every model sees the same ``--num-images`` images
(files, or folders searched recursively; evenly spaced picks of the sorted list), resized to
``--img-size`` (default: the first checkpoint's pretraining size) and normalised with
ImageNet's mean and std. The maps are the ones the blocks really use (relative position biases
included); the cls token is left out as query and key of the distance (the patch keys
renormalised) and as query of the diversity; CKA compares block outputs with the patch tokens
of all images as samples (at most ``--max-cka-samples``, seeded).

Writes under ``--out-dir``: ``attention_distance.png`` (x = layer, one dot per head, one panel
per checkpoint), ``head_diversity.png`` (one line per checkpoint), ``cka_layers_<label>.png``
(layer x layer, per checkpoint), ``cka_between.png`` (layers of the first two checkpoints) and
``attention_analysis.json`` with all numbers. The main job can call
:func:`mim_det.analysis.attention.analyse_checkpoints` directly.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.cli import CLIError, run_cli  # noqa: E402

PROG = 'attention_analysis'
POS_ENCODING_CHOICES = ('auto', 'absolute_sincos', 'absolute_learned', 'contextual_rpe_keys',
                        'shared_rel_pos_bias', 'rel_pos_bias_table')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+',
                        help='ViT checkpoints: mim_det exports (.safetensors) or other layouts '
                        'the loader reads (then give --arch)')
    parser.add_argument('--images', nargs='+', required=True,
                        help='image files and/or folders (searched recursively)')
    parser.add_argument('--labels', nargs='+', default=None,
                        help='one name per checkpoint (default: the file names)')
    parser.add_argument('--num-images', type=int, default=16,
                        help='images to analyse, evenly spaced over the sorted list')
    parser.add_argument('--img-size', type=int, default=None,
                        help="input size of every model (default: the first checkpoint's "
                        'pretraining size, else 224)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out-dir', default='work_dirs/attention_analysis')
    parser.add_argument('--max-cka-samples', type=int, default=4096,
                        help='patch tokens drawn for CKA (0: all)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the CKA token draw')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--arch', default=None,
                        help="size of checkpoints that are not mim_det exports: a name of "
                        "mmpretrain's ViT ('b', 'l', 'deit-s', ...) or JSON with embed_dims, "
                        'num_layers, num_heads, feedforward_channels')
    parser.add_argument('--patch-size', type=int, default=None,
                        help='patch size of such checkpoints (default: from the patch '
                        'projection)')
    parser.add_argument('--pos-encoding', default='auto', choices=POS_ENCODING_CHOICES,
                        help='position encoding of such checkpoints (default: from the '
                        'tensor names; exports record theirs)')
    parser.add_argument('--prefix', default=None,
                        help="key prefix of the backbone in the checkpoint (default: "
                        "'backbone.' or 'encoder.' when present)")
    return parser.parse_args(argv)


def collect_images(paths, num_images: int) -> list:
    """Files as given, folders searched recursively for images; ``num_images`` evenly spaced
    picks of the sorted result (deterministic, and spread over an ImageNet-style class tree)."""
    from mim_det.analysis.attention import IMAGE_SUFFIXES

    found = []
    for path in paths:
        if osp.isfile(path):
            found.append(path)
        elif osp.isdir(path):
            found.extend(sorted(
                osp.join(root, name) for root, _, names in os.walk(path) for name in names
                if name.lower().endswith(IMAGE_SUFFIXES)))
        else:
            raise CLIError(f'--images: {path!r} does not exist; pass image files or folders')
    if not found:
        raise CLIError(f'--images: no image files ({", ".join(IMAGE_SUFFIXES)}) in '
                       f'{" ".join(paths)}; e.g. data/pretrain after tools/generate_data.py')
    if num_images < 1:
        raise CLIError(f'--num-images={num_images}; analyse at least one image')
    if len(found) > num_images:
        found = [found[i * len(found) // num_images] for i in range(num_images)]
    return found


def parse_arch(text):
    """``--arch``: None, an arch name or a JSON dict, checked against mim_det's arch table."""
    if text is None:
        return None
    from mim_det.models.layers import resolve_vit_arch
    try:
        arch = json.loads(text) if text.lstrip().startswith('{') else text
        resolve_vit_arch(arch, '--arch')
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise CLIError(f'--arch {text!r}: {exc}') from exc
    return arch


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mim_det.analysis.attention import ImageReadError, analyse_checkpoints, unique_labels

    for checkpoint in args.checkpoints:
        if not osp.isfile(checkpoint):
            raise CLIError(f'checkpoint {checkpoint!r} does not exist; pass an export written '
                           'by tools/export_backbone.py or another ViT checkpoint')
    try:
        labels = unique_labels(args.checkpoints, args.labels)
    except ValueError as exc:
        raise CLIError(f'--labels: {exc}') from exc
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise CLIError(f'--device {args.device}: no CUDA device available; use --device cpu')
    images = collect_images(args.images, args.num_images)
    try:
        summary = analyse_checkpoints(
            args.checkpoints, labels, images, args.out_dir, img_size=args.img_size,
            arch=parse_arch(args.arch), patch_size=args.patch_size,
            pos_encoding=args.pos_encoding, prefix=args.prefix, batch_size=args.batch_size,
            max_cka_samples=args.max_cka_samples or None, device=args.device, seed=args.seed)
    except ImageReadError as exc:
        raise CLIError(f'--images: {exc}') from exc

    print(f'{PROG}: {summary["num_images"]} images at {summary["img_size"]} px')
    for model in summary['models']:
        distance = ' '.join(f'{d:.1f}' for d in model['attention_distance_mean'])
        diversity = ' '.join(f'{d:.3f}' for d in model['head_diversity'])
        print(f'  {model["label"]}: attention distance per layer (px, mean of heads) '
              f'{distance}; head diversity (KL, nats) {diversity}')
    between = summary['cka_between']
    if between is not None and between['matrix'] is None:
        print(f'  no cka_between.png: {between["reason"]}')
    print(f'{PROG}: wrote {osp.join(args.out_dir, "attention_analysis.json")} and the figures')
    return 0


if __name__ == '__main__':
    run_cli(main, PROG)
