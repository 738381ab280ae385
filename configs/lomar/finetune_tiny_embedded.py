# Tiny classification fine-tuning on the embedded labelled images (python tools/generate_data.py:
# data/classify, 6 shape classes, one object per 112 px image), for a laptop CPU: the recipe of
# finetune_in1k.py -- PlainViT with LoMaR's position handling (cls token, contextual RPE, no
# absolute position), global pool + LayerNorm, layer decay, RandAugment, Mixup/CutMix, label
# smoothing, random erasing -- scaled down to the 4-layer 128-d patch-8 ViT that
# configs/lomar/pretrain_tiny_embedded.py pretrains, at 96 px, 10 epochs of 120 images. It runs
# under DDP as it is (no unused parameters):
#   python tools/train.py configs/lomar/pretrain_tiny_embedded.py
#   python tools/export_backbone.py work_dirs/pretrain_tiny_embedded/iter_300.pth \
#       work_dirs/pretrain_tiny_embedded/backbone.safetensors
#   bash tools/dist_train.sh configs/lomar/finetune_tiny_embedded.py 2
_base_ = ['./finetune_in1k.py']

pretrained = 'work_dirs/pretrain_tiny_embedded/backbone.safetensors'
classes = ('disc', 'square', 'triangle', 'star', 'hexagon', 'cross')
img_size, embed_dims = 96, 128
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=img_size,
        patch_size=8,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=len(classes), in_channels=embed_dims))
data_preprocessor = dict(num_classes=len(classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=110, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
# labels come from the generator's lists (meta/{train,val}.txt), in the category order above
embedded = dict(type='CustomDataset', data_root='data/classify', classes=classes)
train_dataloader = dict(batch_size=16, num_workers=1, persistent_workers=False,
                        dataset=dict(embedded, _delete_=True, ann_file='meta/train.txt',
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=1, persistent_workers=False,
                      dataset=dict(embedded, _delete_=True, ann_file='meta/val.txt',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs, warmup_epochs = 10, 1
# fp32 on CPU; the MAE/LoMaR groups (no decay on 1-D parameters, pos_embed, cls_token); a larger
# lr and a milder layer decay for 4 blocks and 80 steps
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=4),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=True)
