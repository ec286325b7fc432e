"""The docs' links lead somewhere real: every ``[`code`](path#Ln)`` link in
``docs/*.md`` points at a line that exists and still holds that code, so when
code moves the link fails here instead of rotting silently; and the
derivation links every equation in ``REQUIRED``.

A failure names the file, the line the link points at, what that line now
holds, and where the code is now (so the fix is to edit the line number).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = sorted(DOCS.rglob("*.md"))

#: ``[`code`](relative/path#L12)``: a link to one line, whose text is the code on it.
LINE_LINK = re.compile(r"\[`(?P<code>[^`]+)`\]\((?P<path>[^)#\s]+)#L(?P<line>\d+)\)")
#: any relative link ``[text](path)`` or ``[text](path#anchor)``
ANY_LINK = re.compile(r"\[[^\]]*\]\((?P<path>(?!https?:|mailto:|#)[^)#\s]+)(?:#(?P<anchor>[^)\s]+))?\)")

#: What docs/derivation.md must link to: each equation's implementation, and the tests that check them.
REQUIRED: list[tuple[str, str]] = [
    # forward pass and loss
    ("src/bp_manual/network.py", "Z = A_prev @ W.T"),
    ("src/bp_manual/network.py", "return Z if b is None else Z + b"),
    ("src/bp_manual/network.py", "A_next = output(Z) if l == spec.n_layers else hidden(Z)"),
    ("src/bp_manual/losses.py", "return 0.5 * (E * E).sum(axis=(-2, -1)) / Z.shape[-2]"),
    ("src/bp_manual/losses.py", "return -(Y * log_softmax(Z)).sum(axis=(-2, -1)) / Z.shape[-2]"),
    ("src/bp_manual/losses.py", "terms = Y * softplus(-Z) + (1.0 - Y) * softplus(Z)"),
    # output delta, recursion, derivatives, gradients
    ("src/bp_manual/losses.py", "return (Y_hat - Y) / Y_hat.shape[0]"),
    ("src/bp_manual/network.py", "delta = LOSSES[spec.loss].delta(Y_hat, Y)"),
    ("src/bp_manual/network.py", "return (delta @ W) * f_prime"),
    ("src/bp_manual/activations.py", "return A * (1.0 - A)"),
    ("src/bp_manual/activations.py", "return 1.0 - A * A"),
    ("src/bp_manual/activations.py", "return (Z > 0).astype(Z.dtype)"),
    ("src/bp_manual/network.py", 'einsum("i,j->ij", delta[0], A_prev[0]) if one else delta.T @ A_prev'),
    ("src/bp_manual/network.py", 'return {"W": dW, "b": delta.sum(axis=0)} if bias else {"W": dW}'),
    # update and ordering
    ("src/bp_manual/optim.py", "step = np.multiply(g[key], lr, out=g[key] if reuse_grads else None)"),
    ("src/bp_manual/optim.py", "layer[key] = np.subtract(p[key], step, out=step)"),
    ("src/bp_manual/train.py", "loss, grads, _ = loss_grads_and_deltas_prepared(spec, params, X, Y)"),
    ("src/bp_manual/train.py", "return loss, sgd_update_prepared(params, grads, lr, reuse_grads=True)"),
    # the seed's errors, published and corrected
    ("src/bp_manual/seed_published.py", "self.w_hid2out += out_error * hid_outs.T * self.lr"),
    ("src/bp_manual/seed_published.py", "self.w_in2hid += (inputs * hid_error * self.lr).T"),
    ("src/bp_manual/seed_published.py", "out_ints = np.dot(self.w_in2hid, hid_outs)"),
    ("src/bp_manual/seed_published.py", "rng.normal(0.0, self.hidden_nodes**-0.5"),
    ("src/bp_manual/bpnetwork.py", "return self._mlp.predict(X).T"),
    ("src/bp_manual/initializers.py", 'variance_scaling(1.0, "fan_out", "normal"),'),
    ("src/bp_manual/initializers.py", 'variance_scaling(1.0, "fan_avg", "normal"),'),
    # the witness's twin of each equation (the mirror table)
    ("src/bp_autodiff/witness/network.py", "Z = jnp.matmul(A_prev, W.T)"),
    ("src/bp_autodiff/witness/network.py", "A = f(Z)"),
    ("src/bp_autodiff/witness/network.py", "Z = Z + probes[l - 1]"),
    ("src/bp_autodiff/witness/activations.py", '"sigmoid": jax.nn.sigmoid,'),
    ("src/bp_autodiff/witness/activations.py", '"tanh": jnp.tanh,'),
    ("src/bp_autodiff/witness/activations.py", '"relu": jax.nn.relu,'),
    ("src/bp_autodiff/witness/losses.py", "terms, scale = jnp.square(Z - Y), 2"),
    ("src/bp_autodiff/witness/losses.py", "terms, scale = Y * jax.nn.log_softmax(Z, axis=-1, where=cols), -1"),
    ("src/bp_autodiff/witness/grads.py", "return jax.value_and_grad(network.loss, argnums=1)(spec, params, X, Y)"),
    ("src/bp_autodiff/witness/optim.py", "lambda p, g: p - lr * g"),
    # the tests that check them
    ("tests/test_gradients_vs_jax.py", "def test_manual_gradients_equal_jax"),
    ("tests/test_finite_differences.py", "def test_manual_gradients_equal_central_differences"),
    ("tests/test_training.py", "def test_all_gradients_are_computed_before_any_weight_changes"),
    ("tests/test_training.py", "def test_sgd_step_is_pure_and_exact"),
    ("tests/test_bpnetwork.py", "def test_corrected_train_descends_where_the_published_one_climbs"),
    ("tests/test_bpnetwork.py", "def test_run_works_for_784_32_64_and_the_published_run_does_not"),
    ("tests/test_initializers.py", "def test_sample_variance_and_distribution_match_formula"),
    ("tests/test_explain.py", "def test_every_printed_shape_is_the_computed_shape"),
    ("tests/test_kernels_vs_jax.py", "def test_activation_and_its_derivative_equal_jax"),
    ("tests/test_kernels_vs_jax.py", "def test_output_loss_and_delta_equal_jax"),
    ("tests/test_gradients_vs_jax.py", "def test_sgd_step_equals_jax"),
    ("tests/test_witness.py", "def test_jax_forward_equals_manual_predict"),
]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_line_link_points_at_its_code(doc: Path) -> None:
    problems = []
    for m in LINE_LINK.finditer(doc.read_text(encoding="utf-8")):
        target = (doc.parent / m["path"]).resolve()
        where = f"{doc.name}: [{m['code']}]({m['path']}#L{m['line']})"
        if not target.is_file():
            problems.append(f"{where}: no such file")
            continue
        lines, n = _lines(target), int(m["line"])
        if not 1 <= n <= len(lines):
            problems.append(f"{where}: the file has {len(lines)} lines")
        elif m["code"] not in lines[n - 1]:
            now = [i + 1 for i, line in enumerate(lines) if m["code"] in line]
            problems.append(f"{where}: line {n} is {lines[n - 1].strip()!r}; the code is now at lines {now}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_relative_link_resolves(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    problems = []
    for m in ANY_LINK.finditer(text):
        target = (doc.parent / m["path"]).resolve()
        if not target.exists():
            problems.append(f"{doc.name}: {m.group(0)}: no such file")
        elif m["anchor"] and not m["anchor"].startswith("L") and target.suffix == ".md":
            slugs = {_slug(line.lstrip("#")) for line in _lines(target) if line.startswith("#")}
            if m["anchor"] not in slugs:
                problems.append(f"{doc.name}: {m.group(0)}: no heading with anchor #{m['anchor']}")
        elif m["anchor"] and m["anchor"].startswith("L") and not LINE_LINK.fullmatch(m.group(0)):
            problems.append(f"{doc.name}: {m.group(0)}: a line link must name its code as [`code`](path#Ln)")
    assert not problems, "\n".join(problems)


def test_the_derivation_links_every_equation_and_its_test() -> None:
    doc = DOCS / "derivation.md"
    linked = [
        ((doc.parent / m["path"]).resolve(), int(m["line"]))
        for m in LINE_LINK.finditer(doc.read_text(encoding="utf-8"))
    ]
    missing = []
    for path, code in REQUIRED:
        target = (ROOT / path).resolve()
        lines = _lines(target)
        if not any(p == target and code in lines[n - 1] for p, n in linked if n <= len(lines)):
            missing.append(f"{path}: {code!r}")
    assert not missing, "docs/derivation.md does not link:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(DOCS)))
def test_maths_delimiters_are_balanced(doc: Path) -> None:
    """For a forge's ``$...$`` renderer: outside code, ``$$`` and ``$`` come in
    pairs in each paragraph, and inline ``$`` never spans lines."""
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    for paragraph in re.split(r"\n\s*\n", text):
        prose = re.sub(r"`[^`]*`", "", paragraph)
        assert prose.count("$$") % 2 == 0, f"{doc.name}: unbalanced $$ in:\n{paragraph}"
        for line in re.sub(r"\$\$.*?\$\$", "", prose, flags=re.DOTALL).splitlines():
            assert line.count("$") % 2 == 0, f"{doc.name}: unbalanced $ in: {line}"


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    """A link whose line no longer holds its code is reported, with where the code went."""
    (tmp_path / "code.py").write_text("a = 1\nb = 2\n")
    doc = tmp_path / "doc.md"
    doc.write_text("[`b = 2`](code.py#L1) and [`a = 1`](code.py#L1)\n")
    with pytest.raises(AssertionError, match=r"line 1 is 'a = 1'; the code is now at lines \[2\]"):
        test_every_line_link_points_at_its_code(doc)
