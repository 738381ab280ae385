"""mim_det's cache of mmengine's config formatting (mim_det.engine.config_text_cache)."""
from mmengine.config import Config


def test_pretty_text_is_formatted_once_and_follows_changes():
    import mim_det  # noqa: F401  (installs the cache)
    import mmengine.config.config as config_module
    from yapf.yapflib.yapf_api import FormatCode

    cfg = Config(dict(model=dict(type='MAE', backbone=dict(arch='b', img_size=224)),
                      train_cfg=dict(max_iters=10)))
    info = config_module.FormatCode.cache_info
    first = cfg.pretty_text
    hits = info().hits
    assert cfg.pretty_text == first
    assert info().hits == hits + 1
    # the cached text is exactly yapf's
    style = dict(based_on_style='pep8', blank_line_before_nested_class_or_def=True,
                 split_before_expression_after_opening_paren=True)
    assert FormatCode(first, style_config=style)[0] == first
    # a changed config is formatted afresh, never served stale
    cfg.train_cfg.max_iters = 20
    assert 'max_iters=20' in cfg.pretty_text and 'max_iters=10' not in cfg.pretty_text
