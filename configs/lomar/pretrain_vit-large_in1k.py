# LoMaR ViT-L/16 on ImageNet-1k: the ViT-B recipe with the large encoder (1024-d, 24 layers,
# 16 heads); the pixel head maps 1024 -> 16 x 16 x 3.
_base_ = ['./pretrain_in1k.py']

model = dict(backbone=dict(arch='l'), head=dict(embed_dims=1024))
