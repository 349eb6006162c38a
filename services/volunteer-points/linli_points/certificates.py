"""Red Maple Guardian certificates (金银铜牌·红枫卫士荣誉证书) as PDF, drawn with WeasyPrint.

`draw` is a pure function of the certificate's text (and where to find a font) returning the
PDF's bytes: it runs in a worker process (workers.py), never on the request loop — layout and
font subsetting take about a second. The text is Chinese first with one English line; the font
is found at run time and embedded (WeasyPrint subsets it into the PDF), so the certificate
reads the same on any device:

1. `LINLI_CERTIFICATE_FONT`, when set: a font file (.ttf, .otf, .ttc);
2. else fontconfig's fonts covering Chinese (`fc-list :lang=zh`), Simplified Chinese faces
   (Noto Serif/Sans CJK SC, Source Han…) first;
3. else a font file whose name says CJK under the usual font directories.

None found is FAILED_PRECONDITION (reason NO_CJK_FONT) with what to install — never a PDF of
empty boxes.
"""

from __future__ import annotations

import hashlib
import html
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from linli_runtime.errors import FailedPrecondition

log = logging.getLogger("linli.points.certificates")

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/fonts/truetype", "~/.fonts",
             "~/.local/share/fonts", "/Library/Fonts", "/System/Library/Fonts")
# File names of fonts with Chinese characters, for the search without fontconfig.
CJK_NAMES = ("*CJK*", "*SourceHan*", "*wqy*", "*WenQuanYi*", "*DroidSansFallback*", "*NotoSansSC*",
             "*NotoSerifSC*", "*SimSun*", "*simsun*", "*msyh*", "*PingFang*")
