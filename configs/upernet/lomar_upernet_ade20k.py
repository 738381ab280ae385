# UperNet on ADE20k, 512 x 512, 160k iterations, fine-tuned from a LoMaR ViT-B/16 (Chen et al.,
# arXiv 2206.00790, Table 4: the BEiT/MAE protocol of mae_upernet_ade20k.py, from which it differs
# only in the checkpoint and LoMaR's own position handling: no absolute position, the pretrained
# contextual relative position on keys in every block (its buckets clip at +-3 patches, so the
# 7 x 7-window tables apply to the 32 x 32 maps) besides the protocol's per-head tables.
# Layer decay 0.65, drop path 0.1, batch 16 (8 GPUs x 2), AMP, sliding-window test (512 / 341).
#
# 1. Export the pretrained backbone and put its path in `pretrained` below (or pass
#    --cfg-options model.backbone.init_cfg.checkpoint=PATH):
#      python tools/export_backbone.py work_dirs/pretrain_in1k/epoch_1600.pth \
#          checkpoints/lomar_vit-b16.safetensors
# 2. Put (or symlink) ADE20k at data/ade/ADEChallengeData2016, then train and evaluate:
#      bash tools/dist_train.sh configs/upernet/lomar_upernet_ade20k.py 8
#      python tools/test.py configs/upernet/lomar_upernet_ade20k.py \
#          work_dirs/lomar_upernet_ade20k/iter_160000.pth
#      bash tools/dist_test.sh configs/upernet/lomar_upernet_ade20k.py \
#          work_dirs/lomar_upernet_ade20k/iter_160000.pth 8
# With fewer GPUs add --auto-scale-lr (the lr is for a total batch of 16).
_base_ = ['../_base_/upernet_ade20k.py']

pretrained = 'checkpoints/lomar_vit-b16.safetensors'

model = dict(
    backbone=dict(
        use_abs_pos=False,
        rel_pos_cfgs=[
            dict(type='RelPosBiasTable'),
            dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2),
        ],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
