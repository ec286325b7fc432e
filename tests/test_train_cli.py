"""``bp train`` and ``bp predict``, and the lockstep training behind ``--backend both``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bp_manual
from bp_autodiff.auditor.lockstep import fit_lockstep
from bp_autodiff.cli import main
from bp_manual import data, optim, saving
from tolerances import FLOAT64_RTOL


def test_train_on_digits_saves_plots_and_predicts(tmp_path: Path, capsys) -> None:
    model, png = tmp_path / "m.npz", tmp_path / "c.png"
    status = main(["train", "--epochs", "3", "--save", str(model), "--plot", str(png)])
    out, err = capsys.readouterr()
    assert status == 0
    assert "epoch   3/3 [####################] loss" in err  # per-epoch progress on stderr
    lines = out.splitlines()
    test_line = next(line for line in lines if line.startswith("test"))
    accuracy = float(test_line.split()[-1])
    assert 0.8 < accuracy <= 1.0
    assert any(line.startswith("wall time") for line in lines)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # bp predict on the first test rows, given raw (unstandardised) features
    d = data.load_digits()
    raw = d.X_test[:5] * d.x_scale + d.x_mean
    csv = tmp_path / "x.csv"
    np.savetxt(csv, raw, delimiter=",")
    assert main(["predict", "--model", str(model), "--input", str(csv)]) == 0
    predicted = [int(v) for v in capsys.readouterr().out.split()]
    saved = saving.load(model)
    expected = bp_manual.predict(saved.spec, saved.params, d.X_test[:5]).argmax(axis=1)
    assert predicted == list(expected)


def test_train_regression_reports_r2_and_predict_maps_back(tmp_path: Path, capsys) -> None:
    model = tmp_path / "r.npz"
    assert main(["train", "--dataset", "diabetes", "--epochs", "5", "--quiet", "--save", str(model)]) == 0
    assert "R^2" in capsys.readouterr().out
    d = data.load_diabetes()
    np.savez(tmp_path / "x.npz", X=d.X_test[:4] * d.x_scale + d.x_mean)
    assert main(["predict", "--model", str(model), "--input", str(tmp_path / "x.npz")]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()]
    saved = saving.load(model)
    assert d.y_scale is not None and d.y_mean is not None
    expected = bp_manual.predict(saved.spec, saved.params, d.X_test[:4]).ravel() * d.y_scale + d.y_mean
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_backend_both_reports_a_difference_at_rounding_level(capsys) -> None:
    assert main(["train", "--dataset", "diabetes", "--epochs", "2", "--backend", "both", "--quiet"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("manual vs JAX"))
    relative = float(line.split("(relative ")[1].split(")")[0])
    assert relative <= FLOAT64_RTOL


def test_lockstep_manual_side_is_train_fit_and_jax_side_stays_close() -> None:
    """The manual side of fit_lockstep is bp_manual.fit bit for bit (same loop, same shuffles).

    The JAX side differs from it by rounding only: each step's gradients agree to about
    1e-13 relative (tests/tolerances.py), and 18 steps of SGD at lr 0.1 add at most
    18 * 0.1 * max|g| * 1e-13 to parameters of order 1, far below the 1e-9 bar."""
    d = data.load_diabetes()
    spec = bp_manual.NetworkSpec((10, 8, 1), hidden="tanh")
    params = bp_manual.init_params(spec, seed=0)
    opt = optim.momentum(0.1)
    pm, pj, history = fit_lockstep(spec, params, d.X_train, d.y_train, epochs=3, batch_size=64, optimizer=opt, seed=4)
    ref, ref_history = bp_manual.fit(spec, params, d.X_train, d.y_train, epochs=3, batch_size=64, optimizer=opt, seed=4)
    for a, b in zip(pm, ref, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()
    assert history.loss_manual == ref_history.loss
    assert history.max_rel_diff[-1] <= FLOAT64_RTOL
    for a, b in zip(pm, pj, strict=True):
        for key in a:
            diff = float(np.max(np.abs(a[key] - b[key])))
            assert diff <= history.max_abs_diff[-1]
            assert diff <= FLOAT64_RTOL * float(np.max(np.abs(a[key])))
    assert history.max_abs_diff == sorted(history.max_abs_diff)  # "largest reached so far"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--sizes", "64,32,3"],
            "--sizes: 64,32,3 does not fit digits: it has 64 inputs and needs 10 outputs",
        ),
        (["train", "--sizes", "64,x,10"], "bp train: error: --sizes: must be comma-separated integers"),
        (["train", "--epochs", "0"], "bp train: error: --epochs: must be an integer >= 1, got '0'"),
        (["train", "--lr", "-1"], "bp train: error: --lr: must be a finite number > 0, got '-1'"),
    ],
)
def test_train_refuses_bad_arguments(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_files_give_a_message_and_status_2(tmp_path: Path, capsys) -> None:
    def refused(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        return capsys.readouterr().err

    err = refused(["train", "--dataset", f"csv:{tmp_path / 'none.csv'}"])
    assert f"bp train: error: --dataset: {tmp_path / 'none.csv'}: no such file" in err
    (tmp_path / "m.npz").write_text("not a model")
    err = refused(["predict", "--model", str(tmp_path / "m.npz"), "--input", str(tmp_path / "m.npz")])
    assert f"bp predict: error: --model: {tmp_path / 'm.npz'}: not an .npz archive" in err
    model = bp_manual.MLP((3, 2), seed=0).save(tmp_path / "ok.npz")
    (tmp_path / "x.csv").write_text("1,2\n")
    err = refused(["predict", "--model", str(model), "--input", str(tmp_path / "x.csv")])
    assert "bp predict: error: --input: " in err
    assert "the model takes 3 features per row, the file has shape (1, 2)" in err


def test_fit_on_jax_gradients_tracks_fit_on_manual_ones() -> None:
    """``grads_fn=bp_autodiff.loss_and_grads`` (``--backend jax``) runs the same loop on JAX's
    gradients: the params stay within the float64 bar of the manual run (same bound as above)."""
    import bp_autodiff

    d = data.load_diabetes()
    spec = bp_manual.NetworkSpec((10, 6, 1), hidden="sigmoid")
    params = bp_manual.init_params(spec, seed=1)
    kwargs: dict[str, Any] = {"epochs": 2, "batch_size": 50, "optimizer": optim.adam(0.01), "seed": 3}
    manual, h_m = bp_manual.fit(spec, params, d.X_train, d.y_train, **kwargs)
    jax_side, h_j = bp_manual.fit(spec, params, d.X_train, d.y_train, grads_fn=bp_autodiff.loss_and_grads, **kwargs)
    for a, b in zip(manual, jax_side, strict=True):
        for key in a:
            assert float(np.max(np.abs(a[key] - b[key]))) <= FLOAT64_RTOL * float(np.max(np.abs(a[key])))
    np.testing.assert_allclose(h_j.loss, h_m.loss, rtol=FLOAT64_RTOL)


@pytest.mark.parametrize("backend", ["manual", "jax", "both"])
def test_divergence_exits_1_with_the_message_and_no_warning(backend: str, capsys) -> None:
    argv = ["train", "--lr", "1e6", "--optimizer", "sgd", "--epochs", "3", "--backend", backend]
    assert main(argv) == 1  # pyproject turns any NumPy warning into an error, so none was emitted
    err = capsys.readouterr().err
    assert "training diverged" in err and "step " in err
