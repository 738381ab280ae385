"""mim_det necks. ``SimpleFeaturePyramid`` (mmdet) is imported by :mod:`mim_det.downstream`."""
