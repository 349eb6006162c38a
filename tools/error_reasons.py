"""Error reasons: every `reason` a service puts in the `google.rpc.ErrorInfo` of its errors, and
the `ErrorReason` enum in the service's protos that lists them for integrators
(`protos/linli/<package>/v1/errors.proto`, README "Error reasons").

    .venv/bin/python tools/error_reasons.py           # add the reasons the code raises and the enums lack
    .venv/bin/python tools/error_reasons.py --check   # list them and exit 1 (tests/unit/runtime/test_error_reasons.py)

Then `make proto`. The reasons are read from the source (ast; nothing is imported or run):

- the `reason=` of every call to a class of `linli_runtime.errors` (or a subclass of one),
  and the class's default reason (`NOT_FOUND` …) when the call gives none;
- a subclass's `super().__init__(…, reason=…)`;
- the few reasons computed at run time, where `DYNAMIC` says how to read them; any other
  non-literal reason is refused with its place, so that no reason escapes the enum.

A service raises its own reasons and the runtime's (authentication, fields, paging, request ids,
the database being busy), so each enum holds both. Reasons are only ever added, at the end of the
enum with the next number: a released reason stays (`buf breaking` would refuse its removal);
one the code no longer raises may be marked `[deprecated = true]` by hand. A new value's comment
is its status code and an example message from the code; edit it freely, it is kept.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
RUNTIME = SERVICES / "runtime" / "linli_runtime"
PROTOS = ROOT / "protos" / "linli"
REASON_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
MAX_REASON = 63  # AIP-193 (linli_runtime.error_status cuts longer ones)


@dataclass(frozen=True)
class Reason:
    name: str
    code: str  # the gRPC status code's name
    example: str  # a message the code raises it with ("" when not a literal)
    where: str  # file:line of the first place found


@dataclass(frozen=True)
class ErrorClass:
    code: str
    default_reason: str
    own_init: bool = False  # a subclass whose __init__ chooses the reason itself


_PLAIN = ErrorClass("", "")


class UnreadableReason(Exception):
    """A `reason=` the collector cannot read: make it a literal, or teach `DYNAMIC` about it."""


@dataclass(frozen=True)
class Service:
    name: str  # trust-governance: the ErrorInfo domain is linli.<name>
    package: str  # governance: protos/linli/<package>/v1, linli.<package>.v1
    source: Path  # services/trust-governance/linli_governance

    @property
    def domain(self) -> str:
        return f"linli.{self.name}"

    @property
    def proto(self) -> Path:
        return PROTOS / self.package / "v1" / "errors.proto"


def services() -> list[Service]:
    """Every service with protos of its own (not the runtime, not the portal)."""
    found = []
    for source in sorted(SERVICES.glob("*/linli_*")):
        package = source.name.removeprefix("linli_")
        if source.is_dir() and source.parent.name != "runtime" and (PROTOS / package / "v1").is_dir():
            found.append(Service(source.parent.name, package, source))
    return found


def runtime_error_classes() -> dict[str, ErrorClass]:
    """linli_runtime.errors' classes: name → status code and default reason."""
    classes: dict[str, ErrorClass] = {}
    for node in ast.parse((RUNTIME / "errors.py").read_text()).body:
        if not isinstance(node, ast.ClassDef):
            continue
        code = reason = None
        for item in node.body:
            if isinstance(item, ast.AnnAssign | ast.Assign):
                target = item.target if isinstance(item, ast.AnnAssign) else item.targets[0]
                name = target.id if isinstance(target, ast.Name) else ""
                if name == "code" and isinstance(item.value, ast.Attribute):
                    code = item.value.attr
                if name == "default_reason" and isinstance(item.value, ast.Constant):
                    reason = str(item.value.value)
        if code and reason:
            classes[node.name] = ErrorClass(code, reason)
    return classes


