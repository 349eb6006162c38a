"""Notice texts: Jinja2 templates per language under `templates/<lang>/<kind>.j2`. The first
line is the title, the rest the body. A recipient's language comes first, then Chinese, then
English."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
FALLBACK = ("zh", "en")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=False,  # plain text for SMS and WeChat, never HTML
    undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    language: str


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    for lang in dict.fromkeys((language or "zh", *FALLBACK)):
        try:
            template = _env.get_template(f"{lang}/{kind}.j2")
        except jinja2.TemplateNotFound:
            continue
        text = template.render(**context).strip()
        title, _, body = text.partition("\n")
        return Rendered(title.strip(), body.strip(), lang)
    raise LookupError(f"no template for notice kind {kind!r}")
