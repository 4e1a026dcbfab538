"""The README's table of statuses matches the code: every (status, reason code) pair the
gateway can raise is in the table, every pair in the table is raised somewhere, and every
method named is a method of the service."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grpc

from claims.v1 import claims_pb2 as pb
from gateway import admission, budget, errors
from gateway import settlement as S

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = ROOT / "gateway"
ERROR_CLASSES: dict[str, type[errors.ClaimError]] = {
    cls.__name__: cls
    for cls in (errors.InvalidArgument, errors.NotFound, errors.AlreadyExists,
                errors.PermissionDenied, errors.FailedPrecondition, errors.Unavailable,
                errors.Aborted, errors.RequestTimeout, errors.ClientCancelled,
                budget.DeadlineExceeded)
}
# Codes a raise passes through from the eligibility gate (Admit: reason=reason).
GATE_REASONS = {S.MEMBER_SUSPENDED, S.MEMBER_TERMINATED, S.MEMBER_DECEASED,
                S.NOT_YET_COVERED, S.CARD_INVALID, S.NOT_DESIGNATED}


def raised_pairs() -> set[tuple[str, str]]:
    """(status, ErrorInfo reason) of every raise in the gateway's code."""
    pairs: set[tuple[str, str]] = set()
    for path in sorted(GATEWAY.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and isinstance(node.exc.func, ast.Name)):
                continue
            name = node.exc.func.id
            if name == "Shed":  # gateway.admission: RESOURCE_EXHAUSTED, reason SHED_<KIND>
                kind = node.exc.args[0]
                assert isinstance(kind, ast.Constant), ast.unparse(node)
                pairs.add(("RESOURCE_EXHAUSTED", "SHED_" + str(kind.value).upper()))
                continue
            cls = ERROR_CLASSES.get(name)
            if cls is None:
                continue
            status = cls.code.name
            reason = next((kw.value for kw in node.exc.keywords if kw.arg == "reason"), None)
            if reason is None:
                pairs.add((status, cls.reason))
            elif isinstance(reason, ast.Constant):
                pairs.add((status, str(reason.value)))
            else:  # the eligibility gate's code, passed through
                pairs.update((status, code) for code in GATE_REASONS)
    # Statuses the service maps without a ClaimError (Redis errors, defects).
    pairs.add(("UNAVAILABLE", errors.STORE_UNAVAILABLE))
    pairs.add(("INTERNAL", errors.INTERNAL))
    return pairs


def table_rows() -> list[tuple[list[str], str, list[str]]]:
    """(methods, status, reasons) of each row of the README's table of statuses."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Statuses\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| method") or "---" in line:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        methods = re.findall(r"`(\w+)`", cells[0]) if cells[0] != "every method" else ["*"]
        status = cells[1].strip("`")
        reasons = re.findall(r"`([A-Z_]+)`", cells[2])
        rows.append((methods, status, reasons))
    return rows


def test_every_raised_status_and_reason_is_in_the_table() -> None:
    table = {(status, r) for _m, status, reasons in table_rows() for r in reasons}
    missing = raised_pairs() - table
    assert not missing, f"raised in code, absent from the README's table: {sorted(missing)}"


def test_every_reason_in_the_table_is_raised() -> None:
    table = {(status, r) for _m, status, reasons in table_rows() for r in reasons}
    stale = table - raised_pairs()
    assert not stale, f"in the README's table, raised nowhere: {sorted(stale)}"


def test_table_names_real_methods_and_statuses() -> None:
    rpcs = set(pb.DESCRIPTOR.services_by_name["ClaimGateway"].methods_by_name)
    rows = table_rows()
    assert len(rows) > 20
    for methods, status, _reasons in rows:
        assert status in grpc.StatusCode.__members__, status
        for m in methods:
            assert m == "*" or m in rpcs, m
    statuses = {s for _m, s, _r in rows}
    # The retriable ones an integrator must know, including shutdown and precondition.
    assert {"CANCELLED", "FAILED_PRECONDITION", "UNAVAILABLE", "RESOURCE_EXHAUSTED",
            "DEADLINE_EXCEEDED"} <= statuses


def test_shed_reasons_come_from_admission() -> None:
    source = Path(admission.__file__).read_text(encoding="utf-8")
    kinds = set(re.findall(r'raise Shed\(\s*"(\w+)"', source))
    listed = {r.removeprefix("SHED_").lower() for _m, status, reasons in table_rows()
              if status == "RESOURCE_EXHAUSTED" for r in reasons}
    assert kinds == listed


def test_a_slow_store_says_how_to_retry() -> None:
    # Only a method whose request id makes its effect happen once asks for the same id
    # again; a read (CheckEligibility, GetSettlement, Reconcile, ...) is simply retried.
    from gateway.calls import _status_of
    from gateway.store import StoreTimeout

    slow = StoreTimeout("redis read: no answer within 100 ms")
    _, (code, message, _details) = _status_of("Settle", slow)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert message.endswith("; retry with the same request_id")
    for read in ("CheckEligibility", "PreSettle", "GetSettlement", "Reconcile"):
        _, (code, message, _details) = _status_of(read, slow)
        assert code == grpc.StatusCode.UNAVAILABLE
        assert message.endswith("; retry") and "request_id" not in message
