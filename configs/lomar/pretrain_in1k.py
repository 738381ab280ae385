# LoMaR ViT-B/16 pretraining on ImageNet-1k, the paper's recipe (arXiv 2206.00790):
# 224 px, 4 windows of 7x7, mask ratio 0.8, norm_pix, batch 4096, 1600 epochs (84.1 top-1 after
# fine-tuning). Train:  bash tools/dist_train.sh configs/lomar/pretrain_in1k.py 8
# Export the backbone afterwards:
#   python tools/export_backbone.py work_dirs/pretrain_in1k/epoch_1600.pth \
#       work_dirs/pretrain_in1k/lomar_vit-b16_in1k.safetensors
_base_ = [
    '../_base_/models/lomar_vit-base-p16.py',
    '../_base_/datasets/imagenet_lomar_pretrain.py',
    '../_base_/schedules/lomar_adamw_1600e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(window_size=10, by_epoch=True)
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, diff_rank_seed=True)
