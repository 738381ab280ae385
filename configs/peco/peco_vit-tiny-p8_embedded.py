# Tiny PeCo on the embedded default images: the tiny BEiT recipe
# (configs/beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py) with the tiny PERCEPTUAL tokenizer
# (configs/peco/vq-tokenizer_perceptual_tiny_embedded.py, whose feature network is the main
# job's tiny MAE export) as target generator.
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_tiny_embedded.py
#   python tools/train.py configs/peco/peco_vit-tiny-p8_embedded.py
_base_ = '../beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py'

model = dict(target_generator=dict(init_cfg=dict(
    checkpoint='work_dirs/vq-tokenizer_perceptual_tiny_embedded/iter_1000.pth')))
