"""Device hygiene (issue 17): a static scan for device hazards, HEPSIG_DEVICE, and the same numbers on every device.

(a) **Static scan** of ``hepsig_tutorial/**/*.py`` and of the code cells of ``notebooks/*.ipynb``
(parsed with :mod:`ast`, one test per file). Two heuristics, decided on the source alone:

* ``numpy-without-cpu``: ``X.numpy()`` where the chain X has no ``.cpu()`` / ``.to("cpu")``, and
  either X contains ``.detach()`` or X is *model-derived*: its root name looks like a model
  (``model``, ``net``, ``network``, ``module``, ``layer``, ``clf``, ``*_model``, ``*_net``) and is called,
  indexed or has an attribute taken (``model(x)``, ``model[0].weight``), or the chain takes
  ``.weight``/``.bias``/``.grad`` or calls ``.parameters()``/``.state_dict()``/``.forward()``, or X's
  root is a name assigned from such an expression earlier in the same function (cell).
  Not flagged: names created on the CPU in the same function (``torch.tensor(...)`` without
  ``device=``, ``.cpu()``) and calls that derive only from them; ``np.asarray(t)``; a line with
  ``# device-ok``.
* ``tensor-without-device``: ``torch.tensor/zeros/ones/arange/as_tensor/full/empty/linspace/rand/
  randn/randint/eye`` without ``device=`` inside a function that takes a model output (a parameter
  named ``output(s)``, ``y_pred``, ``pred(s)``, ``prediction(s)``, ``scores``, ``logits``, ``model``,
  ``net``, ``network``; not ``__init__``) **and** that meets it: the new tensor, or the name it is
  assigned to, appears in one operation (call, arithmetic, comparison) with such a parameter or a
  name derived from it (without ``.cpu()``). Not flagged: ``torch.tensor(<literal>)`` (CPU scalars mix
  with CUDA tensors), a tensor moved right away (``.to(...)``/``.cuda()``) or assigned to a name the
  function later moves, and ``# device-ok`` lines.

Both are heuristics: they catch the patterns that broke Chapter 6 and ``naive_lovasz_z_loss`` on CUDA,
not every possible hazard (a tensor passed through a helper function or a container is not followed).
The known Chapter 6 bug (``model[0].weight.detach().numpy()`` in notebooks/06-lovasz-z-loss.ipynb) is
found; its per-file test fails until the notebook is fixed (issue 17).

(b) ``gpu``-marked tests run the package's losses and statistics on every available device and compare
with the CPU (TF32 off, ``ht.config.configure_device``); they are skipped without a CUDA GPU
(``make test-gpu`` runs them). The ``HEPSIG_DEVICE`` tests run everywhere.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import hepsig_tutorial as ht
from hepsig_tutorial import config

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------------
# (a) the static scanner
# ------------------------------------------------------------------------------------------------
CREATORS = {"tensor", "zeros", "ones", "arange", "as_tensor", "full", "empty", "linspace", "rand", "randn",
            "randint", "eye"}
OUTPUT_PARAMS = {"output", "outputs", "y_pred", "pred", "preds", "prediction", "predictions", "scores", "logits",
                 "model", "net", "network"}
MODELISH = re.compile(r"^(model|net|network|module|layer|clf|classifier)s?(_\w*)?$|_(model|net)s?$", re.I)
PARAM_ATTRS = {"weight", "bias", "grad"}
PARAM_CALLS = {"parameters", "named_parameters", "state_dict", "forward"}


def _chain(node):
    out = []
    while True:
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                out.append(("call", f.attr, node))
                node = f.value
                continue
            if isinstance(f, ast.Name):
                out.append(("callname", f.id, node))
                break
            node = f
            continue
        if isinstance(node, ast.Attribute):
            out.append(("attr", node.attr, node))
            node = node.value
            continue
        if isinstance(node, ast.Subscript):
            out.append(("sub", None, node))
            node = node.value
            continue
        if isinstance(node, ast.Name):
            out.append(("name", node.id, node))
            break
        out.append(("other", None, node))
        break
    return out[::-1]


def _on_cpu(ch):
    for kind, name, node in ch:
        if kind == "call" and name == "cpu":
            return True
        if kind == "call" and name == "to" and any(
                isinstance(a, ast.Constant) and a.value == "cpu" for a in list(node.args) +
                [k.value for k in node.keywords]):
            return True
    return False


class _Scope:
    def __init__(self, parent=None):
        self.tainted = set() if parent is None else set(parent.tainted)
        self.cpu = set() if parent is None else set(parent.cpu)
        self.follow = set()        # names holding model outputs (output parameters and what derives from them)


def _creates_on_cpu(expr):
    """torch.<creator>(...) without device= (or device="cpu"), or anything ending in .cpu()."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        f = expr.func
        if isinstance(f.value, ast.Name) and f.value.id == "torch" and f.attr in CREATORS:
            dev = [k.value for k in expr.keywords if k.arg == "device"]
            return not dev or (isinstance(dev[0], ast.Constant) and dev[0].value == "cpu")
    return _on_cpu(_chain(expr))