# Preferred fontconfig families, best first: a serif for a certificate, Simplified Chinese forms.
PREFERRED = ("Noto Serif CJK SC", "Source Han Serif SC", "Source Han Serif CN", "Noto Sans CJK SC",
             "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
NO_FONT = ("no font with Chinese characters is installed on this server, so certificates cannot be drawn: "
           "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk) or set LINLI_CERTIFICATE_FONT to a "
           ".ttf, .otf or .ttc file")

# linli.events.v1.AwardTier → (Chinese, English, colour)
TIERS = {1: ("金牌", "Gold", "#b8860b"), 2: ("银牌", "Silver", "#7a7f87"), 3: ("铜牌", "Bronze", "#9a5b2c")}


@dataclass(frozen=True)
class Font:
    """A CJK font: a fontconfig family (WeasyPrint finds it through fontconfig), or a file."""

    family: str = ""
    path: str = ""


@dataclass(frozen=True)
class CertificateText:
    """Everything a certificate says."""

    community_path: str
    year: int
    volunteer_id: str
    volunteer_name: str
    tier: int  # linli.events.v1.AwardTier
    rank: int
    points_earned: int
    issuer: str  # in whose name it is given
    issued_on: date  # the day the year was closed, in Asia/Shanghai

    @property
    def number(self) -> str:
        """A certificate number that names the year, tier and rank, unique per award."""
        digest = hashlib.sha256(f"{self.community_path}\x1f{self.year}\x1f{self.volunteer_id}".encode()).hexdigest()
        return f"HFWS-{self.year}-{'GSB'[self.tier - 1] if 1 <= self.tier <= 3 else 'X'}{self.rank:03d}-{digest[:6]}"


def find_cjk_font(configured: str = "", *, dirs: Sequence[str] = FONT_DIRS, use_fontconfig: bool = True) -> Font:
    """The font to draw certificates with (see the module's docstring), or NO_CJK_FONT."""
    if configured:
        if not Path(configured).expanduser().is_file():
            raise FailedPrecondition(f"LINLI_CERTIFICATE_FONT is {configured!r}, which is not a font file here; "
                                     + NO_FONT, reason="NO_CJK_FONT")
        return Font(path=str(Path(configured).expanduser()))
    if use_fontconfig:
        family = _fontconfig_family()
        if family:
            return Font(family=family)
    for directory in dirs:
        root = Path(directory).expanduser()
        if not root.is_dir():
            continue
        for pattern in CJK_NAMES:
            # a regular serif face first: a certificate's body is not bold
            for candidate in sorted(root.rglob(pattern),
                                    key=lambda p: ("Regular" not in p.name, "Serif" not in p.name, p.name)):
                if candidate.suffix.lower() in (".ttf", ".otf", ".ttc", ".otc") and candidate.is_file():
                    return Font(path=str(candidate))
    raise FailedPrecondition(NO_FONT, reason="NO_CJK_FONT")


def _fontconfig_family() -> str:
    """The best family fontconfig knows that covers Chinese, or ""."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ""
    try:
        listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=15,
                                check=False).stdout
    except (OSError, subprocess.SubprocessError):
        log.warning("fc-list failed; looking for font files instead", exc_info=True)
        return ""
    families = {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}
    for preferred in PREFERRED:
        if preferred in families:
            return preferred
    simplified = sorted(f for f in families if f.endswith((" SC", " CN")))
    return (simplified or sorted(families) or [""])[0]


def _date_zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _achievement(text: CertificateText) -> str:
    return (f"在{text.year}年度社区志愿服务中，您累计获得{text.points_earned}积分，位列社区第{text.rank}名，"
            f"荣获{text.year}年度")


def certificate_html(text: CertificateText, font: Font) -> str:
    tier_zh, tier_en, colour = TIERS.get(text.tier, ("", "", "#8b1a1a"))
    e = html.escape
    face = ""
    family = "LinliCJK"
    if font.family:
        family = font.family
    else:
        face = f'@font-face {{ font-family: "LinliCJK"; src: url("{Path(font.path).as_uri()}"); }}'
    issuer = text.issuer or text.community_path
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(tier_zh)}·红枫卫士荣誉证书</title>
<style>
  {face}
  @page {{ size: A4 landscape; margin: 12mm; }}
  body {{ font-family: "{e(family)}"; color: #3a2a1a; margin: 0; }}
  .frame {{ border: 3mm double #a3191b; height: 178mm; padding: 10mm 18mm; box-sizing: border-box;
            text-align: center; position: relative; }}
  h1 {{ font-size: 40pt; letter-spacing: 12pt; color: #a3191b; margin: 4mm 0 0 0; }}
  .en {{ font-size: 10pt; letter-spacing: 2pt; color: #7a5c3e; margin: 1mm 0 8mm 0; }}
  .to {{ text-align: left; font-size: 18pt; margin: 0 0 4mm 0; }}
  .body {{ text-align: left; font-size: 16pt; line-height: 1.9; text-indent: 2em; margin: 0; }}
  .tier {{ font-size: 30pt; color: {colour}; letter-spacing: 4pt; margin: 6mm 0; }}
  .issuer {{ position: absolute; right: 18mm; bottom: 24mm; text-align: right; font-size: 14pt; line-height: 1.8; }}
  .number {{ position: absolute; left: 18mm; bottom: 12mm; font-size: 9pt; color: #7a5c3e; }}
  .line-en {{ position: absolute; left: 18mm; right: 18mm; bottom: 6mm; font-size: 8pt; color: #7a5c3e; }}
</style></head>
<body><div class="frame">
  <h1>荣誉证书</h1>
  <p class="en">CERTIFICATE OF HONOUR · RED MAPLE GUARDIAN</p>
  <p class="to">{e(text.volunteer_name or text.volunteer_id)}同志：</p>
  <p class="body">{e(_achievement(text))}</p>
  <p class="tier">{e(tier_zh)}·红枫卫士</p>
  <p class="body">特发此证，以资鼓励。感谢您为邻里付出的每一份努力！</p>
  <p class="issuer">{e(issuer)}<br>{_date_zh(text.issued_on)}</p>
  <p class="number">证书编号 No. {e(text.number)}</p>
  <p class="line-en">{e(tier_en)} Red Maple Guardian {text.year}: {text.points_earned} volunteer points, rank
  {text.rank} in the community.</p>
</div></body></html>"""


def draw(text: CertificateText, configured_font: str = "") -> bytes:
    """The certificate as PDF bytes (runs in a worker process)."""
    font = find_cjk_font(configured_font)
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]  # heavy: only certificates need it
    except (ImportError, OSError) as exc:  # OSError: the Pango library is missing
        raise FailedPrecondition(f"certificates cannot be drawn on this server: WeasyPrint is unusable ({exc}); "
                                 "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0)",
                                 reason="PDF_UNAVAILABLE") from None
    pdf: bytes = HTML(string=certificate_html(text, font)).write_pdf()
    return pdf


def filename(text: CertificateText) -> str:
    tier = TIERS.get(text.tier, ("", "award", ""))[1].lower()
    return f"{text.community_path.rsplit('/', 1)[-1]}-{text.year}-{tier}-{text.volunteer_id}.pdf"
