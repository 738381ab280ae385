# The paper UperNet on ADE20k (the BEiT/MAE protocol; mmseg configs/mae): the plain ViT-B/16 with
# per-head relative position tables -> Feature2Pyramid -> UPerHead + FCNHead, 512 x 512 crops,
# 160k iterations of batch 16, layer decay 0.65, AMP, sliding-window test. Each pretraining
# method's paper segmentation config (configs/upernet/<method>_upernet_ade20k.py) inherits it and
# adds its position handling and checkpoint.
_base_ = [
    './models/upernet_plain-vit-b16.py', './datasets/ade20k_512.py',
    './schedules/upernet_160k.py', './default_runtime_seg.py'
]
