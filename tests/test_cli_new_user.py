"""What a new user met on the way from the Quickstart to every command (issue 16), held through ``bp`` itself.

Each numbered item of the issue has a test here that runs the real command
line (``python -m bp_autodiff.cli`` in a subprocess) and holds the right
behaviour, with the exact message; variants of the same check run in
process through ``bp_autodiff.cli.main``, the same entry point. Items 1
(commands that work after the Quickstart as written), 4 (the tutorial's
localisation) and 8 (the docs' numbers) are held in tests/test_docs_commands.py
and tests/test_readme.py, which run the docs' own commands.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import bp_manual
from bp_autodiff import cli
from bp_autodiff.auditor.check import Group
from bp_autodiff.cli import train as train_command
from bp_manual import data, saving
from bp_manual.init_stats import DEFAULT_INITS, compare, legend_labels, plot
from bp_manual.train import SMALL_PRODUCT, blas_threads
from mnist_server import fetch_env, free_port_url, serve, write_small_mnist

ROOT = Path(__file__).resolve().parents[1]


def bp(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The error line of a usage error (status 2) from ``bp_autodiff.cli.main``."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    return last_line(capsys.readouterr().err)


# --- 2. output paths are checked before any work ----------------------------------------------


def test_2_an_unwritable_figure_path_stops_bp_train_before_it_trains(tmp_path: Path) -> None:
    run = bp("train", "--dataset", "diabetes", "--save", "ok.npz", "--plot", "/nonexistent/c.png", cwd=tmp_path)
    assert run.returncode == 2
    assert (
        last_line(run.stderr)
        == "bp train: error: --plot: /nonexistent/c.png: the directory /nonexistent does not exist"
    )
    assert "bp train: diabetes" not in run.stderr and "Traceback" not in run.stderr and run.stdout == ""  # no training
    assert list(tmp_path.iterdir()) == []  # no model, no temporary file


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--plot", "curves.txt"], "bp train: error: --plot: curves.txt: the file name must end in .png"),
        (
            ["train", "--save", "/nonexistent/m.npz"],
            "--save: /nonexistent/m.npz: the directory /nonexistent does not exist",
        ),
        (["train", "--save", "model"], "bp train: error: --save: model: the file name must end in .npz"),
        (["train", "--save", "{tmp}/d.npz"], "bp train: error: --save: {tmp}/d.npz: is a directory"),
        (
            ["init-stats", "--png", "/nonexistent/dir/x.png"],
            "--png: /nonexistent/dir/x.png: the directory /nonexistent/dir",
        ),
        (["init-stats", "--png", "x"], "bp init-stats: error: --png: x: the file name must end in .png"),
    ],
)
def test_2_every_output_path_is_checked_the_same_way(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.npz").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    line = refused(argv, capsys)
    assert line.startswith(f"bp {argv[0]}: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_2_a_read_only_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = refused(["train", "--save", str(locked / "m.npz")], capsys)
    assert line == f"bp train: error: --save: {locked / 'm.npz'}: the directory {locked} is not writable"


def test_2_the_model_is_written_before_the_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_plot(*args: object) -> None:
        raise OSError("the figure failed")

    monkeypatch.setattr(train_command, "_plot", broken_plot)
    model = tmp_path / "m.npz"
    with pytest.raises(OSError, match="the figure failed"):
        cli.main(
            ["train", "--dataset", "diabetes", "--epochs", "1", "--save", str(model), "--plot", str(tmp_path / "c.png")]
        )
    assert saving.load(model).spec.sizes == (10, 64, 1)


def test_2_saving_names_the_path_not_a_temporary_file(tmp_path: Path) -> None:
    spec = bp_manual.NetworkSpec((2, 1))
    params = bp_manual.init_params(spec, seed=0)
    with pytest.raises(OSError, match=r"^\[Errno 2\] /nonexistent/m\.npz: cannot be written \("):
        saving.save("/nonexistent/m.npz", spec, params)
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"d\.npz: is a directory$"):
        saving.save(tmp_path / "d.npz", spec, params)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


# --- 3. the CSV header rule: no data row dropped ----------------------------------------------


def test_3_a_first_row_with_a_gap_is_an_error_not_a_header(tmp_path: Path) -> None:
    model = bp_manual.MLP((3, 1), seed=0).save(tmp_path / "m.npz")
    rows = tmp_path / "rows.csv"
    rows.write_text("1,,3\n4,5,6\n7,8,9\n1,2,3\n4,5,6\n")
    run = bp("predict", "--model", str(model), "--input", str(rows))
    assert run.returncode == 2 and run.stdout == ""
    assert last_line(run.stderr) == f"bp predict: error: --input: {rows}: line 1, column 2: an empty cell"


def test_3_a_header_is_skipped_and_a_typo_anywhere_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = bp_manual.MLP((3, 1), seed=0).save(tmp_path / "m.npz")
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n" + "\n".join(f"{i},{i + 1},{i + 2}" for i in range(5)) + "\n")
    assert cli.main(["predict", "--model", str(model), "--input", str(rows)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5  # one prediction per data row
    table = tmp_path / "t.csv"
    table.write_text("1,2x,3,0\n" + "\n".join(f"{i},{i},{i},{i % 2}" for i in range(20)) + "\n")
    line = refused(["train", "--dataset", f"csv:{table}"], capsys)
    assert line == f"bp train: error: --dataset: {table}: line 1, column 2: '2x' is not a number"


# --- 5. optional dependencies are checked before any work ---------------------------------------


def test_5_without_matplotlib_bp_train_plot_stops_at_once_and_says_what_to_install(tmp_path: Path) -> None:
    hidden = tmp_path / "no_matplotlib" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib' (hidden by the test)\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden.parent), os.environ.get("PYTHONPATH", "")])}
    run = bp("train", "--dataset", "diabetes", "--plot", "c.png", "--save", "m.npz", cwd=tmp_path, env=env)
    assert run.returncode == 2
    assert last_line(run.stderr) == (
        "bp train: error: --plot: needs matplotlib, which is not installed "
        '(pip install matplotlib; in a clone of this project: .venv/bin/pip install -e ".[plot]")'
    )
    assert "bp train: diabetes" not in run.stderr and not (tmp_path / "m.npz").exists()  # no training, no model


def test_5_init_stats_png_names_an_installable_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    line = refused(["init-stats", "--depth", "1", "--png", str(tmp_path / "x.png")], capsys)
    assert line.startswith(
        "bp init-stats: error: --png: needs matplotlib, which is not installed (pip install matplotlib;"
    )
    with pytest.raises(
        ImportError, match=r"^plotting needs matplotlib, which is not installed: pip install matplotlib$"
    ):
        plot(compare("seed", depth=1, width=2, batch=2), tmp_path / "y.png")
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert "bp-reference[plot]" not in doc.read_text(encoding="utf-8"), doc  # not a package on the index


# --- 6. broken pipes, Ctrl-C, a file path or a broken module to bp audit ----------------------


def test_6_a_closed_pipe_ends_bp_quietly_with_status_141() -> None:
    argv = [sys.executable, "-m", "bp_autodiff.cli", "init-stats", "--depth", "400", "--width", "4", "--batch", "4"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("init-stats: 400 hidden layers")  # `| head -1`
        proc.stdout.close()  # more than a pipe's 64 KiB is still to come
        assert proc.wait(timeout=120) == 141
        assert proc.stderr.read() == ""


@contextlib.contextmanager
def _sigint_as_from_a_terminal() -> Iterator[None]:
    """SIGINT handled (a handler becomes the default action in a child at ``exec``) and not blocked while a child
    starts, as a shell gives it to the job in the foreground; restored after. A child inherits an ignored or blocked
    SIGINT from its parent, and a pytest-xdist worker that ran other tests first may have one: then Python never
    raises KeyboardInterrupt (seen in full runs of the suite: ``bp train`` trained on for the whole minute after the
    signal). Done in this process, not in a ``preexec_fn``, which would make ``subprocess`` fork a process that
    runs JAX's threads."""
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, handler)


