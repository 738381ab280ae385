# UperNet on ADE20k from a BEiT ViT-B/16 export
# (configs/beit/beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py).
# BEiT and PeCo pretrain mmpretrain's BEiTPretrainViT: no absolute position, ONE relative position
# table shared by all blocks, layer scale -- SimMIM's encoder layout, so this is SimMIM's recipe
# (upernet/simmim_upernet_ade20k.py: the shared table copied into every block's RelPosBiasTable and
# resized to its window or global grid, layer scale kept) with this checkpoint. The export fuses
# BEiT's split q/v biases into qkv.bias (the key bias is zero in BEiT's attention).
#   python tools/export_backbone.py work_dirs/<pretraining run>/epoch_<N>.pth checkpoints/beit_vit-b16.safetensors
_base_ = ['./simmim_upernet_ade20k.py']

pretrained = 'checkpoints/beit_vit-b16.safetensors'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
