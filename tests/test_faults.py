"""Faults injected for real into mmengine runs: NaN / inf steps and preemption signals.

The runs here are real ``mmengine.runner.Runner`` trainings of a small model with a BatchNorm
layer (running statistics), AdamW (optimiser state) and mmengine's ``EMAHook``; the faults come
from hooks (NaN written into a batch, an inf gradient through a tensor hook) and from a real
``SIGUSR1`` sent to this process. Two tests launch a real two-process ``tools/dist_train.sh``
run and ``kill -9`` or ``SIGSTOP`` one rank. The SIGTERM test of a real ``tools/train.py`` process and its
exact resume is in ``test_train_resume_dist.py``.
"""
import functools
import glob
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement

import mim_det  # noqa: F401  (registers the hooks)
from mim_det.engine.hooks import (CheckpointWriteError, NonFiniteStepHook, NonFiniteTrainingError,
                                  PreemptionHook, TrainingPreempted)

from conftest import ROOT, free_port, run_tool, tool_env


class ToyRegressor(BaseModel):
    """BatchNorm (running statistics) + a linear layer; loss = mean squared output."""

    def __init__(self, ballast_mb: float = 0):
        super().__init__()
        torch.manual_seed(0)
        self.norm = torch.nn.BatchNorm1d(4)
        self.fc = torch.nn.Linear(4, 2)
        # a constant buffer that makes checkpoints big enough to fill a disk or to be killed
        # in the middle of being written
        self.register_buffer('ballast', torch.ones(int(ballast_mb * 2**18)))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(self.norm(torch.stack(inputs)))
        if mode == 'loss':
            return dict(loss_mse=(out - 1).pow(2).mean())
        return out


class ToyData(torch.utils.data.Dataset):
    """16 fixed vectors; each item is a fresh tensor, so a hook may write NaN into a batch."""

    def __init__(self):
        self.x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i].clone(),
                    data_samples=BaseDataElement(metainfo=dict(img_path=f'toy/{i:02d}.jpg')))


class InjectFaults(Hook):
    """NaN inputs at ``nan_iters``, an inf gradient (finite loss) at ``inf_grad_iters``, a
    signal to this process at ``signal_iters`` (1-based iteration numbers)."""

    priority = 'HIGHEST'

    def __init__(self, nan_iters=(), inf_grad_iters=(), signal_iters=(), signum=signal.SIGUSR1):
        self.nan_iters, self.inf_grad_iters = set(nan_iters), set(inf_grad_iters)
        self.signal_iters, self.signum = set(signal_iters), signum
        self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        iteration = runner.iter + 1
        if iteration in self.nan_iters:
            data_batch['inputs'][0][1] = float('nan')
        if iteration in self.inf_grad_iters:
            weight = runner.model.fc.weight
            self._handle = weight.register_hook(lambda g: torch.full_like(g, float('inf')))
        if iteration in self.signal_iters:
            os.kill(os.getpid(), self.signum)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


