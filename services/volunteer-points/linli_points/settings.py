"""volunteer-points' settings, from the environment (LINLI_* and the runtime's, see README)."""

from __future__ import annotations

from pydantic import Field

from linli_runtime.settings import ServiceSettings


class PointsSettings(ServiceSettings):
    service_name: str = "volunteer-points"
    # Seconds between sweeps for holds past their timeout.
    hold_sweep_interval: float = Field(default=1.0, gt=0)
