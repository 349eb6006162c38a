"""The owners' objection form on a compound's page: what it accepts, checked before anything is
sent, with a message per field in both languages. Only a signed-in owner sees it, and files for
one of their households (required) with their own token. The form carries a request id minted when the page was
rendered, so submitting it twice (a double tap, a browser resubmit) files one objection."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from linli.governance.v1 import disclosure_pb2

KINDS = {"objection": disclosure_pb2.OBJECTION_KIND_OBJECTION, "inspection": disclosure_pb2.OBJECTION_KIND_INSPECTION}
MAX_TEXT = 2000
MIN_TEXT = 4
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
# The form's choice for an objection to the disclosure as a whole (no line named): a month that
# shows nothing can still be wrong ("we paid our fees, where are they?").
WHOLE = ""
WHOLE_NAME = "整份公示 The disclosure as a whole"


@dataclass
class ObjectionForm:
    account: str = ""
    kind: str = "objection"
    text: str = ""
    household: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    errors: dict[str, str] = field(default_factory=dict)

    def validate(self, accounts: set[str], households: set[str], *, required: bool = False) -> bool:
        """`households`: those the signer may file for; with `required` one of them must be chosen."""
        self.text = self.text.strip()
        if self.account != WHOLE and self.account not in accounts:
            self.errors["account"] = "请选择公示中的一项 Choose a line of the disclosure"
        if self.kind not in KINDS:
            self.errors["kind"] = "请选择“提出异议”或“申请查阅凭证” Choose an objection or an inspection request"
        if len(self.text) < MIN_TEXT:
            self.errors["text"] = (f"请写明您的问题（至少{MIN_TEXT}个字） "
                                   f"Say what you are asking about (at least {MIN_TEXT} characters)")
        elif len(self.text) > MAX_TEXT:
            self.errors["text"] = (f"内容过长：{len(self.text)}字，最多{MAX_TEXT}字 "
                                   f"Too long: {len(self.text)} characters, at most {MAX_TEXT}")
        if (self.household or required) and self.household not in households:
            self.errors["household"] = "请选择您在本小区的房屋 Choose your household in this compound"
        if not REQUEST_ID.match(self.request_id):
            self.request_id = uuid.uuid4().hex
        return not self.errors

    def request(self, disclosure: str) -> disclosure_pb2.FileObjectionRequest:
        return disclosure_pb2.FileObjectionRequest(disclosure=disclosure, kind=KINDS[self.kind], account=self.account,
                                                   text=self.text, household_path=self.household,
                                                   request_id=self.request_id)