class RecordState(Hook):
    """After every iteration (after the guard and EMA): weights, buffers, optimiser and EMA."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        ema = [h for h in runner.hooks if isinstance(h, EMAHook)][0]
        optim = runner.optim_wrapper.optimizer.state_dict()['state']
        self.states[runner.iter + 1] = dict(
            model={k: v.clone() for k, v in runner.model.state_dict().items()},
            ema={k: v.clone() for k, v in ema.ema_model.state_dict().items()},
            optim={(i, k): v.clone() for i, s in optim.items() for k, v in s.items()})


def _run(tmp_path, hooks, max_iters=8, optim_wrapper=None, max_epochs=None, shuffle=False,
         resume_from=None, ema=True, ballast_mb=0, checkpoint=None, **runner_kwargs):
    """Train the toy model (8 iterations, or ``max_epochs`` of 4 iterations) in this process."""
    train_cfg = (dict(by_epoch=True, max_epochs=max_epochs) if max_epochs else
                 dict(by_epoch=False, max_iters=max_iters))
    runner = Runner(**runner_kwargs,
        model=ToyRegressor(ballast_mb), work_dir=str(tmp_path), experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=ToyData(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=shuffle),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=train_cfg, resume=resume_from is not None,
        load_from=None if resume_from == 'auto' else resume_from,
        optim_wrapper=optim_wrapper or dict(optimizer=dict(type='AdamW', lr=0.05)),
        default_hooks=dict(checkpoint=checkpoint or dict(type='CheckpointHook', interval=1000,
                                                         by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[EMAHook(momentum=0.5)] * ema + hooks,
        randomness=dict(seed=0), default_scope='mmengine')
    runner.train()
    return runner


def _trained_weights(checkpoint) -> dict:
    """The model's own weights from a checkpoint: with EMAHook, mmengine stores the EMA weights
    under ``state_dict`` and the trained ones under ``ema_state_dict`` (prefixed ``module.``)."""
    saved = torch.load(checkpoint, weights_only=True)['ema_state_dict']
    return {k[len('module.'):]: v for k, v in saved.items() if k.startswith('module.')}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _unchanged(states, before, after):
    return all(_same(states[before][part], states[after][part]) for part in states[before])


def _log_text(tmp_path) -> str:
    logs = [osp.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if f.endswith('.log')]
    return ''.join(open(p).read() for p in logs)


def test_guard_does_not_change_a_healthy_run(tmp_path):
    plain, guarded = RecordState(), RecordState()
    _run(tmp_path / 'plain', [plain])
    _run(tmp_path / 'guarded', [NonFiniteStepHook(), guarded])
    assert all(_same(plain.states[8][p], guarded.states[8][p]) for p in ('model', 'ema', 'optim'))


def test_nan_loss_and_inf_gradient_steps_are_skipped(tmp_path):
    record = RecordState()
    _run(tmp_path, [InjectFaults(nan_iters=[3], inf_grad_iters=[5]), NonFiniteStepHook(), record])
    states = record.states
    # nothing of iterations 3 and 5 reached the weights, BatchNorm statistics, AdamW or EMA
    assert _unchanged(states, 2, 3)
    assert _unchanged(states, 4, 5)
    # training went on in between and after
    assert not _same(states[3]['model'], states[4]['model'])
    assert not _same(states[5]['model'], states[6]['model'])
    assert all(torch.isfinite(v.float()).all() for v in states[8]['model'].values())
    log = _log_text(tmp_path)
    assert 'iteration 3: non-finite loss; step skipped' in log
    assert 'iteration 5: non-finite gradients; step skipped' in log
    # the samples of the bad batch (iteration 3 reads items 8-11) are named
    assert 'samples: toy/08.jpg, toy/09.jpg, toy/10.jpg, toy/11.jpg' in log


def test_unguarded_nan_step_poisons_the_run(tmp_path):
    """The control: without the hook the same NaN batch ruins weights and statistics."""
    record = RecordState()
    _run(tmp_path, [InjectFaults(nan_iters=[3]), record])
    assert not all(torch.isfinite(v.float()).all() for v in record.states[8]['model'].values())


def test_consecutive_nonfinite_steps_stop_with_last_good_checkpoint(tmp_path):
    record = RecordState()
    with pytest.raises(NonFiniteTrainingError, match='3 optimiser steps in a row'):
        _run(tmp_path, [InjectFaults(nan_iters=range(3, 9)),
                        NonFiniteStepHook(max_consecutive=3), record])
    checkpoint = tmp_path / 'iter_5.pth'
    assert open(tmp_path / 'last_checkpoint').read() == str(checkpoint)
    assert torch.load(checkpoint, weights_only=True)['meta']['iter'] == 5
    assert _same(_trained_weights(checkpoint), record.states[2]['model'])
    batch = torch.load(tmp_path / 'nonfinite_batch_iter_5.pth', weights_only=True)
    assert torch.isnan(batch['inputs'][0]).any()
    assert [m['img_path'] for m in batch['metainfo']] == [f'toy/{i:02d}.jpg' for i in (0, 1, 2, 3)]


@pytest.fixture
def cpu_amp(monkeypatch):
    """mmengine's AmpOptimWrapper with torch's CPU GradScaler (the wrapper itself insists on
    a GPU; the scaler's unscale / inf check / skip / back-off run the same code on CPU)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    monkeypatch.setattr(amp_optimizer_wrapper, 'GradScaler',
                        functools.partial(torch.amp.GradScaler, 'cpu'))
    return dict(type='AmpOptimWrapper', loss_scale=dict(init_scale=2.0**10),
                optimizer=dict(type='AdamW', lr=0.05))


