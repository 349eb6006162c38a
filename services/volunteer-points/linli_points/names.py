"""Names of volunteer-points' resources, as they appear in its messages, events and ledger
transfers.

Points names a resource by its community's org path followed by the collection and id
(`chengdu/jinjiang/chenglonglu/fengshu/pairings/p-001`), the form its protos and events
published from the first version; the org-path names of linli_runtime.names
(`communities/a~b~c/...`) are for services whose methods take a resource name. The `source` of a
ledger transfer names what caused it relative to the community (`activities/a-1`).
"""

from __future__ import annotations


def pairing_name(path: str, pairing_id: str) -> str:
    return f"{path}/pairings/{pairing_id}"


def award_name(path: str, year: int, volunteer_id: str) -> str:
    return f"{path}/awards/{year}/{volunteer_id}"


def activity_source(activity_id: str) -> str:
    """The `source` of the transfer that credits an activity's points."""
    return f"activities/{activity_id}"


def adjustment_source(adjustment_id: str) -> str:
    """The `source` of the transfer that applies an approved adjustment."""
    return f"adjustments/{adjustment_id}"
