"""AIP-122 names of trust-governance's collections, on top of `linli_runtime.names`.

Everything a compound owns is named under the compound, its org path written with '~'
(`compounds/chengdu~chongzhou~longxing~longxing-community~shengjian/votes/7f3a…`), so a scope
check needs no database read and a replayed request is checked exactly like a new one.

    compounds/{compound}/votes/{vote id}
    compounds/{compound}/transfers/{transfer id}
    compounds/{compound}/budgets/{year}
    compounds/{compound}/disclosures/{period}
    compounds/{compound}/disclosures/{period}/objections/{objection id}
    compounds/{compound}/meetings/{meeting id}
    compounds/{compound}/projects/{project id}
    compounds/{compound}/periods/{period}/serviceLevels/{standard code}
    compounds/{compound}/vouchers/{sha256}
    compounds/{compound}/settingsChanges/{change id}
    compounds/{compound}/committeeFormation                 (a singleton)
"""

from __future__ import annotations

from linli_runtime import names
from linli_runtime.errors import InvalidArgument

COMPOUNDS = "compounds"
VOTES = "votes"
TRANSFERS = "transfers"
BUDGETS = "budgets"
DISCLOSURES = "disclosures"
OBJECTIONS = "objections"
MEETINGS = "meetings"
PROJECTS = "projects"
PERIODS = "periods"
VOUCHERS = "vouchers"
SERVICE_LEVELS = "serviceLevels"
SETTINGS_CHANGES = "settingsChanges"


def compound_child(compound_path: str, collection: str, ident: str) -> str:
    """`compounds/{compound}/{collection}/{ident}`."""
    return names.child_name(COMPOUNDS, compound_path, collection, ident)


def parse_compound_child(field: str, name: str, collection: str) -> tuple[str, str]:
    """`compounds/{compound}/{collection}/{id}` → (compound path, id); INVALID_ARGUMENT on `field`."""
    return names.parse_child(field, name, COMPOUNDS, collection)


def vote_name(compound_path: str, vote_id: str) -> str:
    return compound_child(compound_path, VOTES, vote_id)


def transfer_name(compound_path: str, transfer_id: str) -> str:
    return compound_child(compound_path, TRANSFERS, transfer_id)


def settings_change_name(compound_path: str, change_id: str) -> str:
    return compound_child(compound_path, SETTINGS_CHANGES, change_id)


def budget_name(compound_path: str, year: int) -> str:
    return compound_child(compound_path, BUDGETS, str(year))


def disclosure_name(compound_path: str, period: str) -> str:
    return compound_child(compound_path, DISCLOSURES, period)


def objection_name(disclosure: str, objection_id: str) -> str:
    return f"{disclosure}/{OBJECTIONS}/{objection_id}"


def meeting_name(compound_path: str, meeting_id: str) -> str:
    return compound_child(compound_path, MEETINGS, meeting_id)


def project_name(compound_path: str, project_id: str) -> str:
    return compound_child(compound_path, PROJECTS, project_id)


def service_level_name(compound_path: str, period: str, code: str) -> str:
    return f"{compound_child(compound_path, PERIODS, period)}/{SERVICE_LEVELS}/{code}"


def voucher_name(compound_path: str, sha256: str) -> str:
    return compound_child(compound_path, VOUCHERS, sha256)


def formation_name(compound_path: str) -> str:
    return f"{names.parent_name(COMPOUNDS, compound_path)}/committeeFormation"


def parse_objection(field: str, name: str) -> tuple[str, str, str]:
    """`compounds/{compound}/disclosures/{period}/objections/{id}` → (compound path, period, id)."""
    disclosure, sep, objection_id = name.rpartition(f"/{OBJECTIONS}/")
    if not sep or not objection_id or "/" in objection_id:
        raise InvalidArgument.field(field, "must look like compounds/{compound}/disclosures/{period}/objections/{id}")
    compound_path, period = parse_compound_child(field, disclosure, DISCLOSURES)
    return compound_path, period, objection_id
