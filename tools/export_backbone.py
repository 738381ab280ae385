"""Export a pretraining checkpoint's backbone as tensors-only weights with metadata.

    python tools/export_backbone.py CHECKPOINT OUT.safetensors [--prefix PREFIX]

The output is a safetensors file (no pickle) with the backbone's parameters under
backbone-local names and metadata (method, backbone type, arch, patch size, image size,
position-encoding kind, RPE parameters, source iteration); see
``mim_det/checkpoint/export.py``. Detection, segmentation and classification
backbones load it with ``init_cfg=dict(type='Pretrained', checkpoint='OUT.safetensors')``.
"""
import argparse
import json

import _bootstrap  # noqa: F401

from mim_det.cli import run_cli

PROG = 'export_backbone'


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='.pth written by tools/train.py')
    parser.add_argument('out', help='output .safetensors path')
    parser.add_argument('--prefix', default=None,
                        help='key prefix of the backbone in the checkpoint (default: backbone., '
                        'or algorithm.backbone. for a wrapping algorithm such as MSCN)')
    args = parser.parse_args()
    if not args.out.endswith('.safetensors'):
        parser.error(f'OUT must end with .safetensors, got {args.out!r}')

    from mim_det.checkpoint import export_backbone, load_backbone_export
    export_backbone(args.checkpoint, args.out, prefix=args.prefix)
    state, meta = load_backbone_export(args.out)  # read back: the file on disk is what counts
    numel = sum(v.numel() for v in state.values())
    print(f'{PROG}: wrote {args.out}: {len(state)} tensors, {numel / 1e6:.2f} M parameters')
    print(json.dumps(meta, indent=1))


if __name__ == '__main__':
    run_cli(main, PROG)