def _derived_from_cpu(expr, scope):
    """A call whose tensor arguments include a CPU-known name and no tainted one."""
    if not isinstance(expr, ast.Call):
        return False
    names = [a.id for a in list(expr.args) + [k.value for k in expr.keywords] for a in ast.walk(a)
             if isinstance(a, ast.Name)]
    return any(n in scope.cpu for n in names) and not any(n in scope.tainted for n in names)


def _tainted(expr, scope):
    ch = _chain(expr)
    if not ch:
        return False
    root_kind, root, root_node = ch[0]
    if root_kind == "callname" and root in ("next", "iter", "list", "tuple") and \
            any(_tainted(a, scope) for a in root_node.args):
        return True
    if root_kind in ("name", "callname") and (root in scope.tainted or (MODELISH.search(root) and len(ch) > 1)
                                              or (root_kind == "callname" and MODELISH.search(root))):
        return True
    return any((k == "attr" and n in PARAM_ATTRS) or (k == "call" and n in PARAM_CALLS) for k, n, _ in ch)


def scan_source(src, name, scope=None):
    """Findings (name, line, rule, source line) of the device-hazard heuristics in one source text.

    ``scope`` carries what is known about module-level names from earlier notebook cells (they share
    one namespace); a fresh one is used when omitted.
    """
    tree = ast.parse(src)
    lines = src.splitlines()
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    found = []

    def ok_line(node):
        return "device-ok" in lines[node.lineno - 1]

    def visit(body_nodes, scope, takes_output):
        moved_names = set()
        meet_nodes = [n for stmt in body_nodes for n in _walk_no_defs(stmt)
                      if isinstance(n, (ast.BinOp, ast.Compare, ast.Call))]
        for stmt in body_nodes:
            for node in _walk_no_defs(stmt):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in ("to", "cuda"):
                    ch = _chain(node.func.value)
                    if ch and ch[0][0] == "name":
                        moved_names.add(ch[0][1])
        for stmt in body_nodes:
            for node in _walk_no_defs(stmt):
                if isinstance(node, ast.Assign):
                    targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                    refs = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
                    if _tainted(node.value, scope):
                        scope.tainted.update(targets)
                    elif refs & scope.follow and not _on_cpu(_chain(node.value)):
                        scope.follow.update(targets)
                    elif _creates_on_cpu(node.value) or _derived_from_cpu(node.value, scope):
                        scope.cpu.update(targets)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    f = node.func
                    if f.attr == "numpy" and not node.args and not ok_line(node):
                        ch = _chain(f.value)
                        cpu_root = ch and ((ch[0][0] == "name" and ch[0][1] in scope.cpu)
                                           or (ch[0][0] == "callname" and _derived_from_cpu(ch[0][2], scope)))
                        if not _on_cpu(ch) and not cpu_root and (any(k == "call" and n == "detach" for k, n, _ in ch)
                                                or _tainted(f.value, scope)):
                            found.append((name, node.lineno, "numpy-without-cpu", lines[node.lineno - 1].strip()))
                    if (takes_output and isinstance(f.value, ast.Name) and f.value.id == "torch"
                            and f.attr in CREATORS and not any(k.arg == "device" for k in node.keywords)
                            and not ok_line(node)):
                        par = parents.get(node)
                        moved = isinstance(par, ast.Attribute) and par.attr in ("to", "cuda", "type_as")
                        # ... or assigned to a name that this function later moves with .to()/.cuda()
                        if isinstance(par, ast.Assign):
                            moved = moved or any(isinstance(t, ast.Name) and t.id in moved_names
                                                 for t in par.targets)
                        scalar = (len(node.args) == 1 and isinstance(node.args[0], (ast.Constant, ast.UnaryOp))
                                  and f.attr in ("tensor", "as_tensor"))
                        if not moved and not scalar and _meets_outputs(node, par, scope, meet_nodes):
                            found.append((name, node.lineno, "tensor-without-device",
                                          lines[node.lineno - 1].strip()))
            for node in _walk_defs(stmt):
                args = node.args
                names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
                inner = _Scope(scope)
                inner.follow = names & OUTPUT_PARAMS
                # __init__ builds a module on the CPU before anyone moves it: not a meeting with outputs
                visit(node.body, inner, bool(inner.follow) and node.name != "__init__")

    visit(tree.body, _Scope() if scope is None else scope, False)
    return sorted(set(found), key=lambda f: f[1])


