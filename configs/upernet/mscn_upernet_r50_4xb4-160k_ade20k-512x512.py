# UperNet R-50 on ADE20k (512 x 512, 160k iterations, batch 16, SGD lr 0.01, poly) from an MSCN
# ResNet-50 export (Jing et al., arXiv 2206.07700): mmseg's UperNet R-50 recipe with the
# backbone MSCN pretrained -- the plain 7x7 stem of type='ResNet' instead of mmseg's deep-stem
# ResNetV1c, whose stem an MSCN checkpoint does not hold -- loaded through mim_det's loader
# (load_resnet_checkpoint, with its report).
#   bash tools/dist_train.sh configs/upernet/mscn_upernet_r50_4xb4-160k_ade20k-512x512.py 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=mscn_r50.safetensors
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
pretrained = 'work_dirs/mscn_resnet50_16xb256-lars-100e_in1k/backbone.safetensors'
model = dict(
    pretrained=None,
    backbone=dict(type='ResNet', deep_stem=False,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