def test_amp_scaler_skip_is_counted_and_leaves_ema_and_statistics(tmp_path, cpu_amp):
    record = RecordState()
    guard = NonFiniteStepHook()
    scales = []

    class RecordScale(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            scales.append(runner.optim_wrapper.loss_scaler.get_scale())

    _run(tmp_path, [InjectFaults(nan_iters=[3], inf_grad_iters=[5]), guard, record,
                    RecordScale()], optim_wrapper=cpu_amp)
    assert _unchanged(record.states, 2, 3) and _unchanged(record.states, 4, 5)
    assert guard.total_skipped == 2
    # iteration 5: the scaler found the inf gradient, skipped and halved its scale; iteration 3
    # (NaN loss) was skipped before the scaler, whose scale stays
    assert scales[2] == scales[1] and scales[4] == scales[3] / 2
    assert 'non-finite gradients (AMP loss scaler skipped the step)' in _log_text(tmp_path)


def test_sigusr1_checkpoints_at_the_iteration_boundary(tmp_path):
    record = RecordState()
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(TrainingPreempted, match='preempted by SIGUSR1 at iteration 3'):
        _run(tmp_path, [InjectFaults(signal_iters=[3]), record, PreemptionHook()])
    assert _same(_trained_weights(tmp_path / 'iter_3.pth'), record.states[3]['model'])
    assert open(tmp_path / 'last_checkpoint').read() == str(tmp_path / 'iter_3.pth')
    assert max(record.states) == 3  # the run stopped right there
    assert signal.getsignal(signal.SIGUSR1) == before


def test_preemption_hook_names_unknown_signals():
    with pytest.raises(ValueError, match="unknown signal 'SIGTERMX'"):
        PreemptionHook(signals=('SIGTERMX',))


def test_epoch_based_run_preempted_mid_epoch_resumes_exactly(tmp_path):
    """Preempted at iteration 6 = batch 2 of epoch 2: the checkpoint says "epoch 2 unfinished,
    6 iterations done" and the resumed run skips the two batches of epoch 2 it has seen."""
    straight = RecordState()
    _run(tmp_path / 'straight', [PreemptionHook(), straight], max_epochs=3, shuffle=True)
    work = tmp_path / 'preempted'
    with pytest.raises(TrainingPreempted):
        _run(work, [InjectFaults(signal_iters=[6]), PreemptionHook()],
             max_epochs=3, shuffle=True)
    meta = torch.load(work / 'iter_6.pth', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 6)
    resumed = RecordState()
    _run(work, [PreemptionHook(), resumed], max_epochs=3, shuffle=True,
         resume_from=str(work / 'iter_6.pth'))
    assert sorted(resumed.states) == [7, 8, 9, 10, 11, 12]
    assert all(_same(straight.states[12][p], resumed.states[12][p]) for p in resumed.states[12])
    assert 'skipping its first 2 batches' in _log_text(work)


def _ddp_worker(work_dir: str) -> None:
    """One rank of the two-process test below (started by torchrun): NaN in rank 1's batch of
    iteration 3 only. Saves what it saw for the test to compare."""
    import torch.distributed as dist
    rank = int(os.environ['RANK'])
    dist.init_process_group('gloo')
    record = RecordState()
    _run(os.path.join(work_dir, f'rank{rank}'),
         [InjectFaults(nan_iters=[3] if rank == 1 else []), NonFiniteStepHook(), record],
         max_iters=5, launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='gloo')),
         cfg=dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False)))
    model = {i: {k.replace('module.', '', 1): v for k, v in s['model'].items()}
             for i, s in record.states.items()}
    torch.save(model, os.path.join(work_dir, f'states{rank}.pth'))
    dist.destroy_process_group()


