# ViTDet Mask R-CNN on COCO from a LoMaR ViT-B/16 (Chen et al., arXiv 2206.00790, Sec. 4.3:
# +0.5 box AP / +0.5 mask AP over MAE under ViTDet). The ViTDet recipe of mae_maskrcnn_coco.py,
# decomposed relative position (zero-init) included; the two configs differ only in the
# checkpoint and LoMaR's own position handling: no absolute position (LoMaR never uses one) and
# the pretrained contextual relative position tables on keys in every block (loaded, not dropped;
# their buckets clip at +-3 patches, so 7 x 7-window tables apply to 14 x 14 windows and to the
# 64 x 64 global blocks). The three edits a user makes: `pretrained`, `data_root` (or symlink
# data/coco), `gpus`.
#   python tools/export_backbone.py work_dirs/pretrain_in1k/epoch_1600.pth checkpoints/lomar_vit-b16.safetensors
#   bash tools/dist_train.sh configs/vitdet/lomar_maskrcnn_coco.py 8
#   bash tools/dist_test.sh configs/vitdet/lomar_maskrcnn_coco.py work_dirs/lomar_maskrcnn_coco/iter_184375.pth 8
# `pretrained` may also be the official LoMaR release (.pth, timm names + rpe_k tables).
_base_ = ['../_base_/vitdet_coco.py']

pretrained = 'checkpoints/lomar_vit-b16.safetensors'
data_root = 'data/coco/'
gpus = 8  # total batch stays 64: 64 // gpus images per GPU

model = dict(
    backbone=dict(
        use_abs_pos=False,
        rel_pos_cfgs=[
            dict(type='DecomposedRelPos'),
            dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2),
        ],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
train_dataloader = dict(batch_size=64 // gpus, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
