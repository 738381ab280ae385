"""Pretraining throughput: LoMaR against mmpretrain's MAE, ViT-B/16, same batch, one run.

    python tools/analysis/benchmark_pretrain_throughput.py [--sizes 224 384 448]
        [--batch-size N] [--iters N] [--warmup N] [--device cpu|cuda] [--amp]
        [--official-lomar PATH] [--profile] [--repeats N]

For each image size it measures forward+backward (no optimizer step) of

* mmpretrain ``MAE`` (MAEViT-B/16 encoder on 25% of the patches + 8-block 512-d decoder),
* ``LoMaR`` with 4 windows, and
* ``LoMaR`` with the paper's windows for that size (4 at 224, 6 at 384, 9 at 448),
* with ``--official-lomar PATH`` (a checkout of junchen14/LoMaR; its imports -- timm,
  easydict -- must be installed or on ``PYTHONPATH``), the official ``MaskedAutoencoderViT``
  of ``models_lomar.py`` at the same size, windows and batch beside every LoMaR case (its
  ``forward(imgs, 7, M, 0.8)``: iRPE through explicit matmuls and a gather, the whole image
  patch-embedded and repeated per window), and the ``vs official`` column: mim_det's images/s
  over the official code's;

and prints images/s, peak memory, analytical forward FLOPs per image
(``mim_det/analysis/flops.py``), the achieved FLOP/s (3 x forward FLOPs x images/s) beside a
dense matmul peak measured in the same run, and the LoMaR/MAE measured speed ratio beside the
MAE/LoMaR FLOPs ratio. Each case runs in its own subprocess, so the peak memory of one does not
hide another's: on CUDA it is ``torch.cuda.max_memory_allocated``, on CPU the process's peak
resident set over the RSS after the model and input were built (activations, gradients and
allocator caches of the warm-up and timed steps).

``--profile`` runs one more step of every case under :mod:`torch.profiler` and prints the
share of its time spent in matrix products (``aten::mm``, ``addmm``, ``bmm``, ``baddbmm``;
CPU time on CPU, device time on CUDA) and ``1 / share``: the speed-up that removing every other
operation would give, an upper bound for any change that keeps the model's FLOPs.
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.analysis.benchmark import (print_result, run_case_in_subprocess,  # noqa: E402
                                        time_steps)

ROOT = _bootstrap.ROOT
PAPER_WINDOWS = {224: 4, 384: 6, 448: 9}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[224, 384, 448])
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per step (default: 64 on cuda, 4 on cpu)')
    parser.add_argument('--iters', type=int, default=None,
                        help='timed steps per case (default: 20 on cuda, 5 on cpu)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed steps first (default: 5 on cuda, 2 on cpu)')
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast (cuda)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='run the whole case list this many times, round-robin, and keep '
                        'each case\'s fastest run (evens out a noisy shared machine)')
    parser.add_argument('--official-lomar', default=None, metavar='PATH',
                        help='a checkout of the official LoMaR code (junchen14/LoMaR): adds '
                        'its model beside every LoMaR case')
    parser.add_argument('--profile', action='store_true',
                        help='one more profiled step per case: the share of matrix products')
    parser.add_argument('--json', default=None, help='also write the rows to this file')
    parser.add_argument('--case', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


#: the kernels that do a step's matrix products (``--profile``)
GEMM_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm')


def import_official_lomar(path: str):
    """``models_lomar`` from a checkout of junchen14/LoMaR (nothing of it is in this repo)."""
    if not osp.isfile(osp.join(path, 'models_lomar.py')):
        raise SystemExit(f'--official-lomar {path}: no models_lomar.py there; pass a checkout '
                         'of https://github.com/junchen14/LoMaR')
    import numpy as np
    if 'float' not in np.__dict__:  # util/pos_embed.py uses np.float, removed in NumPy 1.24
        np.float = float
    sys.path.insert(0, osp.abspath(path))
    try:
        import models_lomar
    except ImportError as exc:
        raise SystemExit(f'--official-lomar {path}: {exc}; install what the official code '
                         'imports (pip install timm easydict) or put it on PYTHONPATH')
    return models_lomar


def build_model(method: str, size: int, windows: int, official_path: str = None):
    import mim_det  # noqa: F401  registers LoMaR
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    if method == 'official-lomar':
        return import_official_lomar(official_path).mae_vit_base_patch16_dec512d8b(
            img_size=size, norm_pix_loss=True)
    if method == 'mae':
        import mmpretrain
        cfg = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__),
                                       '.mim/configs/_base_/models/mae_vit-base-p16.py')).model
        cfg.backbone.img_size = size
        cfg.neck.num_patches = (size // 16) ** 2
    else:
        cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/lomar_vit-base-p16.py')).model
        cfg.backbone.img_size = size
        cfg.window_sampler.num_windows = windows
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    return model


def run_case(case: dict) -> dict:
    import torch
    device = torch.device(case['device'])
    torch.manual_seed(0)
    model = build_model(case['method'], case['size'], case['windows'],
                        case.get('official_path')).to(device).train()
    x = torch.randn(case['batch'], 3, case['size'], case['size'], device=device)
    dtype = torch.bfloat16 if case['amp'] else None
    if case['method'] == 'official-lomar':  # window 7, mask ratio 0.8: the paper's
        def loss_of(images):
            return model(images, 7, case['windows'], 0.8)[0]
    else:
        def loss_of(images):
            return model.loss(images, None)['loss']

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=case['amp']):
            loss = loss_of(x)
        loss.backward()
        model.zero_grad(set_to_none=True)

    times, peak = time_steps(step, device, case['warmup'], case['iters'])
    seconds = sum(times) / len(times)
    row = dict(case, step_s=seconds, images_per_s=case['batch'] / seconds, peak_bytes=peak)
    if case.get('profile'):
        row['gemm_share'] = gemm_share(step, device)
    return row


def gemm_share(step, device) -> float:
    """Fraction of one profiled ``step``'s operator self time spent in :data:`GEMM_OPS`."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda'
                                           else [])
    with profile(activities=activities) as prof:
        step()
        if device.type == 'cuda':
            torch.cuda.synchronize()
    attr = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    events = prof.key_averages()
    total = sum(getattr(e, attr) for e in events)
    return sum(getattr(e, attr) for e in events if e.key in GEMM_OPS) / max(total, 1e-9)


