"""luckybag: a reproducible Fashion-MNIST pipeline for the lucky-bag event."""

from luckybag.contract import CLASS_NAMES, NUM_CLASSES

__all__ = ["CLASS_NAMES", "NUM_CLASSES"]
__version__ = "0.1.0"
