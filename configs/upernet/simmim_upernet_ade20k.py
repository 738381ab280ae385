# UperNet on ADE20k, 512 x 512, 160k iterations, fine-tuned from a SimMIM ViT-B/16
# (configs/simmim/simmim_vit-base-p16_16xb128-amp-800e_in1k.py). The BEiT/MAE protocol of
# mae_upernet_ade20k.py (cls token, global attention, a per-head relative position table in every
# block, layer scale), from which it differs only in the checkpoint and SimMIM's own position
# handling: no absolute position (SimMIM never had one, USE_APE: False), and every block's
# table initialised from the ONE table SimMIM shared by all blocks (BEiT/SimMIM fine-tuning of a
# use_shared_rel_pos_bias checkpoint), resized bicubically from the 14 x 14 pretraining grid to
# the 32 x 32 maps by the loader, which lists the 12 tables under "from the shared table".
# Layer scale on, initialised to SimMIM's 0.1 (the checkpoint's gamma_1/gamma_2 overwrite it).
# Layer decay 0.65, drop path 0.1, batch 16 (8 GPUs x 2), AMP, sliding-window test (512 / 341).
#
# 1. Export the pretrained backbone and put its path in `pretrained` below (or pass
#    --cfg-options model.backbone.init_cfg.checkpoint=PATH):
#      python tools/export_backbone.py \
#          work_dirs/simmim_vit-base-p16_16xb128-amp-800e_in1k/epoch_800.pth \
#          checkpoints/simmim_vit-b16.safetensors
# 2. Put (or symlink) ADE20k at data/ade/ADEChallengeData2016, then train and evaluate:
#      bash tools/dist_train.sh configs/upernet/simmim_upernet_ade20k.py 8
#      bash tools/dist_test.sh configs/upernet/simmim_upernet_ade20k.py \
#          work_dirs/simmim_upernet_ade20k/iter_160000.pth 8
# With fewer GPUs add --auto-scale-lr (the lr is for a total batch of 16).
_base_ = ['../_base_/upernet_ade20k.py']

pretrained = 'checkpoints/simmim_vit-b16.safetensors'

model = dict(
    backbone=dict(
        use_abs_pos=False,
        rel_pos_cfgs=[dict(type='RelPosBiasTable')],
        layer_scale_init_value=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
