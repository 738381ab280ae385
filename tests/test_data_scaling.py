"""Issue 15, data scaling (Xie et al., arXiv 2206.04664): seeded nested subsets with a held-out
part, the held-out MIM loss hook (fixed masks, training stream untouched), the grid's loss
summaries, Pearson's r and plots, and tools/analysis/data_scaling.py end to end."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT

from mim_det.analysis.data_scaling import (pearson_r, plot_loss_curves, plot_proxy,
                                           proxy_correlations, read_loss_curves,
                                           summarise_cell)
from mim_det.datasets import FractionSubset, subset_indices

GRID = osp.join(ROOT, 'configs/data_scaling/grid_embedded.py')
TINY = osp.join(ROOT, 'configs/data_scaling/mae_vit-tiny-p8_data-scaling_embedded.py')


def test_subsets_are_nested_disjoint_from_the_heldout_part_and_seeded():
    heldout = set(subset_indices(3000, 1.0, 300, 'heldout', seed=0))
    sizes = {}
    previous = set()
    for fraction in (0.1, 0.2, 0.5, 1.0):
        chosen = set(subset_indices(3000, fraction, 300, 'train', seed=0))
        sizes[fraction] = len(chosen)
        assert previous <= chosen and not chosen & heldout
        previous = chosen
    assert sizes == {0.1: 270, 0.2: 540, 0.5: 1350, 1.0: 2700} and len(heldout) == 300
    assert previous | heldout == set(range(3000))
    assert np.array_equal(subset_indices(3000, 0.1, 300, 'train', 0),
                          subset_indices(3000, 0.1, 300, 'train', 0))
    assert not np.array_equal(subset_indices(3000, 0.1, 300, 'train', 0),
                              subset_indices(3000, 0.1, 300, 'train', 1))
    for bad, match in ((dict(fraction=0.0), 'fraction=0.0'), (dict(fraction=1.5), 'fraction'),
                       (dict(num_heldout=3000), 'num_heldout=3000'),
                       (dict(split='val'), "split='val'")):
        args = dict(num_items=3000, fraction=0.5, num_heldout=10, split='train', seed=0)
        args.update(bad)
        with pytest.raises(ValueError, match=match):
            subset_indices(**args)


def test_fraction_subset_wraps_a_real_image_folder(small_data):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope('mmpretrain')
    inner = dict(type='CustomDataset', data_root=osp.join(small_data, 'pretrain'),
                 data_prefix='train', with_label=False, pipeline=[])
    full = DATASETS.build(inner)
    train = DATASETS.build(dict(type='FractionSubset', dataset=inner, fraction=0.5,
                                num_heldout=8, seed=0))
    heldout = FractionSubset(inner, num_heldout=8, split='heldout', seed=0)
    assert (len(full), len(train), len(heldout)) == (24, 8, 8)
    names = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    held = {heldout[i]['img_path'] for i in range(len(heldout))}
    assert not names & held and all(osp.isfile(p) for p in names | held)
    assert 'heldout: 8 of 24' in repr(heldout)


def _tiny_mae_cfg(work_dir, data, iters=6, hook=True, **hook_args):
    from mmengine.config import Config
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.dataset.data_root = osp.join(data, 'pretrain')
    cfg.train_dataloader.dataset.num_heldout = 8
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg.max_iters = iters
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.custom_hooks = [dict(type='RNGStateHook')]
    if hook:
        cfg.custom_hooks.append(dict(type='ValidationMIMLossHook', interval=3, batch_size=4,
                                     **hook_args))
    cfg.vis_backends = [dict(type='LocalVisBackend')]
    cfg.visualizer.vis_backends = cfg.vis_backends
    # mmengine's visualizer is a singleton named after the config and the second it started:
    # two runs of one config in the same second of one process would share the first's files
    cfg.visualizer.name = f'visualizer_{work_dir}'
    cfg.randomness = dict(seed=0, deterministic=True)
    return cfg


def _train(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_hook_is_fixed_and_leaves_the_training_stream_alone(tmp_path, small_data):
    """MAE draws its masks in the model: a run with the hook ends with bitwise the same weights
    as one without; the held-out loss is logged at steps 0, 3, 6, is the same when computed
    twice on the same weights and changes with the hook's seed (so the seed fixes the masks)."""
    with_hook = _train(_tiny_mae_cfg(tmp_path / 'with', small_data))
    without = _train(_tiny_mae_cfg(tmp_path / 'without', small_data, hook=False))
    a, b = with_hook.model.state_dict(), without.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    train, val = read_loss_curves(str(tmp_path / 'with'))
    assert [s for s, _ in val] == [0, 3, 6] and [s for s, _ in train] == list(range(1, 7))
    [hook] = [h for h in with_hook.hooks if type(h).__name__ == 'ValidationMIMLossHook']
    first, second = hook.compute(with_hook), hook.compute(with_hook)
    assert first == second and first['loss'] == pytest.approx(val[-1][1], abs=1e-6)
    hook.seed = 1
    assert hook.compute(with_hook)['loss'] != first['loss']
    assert with_hook.model.training  # back in training mode


