"""A loopback HTTP server that serves small files in MNIST's format, so no test needs the network.

``write_small_mnist(dir)`` writes the four ``.gz`` IDX files (random pixels,
labels cycling through 0..9) and returns their SHA-256; ``serve(dir)`` runs
``http.server`` on 127.0.0.1 in a thread and yields its base address and the
list of paths requested so far; ``fetch_env(...)`` is the environment that
points ``bp train --dataset mnist`` at it (``BP_MNIST_URL``,
``BP_MNIST_CHECKSUMS``, ``BP_DATA_DIR``; docs/training.md).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array in the IDX format: magic ``00 00 08 NDIM``, big-endian dimensions, the bytes."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_small_mnist(directory: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, str]:
    """Write the four files (28 x 28 random images, labels ``i % 10``); return ``{name: sha256}``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        NAMES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        NAMES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        NAMES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        NAMES[3]: (np.arange(n_test) % 10).astype(np.uint8),
    }
    sums = {}
    for name, array in arrays.items():
        payload = gzip.compress(idx_bytes(array), mtime=0)
        (directory / name).write_bytes(payload)
        sums[name] = hashlib.sha256(payload).hexdigest()
    return sums


class _Handler(http.server.SimpleHTTPRequestHandler):
    requested: list[str]

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``directory`` on a free loopback port; yield ``(base_url, requested_paths)``."""
    requested: list[str] = []
    handler = type("Handler", (_Handler,), {"requested": requested})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port_url() -> str:
    """The address of a loopback port nothing listens on (a server opened and closed at once)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/"


def fetch_env(url: str, sums: dict[str, str], workdir: Path) -> dict[str, str]:
    """The environment of a ``bp`` subprocess whose ``--dataset mnist`` fetches from ``url`` into ``workdir/cache``."""
    workdir.mkdir(parents=True, exist_ok=True)
    listing = workdir / "checksums.txt"
    listing.write_text("".join(f"{name} {digest}\n" for name, digest in sums.items()))
    return {
        **os.environ,
        "BP_MNIST_URL": url,
        "BP_MNIST_CHECKSUMS": str(listing),
        "BP_DATA_DIR": str(workdir / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
