"""mim_det models/necks: components register here as they land (see mim_det.registry)."""
