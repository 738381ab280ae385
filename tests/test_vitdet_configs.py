"""The ViTDet paper-scale configs carry the ViTDet recipe (Li et al. 2022, App. A.2) exactly."""
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT


def _cfg(name):
    return Config.fromfile(osp.join(ROOT, 'configs/vitdet', name))


@pytest.mark.parametrize('name', ['lomar_maskrcnn_coco.py', 'mae_maskrcnn_coco.py'])
def test_vitdet_recipe(name):
    cfg = _cfg(name)
    assert cfg.default_scope == 'mmdet'
    model = cfg.model
    assert model.type == 'MaskRCNN'
    bb = model.backbone
    assert bb.type == 'PlainViT' and bb.arch == 'b' and bb.patch_size == 16
    assert bb.img_size == 1024 and bb.pretrain_img_size == 224
    assert bb.window_size == 14 and tuple(bb.global_attn_indexes) == (2, 5, 8, 11)
    assert tuple(bb.out_indices) == (11, ) and bb.final_norm is False
    assert bb.drop_path_rate == 0.1 and bb.norm_cfg == dict(type='LN', eps=1e-6)
    assert bb.init_cfg.type == 'Pretrained' and bb.init_cfg.checkpoint == cfg.pretrained
    # ViTDet's decomposed relative position in both; LoMaR adds its contextual tables and has
    # no absolute position
    if name.startswith('lomar'):
        assert bb.use_abs_pos is False
        assert bb.rel_pos_cfgs == [dict(type='DecomposedRelPos'), dict(
            type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]
    else:
        assert bb.use_abs_pos is True
        assert bb.rel_pos_cfgs == [dict(type='DecomposedRelPos')]

    neck = model.neck
    assert neck.type == 'SimpleFeaturePyramid' and neck.backbone_channel == 768
    assert tuple(neck.scale_factors) == (4.0, 2.0, 1.0, 0.5)
    assert neck.out_channels == 256 and neck.num_outs == 5
    assert model.rpn_head.num_convs == 2
    assert model.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64]
    assert model.rpn_head.anchor_generator.scales == [8]
    assert model.rpn_head.anchor_generator.ratios == [0.5, 1.0, 2.0]
    ln2d = dict(type='mmpretrain.LN2d', eps=1e-6)
    assert neck.norm_cfg == ln2d
    assert model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert model.roi_head.bbox_head.norm_cfg == ln2d
    assert model.roi_head.mask_head.type == 'FCNMaskHead'
    assert model.roi_head.mask_head.num_convs == 4 and model.roi_head.mask_head.norm_cfg == ln2d
    assert model.roi_head.bbox_roi_extractor.roi_layer == dict(type='RoIAlign', output_size=7,
                                                              sampling_ratio=0)
    assert model.roi_head.mask_roi_extractor.roi_layer.output_size == 14
    test_cfg = model.test_cfg.rcnn
    assert (test_cfg.score_thr, test_cfg.nms.iou_threshold, test_cfg.max_per_img,
            test_cfg.mask_thr_binary) == (0.05, 0.5, 100, 0.5)
    assert model.data_preprocessor.batch_augments == [
        dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]

    # data: large-scale jitter at 1024
    steps = [t.type for t in cfg.train_pipeline]
    assert steps == ['LoadImageFromFile', 'LoadAnnotations', 'RandomFlip', 'RandomResize',
                     'RandomCrop', 'FilterAnnotations', 'PadKeepImgShape', 'PackDetInputs']
    resize = cfg.train_pipeline[3]
    assert resize.scale == (1024, 1024) and resize.ratio_range == (0.1, 2.0) and resize.keep_ratio
    crop = cfg.train_pipeline[4]
    assert crop.crop_type == 'absolute_range' and crop.crop_size == (1024, 1024)
    assert crop.recompute_bbox and crop.allow_negative_crop
    assert cfg.train_pipeline[6].pad_val == dict(img=(114, 114, 114))
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.train_dataloader.batch_size * cfg.gpus == 64
    assert cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']

    # optimisation
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper'
    assert ow.constructor == 'ViTLayerDecayOptimWrapperConstructor'
    assert ow.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1)
    assert ow.paramwise_cfg.layer_decay_rate == 0.7 and ow.paramwise_cfg.flat_decay_mult == 0.
    for key in ('pos_embed', 'rel_pos_h', 'rel_pos_w', 'rpe_k'):
        assert ow.paramwise_cfg.custom_keys[key] == dict(decay_mult=0.0)
    assert cfg.train_cfg.max_iters == 184375 and cfg.train_cfg.val_interval == 5000
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 250 and not warmup.by_epoch
    assert steps.type == 'MultiStepLR' and steps.milestones == [163889, 177546]
    assert steps.gamma == 0.1
    assert cfg.default_hooks.checkpoint.interval == 5000
    assert any(h.type == 'Fp16CompressionHook' for h in cfg.custom_hooks)


def test_configs_differ_only_in_position_handling_and_checkpoint():
    """The LoMaR-vs-MAE comparison differs in pretraining only: same ViTDet recipe (decomposed
    relative position included), the method's own position keys and the checkpoint apart."""
    lomar, mae = _cfg('lomar_maskrcnn_coco.py'), _cfg('mae_maskrcnn_coco.py')
    a, b = lomar.to_dict(), mae.to_dict()
    for cfg in (a, b):
        bb = cfg['model']['backbone']
        for key in ('use_abs_pos', 'rel_pos_cfgs', 'init_cfg'):
            bb.pop(key, None)
        cfg.pop('pretrained')
    assert a == b
    # LoMaR's relative positions are MAE's plus its own contextual tables
    assert lomar.model.backbone.rel_pos_cfgs == mae.model.backbone.rel_pos_cfgs + [
        dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]
