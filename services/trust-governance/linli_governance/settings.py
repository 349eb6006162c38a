"""trust-governance's settings: the runtime's (`PORT`, `DATABASE_URL`, `NATS_URL`, `LINLI_*`) and
where voucher files are kept (vouchers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from linli_runtime.settings import ServiceSettings


class GovernanceSettings(ServiceSettings):
    service_name: str = "trust-governance"
    # `local`: files under `voucher_dir`; `s3`: an S3-compatible object store (production).
    voucher_store: Literal["local", "s3"] = "local"
    # Default: `vouchers/` beside the SQLite database (the var directory of `make run`), else
    # `var/vouchers` under the working directory.
    voucher_dir: str = ""
    voucher_max_bytes: int = 6 * 1024 * 1024  # under the 8 MiB gRPC message limit
    voucher_s3_endpoint: str = ""
    voucher_s3_bucket: str = ""
    voucher_s3_region: str = "us-east-1"
    voucher_s3_prefix: str = "vouchers/"
    voucher_s3_access_key_id: str = ""
    voucher_s3_secret_access_key: str = ""
    # How often open votes are opened and closed by their schedule, in seconds.
    vote_schedule_interval: float = 30.0

    def voucher_root(self) -> Path:
        if self.voucher_dir:
            return Path(self.voucher_dir)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).resolve().parent / "vouchers"
        return Path("var") / "vouchers"
