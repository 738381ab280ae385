# ViTDet's 100-epoch COCO schedule (Li et al. 2022, App. A.2): batch 64, AdamW lr 1e-4, betas
# (0.9, 0.999), wd 0.1, layer-wise lr decay 0.7 (lr x 0.7^(13 - depth) for ViT-B: patch embedding
# and position 0, block i -> i + 1, neck and heads 13), no weight decay on norms, biases and
# position tables; 184375 iterations (100 epochs x 118k images / 64), 250-iteration linear
# warm-up, lr x 0.1 at 163889 and 177546 (88 and 96 epochs); AMP; validation and checkpoint
# every 5000 iterations.
optim_wrapper = dict(
    type='AmpOptimWrapper',  # dynamic loss scale by default
    constructor='ViTLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        flat_decay_mult=0.0,  # every 1-D parameter: norms and biases
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'rel_pos_h': dict(decay_mult=0.0),
            'rel_pos_w': dict(decay_mult=0.0),
            'rpe_k': dict(decay_mult=0.0),
        }))

max_iters = 184375
interval = 5000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[163889, 177546], gamma=0.1),
]
train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=interval,
    # the last, partial interval ends with a validation too
    dynamic_intervals=[(max_iters // interval * interval + 1, max_iters)])
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# 64 images per iteration; tools/train.py --auto-scale-lr rescales lr for another total batch
auto_scale_lr = dict(enable=False, base_batch_size=64)
