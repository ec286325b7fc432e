"""MNIST's four files, fetched once into a per-user cache and checked against their SHA-256.

What this module is for: ``bp train --dataset mnist`` without hunting for
data: :func:`fetch_mnist` downloads the four IDX files through pooch (imported
inside the function only) into :func:`mnist_cache`, verifies each against
:data:`MNIST_SHA256` (or a checksum file, :func:`read_checksums`), and turns
every way it can fail (offline, HTTP errors, a checksum mismatch, an
unwritable cache) into a one-line ``ValueError``. The environment variables
``BP_MNIST_URL``, ``BP_MNIST_CHECKSUMS`` and ``BP_DATA_DIR`` point it elsewhere
(the tests use a loopback server).

What it is not for: reading the files (:func:`bp_manual.data.load_mnist`,
:func:`bp_manual.readers.read_idx`).
"""

from __future__ import annotations

import os
from pathlib import Path

#: where ``fetch_mnist`` downloads from unless told otherwise (PyTorch's mirror of the original files)
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: the SHA-256 of each of MNIST's four files as distributed; a download that differs is deleted
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def read_checksums(path: str | os.PathLike[str]) -> dict[str, str]:
    """A checksum file, one ``NAME SHA256`` pair per line (``sha256:`` before the digest allowed; ``#`` comments).

    Raises:
        ValueError: naming the file and line, for a missing file or a line that is not a name and a digest.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        digest = parts[-1].removeprefix("sha256:").lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{path}: line {number}: expected a file name and its SHA-256 (64 hex digits)")
        sums[parts[0]] = digest
    return sums


def mnist_cache() -> Path:
    """Where ``fetch_mnist`` keeps the files: ``$BP_DATA_DIR/mnist``, else the per-user cache.

    The per-user cache is pooch's ``os_cache("bp-reference")``, on Linux
    ``~/.cache/bp-reference`` (``$XDG_CACHE_HOME/bp-reference`` when that is set).

    Raises:
        ImportError: pooch is not installed (needed only when ``BP_DATA_DIR`` is unset).
    """
    if os.environ.get("BP_DATA_DIR"):
        return Path(os.environ["BP_DATA_DIR"]) / "mnist"
    import pooch

    return Path(pooch.os_cache("bp-reference")) / "mnist"


def fetch_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
) -> Path:
    """Download MNIST's four IDX files once, verify their SHA-256, and return the directory that holds them.

    A file already in ``directory`` with the right checksum is not downloaded
    again; one with another checksum is downloaded again. The download is
    done by pooch (a temporary file, checked, then renamed), so a failed or
    corrupt download never leaves a file behind.

    Args:
        directory: where the files go; default :func:`mnist_cache`.
        base_url: where they come from, the four file names appended; default
            ``$BP_MNIST_URL``, else :data:`MNIST_URL`.
        checksums: ``{file name: sha256}``; default the file named by
            ``$BP_MNIST_CHECKSUMS`` (:func:`read_checksums`), else
            :data:`MNIST_SHA256`. A mirror serving other files in the same
            format (Fashion-MNIST; the tests' own small files) needs its own.

    Raises:
        ImportError: pooch is not installed.
        ValueError: one line, naming the file and the address: no connection
            (offline), an HTTP error, a checksum that does not match, or a
            directory that cannot be written.
    """
    import pooch
    import requests

    base_url = base_url or os.environ.get("BP_MNIST_URL") or MNIST_URL
    if checksums is None:
        listed = os.environ.get("BP_MNIST_CHECKSUMS")
        checksums = read_checksums(listed) if listed else MNIST_SHA256
    target = Path(directory) if directory is not None else mnist_cache()
    registry = {name: f"sha256:{digest}" for name, digest in checksums.items()}
    fetcher = pooch.create(path=target, base_url=base_url.rstrip("/") + "/", registry=registry, retry_if_failed=0)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # no line per file: the caller says what it is doing
    try:
        for name in registry:
            url = fetcher.get_url(name)
            try:
                fetcher.fetch(name)
            except requests.exceptions.ConnectionError:
                raise ValueError(
                    f"cannot download {url}: no connection (offline?); or put MNIST's four files in a directory "
                    "and use mnist:DIR"
                ) from None
            except requests.exceptions.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else "error"
                raise ValueError(f"cannot download {url}: HTTP {status}") from None
            except requests.exceptions.RequestException as exc:
                raise ValueError(f"cannot download {url}: {type(exc).__name__}") from None
            except ValueError as exc:  # pooch: the checksum does not match (the download is deleted)
                raise ValueError(f"{url}: {' '.join(str(exc).split())}") from None
            except OSError as exc:
                raise ValueError(f"cannot write MNIST into {target}: {exc.strerror or exc}") from None
    finally:
        logger.setLevel(level)
    return target
