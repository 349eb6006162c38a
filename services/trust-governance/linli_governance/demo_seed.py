"""Seeds the demo data set (linli_runtime/demo/chengdu.toml): Chongzhou's 14 adopted + 3
importing trust-model compounds and Fengshu's org path. Idempotent: units that exist are
skipped, so starting twice adds nothing."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import org_pb2, rollout_pb2
from linli_governance import org_tree, rollout
from linli_runtime import demo
from linli_runtime.server import ServiceApp

log = logging.getLogger("linli.governance.demo")

TOWN_NAMES = {
    "huaiyuan": ("怀远镇", "Huaiyuan"),
    "yangma": ("羊马街道", "Yangma"),
    "longxing": ("隆兴镇", "Longxing"),
    "sanjiang": ("三江街道", "Sanjiang"),
    "chongyang": ("崇阳街道", "Chongyang"),
}
COMMUNITY_NAMES = {
    "dingjiangqiao": ("定江桥社区", "Dingjiangqiao"),
    "chongjianglu": ("崇江路社区", "Chongjianglu"),
    "longxing-community": ("隆兴社区", "Longxing community"),
}
STAGES_TO = {
    "adopted": [
        rollout_pb2.ROLLOUT_STAGE_SURVEYED,
        rollout_pb2.ROLLOUT_STAGE_PILOT,
        rollout_pb2.ROLLOUT_STAGE_IMPORTING,
        rollout_pb2.ROLLOUT_STAGE_ADOPTED,
    ],
    "importing": [rollout_pb2.ROLLOUT_STAGE_SURVEYED, rollout_pb2.ROLLOUT_STAGE_IMPORTING],
}
COMPOUND_TYPES = {"commercial": org_pb2.COMPOUND_TYPE_COMMERCIAL, "resettlement": org_pb2.COMPOUND_TYPE_RESETTLEMENT}


def demo_units() -> list[tuple[org_tree.NewUnit, str]]:
    """Every unit to seed, parents first, with the rollout stage for compounds ('' otherwise)."""
    data: dict[str, Any] = demo.load()
    city = data["city"]
    units: list[tuple[org_tree.NewUnit, str]] = [
        (org_tree.NewUnit("", city["slug"], org_tree.CITY, city["name"], city["name_en"]), "")
    ]
    seen = {city["slug"]}

    def add(unit: org_tree.NewUnit, stage: str = "") -> None:
        if unit.path not in seen:
            seen.add(unit.path)
            units.append((unit, stage))

    chongzhou = data["chongzhou"]
    district_path = chongzhou["path"]
    parent, slug = district_path.rsplit("/", 1)
    add(org_tree.NewUnit(parent, slug, org_tree.DISTRICT, chongzhou["name"], chongzhou["name_en"]))
    for compound in chongzhou["compounds"]:
        _, _, town, community, leaf = compound["path"].split("/")
        town_path = f"{district_path}/{town}"
        add(org_tree.NewUnit(district_path, town, org_tree.STREET, compound["town"], TOWN_NAMES[town][1]))
        add(
            org_tree.NewUnit(
                town_path,
                community,
                org_tree.COMMUNITY,
                compound["community"],
                COMMUNITY_NAMES.get(community, ("", community))[1],
            )
        )
        add(
            org_tree.NewUnit(
                f"{town_path}/{community}",
                leaf,
                org_tree.COMPOUND,
                compound["name"],
                compound["name_en"],
                compound_type=COMPOUND_TYPES[compound["type"]],
            ),
            compound["stage"],
        )

    placeholders = chongzhou["placeholders"]
    towns: list[str] = placeholders["towns"]
    total = placeholders["adopted"] + placeholders["importing"]
    resettlement = round(total * placeholders["resettlement_share"])
    for i in range(total):
        town = towns[i % len(towns)]
        town_path = f"{district_path}/{town}"
        community = f"{town}-demo"
        add(org_tree.NewUnit(district_path, town, org_tree.STREET, *TOWN_NAMES[town]))
        add(
            org_tree.NewUnit(
                town_path,
                community,
                org_tree.COMMUNITY,
                f"{TOWN_NAMES[town][0]}示例社区",
                f"{TOWN_NAMES[town][1]} demo community (placeholder)",
            )
        )
        kind = org_pb2.COMPOUND_TYPE_RESETTLEMENT if i < resettlement else org_pb2.COMPOUND_TYPE_COMMERCIAL
        add(
            org_tree.NewUnit(
                f"{town_path}/{community}",
                f"compound-{i + 1:02d}",
                org_tree.COMPOUND,
                f"示例小区{i + 1:02d}",
                f"Demo compound {i + 1:02d} (placeholder)",
                compound_type=kind,
            ),
            "adopted" if i < placeholders["adopted"] else "importing",
        )

    fengshu = data["fengshu"]
    _, district, street, community = fengshu["path"].split("/")
    add(org_tree.NewUnit(city["slug"], district, org_tree.DISTRICT, fengshu["district"], "Jinjiang"))
    add(org_tree.NewUnit(f"{city['slug']}/{district}", street, org_tree.STREET, fengshu["street"], "Chenglonglu"))
    add(
        org_tree.NewUnit(
            f"{city['slug']}/{district}/{street}", community, org_tree.COMMUNITY, fengshu["name"], fengshu["name_en"]
        )
    )
    for compound in fengshu.get("compounds", []):
        parent, leaf = compound["path"].rsplit("/", 1)
        add(
            org_tree.NewUnit(
                parent,
                leaf,
                org_tree.COMPOUND,
                compound["name"],
                compound["name_en"],
                compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL,
            )
        )
    return units


async def seed(session: AsyncSession, app: ServiceApp) -> int:
    when = app.clock.now()
    created = 0
    for unit, stage in demo_units():
        if await org_tree.find(session, unit.path) is not None:
            continue
        await org_tree.create(session, app, unit, when=when)
        created += 1
        for step in STAGES_TO.get(stage, []):
            await rollout.advance(
                session, unit.path, step, date="2026-01-15", note="demo data", working_group=[], when=when, force=True
            )
    return created


async def seed_demo_data(app: ServiceApp) -> None:
    async with app.db.transaction() as session:
        created = await seed(session, app)
    log.info("demo data seeded", extra={"org_units_created": created})
