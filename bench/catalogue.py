"""Item codes and typical unit prices (fen) of the demo catalogue that the claim
generators draw from.

The demo catalogue (loaded by ``claimgate seed``) is public reference data with
stable codes ``D0001..`` (drugs), ``S0001..`` (services), ``M0001..`` (materials),
``F0001..`` (facilities), ``N0001..`` (non-medical goods); the bench depends on
those codes, not on the gateway's code. ``tests/bench`` checks this table against
the demo catalogue, so a catalogue change cannot silently skew the mix.
"""

from __future__ import annotations

# Acute drugs a pharmacy may sell (no setting restriction), (code, price).
PHARMACY_ACUTE: tuple[tuple[str, int], ...] = (
    ("D0001", 1250), ("D0002", 3680), ("D0015", 1890), ("D0016", 3213), ("D0017", 2240),
    ("D0018", 2950), ("D0019", 1080), ("D0020", 350), ("D0021", 1620), ("D0022", 7850),
    ("D0025", 1360), ("D0026", 1480), ("D0027", 1260), ("D0028", 960), ("D0029", 2180),
    ("D0030", 420), ("D0044", 1520), ("D0045", 2490), ("D0065", 2620), ("D0075", 1380),
    ("D0076", 2760), ("D0077", 520), ("D0078", 880), ("D0079", 2340), ("D0080", 1460),
    ("D0081", 4980), ("D0082", 390),
)  # fmt: skip
# Chronic drugs, with the registered chronic disease they treat ("" = none).
CHRONIC: tuple[tuple[str, int, str], ...] = (
    ("D0004", 2860, "I10"), ("D0005", 4862, "I10"), ("D0006", 1520, "E11"),
    ("D0007", 2584, "E11"), ("D0008", 3150, ""), ("D0047", 2650, "I25"),
    ("D0050", 3320, "I10"), ("D0051", 2980, "I10"), ("D0053", 3450, "I10"),
    ("D0054", 2470, "I10"), ("D0055", 290, "I10"), ("D0056", 2160, "E11"),
    ("D0057", 3980, "E11"), ("D0059", 4760, "E11"), ("D0060", 1590, "I25"),
    ("D0061", 4320, "I25"), ("D0062", 1280, "I25"), ("D0063", 3870, ""),
    ("D0064", 23400, "J45"), ("D0067", 2840, "F20"), ("D0068", 2290, ""),
    ("D0069", 3560, "N18"), ("D0072", 2140, ""), ("D0073", 980, ""), ("D0074", 560, ""),
)  # fmt: skip
# Self-paid (class C) drugs and non-medical goods seen at pharmacy counters.
SELF_PAID: tuple[tuple[str, int], ...] = (
    ("D0003", 4800), ("D0046", 6800), ("D0049", 16800),
    ("N0001", 16800), ("N0003", 5900), ("N0004", 2400), ("N0005", 9900), ("N0017", 1200),
)  # fmt: skip
CONSULTATION = ("S0002", 2500)
# Outpatient tests and services (all settings or outpatient allowed).
OUTPATIENT_SERVICES: tuple[tuple[str, int], ...] = (
    ("S0010", 3500), ("S0011", 5000), ("S0012", 2000), ("S0013", 8500), ("S0014", 4500),
    ("S0016", 5000), ("S0017", 1500), ("S0018", 2500), ("S0019", 8000), ("S0037", 800),
    ("S0038", 300), ("S0039", 1800), ("M0002", 80), ("M0004", 450), ("M0005", 1800),
    ("D0031", 1150), ("D0033", 380), ("D0083", 160),
)  # fmt: skip
# Inpatient lines: (code, price, days_supply for drugs else 0).
INPATIENT_LINES: tuple[tuple[str, int, int], ...] = (
    ("F0001", 6000, 0), ("F0007", 4500, 0), ("F0010", 300, 0), ("F0011", 500, 0),
    ("S0025", 9000, 0), ("S0027", 6000, 0), ("S0035", 2600, 0), ("S0036", 1500, 0),
    ("S0037", 800, 0), ("S0038", 300, 0), ("S0039", 1800, 0), ("S0012", 2000, 0),
    ("S0017", 1500, 0), ("M0002", 80, 0), ("M0003", 350, 0), ("M0004", 450, 0),
    ("M0005", 1800, 0), ("M0006", 900, 0), ("M0008", 1200, 0), ("M0021", 1500, 0),
    ("M0023", 200, 0), ("M0013", 12000, 0), ("D0031", 1150, 1), ("D0033", 380, 1),
    ("D0034", 646, 1), ("D0035", 420, 1), ("D0036", 714, 1), ("D0039", 5420, 1),
    ("D0040", 3260, 1), ("D0083", 160, 1), ("D0084", 4650, 1), ("D0037", 38600, 1),
    ("F0013", 1000, 0), ("F0014", 2000, 0),
)  # fmt: skip


def all_codes() -> dict[str, int]:
    """Code -> price of every item the bench uses (for the consistency test)."""
    out: dict[str, int] = {}
    for code, price in PHARMACY_ACUTE + SELF_PAID + OUTPATIENT_SERVICES + (CONSULTATION,):
        out[code] = price
    for code, price, _ in CHRONIC:
        out[code] = price
    for code, price, _ in INPATIENT_LINES:
        out[code] = price
    return out
