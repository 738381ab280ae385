# PeCo (Dong et al., arXiv 2111.12710) ViT-B/16, 300 epochs: BEiT v1's pretraining with the
# PERCEPTUAL VQ tokenizer as target generator (the paper's ViT-B: 84.5 top-1 at 300 epochs,
# +1.3 over BEiT; +1.3 box / +1.0 mask AP on COCO, +1.0 mIoU on ADE20k). Train the tokenizer
# first (configs/peco/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k.py):
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k.py \
#       --perceptual-checkpoint <a self-supervised ViT-B>
#   bash tools/dist_train.sh configs/peco/peco_vit-base-p16_8xb256-amp-300e_in1k.py 8
_base_ = './peco_vit-base-p16_8xb256-amp-800e_in1k.py'

max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
