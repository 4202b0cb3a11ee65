"""The prose comes from the build: no hand-typed result numbers, and every check says what FULL expects.

1. Markdown cells of the chapters may not contain typed *result-like* numbers: decimals (2.19, .5),
   percentages (90 %), numbers with thousands separators (20,762) or in scientific notation (1e-4, 10⁻⁴).
   Result numbers are inserted with ``{glue:text}`` from the computation. Numbers that are not results --
   a paper's quoted value, a setting such as σ_b/b = 0.1, a constant such as Punzi's b = 1.28 -- are listed
   in the notebook's metadata ``hepsig.typed_numbers`` as ``{"1.28": "reason"}``; each entry needs a reason
   and must still occur in the text (no stale entries).
2. Every ``check_close`` / ``check_between`` / ``check_true`` call in a chapter's code states its FULL-mode
   expectation with ``full=`` (see ``hepsig_tutorial.checks``).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_STRIP = [
    r"\{glue(?::\w+)?\}`[^`]*`",          # glued values
    r"\{(?:cite|cite:p|cite:t|ref|eq|numref|doc|term|download)\}`[^`]*`",
    r"```.*?```",                          # fenced blocks (directives, code)
    r"`[^`]*`",                            # inline code
    r"<!--.*?-->",                         # comments
    r"\]\([^)]*\)",                        # link targets
    r"https?://\S+",
    r"\*\*FAST run time:\*\*[^·\n]*",      # generated from measurement (tests/test_run_times.py)
    r"^\(sec-[^)]*\)=\s*$",                # labels
    r"^#+\s*\d+(?:\.\d+)*\.?",              # section numbers in headings
    r"arXiv:\s*\d{4}\.\d{4,5}(v\d)?",      # identifiers
    r"\b(?:doi|DOI):?\s*\S+",
    r"\b(?:Eqs?|Sec|Secs|Table|Fig|Figs|Algorithm|Alg|Chapter|Ch|Section)\.?\s*\(?\d+(?:\.\d+)*\)?",
    r"\b\d+(?:\.\d+)+\s*[–-]\s*\d+(?:\.\d+)+\b(?=\s*(?:of|in)\s+(?:the\s+)?paper)",
]
_NUMBER = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)"
    r"|\d+(?:\.\d+)?\s?%|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+|10\^\{?-?\d+\}?)(?![\w])"
)


def _markdown(nb):
    return [("".join(c["source"]), i) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def typed_numbers(text: str) -> list[str]:
    """Result-like numbers left in a markdown text after removing glue, roles, code, links and labels."""
    for pattern in _STRIP:
        text = re.sub(pattern, " ", text, flags=re.S | re.M)
    return [m.group(0).replace(" ", "") for m in _NUMBER.finditer(text)]


def test_the_number_finder_sees_what_it_should():
    assert typed_numbers("Z = 2.19 and 90 % and 20,762 and 1e-4 and 10⁻⁴") == ["2.19", "90%", "20,762", "1e-4", "10⁻⁴"]
    assert typed_numbers("{glue:text}`z_a:.2f` in Eq. (9), Sec. 4.2, Chapter 3, `x = 0.5`, arXiv:1806.00322") == []
    assert typed_numbers("a = 3 sigma, 23 masses, ($a$ = 5)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_hand_typed_result_numbers_in_the_prose(path):
    nb = json.loads(path.read_text())
    allowed = nb.get("metadata", {}).get("hepsig", {}).get("typed_numbers", {})
    assert all(isinstance(v, str) and v.strip() for v in allowed.values()), \
        f"{path.name}: every hepsig.typed_numbers entry needs a reason"
    found, everything = [], []
    for text, i in _markdown(nb):
        nums = typed_numbers(text)
        everything += nums
        found += [(i, x) for x in nums if x not in allowed]
    assert not found, (f"{path.name}: typed numbers in the prose (glue them, or list them with a reason in "
                       f"metadata hepsig.typed_numbers): {found[:40]}{' …' if len(found) > 40 else ''}")
    stale = sorted(set(allowed) - set(everything))
    assert not stale, f"{path.name}: hepsig.typed_numbers lists numbers the text no longer has: {stale}"


def _check_calls(source: str):
    # magics/shell lines become `pass` (same indentation), so an `if` whose body is a magic still parses
    lines = [ln[:len(ln) - len(ln.lstrip())] + "pass" if ln.lstrip().startswith(("%", "!")) else ln
             for ln in source.splitlines()]
    tree = ast.parse("\n".join(lines))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("check_close", "check_between", "check_true"):
                yield node, {k.arg for k in node.keywords}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_states_its_full_mode_expectation(path):
    nb = json.loads(path.read_text())
    missing = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for node, keywords in _check_calls("".join(cell["source"])):
            if "full" not in keywords:
                arg = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
                missing.append((i, arg))
    assert not missing, (f"{path.name}: checks without full= (say 'same', 'skip' or the FULL expectation): "
                         f"{missing[:30]}{' …' if len(missing) > 30 else ''}")