def _meets_outputs(creation, parent, scope, meet_nodes):
    """Does the new tensor (or the name it is assigned to) appear in one operation with a model output?"""
    outputs = scope.follow | scope.tainted
    if isinstance(parent, ast.Assign):
        mine = {t.id for t in parent.targets if isinstance(t, ast.Name)}
    else:
        mine = set()
    for op in meet_nodes:
        sub = list(ast.walk(op))
        names = {n.id for n in sub if isinstance(n, ast.Name)}
        if (creation in sub or names & mine) and names & outputs:
            return True
    return False


def _walk_no_defs(node):
    """ast.walk that does not enter nested function definitions (they get their own scope)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and n is not node:
            continue
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield n
        todo.extend(ast.iter_child_nodes(n))


def _walk_defs(node):
    """The function definitions directly inside ``node`` (not inside other functions)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield n
            continue
        todo.extend(ast.iter_child_nodes(n))


def notebook_cells(path):
    """(label, source) of every code cell; IPython magics and shell lines become ``pass``."""
    nb = json.loads(Path(path).read_text())
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [(l[:len(l) - len(l.lstrip())] + "pass") if l.lstrip().startswith(("%", "!")) else l
                 for l in src.splitlines()]
        out.append((f"{Path(path).name} cell {i}", "\n".join(lines)))
    return out


