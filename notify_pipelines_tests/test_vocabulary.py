"""The domain's words are written once, in core/vocabulary.py: everywhere else uses its names.

A notification type, status or key type spelled out as a string elsewhere in the package is a second source of truth
(a typo in one is a silent bug: `== "technical_failure"` is just never true). Two checks over every module but the
vocabulary and the frozen migrations:
- a string literal that is exactly a domain word (comparisons, `.in_(...)` lists, dict keys, defaults, Literal[...]);
- a domain word quoted in SQL text (`= 'sms'`, `IN ('sending', ...)`, `WHEN 'letter'`, `ARRAY['normal', ...]`):
  hand-written SQL interpolates the vocabulary's names instead (`= '{SMS}'`).
Prose (messages, docstrings) may name a status: "still in 'created'" is not SQL and not a comparison.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import notify_pipelines
from notify_pipelines.core import vocabulary

PACKAGE = Path(notify_pipelines.__file__).parent
DOMAIN_WORDS = frozenset(
    vocabulary.NOTIFICATION_TYPES + vocabulary.NOTIFICATION_STATUSES + vocabulary.API_STATUS_FILTERS
    + vocabulary.KEY_TYPES
)
# (module, word): where the word is plain English, not the domain's word.
ALLOWED = {
    ("monitoring/jobs.py", "sent"): "a metadata label of the SMS sending run's counts",
    ("monitoring/jobs.py", "failed"): "a metadata label of the SMS sending run's counts",
    ("monitoring/alerts.py", "failed"): "the verb of an alert's title ('failed' / 'recovered')",
    ("orchestration/night.py", "failed"): "how a slot's night went (its runs' outcome), not a notification status",
    ("monitoring/missed_nights.py", "failed"): "how a slot's night went (orchestration/night.py's NightState)",
}
_WORD = "|".join(sorted(map(re.escape, DOMAIN_WORDS), key=len, reverse=True))
SQL_QUOTED = re.compile(r"(?:=|<>|!=|\bIN\s*\(|\bWHEN|\bTHEN|\bELSE|\bARRAY\[|,|\()\s*'(" + _WORD + r")'", re.I)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "core/vocabulary.py" or relative.startswith("db/migrations/"):
            continue
        yield relative, ast.parse(path.read_text(), filename=str(path))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def domain_word_literals() -> list[str]:
    found = []
    for relative, tree in _modules():
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
                continue
            if node.value in DOMAIN_WORDS and (relative, node.value) not in ALLOWED:
                found.append((relative, node.lineno, f"{node.value!r}"))
            for match in SQL_QUOTED.finditer(node.value):
                found.append((relative, node.lineno, f"{match.group(1)!r} quoted in SQL"))
    return [f"{relative}:{line}: {what}" for relative, line, what in sorted(found)]


def test_no_domain_word_is_spelled_out_outside_the_vocabulary():
    assert domain_word_literals() == []


def test_the_scan_finds_a_spelled_out_word(tmp_path, monkeypatch):
    """The scan itself can fail: a comparison, a dict key and a SQL literal are each found."""
    module = tmp_path / "probe.py"
    module.write_text(
        'def f(n):\n'
        '    """In \'created\' is prose."""\n'
        '    counts = {"sms": 1}\n'
        '    sql = "SELECT 1 WHERE notification_status IN (\'sending\', :other)"\n'
        '    return n.status == "technical-failure", counts, sql\n'
    )
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    assert domain_word_literals() == [
        "probe.py:3: 'sms'",
        "probe.py:4: 'sending' quoted in SQL",
        "probe.py:5: 'technical-failure'",
    ]


def test_the_allow_list_names_only_literals_that_exist():
    """An allow-list entry whose literal has gone is stale: drop it."""
    present = set()
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and (relative, node.value) in ALLOWED:
                present.add((relative, node.value))
    assert present == set(ALLOWED)
