# Linear probe of a tiny ViT export (frozen features) on the embedded labelled one-object images,
# the "frozen" half of the frozen-vs-fine-tuned comparison ("Revealing the Dark Secrets of MIM",
# arXiv 2205.13543: MIM features are weaker frozen than supervised ones, yet fine-tune as well or
# better): mmpretrain's way of freezing, frozen_stages = every block (patch embedding, tokens,
# position, blocks and norms get requires_grad=False and stay in eval mode), so only the linear
# head trains. Its input is the mean of the last block's patch tokens through a LayerNorm without
# learned scale or shift (the frozen fc_norm): a parameter-free normalisation instead of MAE's
# BatchNorm before the head, so the probe's step size does not depend on each checkpoint's
# feature scale and nothing in it is batch-dependent. SGD lr 0.1 (momentum 0.9, no weight decay)
# with cosine decay over 30 epochs, as the tiny MSCN probe (configs/mscn/
# resnet18_linear-probe_embedded.py); LARS is for MAE's batch 16384.
#   python tools/train.py configs/linear_probe/vit-tiny-p8_linear-probe_embedded.py --test \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_tiny/backbone.safetensors
# tools/analysis/frozen_vs_finetuned.py runs it beside vit-tiny-p8_finetune_embedded.py.
_base_ = ['../_base_/vit-tiny-p8_classify_embedded.py']

model = dict(backbone=dict(frozen_stages=4))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0))
param_scheduler = [
    # T_max defaults to end - begin
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end={{_base_.max_epochs}},
         convert_to_iter_based=True),
]