def test_ranks_agree_to_skip_a_step_that_is_nan_on_one_rank(tmp_path):
    """Two real gloo processes (torchrun): only rank 1's batch has a NaN, yet both ranks skip
    iteration 3 (DDP averaged the NaN gradients into rank 0's) and stay equal."""
    result = run_tool([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                       f'--master_port={free_port()}', osp.join(ROOT, 'tests', 'test_faults.py'),
                       'ddp-worker', str(tmp_path)], timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    states = [torch.load(tmp_path / f'states{r}.pth', weights_only=True) for r in (0, 1)]
    for rank_states in states:
        # BatchNorm statistics are per rank (broadcast_buffers=False); rank 1's NaN batch
        # must not leave NaN in them either
        assert _same(rank_states[2], rank_states[3])
        assert not _same(rank_states[3], rank_states[4])
    weights = [{k: v for k, v in s[5].items() if 'running' not in k and 'num_batches' not in k}
               for s in states]
    assert _same(*weights)
    assert all(torch.isfinite(v.float()).all() for s in states for v in s[5].values())



@pytest.fixture
def small_filesystem(tmp_path):
    """A real 8 MB tmpfs (needs the right to mount, which root has here and in CI)."""
    mount_point = tmp_path / 'fs'
    mount_point.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
    yield mount_point
    subprocess.run(['umount', '-l', str(mount_point)], check=True)


class FillDisk(Hook):
    """Before iteration ``at_iter``, write a file until the work dir's file system has only
    ``leave_bytes`` free: room for the logs, not for the next checkpoint."""

    def __init__(self, at_iter: int, leave_bytes: int):
        self.at_iter, self.leave_bytes = at_iter, leave_bytes

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at_iter:
            return
        chunk = bytes(64 * 1024)
        with open(osp.join(runner.work_dir, 'filler'), 'wb') as f:
            while True:
                stat = os.statvfs(runner.work_dir)
                if stat.f_bavail * stat.f_frsize <= self.leave_bytes + len(chunk):
                    break
                f.write(chunk)
                f.flush()


def test_disk_full_while_saving_keeps_the_previous_checkpoint(small_filesystem):
    """mmengine deletes the checkpoint that max_keep_ckpts=1 drops before writing the next one;
    on a full disk that loses both. Here the new one fails and the old one stays."""
    work = small_filesystem / 'work'
    with pytest.raises(CheckpointWriteError) as failure:
        _run(work, [FillDisk(at_iter=3, leave_bytes=256 * 1024)], ema=False, ballast_mb=2,
             checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=1))
    message = str(failure.value)
    assert 'No space left on device' in message, message
    assert f'could not write checkpoint {work}/iter_4.pth' in message
    assert f'the previous checkpoint {work}/iter_2.pth is intact' in message
    assert open(work / 'last_checkpoint').read() == str(work / 'iter_2.pth')
    assert torch.load(work / 'iter_2.pth', weights_only=True)['meta']['iter'] == 2
    assert not osp.exists(work / 'iter_4.pth')
    assert not glob.glob(str(work / '.*.tmp'))  # the partial temporary file was removed


