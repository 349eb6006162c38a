"""Which approved template a vendor sends for a message, and the values that fill it.

Operators register templates with the vendor and configure, per vendor, which template each
message kind uses (`one_time_code=SMS_123,*=SMS_456`): `*` is used for any kind without its own.
The values are the message's `params`, in order — named for Aliyun (`${code}`, `${minutes}`;
`${title}`, `${body}`), positional for Tencent (`{1}`, `{2}`) — each cut to the vendor's length
limit for a variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from linli_notification.providers import OutboundMessage, ProviderError

ANY_KIND = "*"
# Vendors cap a template variable (Aliyun: 35 characters for most variable types).
DEFAULT_MAX_PARAM_CHARS = 35


@dataclass(frozen=True)
class VendorTemplates:
    codes: Mapping[str, str] = field(default_factory=dict)
    max_param_chars: int = DEFAULT_MAX_PARAM_CHARS

    @classmethod
    def parse(cls, text: str, setting: str) -> VendorTemplates:
        """From a setting's value, `kind=template` comma-separated; ValueError naming `setting`."""
        codes: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            kind, _, code = (piece.strip() for piece in item.partition("="))
            if not kind or not code:
                raise ValueError(f"{setting}: {item!r} is not kind=template (e.g. one_time_code=SMS_1234,*=SMS_5678)")
            codes[kind] = code
        return cls(codes)

    def code_for(self, vendor: str, kind: str) -> str:
        """The template for `kind`; a ProviderError naming the setting when there is none (the
        next provider may have one)."""
        code = self.codes.get(kind) or self.codes.get(ANY_KIND)
        if not code:
            raise ProviderError(f"no {vendor} SMS template for {kind or 'this message'!r}: add it to "
                                f"LINLI_{vendor.upper()}_SMS_TEMPLATES (or a '*' template)")
        return code

    def values(self, message: OutboundMessage) -> dict[str, str]:
        """The template's values: the message's params, or its title and body."""
        params = dict(message.params) or {"title": message.title, "body": message.body}
        return {key: self._cut(value) for key, value in params.items()}

    def _cut(self, value: str) -> str:
        limit = self.max_param_chars
        return value if limit <= 0 or len(value) <= limit else value[: limit - 1] + "…"
