"""Real runs of tools/train.py: exact resume and a two-process (gloo) distributed launch."""
import glob
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
import torch

import mim_det  # noqa: F401  (safe loading of mmengine checkpoints)

from conftest import ROOT, free_port, run_tool, tool_env

MAE_TINY = 'configs/mae/mae_vit-tiny-p8_8xb8-embedded.py'
LOMAR_TINY = 'configs/lomar/pretrain_tiny_embedded.py'
FINETUNE_TINY = 'configs/lomar/finetune_tiny_embedded.py'


def _train_args(work_dir, data, max_iters, *extra, config=LOMAR_TINY):
    return [sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), *extra,
            '--cfg-options', f'train_dataloader.dataset.data_root={data}/pretrain',
            f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1']


def _train(work_dir, data, max_iters, *extra, config=LOMAR_TINY):
    result = run_tool(_train_args(work_dir, data, max_iters, *extra, config=config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _weights(path):
    return torch.load(path, weights_only=True)['state_dict']


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope='module')
def runs(tmp_path_factory, small_data):
    """One uninterrupted 6-iteration run and one run stopped after the checkpoint at 3."""
    root = tmp_path_factory.mktemp('resume')
    _train(root / 'straight', small_data, 6)
    _train(root / 'stopped', small_data, 3)
    return root


def test_resume_matches_uninterrupted_run(runs, tmp_path, small_data):
    stopped = tmp_path / 'stopped'
    shutil.copytree(runs / 'stopped', stopped)
    log = _train(stopped, small_data, 6, '--resume', str(stopped / 'iter_3.pth')).stdout
    assert 'restored generator states of iteration 3' in log
    final_straight = _weights(runs / 'straight' / 'iter_6.pth')
    final_resumed = _weights(stopped / 'iter_6.pth')
    _assert_same(final_straight, final_resumed)
    # The run actually trained after resuming (weights moved between iterations 3 and 6).
    at_3 = _weights(stopped / 'iter_3.pth')
    assert any(not torch.equal(at_3[k], final_resumed[k]) for k in at_3)


def test_resume_without_generator_states_diverges(runs, tmp_path, small_data):
    """The control for the test above: LoMaR's random windows and masks after resume depend on
    the restored generator states, so dropping them from the checkpoint changes the result."""
    stopped = tmp_path / 'stopped'
    shutil.copytree(runs / 'stopped', stopped)
    ckpt_path = stopped / 'iter_3.pth'
    ckpt = torch.load(ckpt_path, weights_only=True)
    del ckpt['rng_state']
    torch.save(ckpt, ckpt_path)
    _train(stopped, small_data, 6, '--resume', str(ckpt_path))
    a, b = _weights(runs / 'straight' / 'iter_6.pth'), _weights(stopped / 'iter_6.pth')
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_sigterm_checkpoints_exits_75_and_resume_matches_uninterrupted_run(runs, tmp_path,
                                                                          small_data):
    """A real SIGTERM (what Slurm and torchrun send) to a real tools/train.py once it logs
    iteration 1: a checkpoint at the next iteration boundary (1 if the signal lands before the
    hook's check of iteration 1, else later), exit status 75, and ``--resume`` (auto) ends
    bitwise where the uninterrupted run ends."""
    work = tmp_path / 'preempted'
    process = subprocess.Popen(_train_args(work, small_data, 6), cwd=ROOT, env=tool_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    for line in process.stdout:
        output.append(line)
        if 'Iter(train) [1/6]' in line:
            process.send_signal(signal.SIGTERM)
            break
    output.extend(process.stdout)
    status = process.wait(timeout=600)
    text = ''.join(output)
    assert status == 75, text[-3000:]
    checkpoint = open(work / 'last_checkpoint').read()
    stopped_at = int(osp.basename(checkpoint)[len('iter_'):-len('.pth')])
    assert 1 <= stopped_at < 6 and osp.isfile(checkpoint), text[-3000:]
    assert 'PreemptionHook: SIGTERM received' in text
    assert f'train.py: preempted by SIGTERM at iteration {stopped_at}' in text
    _train(work, small_data, 6, '--resume')
    _assert_same(_weights(runs / 'straight' / 'iter_6.pth'), _weights(work / 'iter_6.pth'))


def test_resume_auto_finds_latest_checkpoint(tmp_path, small_data):
    work = tmp_path / 'w'
    _train(work, small_data, 3)
    assert osp.isfile(work / 'last_checkpoint')
    _train(work, small_data, 6, '--resume')
    assert osp.isfile(work / 'iter_6.pth')


@pytest.mark.parametrize('config', [LOMAR_TINY, MAE_TINY], ids=['lomar', 'mae'])
def test_two_process_distributed_training_on_cpu(tmp_path, small_data, config):
    work = tmp_path / 'dist'
    result = run_tool(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work),
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


def test_two_process_finetune_from_a_lomar_export(runs, tmp_path, small_data):
    """Classification fine-tuning under DDP with mmengine's default
    find_unused_parameters=False: the downstream ViT holds no pretraining-only parameter (the
    mask token), so two gloo processes train from a real LoMaR export."""
    export = tmp_path / 'backbone.safetensors'
    result = run_tool([sys.executable, 'tools/export_backbone.py',
                       str(runs / 'straight' / 'iter_6.pth'), str(export)])
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / 'finetune'
    data = f'{small_data}/classify'
    result = run_tool(
        ['bash', 'tools/dist_train.sh', FINETUNE_TINY, '2', '--work-dir', str(work),
         '--cfg-options', f'model.backbone.init_cfg.checkpoint={export}',
         f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
         'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
         'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0'],
        env={'PORT': str(free_port()), 'PYTHON': sys.executable})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    text = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'Distributed training: True' in text and 'GPU number: 2' in text
    assert 'layout: mim_det export' in text and 'SUSPICIOUS' not in text
    assert 'accuracy/top1' in text  # validation ran after training
    state = _weights(work / 'epoch_2.pth')
    assert not any('mask_token' in k for k in state)
    # the export's weights were the starting point and training moved them
    from mim_det.checkpoint import load_backbone_export
    exported, _ = load_backbone_export(str(export))
    key = 'layers.0.attn.qkv.weight'
    assert not torch.equal(state[f'backbone.{key}'], exported[key])
    assert (state[f'backbone.{key}'] - exported[key]).abs().max() < 0.5


FAKE_SRUN = r'''#!/usr/bin/env bash
# Stand-in for Slurm's srun on a machine without Slurm: starts --ntasks copies of the command
# with the variables srun sets, and fails when any copy fails.
n=1
while [[ "$1" == -* ]]; do
  case "$1" in --ntasks=*) n=${1#--ntasks=} ;; -p) shift ;; esac
  shift
done
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_PROCID=$i SLURM_NTASKS=$n SLURM_LOCALID=$i SLURM_NODELIST=localhost "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
'''


def test_slurm_script_launches_two_cpu_tasks(tmp_path, small_data):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    work = tmp_path / 'slurm'
    env = {'PATH': f'{bin_dir}:{osp.dirname(sys.executable)}:/usr/bin:/bin', 'GPUS': '2',
           'GPUS_PER_NODE': '2', 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(free_port())}
    result = run_tool(
        ['bash', 'tools/slurm_train.sh', 'cpu', 'mim_det_test', MAE_TINY, str(work),
         '--cfg-options', f'train_dataloader.dataset.data_root={small_data}/pretrain',
         'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'], env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    text = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'Distributed launcher: slurm' in text and 'GPU number: 2' in text
    assert osp.isfile(work / 'iter_2.pth')


# srun / scontrol stand-ins that record their command lines; srun's first call ends as a
# preempted train.py does (status 75), later calls succeed.
RECORDING_SRUN = r'''#!/usr/bin/env bash
echo "srun $*" >> "$CALLS"
calls=$(grep -c '^srun' "$CALLS")
[ "$calls" -eq 1 ] && exit 75
exit 0
'''
RECORDING_SCONTROL = r'''#!/usr/bin/env bash
echo "scontrol $*" >> "$CALLS"
'''


def _slurm_script(tmp_path, env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', RECORDING_SRUN), ('scontrol', RECORDING_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / 'calls.txt'
    full_env = {'PATH': f'{bin_dir}:/usr/bin:/bin', 'CALLS': str(calls), **env}
    result = run_tool(['bash', 'tools/slurm_train.sh', 'p', 'job', MAE_TINY, str(tmp_path / 'w'),
                       '--cfg-options', 'train_cfg.max_iters=2'], env=full_env)
    return result, calls.read_text().splitlines()


def test_slurm_script_restarts_a_preempted_run_with_resume(tmp_path):
    result, calls = _slurm_script(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert len(calls) == 2 and '--resume' not in calls[0]
    assert calls[1].endswith('train_cfg.max_iters=2 --resume')
    assert 'starting again with --resume (restart 1 of at most 10)' in result.stderr


def test_slurm_script_requeues_its_batch_job(tmp_path):
    result, calls = _slurm_script(tmp_path, {'SLURM_JOB_ID': '4242'})
    assert result.returncode == 0, result.stderr
    assert calls[1:] == ['scontrol requeue 4242'] and len(calls) == 2


def test_slurm_script_resumes_a_requeued_job_and_honours_max_requeues(tmp_path):
    result, calls = _slurm_script(tmp_path, {'SLURM_RESTART_COUNT': '1', 'MAX_REQUEUES': '0'})
    assert result.returncode == 75  # no restart allowed: the preempted status is passed on
    assert calls == [calls[0]] and calls[0].endswith('--resume')
