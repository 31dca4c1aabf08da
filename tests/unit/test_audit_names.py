"""Every action the code records has a name for people (audit/names.py), found by reading the code.

The scan follows the writers (`record`, `record_many`) and every function that passes its own `action`
parameter on to one of them (`record_output`, `_record_sign_in`, the bundle's `prepare` ...), and reads the
action each call gives: a literal, either branch of `a if c else b`, or a local variable's literal values.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from audit.names import ACTIONS, SUBJECTS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "audit", "lending", "evidence")


@cache  # the source is read and parsed once for the module's tests, not once per test
def _trees() -> dict[Path, ast.Module]:
    files = [p for d in PACKAGES for p in (ROOT / d).rglob("*.py")] + [ROOT / "wsgi.py"]
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in files}


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _action_arg(call: ast.Call, index: int | None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "action":
            return kw.value
    return call.args[index] if index is not None and index < len(call.args) else None


def _literals(expr: ast.expr, scope: ast.AST) -> set[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return _literals(expr.body, scope) | _literals(expr.orelse, scope)
    if isinstance(expr, ast.Name):
        return {
            lit
            for node in ast.walk(scope)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
            for lit in _literals(node.value, scope)
        }
    return set()


@cache
def recorded_actions() -> tuple[dict[str, str], list[str]]:
    """(action -> where it is recorded, the calls whose action could not be read)."""
    trees = _trees()
    functions = [n for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.FunctionDef)]
    writers: dict[str, int | None] = {"record": 2, "record_many": 2}  # (session, actor, action, ...)
    grew = True
    while grew:
        grew = False
        for fn in functions:
            positional = [a.arg for a in fn.args.posonlyargs + fn.args.args]
            if fn.name in writers or "action" not in positional + [a.arg for a in fn.args.kwonlyargs]:
                continue
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and _name(call) in writers:
                    arg = _action_arg(call, writers[_name(call)])
                    if isinstance(arg, ast.Name) and arg.id == "action":
                        writers[fn.name] = positional.index("action") if "action" in positional else None
                        grew = True
                        break
    found: dict[str, str] = {}
    unread: list[str] = []
    for path, tree in trees.items():
        for scope in [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in ast.walk(scope):
                if not (isinstance(call, ast.Call) and _name(call) in writers):
                    continue
                arg = _action_arg(call, writers[_name(call)])
                if arg is None:
                    continue
                values = _literals(arg, scope)
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                for value in values:
                    found.setdefault(value, where)
                if not values and not (isinstance(arg, ast.Name) and arg.id == "action"):
                    unread.append(where)
    return found, unread


def test_the_scan_finds_the_actions_it_should():
    found, unread = recorded_actions()
    assert not unread, f"an action the scan cannot read (use a literal or a local variable): {unread}"
    # one of each way an action is given: a literal, a variable, a conditional, through record_output
    assert {
        "loan.requested",
        "loan.officer_approved",
        "user.deactivated",
        "assets.labels_printed",
        "auth.login_failed",
        "evidence.bundle_created",
    } <= set(found)


def test_every_action_the_code_records_has_a_name():
    found, _ = recorded_actions()
    missing = {a: where for a, where in found.items() if a not in ACTIONS}
    assert not missing, f"add these to audit/names.py ACTIONS: {missing}"


def test_no_name_is_left_for_an_action_nothing_records():
    found, _ = recorded_actions()
    assert not sorted(set(ACTIONS) - set(found))


def test_every_kind_of_record_has_a_name():
    from core.db import db
    from wsgi import create_app  # noqa: F401  (every model is imported)

    kinds = {
        getattr(m.class_, "audit_type", None) or m.class_.__tablename__
        for m in db.Model.registry.mappers
        if issubclass(m.class_, _audited())
    }
    assert kinds and not sorted(kinds - set(SUBJECTS))


def test_every_record_named_by_type_and_id_has_a_name():
    """Records given as a ("type", id) pair, e.g. ("import", sha256) or ("report", year)."""
    kinds = set()
    for tree in _trees().values():
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and _name(call) == "record" and len(call.args) > 3:
                subject = call.args[3]
                if isinstance(subject, ast.Tuple) and isinstance(subject.elts[0], ast.Constant):
                    kinds.add(subject.elts[0].value)
    assert {"import", "report", "settings"} <= kinds
    assert not sorted(kinds - set(SUBJECTS))


def _audited():
    from core.db import Audited

    return Audited
