"""Saved models: bit-exact round trips, atomic writes, and refusal of bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_manual import MLP, saving
from strategies import INITS, examples, specs


@settings(max_examples=examples(0.2))
@given(
    spec=specs(max_layers=4, max_width=12),
    init=st.sampled_from(INITS),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_round_trip_is_bit_exact(tmp_path_factory, spec, init, seed, dtype) -> None:
    params = bp_manual.init_params(spec, init, seed=seed, dtype=dtype)
    path = tmp_path_factory.mktemp("m") / "model.npz"
    saving.save(path, spec, params, meta={"classes": [3, 5]}, extras={"x_mean": np.arange(3.0)})
    back = saving.load(path)
    assert back.spec == spec and back.meta == {"classes": [3, 5]}
    np.testing.assert_array_equal(back.extras["x_mean"], np.arange(3.0))
    for a, b in zip(params, back.params, strict=True):
        assert set(a) == set(b)
        for key in a:
            assert b[key].dtype == a[key].dtype and b[key].shape == a[key].shape
            assert b[key].tobytes() == a[key].tobytes()


def test_mlp_save_and_load_predict_the_same(tmp_path: Path) -> None:
    mlp = MLP((4, 6, 3), hidden="relu", output="softmax", loss="cross_entropy", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 4))
    mlp.save(tmp_path / "m.npz")
    again = MLP.load(tmp_path / "m.npz")
    assert again.predict(X).tobytes() == mlp.predict(X).tobytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


def test_an_interrupted_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "m.npz"
    first = MLP((3, 2), seed=0)
    first.save(path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):  # writes half a file, then the process "dies"
        fh.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        MLP((3, 2), seed=1).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    monkeypatch.undo()
    assert MLP.load(path).params[0]["W"].tobytes() == first.params[0]["W"].tobytes()


def _saved(tmp_path: Path) -> Path:
    return MLP((3, 4, 2), seed=0).save(tmp_path / "m.npz")


def _rewrite(path: Path, change) -> None:
    """Rewrite the archive with ``change(arrays)`` applied, keeping the stored digest."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"m\.npz: not a readable \.npz file"):
            saving.load(path)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)

    def nudge(arrays):
        arrays["W_1"] = arrays["W_1"].copy()
        arrays["W_1"][0, 0] = np.nextafter(arrays["W_1"][0, 0], np.inf)  # one ulp

    _rewrite(path, nudge)
    with pytest.raises(ValueError, match="do not match their SHA-256 digest"):
        saving.load(path)


def test_tampered_spec_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite(path, lambda a: a.update(spec=np.array(str(a["spec"][()]).replace("sigmoid", "tanh"))))
    with pytest.raises(ValueError, match="SHA-256"):
        saving.load(path)


def test_flipped_byte_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("W_0.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 3  # inside W_0's data
    raw[offset] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"m\.npz"):
        saving.load(path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match=r"other\.npz: not a bp model file"):
        saving.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz: not an \.npz archive"):
        saving.load(tmp_path / "text.npz")
    np.savez(tmp_path / "pickled.npz", format=np.array(["bp-model", {"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"pickled\.npz: not a readable \.npz file.*pickle"):
        saving.load(tmp_path / "pickled.npz")
    with pytest.raises(ValueError, match=r"missing\.npz: no such file"):
        saving.load(tmp_path / "missing.npz")


def test_other_versions_are_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite(path, lambda a: a.update(version=np.array(2)))
    with pytest.raises(ValueError, match="format version 2; this bp_manual reads version 1"):
        saving.load(path)


def test_save_refuses_bad_arguments_and_writes_nothing(tmp_path: Path) -> None:
    spec = bp_manual.NetworkSpec((3, 2))
    params = bp_manual.init_params(spec, seed=0)
    with pytest.raises(ValueError, match="meta must be JSON-serialisable"):
        saving.save(tmp_path / "a.npz", spec, params, meta={"x": object()})
    with pytest.raises(ValueError, match=r"params\[0\]\['W'\] has shape"):
        saving.save(tmp_path / "a.npz", bp_manual.NetworkSpec((4, 2)), params)
    with pytest.raises(ValueError, match="extras names must be identifiers"):
        saving.save(tmp_path / "a.npz", spec, params, extras={"a b": np.ones(2)})
    assert list(tmp_path.iterdir()) == []
