"""The language of what the runtime's own commands (`linli platform …`) tell people.

The runtime keeps no catalogue and cannot import the CLI (a service's image installs the runtime
without it). So the `linli` CLI, which runs these commands, installs its translator here when it
starts (linli_cli.app; the language is chosen per call from LINLI_LANG and the locale, zh_CN
first), and one zh_CN catalogue (clients/cli/linli_cli/locale) covers every command:
tools/cli_messages.py extracts the `_("…")` messages of RUNTIME_MESSAGE_FILES into it, and its
check fails on any without a translation. Run any other way (`python -m linli_runtime.cli`),
the messages stay in English.
"""

from __future__ import annotations

from collections.abc import Callable

# The runtime's modules that speak to people through `_`, relative to the package; the
# catalogue tool reads them.
RUNTIME_MESSAGE_FILES = ("cli.py", "platform.py", "cluster.py", "backup.py", "processes.py")


def _untranslated(message: str) -> str:
    return message


_translate: Callable[[str], str] = _untranslated


def install(translate: Callable[[str], str]) -> None:
    """Speak through `translate` (called per message, so a language chosen later still applies)."""
    global _translate
    _translate = translate


def _(message: str) -> str:
    """`message` in the language of this run; `{fields}` are filled by `.format` afterwards."""
    return _translate(message)
