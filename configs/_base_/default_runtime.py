# Runtime settings shared by mim_det configs (hooks from mmengine's root registry, which every
# scope falls back to). Scope-specific pieces (the det/seg visualizers and visualization hooks)
# live in default_runtime_det.py / default_runtime_seg.py.
custom_imports = dict(imports=['mim_det'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1000, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Generator states go into every checkpoint so that --resume continues bit-exactly.
custom_hooks = [dict(type='RNGStateHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# Scalars go to <work_dir>/<timestamp>/vis_data/ as JSON and as TensorBoard events, so
# `tensorboard --logdir work_dirs` shows every run's curves side by side.
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(window_size=10, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