def matmul_peak(device, amp: bool) -> float:
    """FLOP/s of a large square matmul in the precision the models run in."""
    import torch
    n = 4096 if device.type == 'cuda' else 2048
    dtype = torch.bfloat16 if amp else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    if device.type == 'cuda':
        torch.cuda.synchronize()
    reps = 20 if device.type == 'cuda' else 5
    best = 0.
    for _ in range(3):  # best of three: the peak, not an average over interruptions
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == 'cuda':
            torch.cuda.synchronize()
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - start))
    return best


def forward_flops(method: str, size: int, windows: int) -> int:
    from mim_det.analysis.flops import lomar_flops_per_image, mae_flops_per_image
    if method == 'mae':
        return mae_flops_per_image(size)['total']
    # the official code runs the same encoder on the same windows (it also patch-embeds the
    # whole image; that is 1/(12 * 12) of a block per patch, left out)
    return lomar_flops_per_image(windows)['total']


def main(argv=None):
    args = parse_args(argv)
    if args.case:
        print_result(run_case(json.loads(args.case)))
        return 0
    if args.official_lomar:
        import_official_lomar(args.official_lomar)  # fail here, not in every subprocess
    import torch
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    gpu = device.type == 'cuda'
    batch = args.batch_size or (64 if gpu else 4)
    iters = args.iters or (20 if gpu else 5)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 2)
    peak = matmul_peak(device, args.amp)
    name = torch.cuda.get_device_name(device) if gpu else f'CPU, {torch.get_num_threads()} threads'
    print(f'device: {name}; batch {batch}; {iters} timed steps after {warmup} warm-up; '
          f'{"bf16 autocast" if args.amp else "fp32"}; matmul peak {peak / 1e12:.3f} TFLOP/s')

    cases = []
    for size in args.sizes:
        cases.append(('mae', size, 0))
        cases.append(('lomar', size, 4))
        paper = PAPER_WINDOWS.get(size)
        if paper and paper != 4:
            cases.append(('lomar', size, paper))
    if args.official_lomar:
        cases = [c for case in cases for c in
                 ([case, ('official-lomar', ) + case[1:]] if case[0] == 'lomar' else [case])]
    best = {}
    for rep in range(args.repeats):
        for method, size, windows in cases:
            case = dict(method=method, size=size, windows=windows, batch=batch, iters=iters,
                        warmup=warmup, device=str(device), amp=args.amp,
                        official_path=args.official_lomar, profile=args.profile)
            try:
                row = run_case_in_subprocess(__file__, case)
            except RuntimeError as exc:
                print(exc)
                return 1
            key = (method, size, windows)
            print(f'  run {rep + 1}/{args.repeats} {method:14s} {size}px '
                  f'windows={windows or "-"}: {row["images_per_s"]:.2f} img/s', flush=True)
            if key not in best or row['images_per_s'] > best[key]['images_per_s']:
                best[key] = row
    rows = []
    for key in cases:
        row = best[key]
        row['fwd_flops'] = forward_flops(*key)
        row['achieved'] = 3 * row['fwd_flops'] * row['images_per_s']
        rows.append(row)

    head = (f'{"method":<20}{"size":>5}{"img/s":>9}{"ms/img":>9}{"peak MB":>10}'
            f'{"GFLOP/img":>11}{"TFLOP/s":>9}{"% peak":>8}{"speed/MAE":>11}{"FLOPs MAE/x":>13}')
    if args.official_lomar:
        head += f'{"vs official":>13}'
    if args.profile:
        head += f'{"GEMM %":>8}{"bound":>7}'
    print('\n' + head + '\n' + '-' * len(head))
    mae = {r['size']: r for r in rows if r['method'] == 'mae'}
    official = {(r['size'], r['windows']): r for r in rows if r['method'] == 'official-lomar'}
    labels = {'mae': 'MAE', 'lomar': 'LoMaR', 'official-lomar': 'official LoMaR'}
    for r in rows:
        label = labels[r['method']] + ('' if r['method'] == 'mae' else f' M={r["windows"]}')
        ref = mae[r['size']]
        speed = r['images_per_s'] / ref['images_per_s']
        flops_ratio = ref['fwd_flops'] / r['fwd_flops']
        line = (f'{label:<20}{r["size"]:>5}{r["images_per_s"]:>9.2f}'
                f'{1e3 / r["images_per_s"]:>9.1f}{r["peak_bytes"] / 2**20:>10.0f}'
                f'{r["fwd_flops"] / 1e9:>11.2f}{r["achieved"] / 1e12:>9.3f}'
                f'{100 * r["achieved"] / peak:>7.1f}%{speed:>10.2f}x{flops_ratio:>12.2f}x')
        if args.official_lomar:
            off = official.get((r['size'], r['windows'])) if r['method'] == 'lomar' else None
            line += (f'{r["images_per_s"] / off["images_per_s"]:>12.2f}x' if off else
                     f'{"-":>13}')
        if args.profile:
            line += f'{100 * r["gemm_share"]:>7.1f}%{1 / max(r["gemm_share"], 1e-9):>6.2f}x'
        print(line)
    print('\nspeed/MAE: measured LoMaR images/s over MAE images/s at the same size; '
          'FLOPs MAE/x: MAE forward FLOPs over the row\'s (what the speed ratio would be if '
          'both ran at the same FLOP/s). Paper: LoMaR 2.5x (384, M=6) and 3.1x (448, M=9) '
          'faster than MAE.' +
          (' vs official: mim_det LoMaR images/s over the official code\'s, same size, '
           'windows and batch.' if args.official_lomar else '') +
          (' GEMM %: share of a profiled step in matrix products; bound: 1 / share, the '
           'most any change that keeps the FLOPs can gain.' if args.profile else ''))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=name, matmul_peak=peak, rows=rows), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
