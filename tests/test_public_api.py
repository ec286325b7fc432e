"""The public API, listed: a later move cannot drop a name silently; and the layers of the architecture hold.

``docs/architecture.md`` draws the sub-packages of ``bp_autodiff`` and which may
import which; :func:`test_sub_packages_import_only_downwards` reads every
module's imports and holds them to that picture.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import bp_autodiff

SRC = Path(__file__).resolve().parents[1] / "src"

#: name -> the public names it must offer (its ``__all__`` may hold more).
PUBLIC: dict[str, set[str]] = {
    "bp_manual": {
        "BPNetwork", "DivergedError", "HIDDEN", "History", "INITIALIZERS", "LOSSES", "MLP", "NetworkSpec",
        "OPTIMIZERS", "OUTPUTS", "Optimizer", "Params", "ParamsLike", "VALID_PAIRS", "adam", "backward", "fit",
        "forward", "init_params", "loss", "loss_and_grads", "loss_grads_and_deltas", "momentum", "nesterov",
        "normal", "predict", "sgd", "sgd_step", "train_step", "variance_scaling",
    },
    "bp_autodiff": {
        "AuditReport", "Comparison", "FORWARD_KINDS", "Finding", "KINDS", "Localisation", "STEP_KINDS", "VJP_KINDS",
        "audit", "audit_chain", "audit_forward", "audit_step", "audit_vjp", "loss_and_grads", "loss_grads_and_deltas",
        "predict", "sgd_step",
    },
    "bp_autodiff.catalog": {
        "CATALOG", "EXAMPLES", "Entry", "Example", "W_instead_of_W_T", "audit_entry", "bias_not_summed",
        "dW_transposed", "example_problem", "layers_swapped", "missing_activation_derivative", "mse_without_half",
        "only_output_layer", "relu_derivative_one", "seed_published_gradients", "seed_published_run",
        "seed_published_train", "sigmoid_derivative_on_Z", "sign_flipped", "softmax_ce_without_softmax",
        "sum_instead_of_mean", "tanh_derivative_at_A", "update_before_propagating",
    },
    "bp_autodiff.auditor": {
        "AuditReport", "Comparison", "FORWARD_KINDS", "Finding", "KINDS", "Localisation", "STEP_KINDS", "VJP_KINDS",
        "audit", "audit_chain", "audit_forward", "audit_step", "audit_vjp",
    },
    "bp_autodiff.witness": {"loss_and_grads", "loss_grads_and_deltas", "predict", "sgd_step"},
    "bp_autodiff.auditor.check": {"check", "CheckResult"},
    "bp_autodiff.auditor.adapters": {
        "LAYER_INPUTS", "LayerInputs", "LayerPair", "TorchPair", "VjpPair", "from_custom_vjp", "from_layer",
        "from_torch_function", "layer_inputs",
    },
    "bp_autodiff.auditor.plot": {"as_matrix", "comparison_figure", "plot_arrays", "plot_comparison"},
    "bp_autodiff.auditor.trace": {"trace", "Trace", "TRACE_RTOL"},
    "bp_autodiff.auditor.lockstep": {"fit_lockstep"},
    "bp_autodiff.auditor.tolerance": {"close", "gradient_rtol", "term_scales", "kinks_are_clear", "allowance"},
    "bp_autodiff.jitted.scan": {"sgd_epoch"},
    "bp_autodiff.witness.network": {"layer_forward", "layers", "predict", "loss", "logits"},
    "bp_manual.network": {"layer_forward", "forward", "backward", "predict", "loss", "delta_below", "layer_grads"},
    "bp_manual.problems": {"Problem", "random_problem", "random_spec", "random_params", "random_batch"},
    "bp_manual.data": {"load_dataset", "load_csv", "load_npz", "load_mnist", "read_idx", "read_csv_rows"},
    "bp_manual.layers": {"LAYERS", "Layer", "Sequential", "register", "flatten_forward", "flatten_backward"},
    "bp_manual.layers.explain": {"TABLE", "layer_equations", "render", "sizes", "to_dict"},
    "bp_manual.models": {"TrainedModel", "evaluate", "fit_model", "train_digits_cnn", "train_zen_rnn"},
    "bp_manual.optim": {"DECAYED", "Optimizer", "adam", "momentum", "nesterov", "sgd", "sgd_step"},
    "bp_autodiff.witness.layers.sequential": {"TWINS", "Twin", "sequential", "sequential_loss"},
}  # fmt: skip

#: The ``bp`` subcommands.
COMMANDS = {"audit", "check", "demo", "explain", "init-stats", "predict", "train"}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_is_there(module: str) -> None:
    mod = importlib.import_module(module)
    missing = sorted(name for name in PUBLIC[module] if not hasattr(mod, name))
    assert not missing, f"{module} lost {missing}"
    if hasattr(mod, "__all__"):  # getattr, not dir(): a lazy package (PEP 562) lists names it imports on first use
        unreachable = sorted(name for name in mod.__all__ if not hasattr(mod, name))
        assert not unreachable, f"{module}.__all__ names what it does not have: {unreachable}"


def test_audit_is_the_function_and_auditor_the_package() -> None:
    assert callable(bp_autodiff.audit)
    assert bp_autodiff.auditor.KINDS == bp_autodiff.KINDS
    assert "scale" in bp_autodiff.KINDS


def test_the_bp_subcommands() -> None:
    from bp_autodiff.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == COMMANDS  # type: ignore[arg-type]


def test_the_console_script_points_at_main() -> None:
    text = (SRC.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'bp = "bp_autodiff.cli:main"' in text
    result = subprocess.run([sys.executable, "-m", "bp_autodiff.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "check" in result.stdout


@pytest.mark.parametrize("old", sorted(bp_autodiff.compat.MOVED))
def test_old_module_paths_still_import_and_say_where_they_went(old: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {bp_autodiff.compat.MOVED[old]}"):
        stand_in = importlib.import_module(old)
    new = importlib.import_module(bp_autodiff.compat.MOVED[old])
    public = [n for n in dir(new) if not n.startswith("_")]
    assert public and all(getattr(stand_in, n) is getattr(new, n) for n in public)


def test_the_old_paths_in_use() -> None:
    """The two old paths the docs used to show: ``bp_autodiff.tolerance`` and ``bp_autodiff.scan``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from bp_autodiff.scan import sgd_epoch  # type: ignore[import-not-found]
        from bp_autodiff.tolerance import close  # type: ignore[import-not-found]
    assert sgd_epoch is importlib.import_module("bp_autodiff.jitted.scan").sgd_epoch
    assert close is bp_autodiff.auditor.tolerance.close


