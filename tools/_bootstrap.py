"""Make ``import mim_det`` work when a tool is run from a checkout without ``pip install -e``."""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
try:
    import mim_det  # noqa: F401
except ImportError:
    sys.path.insert(0, ROOT)
