"""ViTDet backbone cost: folded, chunked and explicit relative position through SDPA against
naive attention, with and without activation checkpointing.

    python tools/analysis/benchmark_vitdet_backbone.py [--rel-pos vitdet|lomar|beit]
        [--device cpu|cuda] [--amp [bf16|fp16]] [--img-size 1024] [--arch b] [--batch-size 1]
        [--warmup N] [--iters N] [--repeats N] [--variants ...]

Measures forward + backward (loss = mean of the output map, no optimizer step) of ``PlainViT``
with the ViTDet settings (Li et al. 2022): patch 16, window 14, global blocks 2, 5, 8, 11, drop
path 0.1, train mode, and the position handling of ``--rel-pos``:

* ``vitdet`` -- decomposed relative position, absolute position from the 224 px grid
  (``configs/_base_/models/vitdet_mask-rcnn_vit-b16.py``);
* ``lomar``  -- decomposed + LoMaR's contextual RPE in every block, no absolute position
  (``configs/vitdet/lomar_maskrcnn_coco.py``);
* ``beit``   -- decomposed + BEiT's per-head table in every block, absolute position off
  (the BEiT/PeCo ViTDet layout).

The variants run side by side in one invocation, round-robin ``--repeats`` times (each keeps its
fastest run, which evens out a noisy shared machine):

* ``chunked``   -- the decomposed bias folded into q and k, the other biases built per block of
                   query rows and recomputed in backward (``rel_pos_impl='chunked'``, what the
                   default ``'auto'`` is on CPU); with ``vitdet`` (no other bias) this is
                   ``folded``,
* ``flex``      -- every bias as a FlexAttention ``score_mod`` in the global blocks (the
                   windows, which carry a padding mask, as ``chunked``); compiled on CUDA,
                   trains on CUDA only (``rel_pos_impl='flex'``),
* ``folded``    -- the decomposed relative position folded into q and k, the other biases as
                   one (N, N) ``attn_mask`` (``rel_pos_impl='folded'``),
* ``folded+cp`` -- the same with activation checkpointing of every block (``with_cp=True``),
* ``folded+rc`` -- folded, the attention core recomputed in backward, the rest of each block
                   kept (``recompute_attention=True``),
* ``sdpa``      -- the (N, N) bias as SDPA's ``attn_mask`` (``rel_pos_impl='explicit'``,
                   what ``'auto'`` is on CUDA except large attentions with BEiT's table;
                   a float mask that needs gradients sends SDPA
                   to its math path on CPU),
* ``sdpa+cp``   -- the same with checkpointing,
* ``naive``     -- explicit ``softmax(q k^T / sqrt(d) + bias) v`` (``use_sdpa=False``),
* ``naive+cp``  -- naive with checkpointing.
* ``auto``      -- the default ``rel_pos_impl='auto'`` (per device and layout; see
                   ``Attention``). Run only when named in ``--variants``.
* ``sdpa+compile``, ``folded+compile``, ``flex+compile`` -- the same with every block
                   compiled (``compile_blocks=True``: ``torch.compile`` per block, in place);
                   the warm-up steps hold the compilation, so give them ``--warmup`` >= 2.
                   Run only when named in ``--variants``.

Every run is its own subprocess, so one variant's peak memory cannot hide another's. Peak memory
is measured as in ``benchmark_pretrain_throughput.py``: on CUDA ``torch.cuda.max_memory_allocated``
(weights, gradients and activations); on CPU the process's peak resident set over the RSS after
the model and input were built (activations, gradients and allocator caches of the warm-up and
timed steps). The table gives ms per step, peak memory, and against ``naive`` the speed-up
(naive ms / ms) and the memory ratio (peak / naive peak).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: F401,E402  (mim_det importable from a checkout)

from mim_det.analysis.benchmark import (print_result, run_case_in_subprocess,  # noqa: E402
                                        time_steps)

#: each variant's PlainViT arguments over the defaults (SDPA, no checkpointing, no compile)
VARIANTS = {
    'chunked': dict(rel_pos_impl='chunked'),
    'flex': dict(rel_pos_impl='flex'),
    'folded': dict(rel_pos_impl='folded'),
    'folded+cp': dict(rel_pos_impl='folded', with_cp=True),
    'sdpa': dict(rel_pos_impl='explicit'),
    'sdpa+cp': dict(rel_pos_impl='explicit', with_cp=True),
    'naive': dict(rel_pos_impl='explicit', use_sdpa=False),
    'naive+cp': dict(rel_pos_impl='explicit', use_sdpa=False, with_cp=True),
    'auto': dict(rel_pos_impl='auto'),
    'folded+rc': dict(rel_pos_impl='folded', recompute_attention=True),
    'sdpa+compile': dict(rel_pos_impl='explicit', compile_blocks=True),
    'folded+compile': dict(rel_pos_impl='folded', compile_blocks=True),
    'flex+compile': dict(rel_pos_impl='flex', compile_blocks=True),
}
#: variants run unless --variants names others (the compiled ones cost a compile per run;
#: 'auto' is one of the others, chosen by device and layout)
DEFAULT_VARIANTS = [name for name in VARIANTS if not name.endswith('+compile') and name != 'auto']
# ViTDet ViT-B/16 (Li et al. 2022, App. A.2)
VITDET = dict(patch_size=16, pretrain_img_size=224, use_abs_pos=True,
              rel_pos_cfgs=[dict(type='DecomposedRelPos')],
              window_size=14, global_attn_indexes=(2, 5, 8, 11), drop_path_rate=0.1,
              out_indices=(-1, ), final_norm=False)
#: the position handling of each downstream layout (see the module doc)
REL_POS = {
    'vitdet': dict(),
    'lomar': dict(use_abs_pos=False,
                  rel_pos_cfgs=[dict(type='DecomposedRelPos'),
                                dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]),
    'beit': dict(use_abs_pos=False,
                 rel_pos_cfgs=[dict(type='DecomposedRelPos'), dict(type='RelPosBiasTable')]),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rel-pos', default='vitdet', choices=list(REL_POS),
                        help='the position handling of the backbone (see the module doc)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', nargs='?', const='bf16', default=None, choices=['bf16', 'fp16'],
                        help='autocast (meant for cuda); "--amp" alone means bf16')
    parser.add_argument('--img-size', type=int, default=1024)
    parser.add_argument('--arch', default='b',
                        help="ViT size by mmpretrain's names: 'b', 'l', 'deit-s', ...")
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed steps per run (default: 3 on cuda; 0 on cpu, where one '
                        'ViT-B step at 1024 takes tens of seconds and the first step\'s one-off '
                        'costs are a small part of that)')
    parser.add_argument('--iters', type=int, default=None,
                        help='timed steps per run (default: 10 on cuda, 1 on cpu)')
    parser.add_argument('--repeats', type=int, default=None,
                        help='round-robin passes over the variants, fastest run kept '
                        '(default: 3 on cuda, 1 on cpu)')
    parser.add_argument('--variants', nargs='+', default=DEFAULT_VARIANTS,
                        choices=list(VARIANTS),
                        help='a subset to run (the ratios need "naive" and "sdpa")')
    parser.add_argument('--json', default=None, help='also write the rows to this file')
    parser.add_argument('--case', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_case(case: dict) -> dict:
    """One variant in this process: build, warm up, time ``iters`` steps, read the peak."""
    import torch

    from mim_det.models.backbones.plain_vit import PlainViT  # the backbone alone: no mmcv ops

    device = torch.device(case['device'])
    torch.manual_seed(0)
    model = PlainViT(arch=case['arch'], img_size=case['img_size'],
                     **dict(VITDET, **REL_POS[case['rel_pos']], **VARIANTS[case['variant']])
                     ).to(device).train()
    x = torch.randn(case['batch'], 3, case['img_size'], case['img_size'], device=device)
    amp_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(case['amp'])

    def step():
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)[0]
        out.float().mean().backward()
        model.zero_grad(set_to_none=True)

    times, peak = time_steps(step, device, case['warmup'], case['iters'])
    return dict(case, ms_per_iter=1e3 * sum(times) / len(times),
                ms_each=[1e3 * t for t in times], peak_bytes=peak)


def main(argv=None):
    args = parse_args(argv)
    if args.case:
        print_result(run_case(json.loads(args.case)))
        return 0
    import torch
    gpu = args.device == 'cuda'
    if gpu and not torch.cuda.is_available():
        print('--device cuda: no CUDA device available')
        return 1
    warmup = args.warmup if args.warmup is not None else (3 if gpu else 0)
    iters = args.iters or (10 if gpu else 1)
    repeats = args.repeats or (3 if gpu else 1)
    name = (torch.cuda.get_device_name() if gpu else
            f'CPU, {torch.get_num_threads()} threads')
    grid = -(-args.img_size // 16)
    print(f'device: {name}; torch {torch.__version__}; PlainViT-{args.arch}/16 at '
          f'{args.img_size} px ({grid}x{grid} tokens), batch {args.batch_size}, window 14, '
          f'global blocks 2,5,8,11, rel pos {args.rel_pos}; forward+backward; '
          f'{args.amp + " autocast" if args.amp else "fp32"}; {warmup} warm-up + {iters} timed '
          f'steps per run, {repeats} round-robin pass(es)', flush=True)

    best, failed = {}, set()
    for rep in range(repeats):
        for variant in args.variants:
            case = dict(variant=variant, rel_pos=args.rel_pos, arch=args.arch,
                        img_size=args.img_size,
                        batch=args.batch_size, warmup=warmup, iters=iters, device=args.device,
                        amp=args.amp)
            try:
                row = run_case_in_subprocess(__file__, case)
            except RuntimeError as exc:  # report it, measure the other variants
                print(exc, flush=True)
                failed.add(variant)
                continue
            print(f'  pass {rep + 1}/{repeats} {variant:<10}: {row["ms_per_iter"]:9.1f} ms/iter, '
                  f'peak {row["peak_bytes"] / 2**20:8.0f} MB', flush=True)
            if variant not in best or row['ms_per_iter'] < best[variant]['ms_per_iter']:
                best[variant] = row

    head = f'{"variant":<11}{"ms/iter":>11}{"peak MB":>10}'
    refs = [name for name in ('naive', 'sdpa') if name in best]
    for ref in refs:
        head += f'{"speed-up vs " + ref:>19}{"memory vs " + ref:>17}'
    print('\n' + head + '\n' + '-' * len(head))
    for variant in [v for v in args.variants if v in best]:
        r = best[variant]
        line = f'{variant:<11}{r["ms_per_iter"]:>11.1f}{r["peak_bytes"] / 2**20:>10.0f}'
        for ref in refs:
            base = best[ref]
            memory = (f'{r["peak_bytes"] / base["peak_bytes"]:.2f}x' if base['peak_bytes']
                      else '-')
            line += f'{base["ms_per_iter"] / r["ms_per_iter"]:>18.2f}x{memory:>17}'
        print(line)
    print('\npeak MB: ' + ('torch.cuda.max_memory_allocated (weights + gradients + activations)'
                           if gpu else 'peak RSS over the RSS after building model and input '
                           '(activations, gradients, allocator caches)') +
          '. speed-up: reference ms / variant ms; memory: variant peak / reference peak.')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=name, rows=[best[v] for v in args.variants if v in best],
                           failed=sorted(failed)), f, indent=1)
    if failed:
        print(f'failed: {", ".join(sorted(failed))} (see above)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
