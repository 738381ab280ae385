"""tools/check_dataset.py on real files broken by the test: every problem kind is found,
counted and named, in the pretraining image list, COCO instances and ADE20k label maps."""
import json
import sys

import pytest
from PIL import Image

from conftest import break_ade_training_maps, break_coco_training_set, run_tool

COCO = 'configs/vitdet/mae_maskrcnn_tiny_embedded.py'
ADE = 'configs/upernet/mae_upernet_tiny_embedded.py'
PRETRAIN = 'configs/mae/mae_vit-tiny-p8_embedded.py'


def _check(config, root_options, tmp_path):
    out = tmp_path / 'report.json'
    result = run_tool([sys.executable, 'tools/check_dataset.py', config, '--out', str(out),
                       '--cfg-options', *root_options])
    reports = json.load(open(out)) if out.exists() else None
    return result, reports


def _roots(root, splits=('train', 'val', 'test')):
    return [f'{split}_dataloader.dataset.data_root={root}' for split in splits]


@pytest.fixture
def data(small_data_copy):
    return small_data_copy


def test_clean_embedded_data_passes(data, tmp_path):
    result, reports = _check(COCO, _roots(f'{data}/coco/'), tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert 'all clean' in result.stdout and all(not r['counts'] for r in reports)


def test_unreadable_pretraining_images_are_found(data, tmp_path):
    images = sorted((data / 'pretrain' / 'train' / 'images').glob('*.jpg'))
    images[0].write_bytes(b'')                                   # zero bytes
    full = images[1].read_bytes()
    images[1].write_bytes(full[:len(full) // 2])                 # truncated
    images[2].write_text('not an image at all')                  # not an image
    Image.open(images[3]).convert('CMYK').save(images[3])        # wrong mode
    result, reports = _check(PRETRAIN, _roots(f'{data}/pretrain', ('train', )), tmp_path)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    counts = reports[0]['counts']
    assert counts == dict(zero_bytes=1, truncated=1, not_an_image=1, wrong_mode=1), counts
    assert str(images[1]) in reports[0]['examples']['truncated'][0]
    assert 'truncated: 1, e.g. ' in result.stdout


def test_bad_coco_annotations_and_images_are_found(data, tmp_path):
    coco = break_coco_training_set(data)
    anns = coco['annotations']
    result, reports = _check(COCO, _roots(f'{data}/coco/'), tmp_path)
    assert result.returncode == 1
    train = next(r for r in reports if r['name'].startswith('train'))
    assert train['counts'] == dict(polygon_too_short=1, box_zero_area=1, box_outside_image=1,
                                   unknown_category=1, annotation_without_image=1,
                                   missing_file=1), train['counts']
    assert f'annotation id {anns[3]["id"]} ' in train['examples']['unknown_category'][0]
    assert 'category_id 999' in train['examples']['unknown_category'][0]


def test_bad_segmentation_maps_are_found(data, tmp_path):
    maps = break_ade_training_maps(data)
    maps[2].unlink()                                                   # missing
    root = f'{data}/ade/ADEChallengeData2016'
    result, reports = _check(ADE, _roots(root), tmp_path)
    assert result.returncode == 1
    train = next(r for r in reports if r['name'].startswith('train'))
    assert train['counts'] == dict(seg_size_mismatch=1, seg_label_out_of_range=1,
                                   seg_missing=1), train['counts']
    assert 'labels [200]' in train['examples']['seg_label_out_of_range'][0]