def test_disk_full_with_two_kept_checkpoints_frees_the_oldest_and_goes_on(small_filesystem):
    """With max_keep_ckpts=2 the checkpoint a save would drop anyway (never the latest) is
    deleted first when the disk is full, and training completes."""
    work = small_filesystem / 'work'
    _run(work, [FillDisk(at_iter=5, leave_bytes=256 * 1024)], ema=False, ballast_mb=2,
         checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=2))
    assert sorted(osp.basename(p) for p in glob.glob(str(work / 'iter_*.pth'))) == [
        'iter_6.pth', 'iter_8.pth']
    assert open(work / 'last_checkpoint').read() == str(work / 'iter_8.pth')
    assert torch.load(work / 'iter_8.pth', weights_only=True)['meta']['iter'] == 8
    log = _log_text(work)
    assert f'no space left for {work}/iter_6.pth; deleted {work}/iter_2.pth' in log


def _checkpoint_writer(work_dir: str) -> None:
    """Train the toy model for a long time with an 8 MB checkpoint after every iteration,
    resuming from ``last_checkpoint`` if there is one (the kill -9 test below runs this)."""
    resume = 'auto' if osp.isfile(osp.join(work_dir, 'last_checkpoint')) else None
    _run(work_dir, [], max_iters=100000, ema=False, ballast_mb=8, resume_from=resume,
         checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=2))


def test_kill_9_during_checkpoint_writes_never_leaves_a_bad_latest_checkpoint(tmp_path):
    """Real ``kill -9`` of a training process at several moments after a checkpoint write has
    started (0 to 20 ms into it): every time, ``last_checkpoint`` names a complete checkpoint
    that loads, every ``iter_*.pth`` loads, the next start removes the partial temporary file,
    and training continues from where it was."""
    work = tmp_path / 'work'
    previous_iter, killed_mid_write = 0, 0
    for delay in (0.0, 0.001, 0.003, 0.006, 0.01, 0.02):
        process = subprocess.Popen(
            [sys.executable, osp.join(ROOT, 'tests', 'test_faults.py'), 'checkpoint-writer',
             str(work)], cwd=ROOT, env=tool_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        start_marker = osp.getmtime(work / 'last_checkpoint') if previous_iter else None
        # wait until this process has written one checkpoint, then for its next write to start
        while time.monotonic() < deadline and process.poll() is None:
            if osp.isfile(work / 'last_checkpoint') and \
                    osp.getmtime(work / 'last_checkpoint') != start_marker:
                break
            time.sleep(0.001)
        while time.monotonic() < deadline and process.poll() is None:
            if glob.glob(str(work / '.iter_*.pth.*.tmp')):
                break
            time.sleep(0.0002)
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(delay)
        process.kill()
        process.wait()
        killed_mid_write += bool(glob.glob(str(work / '.iter_*.pth.*.tmp')))
        latest = open(work / 'last_checkpoint').read()
        iteration = torch.load(latest, weights_only=True)['meta']['iter']
        for path in glob.glob(str(work / 'iter_*.pth')):
            torch.load(path, weights_only=True)
        assert iteration > previous_iter  # the restarted run resumed and went on
        previous_iter = iteration
    assert killed_mid_write >= 3, killed_mid_write  # most kills hit a write in progress


def _rank_pid(launcher_pid: int, rank: int, deadline: float) -> int:
    """The PID of torchrun's worker with ``RANK=rank`` (read from /proc)."""
    while time.monotonic() < deadline:
        children = open(f'/proc/{launcher_pid}/task/{launcher_pid}/children').read().split()
        for child in children:
            try:
                environ = open(f'/proc/{child}/environ', 'rb').read().split(b'\0')
            except FileNotFoundError:
                continue
            if f'RANK={rank}'.encode() in environ:
                return int(child)
        time.sleep(0.2)
    raise AssertionError(f'no worker with RANK={rank} under {launcher_pid}')


def _wait_for(predicate, deadline: float, what: str):
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f'timed out waiting for {what}')