def _text(node: ast.expr | None) -> str:
    """A message as the code writes it: literal text, with `…` where a value goes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)  # type: ignore[misc]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return ""


def _callee(call: ast.Call) -> tuple[str, bool]:
    """The class a call constructs, and whether it is the `.field(…)` constructor."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id, False
    if isinstance(func, ast.Attribute) and func.attr == "field" and isinstance(func.value, ast.Name):
        return func.value.id, True
    if isinstance(func, ast.Attribute):
        return func.attr, False  # errors.NotFound(…)
    return "", False


def _upper_literals(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and REASON_NAME.match(n.value)]


def _reason_args(tree: ast.AST, functions: set[str]) -> list[tuple[str, str]]:
    """(reason, message) of every call to one of `functions` (methods too) that passes a literal
    reason as its second argument and the message as its third."""
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        if name in functions and len(call.args) > 1:
            arg = call.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.value, _text(call.args[2]) if len(call.args) > 2 else ""))
    return found


# Reasons computed at run time: (source package, enclosing function) → what they can be (with a
# message when known), from the package's syntax trees and the function's own.
Resolver = Callable[[list[ast.Module], ast.AST], list[tuple[str, str]]]
DYNAMIC: dict[tuple[str, str], Resolver] = {
    # volunteer-points' ledger: refusing to post or void a resolved hold names its state
    # (HOLD_POSTED, HOLD_VOIDED, HOLD_EXPIRED — a table inside the function).
    ("linli_points", "_refusal"): lambda trees, function: [(r, "") for r in _upper_literals(function)],
    # partner-redemption: a voided redemption answers every retry with the reason it was voided
    # for — the reasons the saga voids with (Redemptions._void/_abandon's second argument).
    ("linli_redemption", "refused"): lambda trees, function: [(r, "") for r in _upper_literals(function)] + [
        pair for tree in trees for pair in _reason_args(tree, {"_void", "_abandon"})],
}


class _Collector(ast.NodeVisitor):
    def __init__(self, package: str, classes: dict[str, ErrorClass], trees: list[ast.Module], path: str) -> None:
        self.package, self.classes, self.trees, self.path = package, classes, trees, path
        self.functions: list[ast.AST] = []
        self.class_stack: list[str] = []
        self.found: list[Reason] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.class_stack.append(node.name)
        self.generic_visit(node)
        self.class_stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, call: ast.Call) -> None:
        self.generic_visit(call)
        name, field = _callee(call)
        is_super = (isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"
                    and isinstance(call.func.value, ast.Call) and getattr(call.func.value.func, "id", "") == "super")
        if is_super and self.class_stack and self.classes.get(self.class_stack[-1], _PLAIN).own_init:
            error = self.classes[self.class_stack[-1]]  # a subclass's __init__ choosing its reason
        elif name in self.classes and not is_super:
            error = self.classes[name]
        else:
            return
        where = f"{self.path}:{call.lineno}"
        if field:
            example = f"{_text(call.args[0])}: {_text(call.args[1])}" if len(call.args) >= 2 else ""
        else:
            example = _text(call.args[0]) if call.args else ""
        reason = next((k.value for k in call.keywords if k.arg == "reason"), None)
        if reason is None or (isinstance(reason, ast.Constant) and reason.value is None):
            if not error.own_init or is_super:
                self.found.append(Reason(error.default_reason, error.code, example, where))
            return
        if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
            self.found.append(Reason(reason.value, error.code, example, where))
            return
        function = self.functions[-1] if self.functions else None
        resolver = DYNAMIC.get((self.package, getattr(function, "name", "")))
        if resolver is None or function is None:
            raise UnreadableReason(f"{where}: reason={ast.unparse(reason)} is not a literal; write the reason "
                                   "as a string, or tell tools/error_reasons.py (DYNAMIC) what it can be")
        for value, message in resolver(self.trees, function):
            self.found.append(Reason(value, error.code, message or example, where))


def _sources(package: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(package.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), str(path))


