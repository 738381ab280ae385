# UperNet on ADE20k (512 x 512, 160k iterations) fine-tuned from a TinyMIM ViT-T/16 (192-d, 12 blocks, 6 heads) student
# export: the MAE segmentation protocol of mae_upernet_ade20k.py (cls token, per-head relative
# position tables, layer scale 1.0, MAE's absolute table resized once to the 32 x 32 maps, layer
# decay 0.65, drop path 0.1, batch 16, AMP, sliding-window test) on the narrower ViT, its
# Feature2Pyramid and heads fed 192-d maps, UPerHead with 512 channels (mmseg's DeiT-S UperNet).
# Paper (TinyMIM Table 1): 44.0 mIoU.
#   bash tools/dist_train.sh configs/upernet/tinymim-vit-t_upernet_ade20k.py 8
_base_ = ['./mae_upernet_ade20k.py']

pretrained = 'work_dirs/tinymim_vit-t.safetensors'
model = dict(
    backbone=dict(arch='tinymim-t', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=192),
    decode_head=dict(in_channels=[192] * 4, channels=512),
    auxiliary_head=dict(in_channels=192))
