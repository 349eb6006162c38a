"""The `linli` CLI's messages and its Chinese catalogue.

    python tools/cli_messages.py update    add the messages the code has to the .po (empty
                                           translations to fill in), drop those it no longer has
    python tools/cli_messages.py check     exit 1 naming every message without a Chinese
                                           translation, or whose {fields} differ from it
    python tools/cli_messages.py compile   the .po → .mo beside it (`make install` runs this)

A message is either marked in the code (`_("…")`, `N_("…")`, `ngettext("…", "…", n)` —
Babel's extractor reads them) or a help text of a command (docstrings, `help=`), collected
from the click commands `linli` builds, exactly as `linli_cli.i18n.localize` looks them up.
tests/unit/cli/test_catalogue.py runs `problems()`: a message without a translation fails it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "clients" / "cli" / "linli_cli"
RUNTIME = REPO / "services" / "runtime" / "linli_runtime"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}

Message = str | tuple[str, str]  # a plural message: (singular, plural)


def runtime_files() -> list[Path]:
    """The runtime's modules behind `linli platform …`, which speak through the CLI's catalogue
    (linli_runtime.translation)."""
    sys.path.insert(0, str(RUNTIME.parent))
    from linli_runtime.translation import RUNTIME_MESSAGE_FILES

    return [RUNTIME / name for name in RUNTIME_MESSAGE_FILES]


def marked() -> dict[Message, list[str]]:
    """Messages marked in the code (the CLI's and the runtime's commands'), with where they are."""
    from babel.messages.extract import extract_from_dir, extract_from_file

    found: dict[Message, list[str]] = {}
    extracted = [*extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords=KEYWORDS,
                                   comment_tags=())]
    for path in runtime_files():
        extracted += [(f"linli_runtime/{path.name}", *entry)
                      for entry in extract_from_file("python", str(path), keywords=KEYWORDS, comment_tags=())]
    for filename, line, message, _comments, _context in extracted:
        key: Message = tuple(message) if isinstance(message, tuple) else message  # type: ignore[assignment]
        if isinstance(key, tuple) and len(key) == 2 and all(key):
            found.setdefault(key, []).append(f"{filename}:{line}")
        elif isinstance(key, str) and key:
            found.setdefault(key, []).append(f"{filename}:{line}")
    return found


def column_headers() -> dict[Message, list[str]]:
    """Table column headers (`output.Headed` translates them): the literal of every
    `.add_column("…")` and the literals of every `for column in ("…", …)` whose body adds columns."""
    import ast

    found: dict[Message, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            literals: list[ast.Constant] = []
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_column"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                literals.append(node.args[0])
            elif (isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple)
                  and "add_column" in ast.unparse(node)):
                literals += [e for e in node.iter.elts if isinstance(e, ast.Constant)]
            for literal in literals:
                if isinstance(literal.value, str) and literal.value:
                    found.setdefault(literal.value, []).append(f"{path.name}:{literal.lineno}")
    return found


def help_messages() -> dict[Message, list[str]]:
    """Every help text of every `linli` command (English, as written)."""
    os.environ["LINLI_LANG"] = "en"  # build the commands untranslated
    import typer

    from linli_cli import app as cli_app
    from linli_cli.i18n import help_texts

    found: dict[Message, list[str]] = {}
    root = typer.main.get_command(cli_app.app)
    for text in help_texts(root):
        found.setdefault(text, []).append("linli")
    for name in cli_app.COMMANDS:
        for text in help_texts(cli_app.load(name)):
            found.setdefault(text, []).append(f"linli {name}")
    return found


def messages() -> dict[Message, list[str]]:
    found = marked()
    for key, where in [*column_headers().items(), *help_messages().items()]:
        found.setdefault(key, []).extend(where)
    return found


def po_path() -> Path:
    return PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "linli_cli.po"


def read_catalog(path: Path | None = None):  # type: ignore[no-untyped-def]
    from babel.messages.pofile import read_po

    with (path or po_path()).open("rb") as source:
        return read_po(source, locale="zh_CN")


FIELD = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)?(![rs])?(:[^{}]*)?\}(?!\})")


def fields(text: str) -> list[str]:
    """The `{fields}` a message fills, sorted (order may differ between languages)."""
    return sorted(match.group(0) for match in FIELD.finditer(text))


def problems() -> list[str]:
    """What keeps the catalogue from covering the code: messages without a translation, and
    translations whose {fields} are not the message's."""
    catalog = read_catalog()
    found: list[str] = []
    for key, where in sorted(messages().items(), key=lambda item: str(item[0])):
        entry = catalog.get(key[0] if isinstance(key, tuple) else key)
        label = key if isinstance(key, str) else key[0]
        untranslated = entry is None or entry.fuzzy or not entry.string or (
            isinstance(entry.string, tuple) and not all(entry.string))
        if untranslated:
            found.append(f"no zh_CN translation ({where[0]}): {label!r}")
            continue
        translated = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        originals = key if isinstance(key, tuple) else (key,)
        for text in translated:
            if fields(text) != fields(originals[-1]) and fields(text) != fields(originals[0]):
                found.append(f"fields differ ({where[0]}): {label!r} → {text!r}")
    return found


def update() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = Catalog(locale="zh_CN", project="linli", charset="utf-8", fuzzy=False)
    for key, where in messages().items():
        template.add(key, locations=[(w.rsplit(":", 1)[0], 0) for w in where[:1]])
    path = po_path()
    if path.exists():
        catalog = read_catalog(path)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale="zh_CN", project="linli", charset="utf-8", fuzzy=False,
                          header_comment="# The linli CLI's Chinese messages: python tools/cli_messages.py update adds "
                                         "new ones,\n# check lists those without a translation.")
        catalog.update(template, no_fuzzy_matching=True)
    catalog.fuzzy = False
    with path.open("wb") as out:
        write_po(out, catalog, width=100, sort_output=True, omit_header=False, include_lineno=False)


def compile_catalogue() -> None:
    sys.path.insert(0, str(PACKAGE.parent))
    from linli_cli.i18n import catalogue_paths, compile_po

    po, mo = catalogue_paths()
    mo.write_bytes(compile_po(po))


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_catalogue()
    elif command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
