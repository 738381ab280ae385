"""mim_det pretraining methods, one file each: the algorithm and its pretraining-only backbone
(mmpretrain's ``selfsup/<method>.py`` layout). MSCN wraps mmpretrain's siamese algorithms
(SimCLR, BYOL, SimSiam) with its masked views; SimMIM uses mmpretrain's ``SimMIM`` algorithm with
mim_det's plain-ViT encoder; TinyMIM distils a frozen teacher ViT into a student."""
from .lomar import LoMaR, LoMaRViT
from .lomar_beit import LoMaRBEiT
from .mscn import MultiMaskSiamese
from .peco import PerceptualVQVAE
from .simmim import SimMIMViT
from .tinymim import TinyMIM, TinyMIMViT

__all__ = ['LoMaR', 'LoMaRBEiT', 'LoMaRViT', 'MultiMaskSiamese', 'PerceptualVQVAE', 'SimMIMViT',
           'TinyMIM', 'TinyMIMViT']