PACKAGE_FILES = sorted((ROOT / "hepsig_tutorial").rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _report(findings):
    return "device hazards:\n" + "\n".join(f"  {n}, line {line}: {rule}: {text}" for n, line, rule, text in findings)


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_file_has_no_device_hazard(path):
    findings = scan_source(path.read_text(), str(path.relative_to(ROOT)))
    assert not findings, _report(findings)


def scan_notebook(path):
    scope = _Scope()                                   # the cells share one namespace
    return [f for label, src in notebook_cells(path) for f in scan_source(src, label, scope)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_device_hazard(path):
    findings = scan_notebook(path)
    assert not findings, _report(findings)


def _rules(src):
    return [f[2] for f in scan_source(src, "snippet")]


@pytest.mark.parametrize("src", [
    "a = model[0].weight.detach().numpy()",                               # the Chapter 6 bug
    "out = model(x)\nv = out.numpy()",
    "p = next(net.parameters()).numpy()",
    "def f(output):\n    return output.detach().numpy()",
    "g = layer.bias.grad.numpy()",
    "def f(scores, y):\n    F = scores.detach()\n    return g(F, torch.as_tensor(y))",  # the naive Lovász bug
    "def loss(output, batch):\n    w = torch.ones(len(output))\n    return (w * output).sum()",
    "def loss(y_pred, b):\n    return y_pred * torch.arange(3)",
])
def test_scanner_flags_hazards(src):
    assert _rules(src), src


@pytest.mark.parametrize("src", [
    "a = model[0].weight.detach().cpu().numpy()",
    "a = model[0].weight.detach().to('cpu').numpy()",
    "a = np.asarray(model(x).detach().cpu())",
    "a = model[0].weight.detach().numpy()  # device-ok: the model lives on the CPU here",
    "t = torch.tensor(s)\nt.sum().backward()\ng = t.grad.numpy()\nz = f(t).detach().numpy()",
    "x = np.zeros(3).numpy() if False else 0",
    "def f(output):\n    return output * torch.tensor(2.0)",                 # CPU scalar: fine with CUDA
    "def f(output):\n    w = torch.ones(3, device=output.device)\n    return w * output",
    "def f(output):\n    w = torch.ones(3).to(output.device)\n    return w * output",
    "def f(model, x):\n    x = torch.as_tensor(x)\n    return model(x.to(dev))",
    "def f(scores):\n    t = torch.tensor([1.0])\n    return t * 2",                   # never meets the output
    "class M:\n    def __init__(self, output):\n        self.w = torch.eye(3)",
])
def test_scanner_allows_safe_code(src):
    assert not _rules(src), src


def test_scanner_reads_notebook_cells_with_magics(tmp_path):
    nb = {"cells": [
        {"cell_type": "code",
         "source": ["import sys\n", "if 'google.colab' in sys.modules:\n", "    %pip install x\n"]},
        {"cell_type": "markdown", "source": "model.numpy()"},
        {"cell_type": "code", "source": "w = model[0].weight.detach().numpy()"},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert [(f[0], f[2]) for f in scan_notebook(path)] == [("nb.ipynb cell 2", "numpy-without-cpu")]


def test_notebook_cells_share_what_is_known():
    """A tensor created on the CPU in one cell may be .detach().numpy()'d in a later one."""
    cells = ["p = torch.ones(3, requires_grad=True)\nv = f(p, y)", "a = v.detach().numpy()",
             "out = model(x)", "b = out.detach().numpy()"]
    scope = _Scope()
    found = [f for i, src in enumerate(cells) for f in scan_source(src, f"cell {i}", scope)]
    assert [f[0] for f in found] == ["cell 3"]


# ------------------------------------------------------------------------------------------------
# HEPSIG_DEVICE and TF32
# ------------------------------------------------------------------------------------------------
def test_device_variable(monkeypatch):
    monkeypatch.setenv("HEPSIG_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    monkeypatch.setenv("HEPSIG_DEVICE", " AUTO ")
    assert config.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.delenv("HEPSIG_DEVICE")
    assert config.device_setting() == "auto"
    monkeypatch.setenv("HEPSIG_DEVICE", "tpu")
    with pytest.raises(ValueError, match="HEPSIG_DEVICE"):
        config.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HEPSIG_DEVICE", "cuda")
    with pytest.raises(ValueError, match="HEPSIG_DEVICE=cuda"):
        config.device()
    with pytest.raises(ValueError, match="HEPSIG_DEVICE"):
        ht.setup(0)


def test_setup_stamp_shows_device_and_variable(monkeypatch, capsys):
    monkeypatch.setenv("HEPSIG_DEVICE", "cpu")
    monkeypatch.setenv("HEPSIG_THREADS", str(torch.get_num_threads()))
    ht.setup(0)
    out = capsys.readouterr().out
    assert "device: cpu" in out and "HEPSIG_DEVICE=cpu" in out


def test_configure_device_switches_tf32_off_on_cuda(monkeypatch):
    monkeypatch.setenv("HEPSIG_DEVICE", "cpu")
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    assert config.configure_device() == torch.device("cpu")
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before  # CPU: untouched
    if torch.cuda.is_available():
        monkeypatch.setenv("HEPSIG_DEVICE", "cuda")
        torch.backends.cudnn.allow_tf32 = True
        assert config.configure_device().type == "cuda"
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


# ------------------------------------------------------------------------------------------------
# batching.accumulated_backward: the data go to the device once
# ------------------------------------------------------------------------------------------------
def test_fit_with_micro_batches_uploads_once():
    from hepsig_tutorial import batching

    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.3).astype(np.float32)
    data = {"x": rng.normal(size=(n, 2)).astype(np.float32) + y[:, None], "y": y,
            "w": np.where(y > 0, 1 / 120, 0.5).astype(np.float32), "membership": rng.random((n, 2)) < 0.6}
    seen = []

    def sums_fn(output, batch):
        seen.append(batch["x"].untyped_storage().data_ptr())
        return batching.punzi_sums(output, batch)

    torch.manual_seed(0)
    model = ht.models.mlp(2, (3,), "tanh")
    hist = ht.train.fit(model, batching.SumsLoss(sums_fn, lambda t: batching.punzi_loss_from_sums(t, 50.0)), data,
                        epochs=3, micro_batch_size=100, lr=1e-2, device="cpu")
    assert len(seen) == 3 * 2 * 4 and len(set(seen)) == 1              # one storage for every step
    assert np.isfinite(hist["loss"]).all()
    # tensors already on the device are used as they are (no copy) by accumulated_backward itself
    t = ht.train.as_tensors(data, "cpu", keep_dtype=True)
    seen.clear()
    batching.accumulated_backward(model, t, sums_fn, lambda s: batching.punzi_loss_from_sums(s, 50.0), 200)
    assert set(seen) == {t["x"].untyped_storage().data_ptr()}


# ------------------------------------------------------------------------------------------------
# (b) the same numbers on every device (skipped without a CUDA GPU)
# ------------------------------------------------------------------------------------------------
DEVICES = ["cuda"] if torch.cuda.is_available() else []
gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (make test-gpu)")


def _value_and_grad(fn, x, device):
    xx = x.detach().to(device).requires_grad_(True)
    v = fn(xx, device)
    (g,) = torch.autograd.grad(v.sum(), xx)
    return v.detach().cpu(), g.cpu()


def _loss_cases():
    from hepsig_tutorial.losses import MassWindows, asimov_loss, lovasz_z_loss, punzi_loss, s_over_sqrt_s_plus_b_loss

    rng = np.random.default_rng(0)
    n, k = 3000, 5
    y = (rng.random(n) < 0.3).astype(np.float64)
    w = np.where(y > 0, 1 / 900, 0.05 + rng.random(n))
    m2 = rng.uniform(0, 10, n)
    windows = np.stack([np.arange(k) * 1.8, np.arange(k) * 1.8 + 2.4], 1)
    mass_index = np.where(y > 0, rng.integers(0, k, n), -1)
    mw = MassWindows(windows)
    cells = mw.cells(m2, y, mass_index)
    M = mw.membership(cells)

    def t(a, device, dtype=torch.float64):
        return torch.as_tensor(a, dtype=dtype, device=device)

    yields = {"expected_signal": 30.0, "expected_background": 900.0}

    cases = {
        "punzi-dense": lambda p, d: punzi_loss(torch.sigmoid(p), t(y, d), t(w, d), membership=t(M, d),
                                               luminosity=50.0, fraction=0.5, reduction="none"),
        "punzi-compact": lambda p, d: punzi_loss(torch.sigmoid(p), t(y, d), t(w, d), windows=mw,
                                                 cells=torch.as_tensor(cells, device=d), luminosity=50.0,
                                                 fraction=0.5, reduction="none"),
        "s/sqrt(s+b)": lambda p, d: s_over_sqrt_s_plus_b_loss(torch.sigmoid(p), t(y, d), t(w, d), **yields),
        "asimov": lambda p, d: asimov_loss(torch.sigmoid(p), t(y, d), t(w, d), sigma_b_rel=0.1, **yields),
        "stats.punzi_sensitivity": lambda p, d: ht.stats.punzi_sensitivity(torch.sigmoid(p[:10]), p[10:20] ** 2),
        "stats.asimov_significance": lambda p, d: ht.stats.asimov_significance(p[:10] ** 2 + 1, p[10:20] ** 2 + 2,
                                                                               0.1 * (p[10:20] ** 2 + 2)),
    }
    for error in ("hinge", "sigmoid", "cross_entropy", "focal"):
        cases[f"lovasz-{error}"] = (lambda e: lambda p, d: lovasz_z_loss(p, t(y, d), t(w, d), error=e))(error)
    return cases, torch.as_tensor(rng.normal(size=n) + y)


@gpu
@needs_cuda
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_losses_and_stats_agree_with_cpu(device, dtype, monkeypatch):
    monkeypatch.setenv("HEPSIG_DEVICE", device)
    config.configure_device()                                          # TF32 off
    cases, x = _loss_cases()
    x = x.to(dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-6)
    for name, fn in cases.items():
        v_cpu, g_cpu = _value_and_grad(fn, x, "cpu")
        v_dev, g_dev = _value_and_grad(fn, x, device)
        torch.testing.assert_close(v_dev, v_cpu, **tol, msg=lambda m: f"{name} value: {m}")
        scale = float(g_cpu.abs().max()) or 1.0
        torch.testing.assert_close(g_dev, g_cpu, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   msg=lambda m: f"{name} gradient: {m}")


@gpu
@needs_cuda
@pytest.mark.parametrize("device", DEVICES)
def test_lovasz_reference_and_training_on_device(device):
    from hepsig_tutorial.losses import lovasz_z_loss, make_punzi_loss, naive_lovasz_z_loss, toy_cells

    rng = np.random.default_rng(1)
    y = (rng.random(40) < 0.5).astype(float)
    y[0] = 1.0
    w = rng.uniform(0.1, 3.0, 40)
    F = torch.as_tensor(rng.normal(size=40), device=device)
    assert naive_lovasz_z_loss(F, y, w) == pytest.approx(float(lovasz_z_loss(F.cpu(), y, w)), rel=1e-10)
    # a short Punzi training (compact form) on the device and on the CPU: the same loss curve
    toy = ht.data.make_belle_toy(masses=[1.0, 2.0, 3.0], n_signal_per_mass=200, n_background=2000, seed=0)
    mw, cells = toy_cells(toy)
    keep = mw.counts(cells)
    x = toy.x[keep].astype(np.float32)
    data = {"x": (x - x.mean(0)) / x.std(0), "y": toy.y[keep], "w": toy.w[keep], "cell": cells[keep]}
    curves = []
    for dev in ("cpu", device):
        torch.manual_seed(0)
        model = ht.models.mlp(x.shape[1], (4,), "tanh")
        fn = make_punzi_loss(luminosity=toy.luminosity, windows=mw, data=data)
        curves.append(ht.train.fit(model, fn, data, epochs=3, batch_size=500, lr=1e-2, device=dev)["loss"])
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4)
