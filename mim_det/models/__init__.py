"""mim_det models, folders by role; each subpackage registers its components on import."""
from . import algorithms, backbones, heads, losses, necks, utils  # noqa: F401
