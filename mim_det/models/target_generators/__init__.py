"""Target generators (tokenizers, teachers) of token- and feature-target MIM methods; each
registers in mmpretrain's ``MODELS`` as its method lands."""
from .vq_tokenizer import VectorQuantizer, VQTokenizer

__all__ = ['VectorQuantizer', 'VQTokenizer']
