# ViTDet Mask R-CNN on COCO from an MAE ViT-B/16 (ViTDet paper recipe, MAE init: 51.6 box AP /
# 45.7 mask AP reported for mmdet/detectron2). Absolute position from the 14 x 14 pretraining grid
# (cls position dropped), bicubically resized to the 64 x 64 map, plus ViTDet's decomposed
# relative position (zero-init). The three edits a user makes: `pretrained`, `data_root`
# (or symlink data/coco), `gpus`.
#   bash tools/dist_train.sh configs/vitdet/mae_maskrcnn_coco.py 8
#   bash tools/dist_test.sh configs/vitdet/mae_maskrcnn_coco.py work_dirs/mae_maskrcnn_coco/iter_184375.pth 8
# The checkpoint may be an official MAE release (mae_pretrain_vit_base.pth, timm names), an
# mmpretrain MAE checkpoint or a mim_det export; the loader prints what it loaded and how.
_base_ = ['../_base_/vitdet_coco.py']

pretrained = 'checkpoints/mae_pretrain_vit_base.pth'
data_root = 'data/coco/'
gpus = 8  # total batch stays 64: 64 // gpus images per GPU

model = dict(
    backbone=dict(
        use_abs_pos=True,
        rel_pos_cfgs=[dict(type='DecomposedRelPos')],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
train_dataloader = dict(batch_size=64 // gpus, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
