# Masked Siamese ConvNets (Jing, Zhu and LeCun, arXiv 2206.07700), the top of the paper's ladder:
# SimCLR with a ResNet-50, 100 epochs on ImageNet-1k, batch 4096 (16 GPUs x 256), LARS lr 4.8,
# with every MSCN design: high-pass filter before masking, grid (80 %) / focal (20 %) masks at
# ratio 0.15 on a 32-px grid, channel masks (p 0.7), noise fill, colour jitter, grayscale, blur,
# asymmetric branches and two masked views per image (paper: 67.4 top-1 linear probe).
#   bash tools/dist_train.sh configs/mscn/mscn_resnet50_16xb256-lars-100e_in1k.py 16
#   python tools/export_backbone.py work_dirs/<name>/epoch_100.pth mscn_r50.safetensors
#   linear probe: configs/mscn/resnet50_linear-probe_8xb512-coslr-100e_in1k.py
# The ladder (configs/mscn/ladder/) replays the paper's design steps one config each.
_base_ = [
    '../_base_/models/mscn_simclr_resnet50.py',
    '../_base_/datasets/imagenet_mscn.py',
    '../_base_/schedules/mscn_lars_100e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
env_cfg = dict(dist_cfg=dict(backend='nccl'))
