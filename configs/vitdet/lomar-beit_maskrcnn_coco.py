# ViTDet Mask R-CNN on COCO from a LoMaR-BEiT ViT-B/16 export
# (configs/lomar_beit/lomar-beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py). LoMaR-BEiT's
# encoder is LoMaR's (contextual relative position on keys, no absolute position), so this is
# LoMaR's recipe (vitdet/lomar_maskrcnn_coco.py) with this checkpoint.
_base_ = ['./lomar_maskrcnn_coco.py']

pretrained = 'checkpoints/lomar-beit_vit-b16.safetensors'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