def test_hook_fixes_pipeline_masks_and_keeps_frozen_parts_in_eval(tmp_path, small_data):
    """SimMIM's masks come from the data pipeline: fixed by the hook's seed as well."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'configs/simmim/simmim_vit-tiny-p8_embedded.py'))
    cfg.work_dir = str(tmp_path)
    inner = cfg.train_dataloader.dataset.to_dict()
    inner['data_root'] = osp.join(small_data, 'pretrain')
    cfg.train_dataloader.dataset = dict(type='FractionSubset', dataset=inner, num_heldout=6)
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_iters = 1
    cfg.custom_hooks = [dict(type='ValidationMIMLossHook', interval=1, batch_size=3,
                             at_start=False)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    [hook] = [h for h in runner.hooks if type(h).__name__ == 'ValidationMIMLossHook']
    frozen = runner.model.neck.eval()  # a part kept in eval on purpose stays so
    values = [hook.compute(runner)['loss'] for _ in range(2)]
    assert values[0] == values[1] and not frozen.training and runner.model.backbone.training
    hook.seed = 5
    assert hook.compute(runner)['loss'] != values[0]


def test_hook_without_a_heldout_set_says_what_to_do():
    from mim_det.engine.hooks.validation_mim_loss_hook import heldout_dataset
    with pytest.raises(ValueError, match="FractionSubset', num_heldout=N"):
        heldout_dataset(dict(type='CustomDataset', data_root='data/pretrain'))
    assert heldout_dataset(dict(type='FractionSubset', num_heldout=5, dataset={}))['split'] \
        == 'heldout'


def _write_scalars(work_dir, train, val):
    path = work_dir / '20260101_000000' / 'vis_data'
    path.mkdir(parents=True)
    lines = [dict(lr=1e-3, loss=v, iter=s, step=s) for s, v in train] \
        + [dict(val_mim_loss=v, step=s) for s, v in val]
    (path / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines) + '\n')


def test_cell_summary_overfitting_and_pearson(tmp_path):
    falling = [(s, 1.0 - s / 1000) for s in range(50, 501, 50)]
    _write_scalars(tmp_path / 'over', falling, [(0, 1.0), (250, 0.60), (500, 0.70)])
    _write_scalars(tmp_path / 'fine', falling, [(0, 1.0), (250, 0.70), (500, 0.60)])
    over = summarise_cell('small', 0.1, 500, str(tmp_path / 'over'), metric=20.0)
    fine = summarise_cell('small', 1.0, 500, str(tmp_path / 'fine'), metric=25.0)
    assert over.overfits() and not fine.overfits()
    assert (over.val_loss, over.val_loss_min, over.val_loss_min_step) == (0.70, 0.60, 250)
    assert over.train_loss == pytest.approx(0.5)
    x, y = [0.1, 0.4, 0.2, 0.9], [3.0, 1.0, 2.5, 0.5]
    assert pearson_r(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pearson_r([1, 2], [1, 2]) is None and pearson_r([1, 1, 1], [1, 2, 3]) is None
    third = summarise_cell('tiny', 1.0, 500, str(tmp_path / 'fine'), metric=22.0)
    corr = proxy_correlations([over, fine, third])
    assert corr['val_loss'] == pytest.approx(np.corrcoef([0.7, 0.6, 0.6], [20, 25, 22])[0, 1])
    for name, plot in (('curves.png', plot_loss_curves), ('proxy.png', plot_proxy)):
        plot([over, fine, third], str(tmp_path / name))
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n'
        width, height = np.frombuffer(data[16:24], dtype='>u4')
        assert width > 200 and height > 200
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        read_loss_curves(str(tmp_path / 'nothing'))


def test_imagenet_commands_cover_the_grid():
    from conftest import load_tool
    from mmengine.config import Config
    tool = load_tool('analysis/data_scaling')
    lines = tool.imagenet_commands(Config.fromfile(GRID))
    runs = [line for line in lines if line.startswith('bash tools/dist_train.sh')]
    assert len(runs) == 12 and all('simmim_vit-base-p16_data-scaling_in1k.py 16' in r
                                   for r in runs)
    assert any('fraction=0.1 ' in r and 'max_epochs=800' in r for r in runs)


@pytest.mark.slow
def test_data_scaling_tool_end_to_end(tmp_path, small_data):
    """Two fractions x two lengths of the tiny grid with a few iterations per run: every step,
    the CSV, the JSON with Pearson's r, both plots and the train / held-out reconstructions."""
    import sys
    from conftest import run_tool
    work = tmp_path / 'scaling'
    cmd = [sys.executable, 'tools/analysis/data_scaling.py', '--models', 'tiny',
           '--fractions', '0.5,1.0', '--iters', '42,44', '--data', small_data,
           '--work-dir', str(work), '--jobs', '1',
           '--pretrain-options', 'train_dataloader.dataset.num_heldout=8',
           'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False', 'custom_hooks.1.interval=21',
           'custom_hooks.1.batch_size=4', 'default_hooks.logger.interval=10',
           '--cfg-options', 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
    result = run_tool(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    cells = results['cells']
    assert [(c['fraction'], c['iters']) for c in cells] == [(0.5, 42), (0.5, 44), (1.0, 42),
                                                            (1.0, 44)]
    assert [s for s, _ in cells[1]['val_curve']] == [0, 21, 42, 44]
    assert all(isinstance(c['metric'], float) for c in cells)
    assert 'Pearson r(mIoU, final held-out MIM loss) =' in result.stdout
    assert (work / 'cells.csv').read_text().count('\n') == 5
    for png in ('loss_curves.png', 'proxy.png'):
        assert (work / png).read_bytes()[:4] == b'\x89PNG'
    cell = work / 'tiny_f0.5_42it_seed0'
    assert list((cell / 'recon' / 'train').glob('*_mae.png'))
    assert list((cell / 'recon' / 'heldout').glob('*_mae.png'))
