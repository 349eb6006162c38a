"""The CLI speaks Chinese where the locale says so (linli_cli.i18n): every message in the code
and every help text of every command has a zh_CN translation with the same {fields} (extracted
and compared, as `tools/cli_messages.py check` does), the enum words cover the services' enums,
the language follows LINLI_LANG, then LC_ALL, LC_MESSAGES, LANG, and help and errors come out
in it — typer's own headings too."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from linli.events.v1 import points_pb2 as events
from linli.governance.v1 import account_pb2, disclosure_pb2, org_pb2, rollout_pb2, vote_pb2
from linli.notification.v1 import notification_pb2
from linli.points.v1 import adjustments_pb2, funding_pb2
from linli.redemption.v1 import community_pb2, resources_pb2
from linli.runtime.v1 import dead_letters_pb2
from linli_cli import app as linli_app
from linli_cli import i18n
from linli_cli.output import enum_name
from linli_cli.words import WORDS
from tools.cli_messages import fields, messages, problems, read_catalog

ENUMS = (account_pb2.ApprovalParty, account_pb2.BudgetState, account_pb2.PeriodKind, events.AwardTier,
         org_pb2.CompoundType, org_pb2.OrgUnitKind, adjustments_pb2.AdjustmentState, dead_letters_pb2.DeadLetterState,
         notification_pb2.ReporterRole, notification_pb2.Status, notification_pb2.Urgency,
         resources_pb2.RedemptionState, rollout_pb2.RolloutStage, vote_pb2.VoteMatter, vote_pb2.VoteOutcome,
         funding_pb2.FundingKind, disclosure_pb2.FundMovementKind, community_pb2.ProjectState)


def test_every_message_and_help_text_has_a_chinese_translation_with_the_same_fields() -> None:
    assert problems() == []


def test_extraction_finds_messages_help_texts_and_headers() -> None:
    found = messages()
    assert "not signed in or token expired: run linli login" in found  # marked in the code
    assert "Import volunteers from a spreadsheet." in found  # an app's help
    assert "Import nothing unless every row is good; exit 7 when any row is rejected." in found  # an option's
    assert "who needs help" in found  # a column header
    assert ("wrote {count} row to {file}", "wrote {count} rows to {file}") in found  # a plural


def test_the_catalogue_keeps_no_translation_the_code_no_longer_has() -> None:
    found = {key if isinstance(key, str) else key[0] for key in messages()}
    assert [m.id for m in read_catalog() if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in found] == []


def test_fields_are_compared_by_name_whatever_their_order() -> None:
    assert fields("{a} then {b!r}") == fields("先 {b!r} 再 {a}") == ["{a}", "{b!r}"]
    assert fields("'Terminal {{id}}'") == []


def test_the_enum_words_cover_every_enum_a_table_shows() -> None:
    for enum in ENUMS:
        # STATUS_UNSPECIFIED, STATUS_SUBMITTED… → STATUS_
        prefix = "".join(letters[0] for letters in zip(*enum.keys(), strict=False) if len(set(letters)) == 1)
        prefix = prefix[: prefix.rfind("_") + 1]
        for name in enum.keys():
            if not name.endswith("_UNSPECIFIED"):
                assert enum_name(name, prefix) in WORDS, name


@pytest.mark.parametrize(("env", "language"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "C"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.GB18030"}, "zh_CN"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL wins over the rest
    ({"LANG": "zh_CN.UTF-8", "LINLI_LANG": "en"}, "en"),  # and LINLI_LANG over the locale
    ({"LANG": "C", "LINLI_LANG": "zh"}, "zh_CN"),
    ({"LANG": "zh_TW.UTF-8", "LINLI_LANG": ""}, "zh_CN"),  # empty is unset
])
def test_the_language_follows_linli_lang_then_the_locale(env: dict[str, str], language: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LINLI_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert i18n.language() == language


def test_a_catalogue_without_its_compiled_file_is_compiled_from_the_po(tmp_path: Path) -> None:
    po, _ = i18n.catalogue_paths()
    import gettext
    import io

    compiled = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(po)))
    assert compiled.gettext("not signed in or token expired: run linli login") == (
        "未登录或令牌已过期：请运行 linli login")
    assert compiled.ngettext("wrote {count} row to {file}", "wrote {count} rows to {file}", 3) == (
        "已将 {count} 行写入 {file}")


def run(monkeypatch: pytest.MonkeyPatch, lang: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.delenv("LINLI_LANG", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", lang)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(linli_app.app, list(args), prog_name="linli")
    return result.exit_code, result.stdout, result.stderr


def test_help_speaks_chinese_under_a_chinese_locale_and_english_under_c(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, "zh_CN.UTF-8", "roster", "import", "--help")
    assert code == 0
    for chinese in ("用法：", "导入名册文件", "参数", "选项", "除非所有行都正确", "显示此帮助并退出", "[必填]"):
        assert chinese in out, (chinese, out)
    code, out, _ = run(monkeypatch, "zh_CN.UTF-8", "--help")
    assert code == 0 and "邻里（Linli）" in out and "从电子表格导入志愿者。" in out and "命令" in out
    code, out, _ = run(monkeypatch, "C", "roster", "import", "--help")
    assert code == 0 and "Usage:" in out and "Import a roster file" in out and "Options" in out and "用法" not in out


def test_errors_speak_the_locales_language(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("LINLI_TOKEN", raising=False)
    code, _, err = run(monkeypatch, "zh_CN.UTF-8", "volunteers", "list", "chengdu/jinjiang/chenglonglu/fengshu")
    assert (code, err.strip()) == (3, "错误：未登录或令牌已过期：请运行 linli login")
    code, _, err = run(monkeypatch, "zh_CN.UTF-8", "pairings", "short", "chengdu/x", "--month", "2026-13")
    assert code == 2 and err.strip() == "错误：--month：'2026-13' 不是 YYYY-MM 格式的月份"
    code, _, err = run(monkeypatch, "C", "pairings", "short", "chengdu/x", "--month", "2026-13")
    assert code == 2 and err.strip() == "error: --month: '2026-13' is not a month written YYYY-MM"


def test_the_platform_commands_of_the_runtime_speak_the_locales_language(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """`linli platform …` lives in linli_runtime, which keeps no catalogue: the CLI installs its
    translator there, and the runtime's messages are extracted into the CLI's catalogue."""
    assert "stopped; data kept under {folder}" in messages()  # marked in linli_runtime/platform.py
    code, out, _ = run(monkeypatch, "zh_CN.UTF-8", "platform", "services")
    assert code == 0 and "（POS 入口）" in out
    code, _, err = run(monkeypatch, "zh_CN.UTF-8", "platform", "restore", str(tmp_path), "--var-dir",
                       str(tmp_path / "var"))
    assert code == 1 and "中没有邻里备份（缺少 manifest.json）" in err and "错误" in err
    code, _, err = run(monkeypatch, "C", "platform", "restore", str(tmp_path), "--var-dir", str(tmp_path / "var"))
    assert code == 1 and "holds no Linli backup (manifest.json missing)" in err and "错误" not in err
