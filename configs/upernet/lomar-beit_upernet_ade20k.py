# UperNet on ADE20k from a LoMaR-BEiT ViT-B/16 export
# (configs/lomar_beit/lomar-beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py). LoMaR-BEiT's
# encoder is LoMaR's (contextual relative position on keys, no absolute position), so this is
# LoMaR's recipe (upernet/lomar_upernet_ade20k.py) with this checkpoint.
_base_ = ['./lomar_upernet_ade20k.py']

pretrained = 'checkpoints/lomar-beit_vit-b16.safetensors'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
