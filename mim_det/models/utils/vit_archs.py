"""Standard ViT sizes (Dosovitskiy et al. 2021, Table 1), shared by mim_det's ViT backbones."""
from typing import Union

_SIZES = {
    'small': dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
    'base': dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
    'large': dict(embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096),
}
VIT_ARCHS = {**_SIZES, **{name[0]: cfg for name, cfg in _SIZES.items()}}
ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')


def resolve_vit_arch(arch: Union[str, dict], owner: str) -> dict:
    """``'b'``/``'base'``/... or a dict with :data:`ARCH_KEYS` -> that dict; clear errors else."""
    if isinstance(arch, str):
        if arch.lower() not in VIT_ARCHS:
            raise ValueError(f'{owner}: unknown arch {arch!r}; use one of {sorted(VIT_ARCHS)} '
                             'or a dict')
        return dict(VIT_ARCHS[arch.lower()])
    missing = set(ARCH_KEYS) - set(arch)
    if missing:
        raise ValueError(f'{owner}: arch dict lacks {sorted(missing)}')
    return dict(arch)
