import gzip
import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from luckybag.pipeline import data
from luckybag.pipeline.data import DataError
from tests.conftest import idx_bytes, make_mirror, write_idx_gz


def test_read_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx_gz(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(data.read_images(tmp_path / "x.gz"), images)


def test_read_idx_uncompressed(tmp_path: Path) -> None:
    labels = np.array([9, 0, 0, 3], dtype=np.uint8)
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(data.read_labels(tmp_path / "labels"), labels)


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    raw = bytearray(idx_bytes(np.zeros(5, dtype=np.uint8)))
    raw[2] = 0x0D  # float32 instead of unsigned byte
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(raw))
    with pytest.raises(DataError, match=r"bad\.gz: wrong magic number 0x00000d01"):
        data.read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "ok.gz", np.zeros((3, 28, 28), dtype=np.uint8))
    blob = (tmp_path / "ok.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: truncated or corrupt gzip"):
        data.read_idx(tmp_path / "cut.gz")


def test_not_gzip_at_all(tmp_path: Path) -> None:
    (tmp_path / "text.gz").write_text("hello, not gzip")
    with pytest.raises(DataError, match=r"text\.gz: truncated or corrupt gzip"):
        data.read_idx(tmp_path / "text.gz")


def test_count_in_header_disagrees_with_data(tmp_path: Path) -> None:
    raw = struct.pack(">II", 0x801, 10) + bytes(7)  # promises 10 labels, holds 7
    with gzip.open(tmp_path / "short.gz", "wb") as fh:
        fh.write(raw)
    with pytest.raises(DataError, match=r"short\.gz: holds 7 data bytes; its header \(10,\) promises 10"):
        data.read_idx(tmp_path / "short.gz")


def test_wrong_image_dimensions(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "img.gz", np.zeros((2, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"img\.gz: images have shape \(2, 32, 32\); expected \(N, 28, 28\)"):
        data.read_images(tmp_path / "img.gz")


def test_expected_count(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "img.gz", np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"2 images; expected 3"):
        data.read_images(tmp_path / "img.gz", count=3)


def test_label_out_of_range(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "lab.gz", np.array([1, 2, 10], dtype=np.uint8))
    with pytest.raises(DataError, match=r"lab\.gz: label 10 is outside 0-9"):
        data.read_labels(tmp_path / "lab.gz")


def test_images_and_labels_of_different_lengths(tmp_path: Path) -> None:
    write_idx_gz(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28), dtype=np.uint8))
    write_idx_gz(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: 3 labels for 4 images"):
        data.load_raw(tmp_path, "train")


def test_missing_raw_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"file not found \(run the download stage first\)"):
        data.load_raw(tmp_path, "train")


def test_split_round_trip(tmp_path: Path) -> None:
    split = data.Split(np.ones((3, 28, 28), dtype=np.uint8), np.array([1, 2, 3], dtype=np.uint8))
    data.save_split(tmp_path / "s.npz", split)
    loaded = data.load_split(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.images, split.images)
    np.testing.assert_array_equal(loaded.labels, split.labels)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- download -----------------------------------------------------------------


def test_download_from_mirror_verifies_and_copies(tmp_path: Path) -> None:
    checksums = make_mirror(tmp_path / "mirror")
    used = data.download([str(tmp_path / "mirror")], tmp_path / "raw", checksums=checksums)
    assert set(used) == set(data.FILES)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(f"{n}.gz" for n in data.FILES)


def test_download_falls_back_to_the_next_source(tmp_path: Path) -> None:
    checksums = make_mirror(tmp_path / "good")
    used = data.download([str(tmp_path / "missing"), str(tmp_path / "good")], tmp_path / "raw", checksums=checksums)
    assert set(used.values()) == {str(tmp_path / "good")}


def test_download_over_a_url(tmp_path: Path) -> None:
    checksums = make_mirror(tmp_path / "mirror")
    url = (tmp_path / "mirror").as_uri()
    used = data.download([url], tmp_path / "raw", checksums=checksums)
    assert set(used.values()) == {url}


def test_checksum_mismatch_names_file_and_sources_and_leaves_nothing(tmp_path: Path) -> None:
    make_mirror(tmp_path / "mirror")  # valid IDX, but not the official Fashion-MNIST bytes
    with pytest.raises(DataError) as err:
        data.download([str(tmp_path / "mirror"), str(tmp_path / "nowhere")], tmp_path / "raw")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("train-images-idx3-ubyte.gz: no source gave a valid copy")
    assert "SHA-256 of the decompressed content does not match" in message
    assert str(tmp_path / "nowhere") in message
    assert "dataset-fashion-mnist" in message  # how to get the data
    assert list((tmp_path / "raw").iterdir()) == []


def test_corrupt_gzip_in_mirror_is_reported(tmp_path: Path) -> None:
    checksums = make_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="not a readable gzip file"):
        data.download([str(tmp_path / "mirror")], tmp_path / "raw", checksums=checksums)
    assert not (tmp_path / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_default_sources_order() -> None:
    assert data.default_sources("/m") == ["/m", str(data.DEBIAN_DIR), data.OFFICIAL_URL]
    assert data.default_sources(None) == [str(data.DEBIAN_DIR), data.OFFICIAL_URL]


def test_prepared_split_files_are_byte_identical(tmp_path: Path) -> None:
    split = data.Split(np.arange(784, dtype=np.uint8).reshape(1, 28, 28), np.array([3], dtype=np.uint8))
    data.save_split(tmp_path / "a.npz", split)
    data.save_split(tmp_path / "b.npz", split)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_save_npz_keeps_scalars_and_shapes(tmp_path: Path) -> None:
    from luckybag.io import save_npz

    save_npz(tmp_path / "p.npz", temperature=np.array(1.5), probs=np.ones((2, 10)))
    with np.load(tmp_path / "p.npz") as loaded:
        assert loaded["temperature"].shape == () and float(loaded["temperature"]) == 1.5
        assert loaded["probs"].shape == (2, 10)


# --- truncated files and broken connections: one line, no traceback ------------------


def test_truncated_prepared_split_is_one_line(tmp_path: Path) -> None:
    split = data.Split(np.ones((3, 28, 28), dtype=np.uint8), np.array([1, 2, 3], dtype=np.uint8))
    data.save_split(tmp_path / "s.npz", split)
    blob = (tmp_path / "s.npz").read_bytes()
    for cut in (len(blob) // 2, len(blob) - 10):
        (tmp_path / "cut.npz").write_bytes(blob[:cut])
        with pytest.raises(DataError) as err:
            data.load_split(tmp_path / "cut.npz")
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith(f"{tmp_path / 'cut.npz'}: not a prepared split with images and labels (BadZipFile")
        assert message.endswith("re-run the preprocess stage")


class BrokenDownloads(http.server.BaseHTTPRequestHandler):
    """Serves every file cut short: chunked with a missing end, or shorter than its Content-Length."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        if "chunked" in self.path:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"400\r\n" + b"x" * 10)  # promises 1024 bytes, sends 10, hangs up
        else:
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenDownloads)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", ["chunked", "short"])
def test_connection_broken_mid_download_is_one_line_and_leaves_nothing(
    tmp_path: Path, broken_server: str, kind: str
) -> None:
    url = f"{broken_server}/{kind}"
    with pytest.raises(DataError) as err:
        data.fetch_file("train-labels-idx1-ubyte", [url], tmp_path / "raw", timeout=5)
    message = str(err.value)
    assert "\n" not in message
    assert f"tried {url} (IncompleteRead: " in message
    assert list((tmp_path / "raw").iterdir()) == []
