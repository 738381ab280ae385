"""ViT sizes: mmpretrain's ``VisionTransformer.arch_zoo`` (so ``'b'``, ``'l'``, ``'deit-s'``,
... mean exactly what they mean there), plus the small ViTs TinyMIM distils into."""
from typing import Union

from mmpretrain.models.backbones.vision_transformer import VisionTransformer

ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')

VIT_ARCHS = {
    **VisionTransformer.arch_zoo,
    # TinyMIM's ViT-T has 6 heads (DeiT-T has 3); its ViT-S is DeiT-S (Ren et al. 2023, Sec. 4)
    **dict.fromkeys(['tinymim-t', 'tinymim-tiny'], dict(
        embed_dims=192, num_layers=12, num_heads=6, feedforward_channels=768)),
}


def resolve_vit_arch(arch: Union[str, dict], owner: str) -> dict:
    """An arch name of :data:`VIT_ARCHS` or a dict with :data:`ARCH_KEYS` -> that dict."""
    if isinstance(arch, str):
        if arch.lower() not in VIT_ARCHS:
            raise ValueError(f'{owner}: unknown arch {arch!r}; use one of {sorted(VIT_ARCHS)} '
                             '(mmpretrain VisionTransformer names) or a dict with '
                             f'{list(ARCH_KEYS)}')
        return {k: VIT_ARCHS[arch.lower()][k] for k in ARCH_KEYS}
    missing = set(ARCH_KEYS) - set(arch)
    if missing:
        raise ValueError(f'{owner}: arch dict lacks {sorted(missing)}')
    return {k: arch[k] for k in ARCH_KEYS}
