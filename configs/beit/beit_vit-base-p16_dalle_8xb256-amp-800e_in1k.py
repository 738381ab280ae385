# BEiT v1 ViT-B/16, 800 epochs, with DALL-E's dVAE encoder as the target generator (the paper's
# tokenizer; mmpretrain's ``DALL-E`` target generator): for a user who has the encoder file
# (mmpretrain's dalle_encoder.pth layout). Nothing is downloaded; the path must exist.
#   bash tools/dist_train.sh configs/beit/beit_vit-base-p16_dalle_8xb256-amp-800e_in1k.py 8 \
#       --cfg-options model.target_generator.init_cfg.checkpoint=/path/to/dalle_encoder.pth
_base_ = 'mmpretrain::beit/beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'
custom_imports = dict(imports=['mim_det'], allow_failed_imports=False)

model = dict(target_generator=dict(
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dalle_encoder.pth')))
max_epochs = 800
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
