"""mmengine's ``Config.pretty_text`` formats the same config again and again; remember it.

Every ``pretty_text`` runs yapf over the whole config text, about 1 s on a 2-core CPU for a
detection config, and mmengine 0.10.7 asks for it five or six times per run (the environment
log, the config dump, the visualiser backends, the runtime-info hook) and once more in every
checkpoint's ``meta``. Measured with cProfile on the tiny ViTDet Mask R-CNN (40 iterations,
one checkpoint): 6.0 of 52.6 s in yapf; a pretraining that checkpoints every few hundred
iterations pays it at each one. The main job starts 20+ such processes per seed.

:func:`install_config_text_cache` wraps the ``FormatCode`` that ``mmengine.config.config``
calls in a small LRU cache keyed by the unformatted text and the style, so an unchanged config
is formatted once per process and a changed one is formatted afresh (the key is the text, so
a stale result cannot be returned). Importing mim_det installs it.
"""
import functools


def install_config_text_cache(maxsize: int = 8) -> None:
    """Memoise yapf's ``FormatCode`` inside ``mmengine.config.config``. Idempotent."""
    import mmengine.config.config as config_module

    original = config_module.FormatCode
    if getattr(original, '_mim_det_cached', False):
        return

    @functools.lru_cache(maxsize=maxsize)
    def _format(text: str, style_items: tuple, verify: bool):
        kwargs = dict(style_config=dict(style_items))
        if verify:
            kwargs['verify'] = True
        return original(text, **kwargs)

    @functools.wraps(original)
    def format_code(text, style_config=None, verify=False, **kwargs):
        if kwargs or not isinstance(style_config, dict):
            return original(text, style_config=style_config, verify=verify, **kwargs)
        return _format(text, tuple(sorted(style_config.items())), bool(verify))

    format_code._mim_det_cached = True
    format_code.cache_info = _format.cache_info
    config_module.FormatCode = format_code