def test_6_ctrl_c_during_bp_train_is_one_line_and_status_130() -> None:
    argv = [sys.executable, "-m", "bp_autodiff.cli", "train", "--epochs", "100000"]
    with _sigint_as_from_a_terminal():
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with proc:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("bp train: digits")
        assert proc.stderr.readline().startswith("epoch   1/100000 ")  # it is training
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(
                f"bp train still running 60 s after SIGINT (in the test process: SIGINT handler "
                f"{signal.getsignal(signal.SIGINT)!r}, blocked {signal.pthread_sigmask(signal.SIG_BLOCK, [])!r}); "
                f"stderr ends:\n{err[-2000:]}"
            )
    assert proc.returncode == 130
    assert "Traceback" not in err and out == ""
    assert last_line(err) == "bp train: interrupted"


def test_6_bp_audit_takes_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "my_ce.py").write_text(
        "import bp_manual\n\n\ndef loss_and_grads(spec, params, X, Y):\n"
        "    return bp_manual.loss_and_grads(spec, params, X, Y)\n"
    )
    run = bp("audit", "./my_ce.py:loss_and_grads", "--loss", "cross_entropy", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "findings: none (ok)" in run.stdout and "softmax" in run.stdout


def test_6_a_syntax_error_in_the_audited_module_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.py").write_text("def loss_and_grads(:\n    pass\n")
    run = bp("audit", "./bad.py:loss_and_grads", cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert re.fullmatch(
        r"bp audit: error: MODULE:FUNCTION: cannot import \./bad\.py: SyntaxError: .+ \(bad\.py, line 1\)",
        last_line(run.stderr),
    )
    (tmp_path / "raises.py").write_text("import math\n\nx = math.sqrt(-1)\n")
    line = refused(["audit", f"{tmp_path / 'raises.py'}:f"], capsys)
    assert line.endswith(f"cannot import {tmp_path / 'raises.py'}: ValueError: math domain error (raises.py, line 3)")
    line = refused(["audit", "no_such_module_xyz:f"], capsys)
    missing = "no_such_module_xyz"
    assert line == f"bp audit: error: MODULE:FUNCTION: cannot import module {missing!r}: no module named {missing!r}"


# --- 7. one error format, naming the flag typed ------------------------------------------------


def test_7_a_bad_momentum_is_named_as_typed() -> None:
    run = bp("train", "--optimizer", "momentum", "--momentum", "1.5")
    assert run.returncode == 2 and run.stderr.startswith("usage: bp train ")
    assert last_line(run.stderr) == "bp train: error: --momentum: must lie in [0, 1), got '1.5'"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["train", "--weight-decay", "-1"], "--weight-decay"),
        (["train", "--test-size", "1.5"], "--test-size"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "x"], "--batch-size"),
        (["train", "--pretrain-epochs", "1", "--sizes", "64,10"], "--pretrain-epochs"),
        (["train", "--quiet", "--plot", "c.png"], "--plot"),
        (["train", "--task", "regression"], "--task"),
        (["train", "--dataset", "digts"], "--dataset"),
        (["train", "--threads", "0"], "--threads"),
        (["predict", "--model", "missing.npz", "--input", "x.csv"], "--model"),
        (["check", "--examples", "0"], "--examples"),
        (["check", "--seed", "-1"], "--seed"),
        (["demo", "--steps", "0"], "--steps"),
        (["demo", "--lr", "inf"], "--lr"),
        (["explain", "--sizes", "4,3", "--batch", "0"], "--batch"),
        (["explain", "--sizes", "4,3", "--output", "sigmoid"], "--output"),
        (["audit", "bp_manual:loss_and_grads", "--batch", "0"], "--batch"),
        (["audit", "bp_manual:loss_and_grads", "--loss", "cross_entropy", "--sizes", "4,1"], "--sizes"),
        (["init-stats", "--width", "0"], "--width"),
        (["init-stats", "--init", "xavier"], "--init"),
    ],
)
def test_7_every_usage_error_has_one_format(argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(argv, capsys)
    assert line.startswith(f"bp {argv[0]}: error: {flag}: "), line
    for internal in ("beta", "weight_decay", "test_size", "lr must", "argument "):
        assert internal not in line, line


# --- 9. a group with nothing checked does not pass ---------------------------------------------


def test_9_a_group_where_every_case_was_skipped_is_not_a_pass() -> None:
    run = bp("check", "--examples", "1", "--hidden", "relu", "--seed", "8")
    assert run.returncode == 1
    row = next(line for line in run.stdout.splitlines() if line.startswith("relu    softmax+cross_entropy"))
    assert row.split()[2:4] == ["0", "8"] and row.endswith("nothing checked")
    assert last_line(run.stdout) == (
        "bp check: NOT PASSED, nothing was checked for relu softmax+cross_entropy (every case skipped); "
        "try another --seed or more --examples"
    )
    assert not Group("relu", "softmax+cross_entropy", skipped=8).ok


# --- 10. BLAS threads for small batches ---------------------------------------------------------


def test_10_the_limit_holds_inside_the_training_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process; through the command line, test_11's `bp train` run shows `BLAS threads 1 (auto)`."""
    from threadpoolctl import threadpool_info

    def blas() -> dict[str, int]:
        return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    seen: list[set[int]] = []
    fit = bp_manual.fit

    def recording_fit(*args, **kwargs):
        seen.append(set(blas().values()))
        return fit(*args, **kwargs)

    monkeypatch.setattr(bp_manual, "fit", recording_fit)
    before = blas()
    assert cli.main(["train", "--dataset", "diabetes", "--epochs", "1", "--quiet", "--batch-size", "512"]) == 0
    assert cli.main(["train", "--dataset", "diabetes", "--epochs", "1", "--quiet", "--threads", "2"]) == 0
    assert seen == [{1}, {2}]
    after = blas()
    assert {path: after[path] for path in before} == before  # restored after the command
    assert blas_threads((64, 64, 10), 512) == 1
    assert blas_threads((1024, 1024), SMALL_PRODUCT // 1024**2) is None  # a product of 2**30 multiply-adds


# --- 11. MNIST without hunting for it: fetched once, checked, offline in one line -----------------


def test_11_mnist_is_fetched_once_checked_and_offline_is_one_line(tmp_path: Path) -> None:
    served = tmp_path / "served"
    sums = write_small_mnist(served, n_train=30, n_test=10)
    argv = ("train", "--dataset", "mnist", "--sizes", "784,8,10", "--epochs", "1", "--quiet")
    with serve(served) as (url, requested):
        env = fetch_env(url, sums, tmp_path)
        first = bp(*argv, "--batch-size", "512", "--save", "m.npz", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert sorted(requested) == sorted(f"/{name}" for name in sums)
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(sums)
    assert f"mnist:{cache} (30 train / 10 test, classification, 10 classes)" in first.stderr
    # item 10 through the command line: batch 512 on 784-8-10 trains on one BLAS thread
    assert "batch 512, 1 epochs, backend manual, seed 0, BLAS threads 1 (auto)" in first.stderr
    # and the model is an ordinary file (0666 less the umask), not a private temporary one (0600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o666 & ~umask
    again = bp(*argv, env=env)  # the server is gone: the files come from the cache
    assert again.returncode == 0, again.stderr
    offline = free_port_url()
    run = bp(*argv, env=fetch_env(offline, sums, tmp_path / "elsewhere"))
    assert run.returncode == 2
    assert last_line(run.stderr) == (
        f"bp train: error: --dataset: cannot download {offline}train-images-idx3-ubyte.gz: no connection (offline?); "
        "or put MNIST's four files in a directory and use mnist:DIR"
    )


def test_11_a_download_with_the_wrong_checksum_is_refused_and_deleted(tmp_path: Path) -> None:
    served = tmp_path / "served"
    sums = write_small_mnist(served)
    wrong = {**sums, "t10k-images-idx3-ubyte.gz": "0" * 64}
    with serve(served) as (url, _), pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: .*does not match"):
        data.fetch_mnist(tmp_path / "cache", base_url=url, checksums=wrong)
    assert "t10k-images-idx3-ubyte.gz" not in [p.name for p in (tmp_path / "cache").iterdir()]
    (tmp_path / "sums.txt").write_text("train-images-idx3-ubyte.gz sha256:abc\n")
    with pytest.raises(ValueError, match=r"sums\.txt: line 1: expected a file name and its SHA-256"):
        data.read_checksums(tmp_path / "sums.txt")
    assert set(data.MNIST_SHA256) == set(sums) and data.MNIST_URL.startswith("https://")


# --- the smaller ones ----------------------------------------------------------------------------


def test_task_says_what_integer_targets_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(228, 3))
    y = np.arange(228) % 57  # integer targets that are quantities
    path = tmp_path / "counts.csv"
    path.write_text("".join(f"{a},{b},{c},{t}\n" for (a, b, c), t in zip(X, y, strict=True)))
    assert cli.main(["train", "--dataset", f"csv:{path}", "--epochs", "1", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "classification, 57 classes; inferred from the targets, --task to choose" in err and "accuracy" in out
    assert cli.main(["train", "--dataset", f"csv:{path}", "--epochs", "1", "--quiet", "--task", "regression"]) == 0
    out, err = capsys.readouterr()
    assert "regression)" in err and "R^2" in out


def test_explain_takes_the_output_from_the_loss(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--sizes", "4,3", "--loss", "cross_entropy"]) == 0
    assert "output softmax, loss cross_entropy" in capsys.readouterr().out


def test_the_figure_is_written_where_it_says_and_names_coinciding_curves(tmp_path: Path) -> None:
    results = compare(DEFAULT_INITS, depth=2, width=8, batch=4)
    assert legend_labels(results)[-1] == "seed (= xavier_normal)"  # the same weights on square layers
    assert legend_labels(results)[:4] == ["normal(0.01)", "normal(1.0)", "xavier_normal", "he_normal"]
    assert plot(results, tmp_path / "x") == tmp_path / "x"
    assert (tmp_path / "x").read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "x.png").exists()


def test_replacing_a_model_keeps_its_mode(tmp_path: Path) -> None:
    spec = bp_manual.NetworkSpec((2, 1))
    path = saving.save(tmp_path / "m.npz", spec, bp_manual.init_params(spec, seed=0))
    path.chmod(0o640)
    saving.save(path, spec, bp_manual.init_params(spec, seed=1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"bp {project['version']}\n"
