"""mim_det models/heads: components register here as they land (see mim_det.registry)."""
