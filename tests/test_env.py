"""The stack self-check: compiled mmcv ops agree with torchvision, every toolbox imports."""
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
