"""From a config file and command-line overrides to an mmengine Runner (shared by the tools)."""
from typing import Callable, Optional

from mmengine.config import Config

from .config_checks import check_cfg_options, config_exists_or_error, work_dir_for


def load_config(path: str, cfg_options: Optional[dict], launcher: str, work_dir: Optional[str],
                on_loaded: Callable[[Config], None] = lambda cfg: None) -> Config:
    """Load ``path``, validate and merge ``--cfg-options``, set the launcher and work dir.

    ``on_loaded`` sees the config before validation, so error messages can name its keys.
    The work dir follows OpenMMLab's order: ``--work-dir``, then the config's ``work_dir``,
    then ``./work_dirs/<config name>``.
    """
    config_exists_or_error(path)
    cfg = Config.fromfile(path)
    on_loaded(cfg)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or work_dir_for(path)
    return cfg


def build_runner(cfg: Config):
    """The config's ``runner_type`` if it names one, else mmengine's Runner."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)
