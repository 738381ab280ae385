"""Analysis helpers the tools import: analytical FLOPs (:mod:`.flops`) and benchmark timing and
memory (:mod:`.benchmark`). Nothing here is needed to train or evaluate."""
