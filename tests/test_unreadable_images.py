"""Unreadable images met by real tools/train.py runs: skipped and listed in pretraining,
a one-line error naming the file downstream, a stop when too many are bad."""
import sys

import pytest

from conftest import ROOT, run_tool

PRETRAIN = 'configs/mae/mae_vit-tiny-p8_8xb8-embedded.py'
DETECTION = 'configs/baselines/mask-rcnn_r18_fpn_2xb4-embedded.py'


@pytest.fixture
def data(small_data_copy):
    return small_data_copy


def _break_pretraining_images(data):
    images = sorted((data / 'pretrain' / 'train' / 'images').glob('*.jpg'))
    images[0].write_bytes(b'')
    full = images[1].read_bytes()
    images[1].write_bytes(full[:len(full) // 2])
    return images[:2]


def _pretrain(tmp_path, data, config=PRETRAIN):
    work = tmp_path / 'work'
    result = run_tool([sys.executable, 'tools/train.py', config, '--work-dir', str(work),
                       '--cfg-options', f'train_dataloader.dataset.data_root={data}/pretrain',
                       'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3'])
    return result, work


def test_pretraining_skips_and_lists_unreadable_images(tmp_path, data):
    broken = _break_pretraining_images(data)
    config = tmp_path / 'tolerant.py'  # 2 of 24 images are bad: allow up to 10 %
    config.write_text(f"_base_ = ['{ROOT}/{PRETRAIN}']\n"
                      "custom_hooks = [dict(type='UnreadableImageHook', max_fraction=0.1)]\n")
    result, work = _pretrain(tmp_path, data, str(config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # 3 iterations x 8 = one pass over the 24 images: both bad files were met and replaced
    listed = dict(line.split('\t') for line in open(work / 'skipped_files.txt').read()
                  .splitlines())
    assert set(listed) == {str(p) for p in broken}, listed
    assert listed[str(broken[0])] == 'zero bytes'
    assert listed[str(broken[1])].startswith('truncated')
    log = result.stdout
    assert 'UnreadableImageHook: 2 unreadable training images skipped so far (of 24)' in log


def test_pretraining_stops_when_more_than_max_fraction_is_unreadable(tmp_path, data):
    _break_pretraining_images(data)
    result, work = _pretrain(tmp_path, data)  # default max_fraction 0.01 of 24 images
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'could not be read (more than max_fraction=0.01)' in errors[0]
    assert str(work / 'skipped_files.txt') in errors[0]


def test_downstream_unreadable_image_is_a_one_line_error_naming_it(tmp_path, data):
    image = sorted((data / 'coco' / 'train2017').glob('*.jpg'))[0]
    image.write_text('<html>not an image</html>')
    result = run_tool([sys.executable, 'tools/train.py', DETECTION, '--work-dir',
                       str(tmp_path / 'det'), '--no-validate', '--cfg-options',
                       f'train_dataloader.dataset.data_root={data}/coco/',
                       f'val_dataloader.dataset.data_root={data}/coco/',
                       f'test_dataloader.dataset.data_root={data}/coco/',
                       'train_cfg.max_iters=4', 'train_dataloader.batch_size=2'])
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert f'train.py: error: image {image} cannot be read: not decodable' in errors[0]
    assert 'Traceback' not in errors[0]
