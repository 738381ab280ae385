"""tools/test.py on a real mmdet model: CocoMetric report, --out predictions, --show-dir."""
import json
import pickle
import sys

import pytest

from conftest import run_tool

CONFIG = 'configs/baselines/mask-rcnn_r18_fpn_2xb4-embedded.py'


@pytest.fixture(scope='module')
def one_iteration_checkpoint(tmp_path_factory, small_data):
    work = tmp_path_factory.mktemp('det')
    root = f'{small_data}/coco/'
    options = [f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
               f'test_dataloader.dataset.data_root={root}',
               f'val_evaluator.ann_file={root}annotations/instances_val2017.json',
               f'test_evaluator.ann_file={root}annotations/instances_val2017.json']
    result = run_tool([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work),
                       '--no-validate', '--cfg-options', *options, 'train_cfg.max_iters=1',
                       'default_hooks.checkpoint.interval=1', 'train_dataloader.batch_size=2'])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / 'iter_1.pth', options


def test_report_predictions_and_drawings(one_iteration_checkpoint, tmp_path):
    ckpt, options = one_iteration_checkpoint
    out = tmp_path / 'preds.pkl'
    result = run_tool([sys.executable, 'tools/test.py', CONFIG, str(ckpt), '--work-dir',
                       str(tmp_path / 'w'), '--out', str(out), '--show-dir', str(tmp_path / 'vis'),
                       '--cfg-options', *options])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'Evaluation report' in result.stdout and 'coco/bbox_mAP' in result.stdout
    metrics = json.load(open(tmp_path / 'w' / 'test_metrics.json'))['metrics']
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_75'):
        assert -1.0 <= metrics[key] <= 1.0, key
    predictions = pickle.load(open(out, 'rb'))
    num_val = len(json.load(open(options[-1].split('=', 1)[1]))['images'])
    assert len(predictions) == num_val
    assert {'pred_instances', 'img_id'} <= set(predictions[0])
    drawn = [p for p in (tmp_path / 'vis').rglob('*') if p.suffix in ('.jpg', '.png')]
    assert len(drawn) == num_val


def test_out_must_be_a_pickle_path(one_iteration_checkpoint, tmp_path):
    ckpt, options = one_iteration_checkpoint
    result = run_tool([sys.executable, 'tools/test.py', CONFIG, str(ckpt), '--out',
                       str(tmp_path / 'preds.json'), '--cfg-options', *options])
    assert result.returncode == 2
    assert result.stderr.strip() == (f"test.py: error: --out '{tmp_path}/preds.json': the output "
                                     'file must end with .pkl')
