# The tiny UperNet from a tiny LoMaR-BEiT export
# (configs/lomar_beit/lomar-beit_vit-tiny-p8_vq-tokenizer_embedded.py): LoMaR's tiny recipe
# (upernet/lomar_upernet_tiny_embedded.py) with this checkpoint.
_base_ = ['./lomar_upernet_tiny_embedded.py']

pretrained = 'work_dirs/lomar-beit_tiny/backbone.safetensors'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
