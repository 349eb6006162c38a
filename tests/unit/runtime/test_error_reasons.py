"""Error reasons as an enum in each service's proto (issue 15, item 8): every `reason` a service's
code can put in a google.rpc.ErrorInfo — its own and the runtime's — is a value of its
`ErrorReason` (protos/linli/<package>/v1/errors.proto), read from the source by
tools/error_reasons.py, which refuses a reason it cannot read."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

from tools.error_reasons import (
    MAX_REASON,
    REASON_NAME,
    UnreadableReason,
    collect,
    enum_values,
    raised_by,
    services,
)

SERVICES = services()


def test_every_service_with_protos_has_an_enum() -> None:
    assert {s.name for s in SERVICES} == {"trust-governance", "volunteer-points", "partner-redemption",
                                          "notification", "identity"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_reason_the_service_raises_is_in_its_enum(service) -> None:  # type: ignore[no-untyped-def]
    raised = raised_by(service)
    generated = importlib.import_module(f"linli.{service.package}.v1.errors_pb2").ErrorReason
    lacking = sorted(f"{r.name} ({r.where})" for r in raised.values() if r.name not in generated.keys())
    assert not lacking, (f"{service.proto.name} of {service.name} lacks {lacking}: run "
                         "`.venv/bin/python tools/error_reasons.py` and `make proto`")
    assert set(enum_values(service)) >= set(raised), "the proto and the generated code agree (make proto)"
    # The runtime's reasons are every service's: authentication, the database being busy.
    assert {"CREDENTIALS_MISSING", "TOKEN_INVALID", "DATABASE_UNAVAILABLE"} <= set(generated.keys())


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_enum_names_reasons_as_they_are_sent(service) -> None:  # type: ignore[no-untyped-def]
    values = enum_values(service)
    assert values.pop("ERROR_REASON_UNSPECIFIED") == 0
    assert all(REASON_NAME.match(name) and len(name) <= MAX_REASON for name in values)
    assert sorted(values.values()) == list(range(1, len(values) + 1)), "numbered in order, none reused"


def test_the_collector_reads_literals_defaults_and_subclasses_and_refuses_a_computed_reason(tmp_path: Path) -> None:
    package = tmp_path / "linli_example"
    package.mkdir()
    (package / "rules.py").write_text(textwrap.dedent('''
        from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

        class LedgerDown(Unavailable):
            def __init__(self) -> None:
                super().__init__("the ledger did not answer", reason="LEDGER_DOWN")

        def check(n):
            if n < 0:
                raise InvalidArgument.field("n", "must not be negative", reason="N_NEGATIVE")
            if n == 0:
                raise NotFound(f"nothing numbered {n}")
            if n > 9:
                raise LedgerDown()
            raise FailedPrecondition("too late", reason="TOO_LATE")
        '''))
    found = collect(package)
    assert {name: (r.code, r.example) for name, r in found.items()} == {
        "N_NEGATIVE": ("INVALID_ARGUMENT", "n: must not be negative"),
        "NOT_FOUND": ("NOT_FOUND", "nothing numbered …"),
        "LEDGER_DOWN": ("UNAVAILABLE", "the ledger did not answer"),
        "TOO_LATE": ("FAILED_PRECONDITION", "too late"),
    }
    (package / "computed.py").write_text(textwrap.dedent('''
        from linli_runtime.errors import FailedPrecondition

        def refuse(why):
            raise FailedPrecondition("no", reason=why.upper())
        '''))
    with pytest.raises(UnreadableReason, match=r"computed.py:5: reason=why.upper\(\) is not a literal"):
        collect(package)
