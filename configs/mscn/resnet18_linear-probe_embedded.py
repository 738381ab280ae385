# Tiny linear probe of the tiny MSCN ResNet-18 (configs/mscn/mscn_resnet18_embedded.py) on the
# embedded labelled images (python tools/generate_data.py: data/classify, 6 shape classes, one
# object per image), for a CPU: the protocol of resnet50_linear-probe_8xb512-coslr-100e_in1k.py
# (every stage frozen, BN in eval mode, one linear classifier on average-pooled features) at 96 px,
# 30 epochs of the 120 training images, SGD lr 0.1 with cosine decay (LARS is for batch 4096).
# The ladder can be compared at CPU scale with it: pretrain each step with the tiny recipe
# (--cfg-options on the views), then probe each checkpoint.
#   python tools/train.py configs/mscn/mscn_resnet18_embedded.py --work-dir work_dirs/mscn_tiny
#   python tools/train.py configs/mscn/resnet18_linear-probe_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mscn_tiny/iter_1000.pth
_base_ = ['./resnet50_linear-probe_8xb512-coslr-100e_in1k.py']

pretrained = 'work_dirs/mscn_tiny/iter_1000.pth'
classes = ('disc', 'square', 'triangle', 'star', 'hexagon', 'cross')
img_size = 96
model = dict(
    backbone=dict(depth=18, init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=len(classes), in_channels=512))
data_preprocessor = dict(num_classes=len(classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=110, edge='short', backend='pillow'),
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

max_epochs = 30
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
