"""Tests of the deterministic embedded-data generator (mim_det.datasets.synthetic)."""
import hashlib
import re
import os
import os.path as osp
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from mim_det.datasets.synthetic import (CATEGORIES, generate_coco, generate_default_data,
                                        image_rng, mask_to_coco, render_scene)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'tools', 'generate_data.py')
SMALL = dict(num_pretrain=4, num_coco_train=6, num_coco_val=3, num_ade_train=4, num_ade_val=3,
             num_classify_train=6, num_classify_val=3)
CLASS_NAMES = tuple(c['name'] for c in CATEGORIES)


def tree_hashes(root):
    """``{relative path: sha256}`` of every file below ``root``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('gen') / 'data')
    result = generate_default_data(out_dir=out, seed=0, **SMALL)
    assert not result['coco']['skipped']
    return out


def coco_paths(data_dir, split):
    root = osp.join(data_dir, 'coco')
    return (osp.join(root, 'annotations', f'instances_{split}2017.json'),
            osp.join(root, f'{split}2017'))


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_bytes_different_seed_different(data_dir, tmp_path):
    generate_default_data(out_dir=str(tmp_path / 'again'), seed=0, **SMALL)
    generate_default_data(out_dir=str(tmp_path / 'other'), seed=1, **SMALL)
    ref = tree_hashes(data_dir)
    same = tree_hashes(tmp_path / 'again')
    other = tree_hashes(tmp_path / 'other')
    expected_images = (SMALL['num_pretrain'] + SMALL['num_coco_train'] + SMALL['num_coco_val']
                       + SMALL['num_ade_train'] + SMALL['num_ade_val']
                       + SMALL['num_classify_train'] + SMALL['num_classify_val'])
    assert sum(p.endswith('.jpg') for p in ref) == expected_images
    assert same == ref

    def unlabelled(tree):  # a classify image's folder is its label, which the seed decides
        return {re.sub(r'^(classify/\w+)/\w+/', r'\1/', p): h for p, h in tree.items()}

    ref, other = unlabelled(ref), unlabelled(other)
    assert set(other) == set(ref)
    images = [p for p in ref if p.endswith(('.jpg', '.png'))]
    assert all(other[p] != ref[p] for p in images)
    assert other[osp.join('coco', 'annotations', 'instances_train2017.json')] != \
        ref[osp.join('coco', 'annotations', 'instances_train2017.json')]


def test_idempotent_skip_and_regeneration_on_changed_request(tmp_path):
    out = str(tmp_path / 'd')
    first = generate_coco(out, num_train=3, num_val=2, seed=0)
    assert not first['skipped']
    ann = first['train_ann_file']
    mtime = os.stat(ann).st_mtime_ns
    again = generate_coco(out, num_train=3, num_val=2, seed=0)
    assert again['skipped'] and os.stat(ann).st_mtime_ns == mtime
    assert again['num_train_instances'] == first['num_train_instances']
    # A smaller request must not leave stale images of the bigger one behind.
    fewer = generate_coco(out, num_train=2, num_val=1, seed=0)
    assert not fewer['skipped']
    assert len(os.listdir(fewer['train_img_dir'])) == 2
    assert len(os.listdir(fewer['val_img_dir'])) == 1
    forced = generate_coco(out, num_train=2, num_val=1, seed=0, force=True)
    assert not forced['skipped']


def test_foreign_folder_is_not_overwritten(tmp_path):
    coco = tmp_path / 'd' / 'coco'
    coco.mkdir(parents=True)
    (coco / 'precious.txt').write_text('real data')
    with pytest.raises(ValueError, match='not written by the data generator'):
        generate_coco(str(tmp_path / 'd'), num_train=1, num_val=1, seed=0)
    assert (coco / 'precious.txt').read_text() == 'real data'


@pytest.mark.parametrize('kwargs', [dict(seed=-1), dict(num_coco_train=-2),
                                    dict(num_pretrain=1.5)])
def test_bad_arguments_raise_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_default_data(out_dir=str(tmp_path / 'x'), **kwargs)
    assert not (tmp_path / 'x').exists()


def test_out_dir_under_a_regular_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / 'file.txt'
    blocker.write_text('x')
    bad = str(blocker / 'data')
    with pytest.raises(ValueError, match=bad.replace('\\', '\\\\')):
        generate_default_data(out_dir=bad, **SMALL)


# ------------------------------------------------------------------------------ scenes
def test_scene_masks_are_valid_and_round_trip_through_coco_polygons():
    from pycocotools import mask as mask_utils
    multi_piece = 0
    n_instances = 0
    for i in range(40):
        rng = image_rng(0, 'unit', i)
        scene = render_scene(rng, 200, 240)
        assert scene.image.shape == (200, 240, 3) and scene.image.dtype == np.uint8
        assert scene.semantic.shape == (200, 240) and scene.semantic.max() <= len(CATEGORIES)
        covered = np.zeros((200, 240), bool)
        for inst in scene.instances:
            n_instances += 1
            area = int(inst.mask.sum())
            assert area >= 40 and area >= 0.3 * inst.full_area
            assert not np.any(covered & inst.mask), 'visible masks must not overlap'
            covered |= inst.mask
            assert np.all(scene.semantic[inst.mask] == inst.category_id)
            polygons, coco_area, bbox = mask_to_coco(inst.mask)
            assert coco_area == area
            multi_piece += len(polygons) > 1
            decoded = mask_utils.decode(mask_utils.merge(
                mask_utils.frPyObjects(polygons, 200, 240))).astype(bool)
            # Polygons describe the visible mask up to a pixel or two (no holes, no slivers).
            assert (decoded ^ inst.mask).sum() <= max(2, 0.01 * area)
    assert n_instances > 100
    assert multi_piece > 0, 'occlusion should split some objects into several polygons'


# ------------------------------------------------------------------------------ COCO
@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_annotations(data_dir, split):
    from pycocotools.coco import COCO
    ann_file, img_dir = coco_paths(data_dir, split)
    coco = COCO(ann_file)
    n_images = SMALL[f'num_coco_{split}']
    assert sorted(coco.getImgIds()) == list(range(1, n_images + 1))
    assert sorted(coco.getCatIds()) == [c['id'] for c in CATEGORIES]
    anns = coco.loadAnns(coco.getAnnIds())
    assert sorted(a['id'] for a in anns) == list(range(1, len(anns) + 1))
    assert len({a['category_id'] for a in anns}) >= 2
    for img in coco.loadImgs(coco.getImgIds()):
        image = cv2.imread(osp.join(img_dir, img['file_name']))
        assert image is not None and image.shape == (img['height'], img['width'], 3)
        assert 192 <= img['width'] <= 320 and 192 <= img['height'] <= 320
    for a in anns:
        img = coco.imgs[a['image_id']]
        assert 1 <= a['category_id'] <= 6 and a['iscrowd'] == 0
        x, y, w, h = a['bbox']
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= img['width'] and y + h <= img['height']
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in a['segmentation'])
        mask = coco.annToMask(a)
        ys, xs = np.nonzero(mask)
        tight = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
        assert np.abs(np.array(tight, float) - a['bbox']).max() <= 1.5
        assert abs(mask.sum() - a['area']) <= max(2, 0.03 * a['area'])


def _iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_coco_scenes_have_overlaps_and_several_sizes(data_dir):
    from pycocotools.coco import COCO
    coco = COCO(coco_paths(data_dir, 'train')[0])
    overlapping_images = 0
    for img_id in coco.getImgIds():
        boxes = [a['bbox'] for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id))]
        if any(_iou(boxes[i], boxes[j]) > 0 for i in range(len(boxes))
               for j in range(i + 1, len(boxes))):
            overlapping_images += 1
    assert overlapping_images >= 1
    areas = np.array([a['area'] for a in coco.dataset['annotations']])
    assert (areas < 32 ** 2).any() and ((areas >= 32 ** 2) & (areas < 96 ** 2)).any()


def test_mmdet_coco_dataset_loads(data_dir):
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    ds = CocoDataset(
        data_root=osp.join(data_dir, 'coco'),
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        metainfo=dict(classes=CLASS_NAMES),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackDetInputs')])
    assert len(ds) > 0
    sample = ds[0]
    info = ds.get_data_info(0)
    assert tuple(sample['inputs'].shape) == (3, info['height'], info['width'])
    gt = sample['data_samples'].gt_instances
    assert len(gt) == len(info['instances']) > 0
    assert gt.masks.masks.shape == (len(gt), info['height'], info['width'])
    assert gt.masks.masks.sum() > 0
    assert int(gt.labels.max()) < len(CATEGORIES)


# ------------------------------------------------------------------------------ ADE20k
def test_mmseg_ade_dataset_loads(data_dir):
    from mmseg.datasets import ADE20KDataset
    from mmseg.utils import register_all_modules
    register_all_modules()
    root = osp.join(data_dir, 'ade', 'ADEChallengeData2016')
    ds = ADE20KDataset(
        data_root=root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        reduce_zero_label=True,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True),
                  dict(type='PackSegInputs')])
    assert len(ds) == SMALL['num_ade_val']
    sample = ds[0]
    seg = sample['data_samples'].gt_sem_seg.data.numpy()
    assert seg.shape[1:] == tuple(sample['inputs'].shape[1:])
    values = set(np.unique(seg).tolist())
    assert values <= set(range(len(CATEGORIES))) | {255}
    assert values - {255}, 'some pixels must carry an object label'


@pytest.mark.parametrize('folder', ['training', 'validation'])
def test_ade_annotation_pngs(data_dir, folder):
    root = osp.join(data_dir, 'ade', 'ADEChallengeData2016')
    images = sorted(os.listdir(osp.join(root, 'images', folder)))
    anns = sorted(os.listdir(osp.join(root, 'annotations', folder)))
    assert [osp.splitext(n)[0] for n in images] == [osp.splitext(n)[0] for n in anns]
    prefix = 'ADE_train_' if folder == 'training' else 'ADE_val_'
    assert images[0] == f'{prefix}00000001.jpg'
    seen = set()
    for img_name, ann_name in zip(images, anns):
        img = cv2.imread(osp.join(root, 'images', folder, img_name))
        label = cv2.imread(osp.join(root, 'annotations', folder, ann_name), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.ndim == 2
        assert label.shape == img.shape[:2]
        assert 224 <= label.shape[0] <= 320 and 224 <= label.shape[1] <= 320
        assert label.max() <= len(CATEGORIES)
        seen |= set(np.unique(label).tolist())
    assert 0 in seen and len(seen - {0}) >= 2


# ------------------------------------------------------------------------------ pretrain
def test_mmpretrain_custom_dataset_loads(data_dir):
    from mmpretrain.datasets import CustomDataset
    root = osp.join(data_dir, 'pretrain')
    ds = CustomDataset(data_root=root, data_prefix='train', with_label=False)
    assert len(ds) == SMALL['num_pretrain']
    img = cv2.imread(ds.get_data_info(0)['img_path'])
    assert img.shape == (224, 224, 3)
    # The ImageNet-style list (``path label``) describes the same images.
    listed = CustomDataset(data_root=root, data_prefix='train', ann_file='meta/train.txt',
                           with_label=True, classes=['scene'])
    assert len(listed) == SMALL['num_pretrain']
    assert all(osp.isfile(listed.get_data_info(i)['img_path']) for i in range(len(listed)))
    assert listed.get_data_info(0)['gt_label'] == 0


# ------------------------------------------------------------------------------ classify
def test_classification_folders_load_with_labels(data_dir):
    from mmpretrain.datasets import CustomDataset
    root = osp.join(data_dir, 'classify')
    for split, num in (('train', SMALL['num_classify_train']),
                       ('val', SMALL['num_classify_val'])):
        # the lists carry the labels in category order (folders may be missing or empty)
        ds = CustomDataset(data_root=root, ann_file=f'meta/{split}.txt', classes=CLASS_NAMES)
        assert len(ds) == num
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            folder = osp.basename(osp.dirname(info['img_path']))
            assert CLASS_NAMES[info['gt_label']] == folder
            assert cv2.imread(info['img_path']).shape == (112, 112, 3)


def test_classification_images_hold_the_labelled_object():
    from mim_det.datasets.synthetic.writers import _single_object_scene
    for i in range(5):
        scene = _single_object_scene(image_rng(0, 'classify_train', i))
        [inst] = scene.instances
        # the visible object is the only labelled region of the semantic map
        assert set(np.unique(scene.semantic).tolist()) == {0, inst.category_id}
        assert (scene.semantic == inst.category_id).sum() == inst.mask.sum()


# ------------------------------------------------------------------------------ CLI
def _run_cli(*args):
    env = dict(os.environ)
    # The script must find mim_det by itself, so no PYTHONPATH help here.
    env.pop('PYTHONPATH', None)
    env.setdefault('OMP_NUM_THREADS', '1')
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_generates_then_skips(data_dir, tmp_path):
    out = str(tmp_path / 'cli')
    counts = ['--num-pretrain', str(SMALL['num_pretrain']),
              '--num-coco-train', str(SMALL['num_coco_train']),
              '--num-coco-val', str(SMALL['num_coco_val']),
              '--num-ade-train', str(SMALL['num_ade_train']),
              '--num-ade-val', str(SMALL['num_ade_val']),
              '--num-classify-train', str(SMALL['num_classify_train']),
              '--num-classify-val', str(SMALL['num_classify_val'])]
    first = _run_cli('--out-dir', out, '--seed', '0', *counts)
    assert first.returncode == 0, first.stderr
    assert 'generated' in first.stdout and out in first.stdout
    # Another process, same seed: the same bytes as the in-process fixture.
    assert tree_hashes(out) == tree_hashes(data_dir)
    mtimes = {p: os.stat(osp.join(out, p)).st_mtime_ns for p in tree_hashes(out)}
    start = time.perf_counter()
    second = _run_cli('--out-dir', out, '--seed', '0', *counts)
    elapsed = time.perf_counter() - start
    assert second.returncode == 0, second.stderr
    assert 'up to date' in second.stdout
    assert 'generated' not in second.stdout
    assert {p: os.stat(osp.join(out, p)).st_mtime_ns for p in mtimes} == mtimes
    assert elapsed < 60


def test_cli_invalid_out_dir_is_one_line_error(tmp_path):
    blocker = tmp_path / 'regular_file'
    blocker.write_text('not a folder')
    bad = str(blocker / 'data')
    res = _run_cli('--out-dir', bad, '--num-pretrain', '1', '--num-coco-train', '1',
                   '--num-coco-val', '1', '--num-ade-train', '1', '--num-ade-val', '1')
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith('generate_data: error:') and bad in lines[0]
    assert 'Traceback' not in res.stderr
