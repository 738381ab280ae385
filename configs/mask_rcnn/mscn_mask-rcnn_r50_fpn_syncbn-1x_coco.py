# Mask R-CNN R-50-FPN on COCO from an MSCN ResNet-50 export (Jing et al., arXiv 2206.07700,
# which reports MSCN ahead of other siamese methods on detection), with the protocol
# self-supervised detection transfer uses (MoCo, mmselfsup): mmdet's 1x schedule (12 epochs,
# batch 16, SGD lr 0.02, steps at 8 and 11) with SyncBN in the backbone, FPN and both RoI heads
# (4 conv + 1 fc box head), every stage trained (frozen_stages=-1, norm_eval=False). The export
# loads through mim_det's loader (load_resnet_checkpoint), which logs what was loaded and why
# anything is missing or unused.
#   python tools/export_backbone.py work_dirs/<mscn>/epoch_100.pth mscn_r50.safetensors
#   bash tools/dist_train.sh configs/mask_rcnn/mscn_mask-rcnn_r50_fpn_syncbn-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=mscn_r50.safetensors
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
pretrained = 'work_dirs/mscn_resnet50_16xb256-lars-100e_in1k/backbone.safetensors'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                       norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
