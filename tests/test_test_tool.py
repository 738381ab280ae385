"""tools/test.py on a real mmdet model: CocoMetric report, --out predictions, --show-dir."""
import json
import pickle
import sys

import pytest

from conftest import ROOT, run_tool

CONFIG = 'configs/baselines/mask-rcnn_r18_fpn_2xb4-embedded.py'


@pytest.fixture(scope='module')
def one_iteration_checkpoint(tmp_path_factory, small_data):
    work = tmp_path_factory.mktemp('det')
    root = f'{small_data}/coco/'
    options = [f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
               f'test_dataloader.dataset.data_root={root}',
               f'val_evaluator.ann_file={root}annotations/instances_val2017.json',
               f'test_evaluator.ann_file={root}annotations/instances_val2017.json']
    # --test: the same process evaluates the final weights (compared with tools/test.py below)
    result = run_tool([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work),
                       '--no-validate', '--test', '--cfg-options', *options,
                       'train_cfg.max_iters=1',
                       'default_hooks.checkpoint.interval=1', 'train_dataloader.batch_size=2'])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'Evaluation report (train.py --test)' in result.stdout
    return work / 'iter_1.pth', options


def test_report_predictions_and_drawings(one_iteration_checkpoint, tmp_path):
    ckpt, options = one_iteration_checkpoint
    in_training = json.load(open(ckpt.parent / 'test_metrics.json'))
    out = tmp_path / 'preds.pkl'
    result = run_tool([sys.executable, 'tools/test.py', CONFIG, str(ckpt), '--work-dir',
                       str(tmp_path / 'w'), '--out', str(out), '--show-dir', str(tmp_path / 'vis'),
                       '--cfg-options', *options])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'Evaluation report' in result.stdout and 'coco/bbox_mAP' in result.stdout
    metrics = json.load(open(tmp_path / 'w' / 'test_metrics.json'))['metrics']
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_75'):
        assert -1.0 <= metrics[key] <= 1.0, key
    # train.py --test evaluated the same weights in the training process: the same report
    assert in_training['checkpoint'] == str(ckpt)
    assert in_training['metrics'] == metrics
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


def test_testing_needs_no_pretraining_file(tmp_path, small_data):
    """A fine-tuned checkpoint holds every weight: tools/test.py runs without the config's
    pretraining file (model.backbone.init_cfg) and never loads it over the trained weights."""
    import os
    import shutil
    config = 'configs/lomar/finetune_tiny_embedded.py'
    export = tmp_path / 'pretrained.safetensors'
    shutil.copy(f'{ROOT}/tests/fixtures/pre_refactor/lomar_backbone.safetensors', export)
    data = f'{small_data}/classify'
    options = ['model.backbone.arch.embed_dims=64', 'model.backbone.arch.num_layers=2',
               'model.backbone.arch.feedforward_channels=128', 'model.head.in_channels=64',
               f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'test_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={export}']
    work = tmp_path / 'finetune'
    result = run_tool([sys.executable, 'tools/train.py', config, '--work-dir', str(work),
                       '--no-validate', '--cfg-options', *options, 'train_cfg.max_epochs=1',
                       'default_hooks.checkpoint.interval=1'])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'load_vit_checkpoint' in result.stdout  # fine-tuning did start from the export
    os.remove(export)  # e.g. testing on another machine
    result = run_tool([sys.executable, 'tools/test.py', config, str(work / 'epoch_1.pth'),
                       '--work-dir', str(tmp_path / 'test'), '--cfg-options', *options])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'not loading the pretrained checkpoint of model.backbone.init_cfg' in result.stdout
    assert 'load_vit_checkpoint' not in result.stdout + result.stderr
    metrics = json.load(open(tmp_path / 'test' / 'test_metrics.json'))['metrics']
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
