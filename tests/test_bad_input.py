"""Known mistakes end with one line naming the key/path and the fix, not a traceback."""
import sys

import pytest

from conftest import ROOT, load_tool, run_tool

MAE_TINY = 'configs/mae/mae_vit-tiny-p8_8xb8-embedded.py'


def _run(tool_name, argv, capsys):
    tool = load_tool(tool_name)
    with pytest.raises(SystemExit) as exit_info:
        tool.run_cli(lambda: tool.main(argv), f'{tool_name}.py', lambda: tool._state['cfg'])
    err = capsys.readouterr().err.strip()
    return exit_info.value.code, err


def _one_line(code, err):
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_missing_data_root_names_path_and_generator(capsys, tmp_path):
    missing = tmp_path / 'nowhere'
    code, err = _run('train', [MAE_TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                               f'train_dataloader.dataset.data_root={missing}'], capsys)
    line = _one_line(code, err)
    assert str(missing) in line and 'train_dataloader.dataset.data_root' in line
    assert 'python tools/generate_data.py' in line


def test_missing_real_dataset_names_the_tiny_configs(capsys, tmp_path):
    """A paper config without ImageNet: the generator does not make data/imagenet, so the
    line names the tiny configs that run on the generated images instead."""
    missing = tmp_path / 'imagenet'
    code, err = _run('train', ['configs/lomar/pretrain_in1k.py', '--work-dir', str(tmp_path / 'w'),
                               '--cfg-options', f'train_dataloader.dataset.data_root={missing}'],
                     capsys)
    line = _one_line(code, err)
    assert str(missing) in line and 'real dataset' in line
    assert 'configs/lomar/pretrain_tiny_embedded.py' in line
    assert 'python tools/generate_data.py' in line


def test_missing_data_prefix_inside_existing_root(capsys, tmp_path, small_data):
    code, err = _run('train', [MAE_TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                               f'train_dataloader.dataset.data_root={small_data}/pretrain',
                               'train_dataloader.dataset.data_prefix=trian'], capsys)
    line = _one_line(code, err)
    assert 'trian' in line and 'data_prefix' in line


def test_missing_resume_checkpoint(capsys, tmp_path, small_data):
    code, err = _run('train', [MAE_TINY, '--work-dir', str(tmp_path / 'w'), '--resume',
                               str(tmp_path / 'iter_9.pth'), '--cfg-options',
                               f'train_dataloader.dataset.data_root={small_data}/pretrain'], capsys)
    line = _one_line(code, err)
    assert 'iter_9.pth' in line and 'resume' in line


def test_missing_test_checkpoint(capsys, tmp_path):
    code, err = _run('test', [MAE_TINY, str(tmp_path / 'none.pth')], capsys)
    line = _one_line(code, err)
    assert 'none.pth' in line and 'tools/train.py' in line


def test_missing_pretrained_init_cfg(capsys, tmp_path, small_data):
    code, err = _run('train', [MAE_TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                               f'train_dataloader.dataset.data_root={small_data}/pretrain',
                               'model.backbone.init_cfg.type=Pretrained',
                               f'model.backbone.init_cfg.checkpoint={tmp_path}/lomar.pth'],
                      capsys)
    line = _one_line(code, err)
    assert 'lomar.pth' in line and 'model.backbone.init_cfg.checkpoint' in line


def test_unknown_cfg_options_key_suggests_the_right_one(capsys, tmp_path):
    code, err = _run('train', [MAE_TINY, '--cfg-options', 'train_cfg.max_iter=3'], capsys)
    line = _one_line(code, err)
    assert "'train_cfg.max_iter'" in line and "'max_iters'" in line


def test_cfg_options_accepts_constructor_arguments_not_in_config():
    """A key absent from the config but accepted by the class it configures is fine."""
    from mmengine.config import Config
    from mim_det.cli import check_cfg_options
    cfg = Config.fromfile(f'{ROOT}/{MAE_TINY}')
    check_cfg_options(cfg, {'model.backbone.drop_path_rate': 0.1,
                            'train_dataloader.drop_last': True,
                            'randomness.diff_rank_seed': True,
                            'train_dataloader.dataset.pipeline.1.scale': 32,
                            'compile': True})  # read by Runner.train, not an argument
    with pytest.raises(ValueError, match="did you mean 'compile'"):
        check_cfg_options(cfg, {'compil': True})
    with pytest.raises(ValueError, match='drop_path_rat'):
        check_cfg_options(cfg, {'model.backbone.drop_path_rat': 0.1})
    with pytest.raises(ValueError, match='index'):
        check_cfg_options(cfg, {'train_dataloader.dataset.pipeline.9.scale': 32})


def test_unknown_registry_type_names_the_key(capsys, tmp_path, small_data):
    code, err = _run('train', [MAE_TINY, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                               f'train_dataloader.dataset.data_root={small_data}/pretrain',
                               'model.backbone.type=MAEVit'], capsys)
    line = _one_line(code, err)
    assert "'MAEVit'" in line and 'model.backbone.type' in line
    assert "'MAEViT'" in line  # the suggestion


def test_missing_config_file(capsys):
    code, err = _run('train', ['configs/nope.py'], capsys)
    assert 'configs/nope.py' in _one_line(code, err)


def test_subprocess_prints_one_line_without_traceback(tmp_path):
    result = run_tool([sys.executable, 'tools/train.py', MAE_TINY, '--work-dir',
                       str(tmp_path / 'w'), '--cfg-options',
                       f'train_dataloader.dataset.data_root={tmp_path}/absent'])
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().count('\n') == 0
    assert result.stderr.startswith('train.py: error: data root')


def test_checkpoint_of_another_width_is_one_line(capsys, tmp_path, small_data):
    """The loader's error (model layer, CheckpointError) reaches the user as one line naming the
    file, the key, both shapes and the fix."""
    export = f'{ROOT}/tests/fixtures/pre_refactor/lomar_backbone.safetensors'  # 64 wide
    data = f'{small_data}/classify'
    code, err = _run('train', ['configs/lomar/finetune_tiny_embedded.py', '--work-dir',
                               str(tmp_path / 'w'), '--cfg-options',
                               f'model.backbone.init_cfg.checkpoint={export}',
                               f'train_dataloader.dataset.data_root={data}',
                               f'val_dataloader.dataset.data_root={data}'], capsys)
    line = _one_line(code, err)
    assert export in line and 'patch_embed.projection.weight' in line
    assert '(64, 3, 8, 8)' in line and '(128, 3, 8, 8)' in line and 'embed_dims=64' in line
