"""Safe loading of mmengine checkpoints on torch >= 2.6, and atomic checkpoint writes."""
import os
import pickle

import numpy as np
import pytest
import torch

import mim_det  # noqa: F401  (installs the allow-list and the atomic backend)


def _runner_checkpoint(tmp_path):
    """A real checkpoint written by an mmengine Runner (with HistoryBuffers in message_hub)."""
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='loss'):
            return dict(loss=self.fc(torch.stack(inputs)).pow(2).mean())

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return dict(inputs=torch.full((2, ), float(i)))

    runner = Runner(
        model=Tiny(), work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(dataset=Data(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        param_scheduler=[dict(type='LinearLR', begin=0, end=2, by_epoch=False)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)),
        custom_hooks=[dict(type='RNGStateHook')], randomness=dict(seed=0))
    runner.train()
    return str(tmp_path / 'work' / 'iter_4.pth')


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = _runner_checkpoint(tmp_path)
    from mim_det.engine.safe_checkpoint_globals import mmengine_checkpoint_globals
    allowed = {name if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
               for entry in mmengine_checkpoint_globals()
               for name in ([entry[1]] if isinstance(entry, tuple) else [None])}
    # What the file needs beyond torch's built-in list: measured with mim_det's entries removed.
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(path, weights_only=True)  # upstream behaviour without mim_det's list
    finally:
        torch.serialization.add_safe_globals(saved)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed
    assert needed <= allowed, needed - allowed
    ckpt = torch.load(path, weights_only=True)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == pytest.approx(float(np.mean(buffer.data[0])))
    assert 'rng_state' in ckpt


class _Exploit:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_untrusted_pickle_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_getattr_stand_in_only_serves_history_buffer_statistics(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer
    from mim_det.engine.safe_checkpoint_globals import history_buffer_attribute
    assert history_buffer_attribute(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_attribute(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_attribute(np, 'load')

    class Walk:  # pickles as getattr(HistoryBuffer, '__init__'): must be refused
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))
    path = tmp_path / 'walk.pth'
    torch.save({'x': Walk()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_atomic_backend_is_installed_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    from mim_det.engine.atomic_local_backend import AtomicLocalBackend
    backend = get_file_backend(str(tmp_path / 'a.pth'))
    assert isinstance(backend, AtomicLocalBackend)
    target = tmp_path / 'ckpt.pth'
    backend.put(b'old', target)

    def crash(src, dst):
        raise OSError('disk full')
    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError):
        backend.put(b'new-but-interrupted', target)
    monkeypatch.undo()
    assert target.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt.pth']  # no temp file left
    backend.put_text('done', target)
    assert target.read_text() == 'done'


def test_rng_state_roundtrip():
    import random
    from mim_det.engine import capture_rng_state, restore_rng_state
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


class _CreatesFile:
    """A pickle payload that creates a file when unpickled (``open(path, 'w')``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


FINETUNE = 'configs/lomar/finetune_tiny_embedded.py'


def _finetune_options(data):
    return ['model.backbone.arch.embed_dims=64', 'model.backbone.arch.num_layers=2',
            'model.backbone.arch.feedforward_channels=128', 'model.head.in_channels=64',
            *(f'{split}_dataloader.dataset.data_root={data}/classify'
              for split in ('train', 'val', 'test')), 'train_cfg.max_epochs=1']


@pytest.mark.parametrize('entry', ['resume', 'load_from', 'init_cfg', 'test', 'export'])
def test_hostile_checkpoint_is_refused_by_every_tool_and_runs_nothing(tmp_path, small_data,
                                                                      entry):
    """A crafted checkpoint whose unpickling would create a file, given to each tool that reads
    weights: one-line refusal naming the file, exit status 2, and no file appears."""
    import sys

    from conftest import run_tool
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _CreatesFile(marker)}, evil)
    options = _finetune_options(small_data)
    train = [sys.executable, 'tools/train.py', FINETUNE, '--work-dir', str(tmp_path / 'w')]
    command = {
        'resume': train + ['--resume', str(evil), '--cfg-options', *options,
                           'model.backbone.init_cfg=None'],
        'load_from': train + ['--cfg-options', *options, 'model.backbone.init_cfg=None',
                              f'load_from={evil}'],
        'init_cfg': train + ['--cfg-options', *options,
                             f'model.backbone.init_cfg.checkpoint={evil}'],
        'test': [sys.executable, 'tools/test.py', FINETUNE, str(evil), '--work-dir',
                 str(tmp_path / 'w'), '--cfg-options', *options],
        'export': [sys.executable, 'tools/export_backbone.py', str(evil),
                   str(tmp_path / 'out.safetensors')],
    }[entry]
    result = run_tool(command)
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert len(errors) == 1 and f"refused to load checkpoint '{evil}'" in errors[0], errors
    assert 'open' in errors[0]  # torch's reason names the global it refused
    assert not marker.exists()


def test_the_hostile_payload_does_create_the_file_when_unpickled_unsafely(tmp_path):
    """The control for the test above: the payload is real."""
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'meta': _CreatesFile(marker)}, evil)
    torch.load(evil, weights_only=False)
    assert marker.exists()
