"""One-off generators that are not part of the library (run as ``python scripts/NAME.py``)."""
