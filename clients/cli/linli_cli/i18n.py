"""The language `linli` speaks: Chinese (zh_CN) where the locale says so, English otherwise.

Chosen per call, from the environment, the way a terminal's locale is read:

    LINLI_LANG            zh… → Chinese, anything else (en, C) → English; wins over the locale
    LC_ALL, LC_MESSAGES,  the first one set decides (POSIX order); zh_CN.UTF-8, zh_TW… → Chinese,
    LANG                  C, C.UTF-8, en_US.UTF-8… → English

Messages are written in English in the code and looked up in the gettext catalogue
`locale/zh_CN/LC_MESSAGES/linli_cli.po` (kept in the repository; `tools/cli_messages.py`
extracts the messages and updates it). `make install` compiles it into `linli_cli.mo` beside
it; where that file is missing or older than the `.po` (a fresh checkout, a wheel — the `.mo`
is not committed), the catalogue is compiled in memory with Babel on first use, so a stale
binary can never speak for an edited catalogue.

In the code: `_("…")` for a message (with `{named}` fields filled by `.format` after the
lookup, so the translator can move them), `ngettext(singular, plural, n)` for counts.
Help texts — docstrings, `help=` of options and arguments, the apps' `help=` — need no
marking: `localize` translates them on the click commands as they are built, and
`tools/cli_messages.py` collects them from the same commands.
"""

from __future__ import annotations

import functools
import gettext
import inspect
import io
import os
from pathlib import Path
from typing import Any

DOMAIN = "linli_cli"
LOCALE_DIR = Path(__file__).parent / "locale"
CHINESE = "zh_CN"
ENGLISH = "en"


def language() -> str:
    """`zh_CN` or `en`, from LINLI_LANG, else LC_ALL, LC_MESSAGES, LANG (the first set)."""
    for variable in ("LINLI_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").strip()
        if value:
            return CHINESE if value.lower().startswith("zh") else ENGLISH
    return ENGLISH


def catalogue_paths(lang: str = CHINESE) -> tuple[Path, Path]:
    """(.po, .mo) of a language's catalogue."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == ENGLISH:
        return gettext.NullTranslations()
    po, mo = catalogue_paths(lang)
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return gettext.GNUTranslations(compiled)
    if not po.exists():
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compile_po(po)))


def compile_po(po: Path) -> bytes:
    """A .po file compiled to .mo bytes (Babel; fuzzy entries left out, as msgfmt does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _(message: str) -> str:
    """`message` in the language of this run."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


def chinese() -> bool:
    return language() == CHINESE


def help_text(text: str | None) -> str | None:
    """A help text as the catalogue keys it (docstrings dedented) — and its translation."""
    if not text:
        return text
    return _(inspect.cleandoc(text))


def localize(command: Any) -> Any:
    """Translate the help texts of a click command, its parameters and its subcommands, in place
    (typer builds new click objects for every run, so nothing leaks between languages)."""
    for attribute in ("help", "short_help"):
        value = getattr(command, attribute, None)
        if isinstance(value, str):
            setattr(command, attribute, help_text(value))
    for param in getattr(command, "params", []):
        if isinstance(getattr(param, "help", None), str):
            param.help = help_text(param.help)
    for sub in (getattr(command, "commands", None) or {}).values():
        localize(sub)
    return command


def help_texts(command: Any) -> list[str]:
    """Every help text of a click command tree, as `localize` looks them up (for extraction)."""
    found: list[str] = []
    for attribute in ("help", "short_help"):
        value = getattr(command, attribute, None)
        if isinstance(value, str) and value:
            found.append(inspect.cleandoc(value))
    for param in getattr(command, "params", []):
        value = getattr(param, "help", None)
        if isinstance(value, str) and value:
            found.append(inspect.cleandoc(value))
    for sub in (getattr(command, "commands", None) or {}).values():
        found += help_texts(sub)
    return found


# What typer itself prints around our help texts and errors (typer.core takes them from
# gettext's default domain, which has no Chinese; `install_typer_messages` routes them here).
TYPER_MESSAGES = (
    N_("Usage: "), N_("Arguments"), N_("Options"), N_("Commands"), N_("default: {default}"), N_("required"),
    N_("env var: {var}"), N_("Missing command."), N_("No such command {name!r}."), N_("Aborted!"),
    N_("(dynamic)"), N_("Show this message and exit."),
)


def install_typer_messages() -> None:
    """typer's headings ("Options", "Usage: ") and its few own errors in the run's language."""
    import typer.core
    from typer._click import core as click_core
    from typer._click import formatting

    typer.core._ = _  # type: ignore[attr-defined]  # typer.core: `from gettext import gettext as _`
    if not getattr(click_core.Command.get_help_option, "_linli", False):
        help_option = click_core.Command.get_help_option

        def get_help_option(self: Any, ctx: Any) -> Any:
            option = help_option(self, ctx)
            if option is not None:  # click writes its --help text without gettext
                option.help = _("Show this message and exit.")
            return option

        get_help_option._linli = True  # type: ignore[attr-defined]
        click_core.Command.get_help_option = get_help_option  # type: ignore[method-assign]
    if not getattr(formatting.HelpFormatter.write_usage, "_linli", False):
        original = formatting.HelpFormatter.write_usage

        def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
            original(self, prog, args, _("Usage: ") if prefix is None else prefix)

        write_usage._linli = True  # type: ignore[attr-defined]
        formatting.HelpFormatter.write_usage = write_usage  # type: ignore[method-assign]
