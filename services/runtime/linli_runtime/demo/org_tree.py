"""The demo data set's org tree (chengdu.toml), down to compounds, parents first.

Trust-governance creates these units at start-up with demo data; the services that keep a copy
of the tree (volunteer-points, partner-redemption, notification) learn the same units, with the
same names and kinds, as the events announcing them would teach them (`linli_runtime.org_units`)
— so a platform whose governance has not yet published, or a service started alone with demo
data, already knows the places its own demo data names. One derivation, read by all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linli_runtime import demo

# Org unit kinds, numbered as linli.governance.v1.OrgUnitKind and linli.events.v1.OrgUnitKind.
CITY, DISTRICT, STREET, COMMUNITY, COMPOUND = 1, 2, 3, 4, 5

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


@dataclass(frozen=True)
class DemoUnit:
    parent_path: str
    slug: str
    kind: int
    name: str
    name_en: str
    compound_type: str = ""  # compounds: "commercial" or "resettlement"
    stage: str = ""  # compounds: the trust-model rollout stage ("adopted", "importing")

    @property
    def path(self) -> str:
        return f"{self.parent_path}/{self.slug}" if self.parent_path else self.slug


def units() -> list[DemoUnit]:
    """Every unit of the demo tree, parents before children, each once."""
    data: dict[str, Any] = demo.load()
    city = data["city"]
    found: dict[str, DemoUnit] = {}

    def add(unit: DemoUnit) -> None:
        found.setdefault(unit.path, unit)

    add(DemoUnit("", city["slug"], CITY, city["name"], city["name_en"]))
    chongzhou = data["chongzhou"]
    district_path = chongzhou["path"]
    parent, slug = district_path.rsplit("/", 1)
    add(DemoUnit(parent, slug, DISTRICT, chongzhou["name"], chongzhou["name_en"]))
    for compound in chongzhou["compounds"]:
        _, _, town, community, leaf = compound["path"].split("/")
        town_path = f"{district_path}/{town}"
        add(DemoUnit(district_path, town, STREET, compound["town"], TOWN_NAMES[town][1]))
        add(DemoUnit(town_path, community, COMMUNITY, compound["community"],
                     COMMUNITY_NAMES.get(community, ("", community))[1]))
        add(DemoUnit(f"{town_path}/{community}", leaf, COMPOUND, compound["name"], compound["name_en"],
                     compound_type=compound["type"], stage=compound["stage"]))

    placeholders = chongzhou["placeholders"]
    towns: list[str] = placeholders["towns"]
    total = placeholders["adopted"] + placeholders["importing"]
    resettlement = round(total * placeholders["resettlement_share"])
    for i in range(total):
        town = towns[i % len(towns)]
        town_path = f"{district_path}/{town}"
        community = f"{town}-demo"
        add(DemoUnit(district_path, town, STREET, *TOWN_NAMES[town]))
        add(DemoUnit(town_path, community, COMMUNITY, f"{TOWN_NAMES[town][0]}示例社区",
                     f"{TOWN_NAMES[town][1]} demo community (placeholder)"))
        add(DemoUnit(f"{town_path}/{community}", f"compound-{i + 1:02d}", COMPOUND, f"示例小区{i + 1:02d}",
                     f"Demo compound {i + 1:02d} (placeholder)",
                     compound_type="resettlement" if i < resettlement else "commercial",
                     stage="adopted" if i < placeholders["adopted"] else "importing"))

    fengshu = data["fengshu"]
    _, district, street, community = fengshu["path"].split("/")
    add(DemoUnit(city["slug"], district, DISTRICT, fengshu["district"], "Jinjiang"))
    add(DemoUnit(f"{city['slug']}/{district}", street, STREET, fengshu["street"], "Chenglonglu"))
    add(DemoUnit(f"{city['slug']}/{district}/{street}", community, COMMUNITY, fengshu["name"], fengshu["name_en"]))
    for compound in fengshu.get("compounds", []):
        parent, leaf = compound["path"].rsplit("/", 1)
        add(DemoUnit(parent, leaf, COMPOUND, compound["name"], compound["name_en"], compound_type="commercial"))
    return list(found.values())
