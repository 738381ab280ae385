# ViTDet Mask R-CNN on COCO from a SimMIM ViT-B/16 (configs/simmim/simmim_vit-base-p16_16xb128-
# amp-800e_in1k.py). The ViTDet recipe of mae_maskrcnn_coco.py, from which it differs only in the
# checkpoint and SimMIM's own position handling:
# * no absolute position: SimMIM never had one (USE_APE: False);
# * a per-head relative position table (RelPosBiasTable) in every block, each initialised from
#   the ONE table SimMIM shared by all blocks (the BEiT/SimMIM fine-tuning rule; the loader
#   copies it to every block and resizes it bicubically to the block's grid: the 14 x 14 windows
#   take it as pretrained, the 64 x 64 global blocks 2, 5, 8, 11 a resized copy);
# * ViTDet's decomposed relative position (zero-init) in addition, as for every method here.
# The loader then reports: the shared table under "from the shared table" (12 blocks, 4
# interpolated), rel_pos_h/w as expected missing (zero, how ViTDet starts), cls token and final
# norm as expected unused, nothing suspicious. Without RelPosBiasTable in rel_pos_cfgs the shared
# table would be reported SUSPICIOUS (dropped), never silently lost.
# Layer scale on, as pretrained (the checkpoint's gamma_1/gamma_2 overwrite the 0.1).
# The three edits a user makes: `pretrained`, `data_root` (or symlink data/coco), `gpus`.
#   python tools/export_backbone.py work_dirs/simmim_vit-base-p16_16xb128-amp-800e_in1k/epoch_800.pth \
#       checkpoints/simmim_vit-b16.safetensors
#   bash tools/dist_train.sh configs/vitdet/simmim_maskrcnn_coco.py 8
#   bash tools/dist_test.sh configs/vitdet/simmim_maskrcnn_coco.py work_dirs/simmim_maskrcnn_coco/iter_184375.pth 8
_base_ = ['../_base_/vitdet_coco.py']

pretrained = 'checkpoints/simmim_vit-b16.safetensors'
data_root = 'data/coco/'
gpus = 8  # total batch stays 64: 64 // gpus images per GPU

model = dict(
    backbone=dict(
        use_abs_pos=False,
        rel_pos_cfgs=[dict(type='DecomposedRelPos'), dict(type='RelPosBiasTable')],
        layer_scale_init_value=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
train_dataloader = dict(batch_size=64 // gpus, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
