"""mim_det models by role (see the README's code map). Importing this registers the pretraining
components (mmpretrain scope); downstream ones come with :mod:`mim_det.downstream`."""
# layers first: the checkpoint loader that the backbones use builds on layers only
from . import layers  # noqa: F401,I001
from . import backbones, heads, losses, maskers, selfsup, target_generators  # noqa: F401
