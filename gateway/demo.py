"""Deterministic demo data: what its catalogue, institutions and member population share.

Pure generation: no Redis here, the store loads these objects. Everything is a
function of its arguments (a ``random.Random(seed)`` per call, no global
state), so the same seed gives the same data on every machine. The data itself
is in :mod:`gateway.demo_catalogue`, :mod:`gateway.demo_institutions` and
:mod:`gateway.demo_population`.

The demo region is ``310100``; ``320100`` is "another region" for remote care
(异地就医). Service dates of the demo are in benefit year :data:`DEMO_YEAR`.

The first members of every population are the
:func:`~gateway.demo_population.well_known_members`, with fixed properties
whatever the seed, so that the README and tests can compute expected numbers by hand.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "CHRONIC_DISEASES",
    "DEMO_REGION",
    "DEMO_SEED",
    "DEMO_YEAR",
    "NOT_YET_COVERED_FROM",
    "REMOTE_REGION",
    "SUSPENDED_PRACTITIONER",
]

DEMO_REGION = "310100"  # insuplc_admdvs of the demo city
REMOTE_REGION = "320100"  # another region, for remote care (异地就医)
DEMO_YEAR = 2026  # the benefit year the demo's claims are in
DEMO_SEED = 20260101
NOT_YET_COVERED_FROM = dt.date(DEMO_YEAR + 1, 1, 1)  # benefit_start of not-yet-covered members
SUSPENDED_PRACTITIONER = "DR-H31010001-017"  # a suspended practitioner at H31010001

# Registered chronic diseases (门慢) of the demo: ICD-10 code -> name.
CHRONIC_DISEASES: dict[str, str] = {
    "I10": "essential hypertension",
    "E11": "type 2 diabetes mellitus",
    "I25": "chronic ischaemic heart disease",
    "J45": "asthma",
    "F20": "schizophrenia",
    "N18": "chronic kidney disease",
    "C92.1": "chronic myeloid leukaemia",
}
