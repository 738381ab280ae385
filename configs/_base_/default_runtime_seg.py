# Runtime of mim_det's segmentation configs: the shared runtime (mim_det import, hooks, exact
# resume) in mmseg's scope, with mmseg's visualizer and visualization hook (`tools/test.py
# --show-dir DIR` draws predictions through them) and a checkpoint every 16k iterations (the
# validation interval of the 160k schedule).
_base_ = ['./default_runtime.py']
default_scope = 'mmseg'
# mim_det.downstream registers PlainViT, the layer-decay constructor and the mmseg parts
custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=3),
    visualization=dict(type='SegVisualizationHook'))
visualizer = dict(
    type='SegLocalVisualizer', vis_backends={{_base_.vis_backends}}, name='visualizer')
env_cfg = dict(cudnn_benchmark=True)
tta_model = dict(type='SegTTAModel')
