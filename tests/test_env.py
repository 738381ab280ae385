"""The stack self-check: compiled mmcv ops agree with torchvision, every toolbox imports."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_tool


def test_self_check_passes_and_reports_pinned_versions():
    from mim_det.cli.env_check import PINNED, run_self_check
    versions = run_self_check(verbose=False)
    for name, pinned in PINNED.items():
        assert versions[name].startswith(pinned), (name, versions[name])


def test_roi_align_and_nms_match_torchvision_on_unseen_inputs():
    import torch
    import torchvision
    from mmcv.ops import RoIAlign, batched_nms

    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 8, 20, 24, generator=g)
    xy = torch.rand(12, 2, generator=g) * 15
    wh = torch.rand(12, 2, generator=g) * 8 + 0.5
    rois = torch.cat([torch.randint(0, 3, (12, 1), generator=g).float(), xy, xy + wh], 1)
    ours = RoIAlign((7, 7), spatial_scale=0.5, sampling_ratio=0, aligned=True)(feats, rois)
    ref = torchvision.ops.roi_align(feats, rois, (7, 7), 0.5, 0, aligned=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)

    boxes = torch.cat([xy, xy + wh * 3], 1)
    scores = torch.rand(12, generator=g)
    labels = torch.randint(0, 3, (12, ), generator=g)
    _, keep = batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.3))
    ref_keep = torchvision.ops.batched_nms(boxes, scores, labels, 0.3)
    assert keep.tolist() == ref_keep.tolist()


def test_check_env_tool_exit_status():
    result = run_tool([sys.executable, 'tools/check_env.py'])
    assert result.returncode == 0, result.stderr
    assert 'self-check passed' in result.stdout
    assert 'mmcv' in result.stdout and 'mmdet' in result.stdout


def test_self_check_names_the_failing_step(monkeypatch):
    from mim_det.cli import env_check
    # An mmcv installed without its compiled extension: importing mmcv._ext fails.
    monkeypatch.setitem(sys.modules, 'mmcv._ext', None)
    with pytest.raises(env_check.EnvCheckError) as err:
        env_check.run_self_check(verbose=False)
    assert err.value.step == 'import mmcv.ops'
    assert '--rebuild-mmcv' in str(err.value)


def test_setup_script_is_valid_bash():
    assert subprocess.run(['bash', '-n', f'{ROOT}/tools/setup_env.sh']).returncode == 0


def test_setup_stops_with_one_line_when_the_disk_is_too_full_for_torch(tmp_path):
    # a `df` that reports 300 MB free, as CI once saw, ahead of the real one on PATH
    fake_bin = tmp_path / 'bin'
    fake_bin.mkdir()
    (fake_bin / 'df').write_text(
        '#!/bin/sh\necho "Filesystem 1024-blocks Used Available Capacity Mounted on"\n'
        'echo "/dev/x 1000000 700000 300000 70% /"\n')
    (fake_bin / 'df').chmod(0o755)
    env = dict(os.environ, PATH=f'{fake_bin}:{os.environ["PATH"]}',
               MIM_DET_VENV=str(tmp_path / 'venv'))
    res = subprocess.run(['bash', f'{ROOT}/tools/setup_env.sh'], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1, res.stderr
    assert 'only 0.3 GB free' in errors[0] and '7 GB needed' in errors[0]
    assert 'MIM_DET_VENV' in errors[0]
    assert not list((tmp_path / 'venv').glob('lib/python*/site-packages/torch'))
