# ViTDet's schedule (vitdet_100e.py) scaled down for the tiny detector on a CPU: 1200 iterations
# of batch 4, fp32, lr 1e-3 (a short schedule from a weak tiny pretraining wants a larger lr;
# measured at 500 iterations: 1e-3 -> 0.098 bbox mAP, 2e-3 -> 0.054), layer decay 0.9 (with 4
# blocks ViT-B's 0.7 would leave the patch embedding at 0.7^5 = 0.17 of the lr), gradient clipping
# at 10, 30 warm-up iterations, lr x 0.1 at 85 %, one evaluation at the end.
_base_ = ['./vitdet_100e.py']

max_iters = 1200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(layer_decay_rate=0.9),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.85)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, dynamic_intervals=None)
auto_scale_lr = dict(base_batch_size=4)