# ---------------------------------------------------------------- the layers of the architecture

#: sub-package -> the bp_autodiff sub-packages its modules may import (docs/architecture.md).
MAY_IMPORT: dict[str, set[str]] = {
    "witness": {"witness"},
    "jitted": {"witness", "jitted"},
    "auditor": {"witness", "auditor"},
    "catalog": {"auditor", "catalog"},
    "cli": {"witness", "jitted", "auditor", "catalog", "cli"},
}
#: The hand derivation: the witness never imports it (it would witness itself). It may read
#: ``bp_manual``'s spec, params structure, input checks and the names in its registries.
DERIVATION = {"bp_manual.network", "bp_manual.activations", "bp_manual.layers", "bp_manual.train"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_sub_packages_import_only_downwards(package: str) -> None:
    problems = []
    for path in sorted((SRC / "bp_autodiff" / package).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            inner = parts[1] if parts[0] == "bp_autodiff" and len(parts) > 1 else None
            if inner in MAY_IMPORT and inner not in MAY_IMPORT[package]:
                problems.append(f"{path.relative_to(SRC)} imports {name}")
            if package == "witness" and any(name == d or name.startswith(d + ".") for d in DERIVATION):
                problems.append(f"{path.relative_to(SRC)} imports the hand derivation: {name}")
    assert not problems, "\n".join(problems)


def test_bp_manual_never_imports_bp_autodiff() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in sorted((SRC / "bp_manual").rglob("*.py"))
        if any(n.split(".")[0] == "bp_autodiff" for n in _imports(p))
    ]
    assert not offenders


def test_the_layering_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from bp_autodiff.cli import main\nimport bp_manual.network\n", encoding="utf-8")
    assert {"bp_autodiff.cli", "bp_autodiff.cli.main", "bp_manual.network"} <= _imports(bad)


def _private_uses(path: Path) -> list[str]:
    """``from m import _x`` and ``m._x`` (``m`` a project module this file imports) in ``path``: another module's
    private name. Dunder names (``__version__``) are not private."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()  # local names bound to project modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("bp_")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bp_"):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"from {node.module} import {a.name}")
                modules.add(a.asname or a.name)  # may be a module (from bp_manual import train)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        if node.value.id in modules and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_name(tmp_path: Path) -> None:
    """A name with a leading underscore is its module's own; a second module that needs it gets a public one."""
    uses = {str(p.relative_to(SRC)): _private_uses(p) for p in sorted(SRC.rglob("*.py"))}
    assert not {path: found for path, found in uses.items() if found}
    bad = tmp_path / "m.py"
    bad.write_text("from bp_manual import train\nfrom bp_manual.train import _x\ntrain._y()\n", encoding="utf-8")
    assert _private_uses(bad) == ["from bp_manual.train import _x", "train._y"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_describes_itself_in_its_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``bp COMMAND --help`` has a description paragraph between the usage and the options."""
    from bp_autodiff import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    paragraphs = capsys.readouterr().out.split("\n\n")
    assert paragraphs[0].startswith(f"usage: bp {command}")
    assert not paragraphs[1].startswith(("options:", "positional arguments:")), paragraphs[1]
