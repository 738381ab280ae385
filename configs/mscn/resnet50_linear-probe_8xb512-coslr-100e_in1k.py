# Linear probe of an MSCN ResNet-50 on ImageNet-1k (the paper's evaluation, 100 epochs):
# mmpretrain's SimCLR linear-evaluation config (stages 1-4 frozen, one linear classifier on
# average-pooled features, batch 4096 = 8 x 512, LARS lr 1.6, no weight decay, cosine) run for 100
# instead of 90 epochs. Point it at the pretraining checkpoint:
#   bash tools/dist_train.sh configs/mscn/resnet50_linear-probe_8xb512-coslr-100e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<pretrain>/epoch_100.pth
# The MSCN checkpoint nests the backbone under algorithm. (MultiMaskSiamese), hence the prefix.
_base_ = 'mmpretrain::simclr/benchmarks/resnet50_8xb512-linear-coslr-90e_in1k.py'

custom_imports = dict(imports=['mim_det'], allow_failed_imports=False)
model = dict(backbone=dict(init_cfg=dict(prefix='algorithm.backbone.')))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(max_epochs=100)
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
