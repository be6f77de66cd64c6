"""IDX files (Fashion-MNIST's format): parsing with checks, shared by the pipeline's data and serving's inputs."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from luckybag.errors import LuckybagError


class DataError(LuckybagError):
    """A data file is missing, corrupt or not what Fashion-MNIST looks like."""


def read_idx(path: Path) -> np.ndarray:
    """Parse a (gzipped) IDX file of unsigned bytes; check magic, dimensions and size."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the download stage first)") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: truncated or corrupt gzip data ({err})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")  # 0x0000 08 (unsigned bytes) 0n (dimensions)
    if magic not in (0x801, 0x803):
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; expected 0x00000801 (labels) or 0x00000803 (images)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: header truncated")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(f"{path}: holds {len(raw) - header} data bytes; its header {tuple(dims)} promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
