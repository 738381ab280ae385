# Runtime of mim_det's detection configs: the shared runtime (mim_det import, hooks, exact
# resume) in mmdet's scope, with mmdet's visualizer and visualization hook (`tools/test.py
# --show-dir DIR` draws predictions through them) and a checkpoint every 5000 iterations (the
# validation interval of ViTDet's schedule).
_base_ = ['./default_runtime.py']
default_scope = 'mmdet'
# mim_det.downstream registers PlainViT, the layer-decay constructor and the mmdet parts
custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, save_last=True,
                    max_keep_ckpts=5),
    visualization=dict(type='DetVisualizationHook'))
visualizer = dict(
    type='DetLocalVisualizer', vis_backends={{_base_.vis_backends}}, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
