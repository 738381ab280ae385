"""Target generators (tokenizers, teachers) of token- and feature-target MIM methods; each
registers in mmpretrain's ``MODELS`` as its method lands."""
