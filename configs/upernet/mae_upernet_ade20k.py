# UperNet on ADE20k, 512 x 512, 160k iterations, fine-tuned from an MAE ViT-B/16 (He et al.,
# CVPR 2022, Table 5: 48.1 mIoU; mmseg configs/mae). The backbone is mmseg's MAE backbone: cls
# token, per-head relative position tables, layer scale 1.0 and MAE's absolute position table of
# the 14 x 14 pretraining grid, bicubically resized once (when loaded) to the 32 x 32 maps.
# Layer decay 0.65, drop path 0.1, batch 16 (8 GPUs x 2), AMP, sliding-window test (512 / 341).
#
# 1. Put the pretrained weights' path in `pretrained` below (or pass
#    --cfg-options model.backbone.init_cfg.checkpoint=PATH): the official release
#    (mae_pretrain_vit_base.pth), an mmpretrain MAE checkpoint or a mim_det export
#    (python tools/export_backbone.py CHECKPOINT checkpoints/mae_vit-b16.safetensors).
# 2. Put (or symlink) ADE20k at data/ade/ADEChallengeData2016, then train and evaluate:
#      bash tools/dist_train.sh configs/upernet/mae_upernet_ade20k.py 8
#      python tools/test.py configs/upernet/mae_upernet_ade20k.py \
#          work_dirs/mae_upernet_ade20k/iter_160000.pth
#      bash tools/dist_test.sh configs/upernet/mae_upernet_ade20k.py \
#          work_dirs/mae_upernet_ade20k/iter_160000.pth 8
# With fewer GPUs add --auto-scale-lr (the lr is for a total batch of 16).
_base_ = ['../_base_/upernet_ade20k.py']

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'

model = dict(
    backbone=dict(
        use_abs_pos=True,
        rel_pos_cfgs=[dict(type='RelPosBiasTable')],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
