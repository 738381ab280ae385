"""Real runs of tools/train.py: exact resume and a two-process (gloo) distributed launch."""
import glob
import os.path as osp
import sys

import torch

import mim_det  # noqa: F401  (safe loading of mmengine checkpoints)

from conftest import free_port, run_tool

MAE_TINY = 'configs/mae/mae_vit-tiny-p8_8xb8-embedded.py'


def _train(work_dir, data, max_iters, *extra):
    args = [sys.executable, 'tools/train.py', MAE_TINY, '--work-dir', str(work_dir), *extra,
            '--cfg-options', f'train_dataloader.dataset.data_root={data}/pretrain',
            f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1']
    result = run_tool(args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _weights(path):
    return torch.load(path, weights_only=True)['state_dict']


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_matches_uninterrupted_run(tmp_path, small_data):
    straight, stopped = tmp_path / 'straight', tmp_path / 'stopped'
    _train(straight, small_data, 6)
    _train(stopped, small_data, 3)  # "interrupted" after the checkpoint at iteration 3
    log = _train(stopped, small_data, 6, '--resume').stdout
    assert 'resumed epoch' in log.lower() or 'resumed' in log.lower()
    final_straight = _weights(straight / 'iter_6.pth')
    final_resumed = _weights(stopped / 'iter_6.pth')
    _assert_same(final_straight, final_resumed)
    # The run actually trained after resuming (weights moved between iterations 3 and 6).
    at_3 = _weights(stopped / 'iter_3.pth')
    assert any(not torch.equal(at_3[k], final_resumed[k]) for k in at_3)


def test_resume_without_generator_states_diverges(tmp_path, small_data):
    """The control for the test above: MAE's random masks after resume depend on the restored
    generator states, so dropping them from the checkpoint changes the result."""
    straight, stopped = tmp_path / 'straight', tmp_path / 'stopped'
    _train(straight, small_data, 6)
    _train(stopped, small_data, 3)
    ckpt_path = stopped / 'iter_3.pth'
    ckpt = torch.load(ckpt_path, weights_only=True)
    del ckpt['rng_state']
    torch.save(ckpt, ckpt_path)
    _train(stopped, small_data, 6, '--resume', str(ckpt_path))
    a, b = _weights(straight / 'iter_6.pth'), _weights(stopped / 'iter_6.pth')
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_resume_auto_finds_latest_checkpoint(tmp_path, small_data):
    work = tmp_path / 'w'
    _train(work, small_data, 3)
    assert osp.isfile(work / 'last_checkpoint')
    _train(work, small_data, 6, '--resume')
    assert osp.isfile(work / 'iter_6.pth')


def test_two_process_distributed_training_on_cpu(tmp_path, small_data):
    work = tmp_path / 'dist'
    result = run_tool(
        ['bash', 'tools/dist_train.sh', MAE_TINY, '2', '--work-dir', str(work),
         '--cfg-options', f'train_dataloader.dataset.data_root={small_data}/pretrain',
         'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3',
         'default_hooks.logger.interval=1', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False'],
        env={'PORT': str(free_port()), 'PYTHON': sys.executable})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    logs = glob.glob(str(work / '*' / '*.log'))
    assert logs, output[-2000:]
    text = open(logs[0]).read()
    assert 'Distributed training: True' in text
    assert 'GPU number: 2' in text  # mmengine's name for the world size
    assert 'gloo' in text
    state = _weights(work / 'iter_3.pth')
    assert not any(k.startswith('module.') for k in state)