def collect(package: Path, base: dict[str, ErrorClass] | None = None) -> dict[str, Reason]:
    """Every reason the code under `package` raises: name → its first sighting."""
    classes = dict(base if base is not None else runtime_error_classes())
    parsed = list(_sources(package))
    trees = [tree for _, tree in parsed]
    grew = True
    while grew:  # the package's own subclasses of the runtime's errors (and of those)
        grew = False
        for node in (n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
            parent = next((classes[b] for b in bases if b in classes), None)
            if parent is not None and node.name not in classes:
                own_init = any(isinstance(i, ast.FunctionDef) and i.name == "__init__" for i in node.body)
                classes[node.name] = ErrorClass(parent.code, parent.default_reason, own_init)
                grew = True
    found: dict[str, Reason] = {}
    for path, tree in parsed:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        collector = _Collector(package.name, classes, trees, str(shown))
        collector.visit(tree)
        for reason in collector.found:
            if reason.name not in found or (reason.example and not found[reason.name].example):
                found[reason.name] = reason  # the first sighting, or the first with a message to show
    return found


@functools.cache
def _runtime_reasons() -> dict[str, Reason]:
    return collect(RUNTIME)


def raised_by(service: Service) -> dict[str, Reason]:
    """What `service` answers with: its own reasons and the runtime's."""
    return {**_runtime_reasons(), **collect(service.source)}


# -- the enums -----------------------------------------------------------------------------------

ENTRY = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;", re.MULTILINE)


def enum_values(service: Service) -> dict[str, int]:
    """The ErrorReason values in the service's errors.proto (none when it does not exist)."""
    if not service.proto.exists():
        return {}
    return {name: int(number) for name, number in ENTRY.findall(service.proto.read_text())}


def missing(service: Service) -> list[Reason]:
    have = enum_values(service)
    return sorted((r for r in raised_by(service).values() if r.name not in have), key=lambda r: (r.code, r.name))


def _entry(reason: Reason, number: int) -> str:
    example = reason.example.replace("\n", " ").strip()
    if len(example) > 90:
        example = example[:89] + "…"
    said = f': "{example}"' if example else ""
    return f"  // {reason.code}{said}\n  {reason.name} = {number};\n"


def _header(service: Service) -> str:
    about = textwrap.fill(
        f"ErrorReason lists every `reason` {service.name} puts in the `google.rpc.ErrorInfo` (AIP-193) "
        f'of an error it answers with; the ErrorInfo\'s `domain` is "{service.domain}". A value\'s name is '
        "the reason itself, so `ErrorReason.Value(info.reason)` (Python) finds it. Branch on the reason, "
        "never on the message (which is for people, in their words, and may change); the status code says "
        "what kind of failure it is. Reasons are only ever added; one the service no longer raises stays, "
        "marked deprecated. Each comment: the status code, and a message the service answers with (kept "
        'complete by tools/error_reasons.py; see README "Error reasons").',
        width=97, initial_indent="// ", subsequent_indent="// ")
    return f'''syntax = "proto3";

package linli.{service.package}.v1;

{about}
enum ErrorReason {{
  // Not a reason (proto3's zero value).
  ERROR_REASON_UNSPECIFIED = 0;
'''


def write(service: Service) -> list[Reason]:
    """Add what the enum lacks at its end; returns what was added."""
    added = missing(service)
    if not added:
        return []
    have = enum_values(service)
    number = max(have.values(), default=0) + 1
    entries = "".join(_entry(reason, number + i) for i, reason in enumerate(added))
    if service.proto.exists():
        text = service.proto.read_text()
        end = text.rindex("}")
        text = text[:end] + entries + text[end:]
    else:
        text = _header(service) + entries + "}\n"
    service.proto.write_text(text)
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="list what the enums lack; exit 1 if anything")
    args = parser.parse_args()
    lacking = 0
    for service in services():
        reasons = missing(service) if args.check else write(service)
        for reason in reasons:
            print(f"{service.proto.relative_to(ROOT)}: {reason.name} ({reason.code}, {reason.where})")
        lacking += len(reasons)
    if args.check and lacking:
        print(f"{lacking} reasons missing: run `.venv/bin/python tools/error_reasons.py` then `make proto`",
              file=sys.stderr)
        return 1
    if not args.check and lacking:
        print("added; now run `make proto`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
