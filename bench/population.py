"""The bench's synthetic member population (参保人), written as a members CSV.

    python -m bench population --members 1000000 --out members.csv
    claimgate load members members.csv --redis-url URL

The bench owns its population: member ``i`` is a pure function of ``(seed, i)``
(one ``random.Random`` per member), so every client process can regenerate the
traits of any member it picks without holding a million rows in memory, and the
file is the one documented in ``docs/csv-formats.md`` (``claimgate load members``).

Member ids follow the public naming convention of the demo population
(``gateway.demo_population``), so a bench can also run against ``claimgate seed --members N``:

- ``psn_no`` = insured region (6 digits) + 8-digit index, e.g. ``31010000000017``;
- ``card_no`` = ``K`` + first 4 digits of the region + 8-digit index;
- every member whose index is 49 mod 50 is insured in region ``320100`` (another
  region: the demo institutions are remote care for them), the others in ``310100``.

Distributions (realistic, not census data): 60% employee scheme (EMP; 70% active,
30% retired, cohorts A1..A4 / R0..R3 from birth and work dates), 40% resident
scheme (RES; a quarter students); 94% ACTIVE members, 95% ACTIVE cards; 3% with
medical assistance; 1% not yet covered; personal-account balances log-normal
(current-year median about 600 yuan, prior-years median about 4,000 yuan, 5%
empty); 12% of members aged 40+ have a registered chronic disease; 2% a remote
registration.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOME_REGION = "310100"
REMOTE_REGION = "320100"
SERVICE_YEAR = 2026
_INDEX_DIGITS = 8
_OPEN_END = "2099-12-31"
CHRONIC_CODES = ("I10", "E11", "I25", "J45", "F20", "N18", "C92.1")

# The column order of docs/csv-formats.md ("members").
MEMBER_COLUMNS = (
    "psn_no", "name", "sex", "birth_date", "scheme", "person_type", "insured_region", "status",
    "benefit_start", "card_no", "card_status", "assistance", "work_start_date", "retire_date",
    "acct_current_fen", "acct_prior_fen", "chronic", "remote",
)  # fmt: skip


def region_of(index: int) -> str:
    return REMOTE_REGION if index % 50 == 49 else HOME_REGION


def psn_no_of(index: int) -> str:
    """The member id of member ``index`` (same convention as the demo population)."""
    return f"{region_of(index)}{index:0{_INDEX_DIGITS}d}"


def card_no_of(index: int) -> str:
    """The social-security card (社保卡) bound to member ``index``."""
    return f"K{region_of(index)[:4]}{index:0{_INDEX_DIGITS}d}"


@dataclass(frozen=True, slots=True)
class MemberTraits:
    """What the claim generators need to know about a member."""

    index: int
    psn_no: str
    card_no: str
    scheme: str  # EMP / RES
    person_type: str
    sex: str
    birth_year: int
    status: str
    card_status: str
    covered: bool  # benefit_start is before the service year ends
    chronic: tuple[str, ...]  # registered chronic disease codes
    acct_current_fen: int
    acct_prior_fen: int

    @property
    def eligible(self) -> bool:
        """ACTIVE member, ACTIVE card and covered: claims are not refused at the gate."""
        return self.status == "ACTIVE" and self.card_status == "ACTIVE" and self.covered


def _pick(rng: random.Random, table: tuple[tuple[float, str], ...]) -> str:
    draw = rng.random()
    for bound, value in table:
        if draw < bound:
            return value
    return table[-1][1]


_STATUSES = ((0.94, "ACTIVE"), (0.97, "SUSPENDED"), (0.99, "TERMINATED"), (1.0, "DECEASED"))
_CARDS = ((0.95, "ACTIVE"), (0.97, "LOST"), (0.99, "FROZEN"), (1.0, "CANCELLED"))
_ASSISTANCE = ((0.97, "NONE"), (0.985, "DIBAO"), (0.99, "WUBAO"), (1.0, "YOUFU"))


def _lognormal_fen(rng: random.Random, median_fen: int, sigma: float, cap_fen: int) -> int:
    return min(cap_fen, int(median_fen * math.exp(rng.gauss(0.0, sigma))))


def member_row(index: int, seed: int) -> dict[str, str]:
    """One CSV row (column -> text) of member ``index``: a pure function of (seed, index)."""
    rng = random.Random(seed * 10_000_019 + index)
    region = region_of(index)
    sex = "FEMALE" if rng.random() < 0.5 else "MALE"
    month, day = 1 + int(rng.random() * 12), 1 + int(rng.random() * 28)
    work_start = retire = ""
    cur = pri = 0
    if rng.random() < 0.6:
        scheme = "EMP"
        if rng.random() < 0.3:
            person_type = "RETIRED"
            birth_year = 1930 + int(rng.random() * 46)  # 1930..1975
            retire_year = min(birth_year + 55 + int(rng.random() * 6), SERVICE_YEAR - 1)
            retire = f"{retire_year:04d}-{month:02d}-01"
        else:
            person_type = "ACTIVE"
            birth_year = 1966 + int(rng.random() * 40) if rng.random() < 0.9 else (
                1950 + int(rng.random() * 16)
            )
        work_year = min(birth_year + 18 + int(rng.random() * 6), SERVICE_YEAR - 1)
        work_start = f"{work_year:04d}-{1 + int(rng.random() * 12):02d}-01"
        benefit_start = "2001-01-01" if work_year < 2001 else f"{work_year + 1:04d}-01-01"
        cur = 0 if rng.random() < 0.05 else _lognormal_fen(rng, 60_000, 1.0, 300_000)
        pri = 0 if rng.random() < 0.05 else _lognormal_fen(rng, 400_000, 1.2, 5_000_000)
    else:
        scheme = "RES"
        if rng.random() < 0.25:
            person_type = "STUDENT"
            birth_year = 2008 + int(rng.random() * 16)
        else:
            person_type = "ADULT"
            birth_year = 1935 + int(rng.random() * 73)
        benefit_start = f"{min(max(birth_year + 1, 2009) + int(rng.random() * 5), 2026):04d}-01-01"
    if rng.random() < 0.01:
        benefit_start = f"{SERVICE_YEAR + 1:04d}-01-01"
    chronic: list[str] = []
    if SERVICE_YEAR - birth_year >= 40 and rng.random() < 0.12:
        chronic.append(CHRONIC_CODES[int(rng.random() * len(CHRONIC_CODES))])
        if rng.random() < 0.3:
            second = CHRONIC_CODES[int(rng.random() * len(CHRONIC_CODES))]
            if second not in chronic:
                chronic.append(second)
    remote = ""
    if rng.random() < 0.02:
        target = "H32010001" if region == HOME_REGION else "H31010001|P31010001"
        remote = f"{target}:{SERVICE_YEAR - 1}-01-01:{SERVICE_YEAR + 1}-12-31"
    return {
        "psn_no": psn_no_of(index),
        "name": f"Bench Member {index}",
        "sex": sex,
        "birth_date": f"{birth_year:04d}-{month:02d}-{day:02d}",
        "scheme": scheme,
        "person_type": person_type,
        "insured_region": region,
        "status": _pick(rng, _STATUSES),
        "benefit_start": benefit_start,
        "card_no": card_no_of(index),
        "card_status": _pick(rng, _CARDS),
        "assistance": _pick(rng, _ASSISTANCE),
        "work_start_date": work_start,
        "retire_date": retire,
        "acct_current_fen": str(cur),
        "acct_prior_fen": str(pri),
        "chronic": ";".join(f"{c}:2020-01-01:{_OPEN_END}" for c in chronic),
        "remote": remote,
    }


def traits_of(index: int, seed: int) -> MemberTraits:
    row = member_row(index, seed)
    return MemberTraits(
        index=index,
        psn_no=row["psn_no"],
        card_no=row["card_no"],
        scheme=row["scheme"],
        person_type=row["person_type"],
        sex=row["sex"],
        birth_year=int(row["birth_date"][:4]),
        status=row["status"],
        card_status=row["card_status"],
        covered=int(row["benefit_start"][:4]) <= SERVICE_YEAR,
        chronic=tuple(c.split(":")[0] for c in row["chronic"].split(";") if c),
        acct_current_fen=int(row["acct_current_fen"]),
        acct_prior_fen=int(row["acct_prior_fen"]),
    )


def rows(members: int, seed: int) -> Iterator[dict[str, str]]:
    for index in range(members):
        yield member_row(index, seed)


def write_members_csv(path: Path, members: int, seed: int,
                      advance: Callable[[int], None] | None = None) -> int:
    """Write ``members`` rows in the ``claimgate load members`` format; returns the count.
    ``advance(n)`` is told of every 1,000 rows written (a progress line)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MEMBER_COLUMNS, lineterminator="\n")
        w.writeheader()
        count = 0
        for row in rows(members, seed):
            w.writerow(row)
            count += 1
            if advance is not None and count % 1000 == 0:
                advance(1000)
    if advance is not None and count % 1000:
        advance(count % 1000)
    return count


def today() -> dt.date:
    return dt.date.today()
