"""SMS vendors' own APIs behind the `Provider` interface: Aliyun (Dysmsapi `SendSms`, signature
V3 `ACS3-HMAC-SHA256`) and Tencent Cloud (SMS `SendSms` 2021-01-11, signature v3
`TC3-HMAC-SHA256`). Mainland vendors send only pre-approved templates under a pre-approved
signature (签名), so each adapter is configured with its sign name and a template per message
kind (`templates.py`); numbers are E.164 (`phones.py`). Both sign their requests by the vendor's
published algorithm with the standard library's `hmac`/`hashlib` — the vendor's protocol, not
our cryptography — and map the vendor's answers onto `ProviderError`, `Throttled` and
`RecipientRejected`.
"""
