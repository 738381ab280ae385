"""Pad to a fixed size without pretending the padding is image (ViTDet's square 1024 canvas).

ViTDet trains and tests on a 1024 x 1024 canvas: the resized image in the top-left corner and
a constant fill elsewhere (detectron2's ``square_pad``). mmdet expresses this with its ``Pad``
transform, which also overwrites ``img_shape`` with the padded size. Downstream, mmdet clips
proposals and detections to ``img_shape``, so boxes may lie in the fill region, outside the
image; rescaled to the original image they fall outside it, and mmdet's mask pasting on CPU
(``_do_paste_mask`` with ``skip_empty``) then fails with ``upper bound and lower bound
inconsistent with step sign``. detectron2 clips to the real image size instead.

:class:`PadKeepImgShape` is mmdet's ``Pad`` with ``img_shape`` left at the resized image's
size (``pad_shape`` still records the canvas), which is also how mmdet's data preprocessor
treats the padding it adds itself.
"""
from mmdet.datasets.transforms import Pad
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PadKeepImgShape(Pad):
    """mmdet ``Pad`` (same arguments) that keeps ``results['img_shape']`` = the unpadded size."""

    def transform(self, results: dict) -> dict:
        img_shape = results['img'].shape[:2]
        results = super().transform(results)
        results['img_shape'] = img_shape
        return results
