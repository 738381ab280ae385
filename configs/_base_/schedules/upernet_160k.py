# The BEiT/MAE UperNet fine-tuning schedule on ADE20k: AdamW (lr 1e-4, betas 0.9/0.999, weight
# decay 0.05) with layer-wise lr decay 0.65 over the ViT's blocks (patch embedding and position
# lowest, neck and heads at the full lr), no weight decay on 1-D parameters (norms, biases),
# position parameters and the cls token (mmseg's MAE rule; the per-head relative position
# tables are decayed there too), mixed precision; 1500 warm-up iterations, then linear (poly,
# power 1) decay to zero at 160k iterations; validation every 16k (checkpoints:
# default_runtime_seg.py).
# The lr is for a total batch of 16 (8 GPUs x 2); `tools/train.py --auto-scale-lr` rescales it.
optim_wrapper = dict(
    type='AmpOptimWrapper',  # dynamic loss scale by default
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'rel_pos_h': dict(decay_mult=0.0),
            'rel_pos_w': dict(decay_mult=0.0),
            'rpe_k': dict(decay_mult=0.0),
        }))
max_iters = 160000
warmup_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)
