"""What a certificate says and which font draws it (certificates.py), without drawing: the font
search finds a CJK file or says what to install, names are escaped, numbers and file names are
stable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from linli_points.certificates import CertificateText, Font, certificate_html, filename, find_cjk_font

from linli_runtime.errors import FailedPrecondition

TEXT = CertificateText(community_path="chengdu/jinjiang/chenglonglu/fengshu", year=2026, volunteer_id="v-007",
                       volunteer_name="王秀英", tier=2, rank=3, points_earned=180, issuer="",
                       issued_on=date(2027, 1, 2))


def test_no_cjk_font_is_a_clear_refusal(tmp_path: Path) -> None:
    (tmp_path / "DejaVuSans.ttf").write_bytes(b"not CJK")
    with pytest.raises(FailedPrecondition) as caught:
        find_cjk_font(dirs=[str(tmp_path)], use_fontconfig=False)
    assert caught.value.reason == "NO_CJK_FONT"
    assert "apt-get install fonts-noto-cjk" in caught.value.message and "LINLI_CERTIFICATE_FONT" in caught.value.message
    with pytest.raises(FailedPrecondition, match="not a font file here"):
        find_cjk_font(str(tmp_path / "missing.ttc"), use_fontconfig=False)


def test_a_cjk_font_file_is_found_regular_serif_first(tmp_path: Path) -> None:
    noto = tmp_path / "opentype" / "noto"
    noto.mkdir(parents=True)
    for name in ("NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"):
        (noto / name).write_bytes(b"font")
    found = find_cjk_font(dirs=[str(tmp_path)], use_fontconfig=False)
    assert found == Font(path=str(noto / "NotoSerifCJK-Regular.ttc"))
    configured = noto / "NotoSansCJK-Bold.ttc"
    assert find_cjk_font(str(configured), use_fontconfig=False) == Font(path=str(configured))


def test_the_text_names_the_tier_rank_and_issuer_and_escapes_names() -> None:
    page = certificate_html(TEXT, Font(family="Noto Serif CJK SC"))
    assert "银牌·红枫卫士" in page and "第3名" in page and "180积分" in page and "2027年1月2日" in page
    assert "chengdu/jinjiang/chenglonglu/fengshu" in page, "without an issuer, the community by its path"
    assert 'font-family: "Noto Serif CJK SC"' in page
    hostile = CertificateText(**{**TEXT.__dict__, "volunteer_name": "<script>x</script>", "issuer": "A & B"})
    page = certificate_html(hostile, Font(path="/fonts/x.ttc"))
    assert "<script>" not in page and "&lt;script&gt;" in page and "A &amp; B" in page
    assert 'src: url("file:///fonts/x.ttc")' in page


def test_numbers_and_file_names() -> None:
    assert TEXT.number.startswith("HFWS-2026-S003-") and TEXT.number == CertificateText(**TEXT.__dict__).number
    assert filename(TEXT) == "fengshu-2026-silver-v-007.pdf"