def _start_two_rank_run(tmp_path, small_data, timeout: float):
    """A real two-process ``tools/dist_train.sh`` run of the tiny LoMaR config (gloo) with
    the watchdog at ``timeout`` seconds; returns the launcher process once iteration 2 is
    logged, its output file and rank 1's PID."""
    config = tmp_path / 'watched.py'
    config.write_text(
        f"_base_ = ['{ROOT}/configs/lomar/pretrain_tiny_embedded.py']\n"
        f"custom_hooks = [dict(type='RNGStateHook'), dict(type='DistributedWatchdogHook', "
        f"timeout={timeout}, poll_interval=0.5)]\n")
    work = tmp_path / 'work'
    output = open(tmp_path / 'output.txt', 'w+')
    launcher = subprocess.Popen(
        ['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work),
         '--cfg-options', f'train_dataloader.dataset.data_root={small_data}/pretrain',
         'train_cfg.max_iters=100000', 'default_hooks.logger.interval=1',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'],
        cwd=ROOT, env=tool_env({'PORT': str(free_port()), 'PYTHON': sys.executable}),
        stdout=output, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    _wait_for(lambda: launcher.poll() is not None or re.search(r'Iter\(train\) \[\s*2/',
                                                               _log_text(work)),
              deadline, 'iteration 2 in the log')
    assert launcher.poll() is None, open(tmp_path / 'output.txt').read()[-3000:]
    return launcher, tmp_path / 'output.txt', _rank_pid(launcher.pid, 1, deadline)


def test_a_rank_killed_by_kill_9_is_named_and_the_other_rank_stops(tmp_path, small_data):
    """Real ``kill -9`` of rank 1 mid-training: rank 0's next collective fails (gloo:
    connection closed by peer); ``tools/train.py`` names rank 1 as dead and exits with 70."""
    launcher, output, rank1 = _start_two_rank_run(tmp_path, small_data, timeout=60)
    killed_at = time.monotonic()
    os.kill(rank1, signal.SIGKILL)
    launcher.wait(timeout=120)
    elapsed, text = time.monotonic() - killed_at, output.read_text()
    assert launcher.returncode != 0
    assert 'train.py: error: rank 0 of 2: a collective operation failed' in text, text[-4000:]
    assert 'stalled: rank 1: iteration' in text
    assert 'no sign of life' in text and 'dead or frozen' in text
    assert 'exitcode  : 70' in text or 'exitcode: 70' in text, text[-3000:]
    assert elapsed < 40, elapsed  # not gloo's 30-minute timeout


def test_a_frozen_rank_is_named_within_the_watchdog_timeout(tmp_path, small_data):
    """Real ``SIGSTOP`` of rank 1 (a hung rank: no error anywhere, rank 0 blocks in its next
    all-reduce): rank 0's watchdog stops it after ``timeout`` s with exit status 70 and a line
    naming rank 1, its iteration and phase."""
    timeout = 8
    launcher, output, rank1 = _start_two_rank_run(tmp_path, small_data, timeout=timeout)
    stopped_at = time.monotonic()
    os.kill(rank1, signal.SIGSTOP)
    try:
        _wait_for(lambda: 'DistributedWatchdogHook: rank 0 of 2' in output.read_text(),
                  stopped_at + 120, "rank 0's watchdog line")
        elapsed = time.monotonic() - stopped_at
    finally:
        os.kill(rank1, signal.SIGKILL)  # torchrun would wait 30 s for the stopped process
    launcher.wait(timeout=120)
    text = output.read_text()
    line = next(l for l in text.splitlines() if 'DistributedWatchdogHook: rank 0 of 2' in l)
    assert f'more than the watchdog timeout of {timeout} s' in line, line
    assert 'stalled: rank 1: iteration' in line and 'dead or frozen' in line, line
    assert 'exitcode  : 70' in text or 'exitcode: 70' in text, text[-3000:]
    assert timeout <= elapsed < timeout + 20, elapsed


if __name__ == '__main__' and sys.argv[1:2] == ['ddp-worker']:
    _ddp_worker(sys.argv[2])
if __name__ == '__main__' and sys.argv[1:2] == ['checkpoint-writer']:
    _checkpoint_writer(sys.argv[2])
