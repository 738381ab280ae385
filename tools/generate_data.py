"""Generate the embedded default data (synthetic scenes in ImageNet-folder, COCO and ADE20k form).

The pretraining images also get image-level labels (``pretrain/meta/train_labeled.txt``: the
category of each scene's largest visible object) for supervised baselines; a folder generated
before those labels existed gets the list added, its images left as they are.

    python tools/generate_data.py [--out-dir data] [--seed 0] [--num-pretrain N]
                                  [--num-coco-train N] [--num-coco-val N]
                                  [--num-ade-train N] [--num-ade-val N]
                                  [--num-classify-train N] [--num-classify-val N] [--force]

The same seed gives byte-identical files. Datasets that already match (seed, counts, generator
version) are skipped unless --force. Errors (e.g. an unusable --out-dir) end with one
``generate_data: error: ...`` line on stderr and exit status 2.
"""
import argparse
import os.path as osp
import sys
import time

try:
    import mim_det  # noqa: F401
except ImportError:
    # Run from a checkout without `pip install -e .`: the repository root holds the package.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

PROG = 'generate_data'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description='Generate the embedded default data '
                                     '(deterministic synthetic scenes).')
    parser.add_argument('--out-dir', default='data', help='output folder (default: data)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument('--num-pretrain', type=int, default=3000,
                        help='unlabeled pretraining images (default: 3000)')
    parser.add_argument('--num-coco-train', type=int, default=60,
                        help='COCO train images (default: 60)')
    parser.add_argument('--num-coco-val', type=int, default=100,
                        help='COCO val images (default: 100)')
    parser.add_argument('--num-ade-train', type=int, default=40,
                        help='ADE20k training images (default: 40)')
    parser.add_argument('--num-ade-val', type=int, default=50,
                        help='ADE20k validation images (default: 50)')
    parser.add_argument('--num-classify-train', type=int, default=120,
                        help='labelled one-object training images (default: 120)')
    parser.add_argument('--num-classify-val', type=int, default=60,
                        help='labelled one-object validation images (default: 60)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even when the data is up to date')
    return parser.parse_args(argv)


def _status(entry) -> str:
    return 'up to date, skipped' if entry['skipped'] else 'generated'


def main(argv=None) -> int:
    args = parse_args(argv)
    from mim_det.datasets.synthetic import generate_default_data

    start = time.perf_counter()
    try:
        res = generate_default_data(
            out_dir=args.out_dir, seed=args.seed, num_pretrain=args.num_pretrain,
            num_coco_train=args.num_coco_train, num_coco_val=args.num_coco_val,
            num_ade_train=args.num_ade_train, num_ade_val=args.num_ade_val,
            num_classify_train=args.num_classify_train, num_classify_val=args.num_classify_val,
            force=args.force)
    except (ValueError, OSError) as exc:
        print(f'{PROG}: error: {" ".join(str(exc).split())}', file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start

    p, c, a, k = res['pretrain'], res['coco'], res['ade'], res['classify']
    print(f'{PROG}: out dir {res["out_dir"]} (seed {res["seed"]})')
    status = _status(p)
    if p['skipped'] and p['labels_added']:
        status = 'up to date, labelled list added'
    print(f'  pretrain  {p["img_dir"]}: {p["num_images"]} images; ann_file {p["ann_file"]}, '
          f'labelled ({p["num_labeled"]}, largest object) {p["labeled_ann_file"]} [{status}]')
    inst = ''
    if c.get('num_train_instances') is not None:
        inst = f', {c["num_train_instances"]} / {c["num_val_instances"]} instances'
    print(f'  coco      {c["root"]}: {c["num_train"]} train / {c["num_val"]} val images{inst} '
          f'[{_status(c)}]')
    print(f'  ade       {a["root"]}: {a["num_train"]} train / {a["num_val"]} val images '
          f'[{_status(a)}]')
    print(f'  classify  {k["root"]}: {k["num_train"]} train / {k["num_val"]} val images, one '
          f'labelled object each [{_status(k)}]')
    if all(entry['skipped'] for entry in (p, c, a, k)) and not p['labels_added']:
        print(f'{PROG}: all datasets up to date (use --force to regenerate); {seconds:.2f} s')
    else:
        print(f'{PROG}: done in {seconds:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
