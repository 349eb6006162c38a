"""Structured JSON logs, one object per line, with the request id and caller of the call
that produced them (from contextvars), and its trace id when it is traced (linli_runtime.tracing):
the log lines of a trace are one search away from its spans.

A line is `{"ts", "level", "logger", "message", [exc_info], [stack_info], <extra fields>,
"service", [request_id, caller, trace_id, span_id]}`. `JsonLineFormatter` writes it with one
`json.dumps` of a dict built from the record's own attributes; the generic formatter it replaces
(python-json-logger) cost ~60 µs a line — a fifth of a call's server CPU with the access log on
(bench.grpc_stack, issue 18) — in its per-field machinery. The timestamp's text is kept for the
second it names (the date and time change once a second, the milliseconds on every line).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace

from linli_runtime.context import principal_var, request_id_var

# A string as JSON writes it (non-ASCII kept, as `JsonLineFormatter` does), quotes included.
_quoted = json.encoder.encode_basestring

# A LogRecord's own attributes: everything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _jsonable(value: Any) -> Any:
    """What json.dumps cannot write itself: dates and times as ISO 8601, anything else as its str."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record (the module docstring), non-ASCII kept as it is (Chinese first)."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""
        self.encode = json.JSONEncoder(ensure_ascii=False, default=_jsonable).encode

    def timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # the local time's text, as logging's default "%Y-%m-%d %H:%M:%S"
            self._second, self._second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._second_text},{int((created - second) * 1000):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": self.timestamp(record.created), "level": record.levelname,
                                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                line[key] = value
        return self.encode(line)


def _context_fields(line: dict[str, Any], with_caller: bool = True) -> None:
    """The call's request id, caller and trace ids, where there are any (the filter and the access log)."""
    request_id = request_id_var.get()
    if request_id is not None:
        line["request_id"] = request_id
    if with_caller:
        principal = principal_var.get()
        if principal is not None:
            line["caller"] = principal.subject
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        line["trace_id"] = trace.format_trace_id(span.trace_id)
        line["span_id"] = trace.format_span_id(span.span_id)


class AccessLog:
    """The access log's line per gRPC call, written without a LogRecord when it can be.

    Through `logging` a line cost ~45 µs even with `JsonLineFormatter`, most of it in the
    LogRecord (its ~25 attributes, the caller's frame found by walking the stack) that the access
    log never needs. When the root logger's one handler is the one `configure_logging` installed,
    the line — the same JSON, byte for byte, that `log.info` would write — is put together from
    parts made once per method and status (only the time, the duration and the ids change from
    call to call) and written to its stream under its lock; otherwise (tests capturing logs,
    another configuration) it goes through `logger.info` as any line does."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        # (service, method, code) → the line's text from the level to the duration's value.
        self._middles: dict[tuple[str, str, str], tuple[str, str]] = {}

    def _middle(self, service: str, method: str, code: str) -> tuple[str, str]:
        key = (service, method, code)
        parts = self._middles.get(key)
        if parts is None:
            parts = (f'", "level": "INFO", "logger": {_quoted(self.logger.name)}, "message": "rpc", '
                     f'"method": {_quoted(method)}, "code": {_quoted(code)}, "duration_ms": ',
                     f', "service": {_quoted(service)}')
            self._middles[key] = parts
        return parts

    def __call__(self, method: str, code: str, seconds: float) -> None:
        handlers = logging.getLogger().handlers
        handler = handlers[0] if len(handlers) == 1 else None
        if handler.__class__ is not _JsonStreamHandler or not self.logger.isEnabledFor(logging.INFO):
            self.logger.info("rpc", extra={"method": method, "code": code, "duration_ms": round(seconds * 1000, 3)})
            return
        assert isinstance(handler, _JsonStreamHandler)
        head, tail = self._middle(handler.service, method, code)
        line = f'{{"ts": "{handler.json_formatter.timestamp(time.time())}{head}{round(seconds * 1000, 3)!r}{tail}'
        request_id = request_id_var.get()
        if request_id is not None:
            line += f', "request_id": {_quoted(request_id)}'
        # The caller's principal is gone once the call is answered: no "caller" here.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line += (f', "trace_id": "{trace.format_trace_id(span.trace_id)}", '
                     f'"span_id": "{trace.format_span_id(span.span_id)}"')
        handler.write_line(line + "}")


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        fields: dict[str, Any] = {}
        _context_fields(fields)
        record.__dict__.update(fields)
        return True


class _JsonStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """`configure_logging`'s handler: JSON lines to a stream, which the access log writes to directly.

    Access log lines written from an event loop are held until the loop's current round of
    callbacks is over and then written together, one write to the stream for all the calls
    answered in that round instead of one each (a system call per call, ~15 µs of a call's
    server CPU on a busy machine). Any other line, and `flush` (at exit too), writes the held
    ones first, so the stream keeps the order in which lines were made."""

    def __init__(self, service: str) -> None:
        super().__init__(sys.stderr)
        self.service = service
        self.json_formatter = JsonLineFormatter()
        self.setFormatter(self.json_formatter)
        self.addFilter(_ContextFilter(service))
        self._held: list[str] = []

    def write_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._held.append(line)
            if len(self._held) > 1:
                return  # the first one asked for the write
        try:
            asyncio.get_running_loop().call_soon(self._write_held)
        except RuntimeError:  # no event loop here: at once
            self._write_held()

    def _write_held(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_held_locked()

    def _write_held_locked(self) -> None:
        if not self._held:
            return
        lines, self._held = self._held, []
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
            self.stream.flush()
        except Exception:  # as logging does: a log line never fails the call
            self.handleError(logging.makeLogRecord({"msg": lines[0]}))

    def emit(self, record: logging.LogRecord) -> None:
        if self._held:
            self._write_held()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_held_locked()
        super().flush()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    handler: logging.Handler
    if json:
        handler = _JsonStreamHandler(service)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_ContextFilter(service))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter that says nothing an operator can act on.
    logging.getLogger("nats").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
