"""Bad annotations at run time: COCO instances and ADE20k label maps broken by the test, read by
mim_det's checked ``CocoDataset`` / ``ADE20KDataset`` (the toolboxes' names) in-process and by
real ``tools/train.py`` runs. 'drop' counts and names what it drops; 'fail' is one line naming
the file and the id."""
import copy
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mim_det.downstream  # noqa: F401  (registers the checked datasets)
from mim_det.datasets.coco_dataset import BadAnnotationError

from conftest import break_ade_training_maps, break_coco_training_set, run_tool

COCO = 'configs/vitdet/mae_maskrcnn_tiny_embedded.py'
ADE = 'configs/upernet/mae_upernet_tiny_embedded.py'
DETECTION = 'configs/baselines/mask-rcnn_r18_fpn_2xb4-embedded.py'


@pytest.fixture
def data(small_data_copy):
    return small_data_copy


def _data_list(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def _dataset(config, scope, root, split='train', **overrides):
    from importlib import import_module
    cfg = copy.deepcopy(Config.fromfile(config)[f'{split}_dataloader'].dataset)
    cfg.data_root = root
    cfg.update(overrides)
    with DefaultScope.overwrite_default_scope(scope):
        return import_module(f'{scope}.registry').DATASETS.build(cfg)


def test_coco_drop_counts_every_kind_and_keeps_the_rest(data):
    coco = break_coco_training_set(data)
    dataset = _dataset(COCO, 'mmdet', f'{data}/coco/', bad_annotations='drop',
                       filter_cfg=None)
    assert dict(dataset.dropped) == dict(polygon_too_short=1, box_zero_area=1,
                                         box_outside_image=1, unknown_category=1,
                                         annotation_without_image=1, missing_image_file=1)
    assert f'annotation id {coco["annotations"][3]["id"]} ' in \
        dataset.dropped_examples['unknown_category'][0]
    missing = coco['images'][-1]
    kept_images = {info['img_id'] for info in _data_list(dataset)}
    assert missing['id'] not in kept_images and len(kept_images) == len(coco['images']) - 1
    # every annotation of a kept image that has no problem is kept
    bad_ids = {a['id'] for a in coco['annotations'][:5]}
    expected = sum(1 for a in coco['annotations']
                   if a['image_id'] in kept_images and a['id'] not in bad_ids)
    assert sum(len(info['instances']) for info in _data_list(dataset)) == expected


def test_mmdet_own_dataset_keeps_the_short_polygon(data):
    """The control: mmdet's class keeps the 2-point polygon that fails later in the mask ops."""
    from mmdet.datasets.coco import CocoDataset
    coco = break_coco_training_set(data)
    cfg = copy.deepcopy(Config.fromfile(COCO).train_dataloader.dataset)
    cfg.pop('type')
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(**dict(cfg, data_root=f'{data}/coco/', filter_cfg=None))
    image_id = coco['annotations'][0]['image_id']
    masks = [inst.get('mask') for info in _data_list(dataset) if info['img_id'] == image_id
             for inst in info['instances']]
    assert [[1.0, 1.0, 5.0, 5.0]] in masks


def test_coco_fail_names_the_file_and_the_annotation(data):
    coco = break_coco_training_set(data)
    with pytest.raises(BadAnnotationError) as error:
        _dataset(COCO, 'mmdet', f'{data}/coco/', bad_annotations='fail')
    message = str(error.value)
    assert 'instances_train2017.json' in message and "bad_annotations='drop'" in message
    assert f'annotation id {coco["annotations"][4]["id"]} ' in message  # the first one found
    assert '\n' not in message


def test_ade_label_maps_of_wrong_size_or_classes_are_dropped_or_refused(data):
    maps = break_ade_training_maps(data)
    root = f'{data}/ade/ADEChallengeData2016'
    dropping = _dataset(ADE, 'mmseg', root, bad_annotations='drop')
    index = {info['seg_map_path']: i for i, info in enumerate(_data_list(dropping))}
    assert dropping.prepare_data(index[str(maps[0])]) is None
    assert dropping.prepare_data(index[str(maps[1])]) is None
    assert dropping.prepare_data(index[str(maps[2])]) is not None
    # in training, mmengine draws another sample instead of the dropped one
    sample = dropping[index[str(maps[1])]]
    assert sample['data_samples'].seg_map_path not in (str(maps[0]), str(maps[1]))

    failing = _dataset(ADE, 'mmseg', root)  # the class default
    with pytest.raises(BadAnnotationError, match='label map of size 7x5'):
        failing.prepare_data(index[str(maps[0])])
    with pytest.raises(BadAnnotationError, match=r'labels \[200\] in the file are outside the'):
        failing.prepare_data(index[str(maps[1])])
    # a test-mode dataset never drops: a metric must not silently lose images
    testing = _dataset(ADE, 'mmseg', root, bad_annotations='drop', test_mode=True)
    with pytest.raises(BadAnnotationError):
        testing.prepare_data(index[str(maps[0])])
    # mmseg's test pipeline resizes the image before it loads the (original-size) label map
    validation = _dataset(ADE, 'mmseg', root, split='val')
    assert [t for t in validation.pipeline.transforms if type(t).__name__ == 'Resize']
    for i in range(len(validation)):
        validation.prepare_data(i)


def test_train_drops_bad_coco_annotations_and_stops_on_a_bad_label_map(data, tmp_path):
    """Real ``tools/train.py`` runs: the COCO training set drops (train.py's default for
    training data) and says so in the log; ADE20k with ``bad_annotations='fail'`` ends with one
    line naming the label map."""
    break_coco_training_set(data)
    result = run_tool([sys.executable, 'tools/train.py', DETECTION, '--work-dir',
                       str(tmp_path / 'det'), '--no-validate', '--cfg-options',
                       *[f'{split}_dataloader.dataset.data_root={data}/coco/'
                         for split in ('train', 'val', 'test')],
                       'train_cfg.max_iters=1', 'train_dataloader.batch_size=2'])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert 'dropped 6 bad annotations or images' in output, output[-4000:]

    maps = break_ade_training_maps(data)
    result = run_tool([sys.executable, 'tools/train.py', ADE, '--work-dir',
                       str(tmp_path / 'seg'), '--no-validate', '--cfg-options',
                       *[f'{split}_dataloader.dataset.data_root={data}/ade/ADEChallengeData2016'
                         for split in ('train', 'val', 'test')],
                       'model.backbone.init_cfg=None', 'train_cfg.max_iters=4', 'train_dataloader.num_workers=0',
                       'train_dataloader.persistent_workers=False',
                       'train_dataloader.dataset.bad_annotations=fail',
                       'train_dataloader.sampler.shuffle=False'])
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith('train.py: error:')]
    assert len(errors) == 1 and str(maps[0]) in errors[0], result.stderr[-3000:]
