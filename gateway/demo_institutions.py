"""The demo institutions: the 10 designated institutions (定点医药机构) of the demo."""

from __future__ import annotations

from gateway.demo import DEMO_REGION, REMOTE_REGION, SUSPENDED_PRACTITIONER
from gateway.domain import Institution
from rules_compiled.model import InstitutionKind, InstitutionStatus

__all__ = [
    "demo_institutions",
]


def demo_institutions() -> list[Institution]:
    """The demo's 10 designated institutions (定点医药机构).

    Hospitals of levels 1, 2 and 3 in the demo region, a level-3 hospital in
    :data:`REMOTE_REGION` for remote care, clinics, three pharmacies. One clinic
    is SUSPENDED (claims there are ``NOT_DESIGNATED``); H31010001 has a
    suspended practitioner (:data:`SUSPENDED_PRACTITIONER`).
    """
    hospital, clinic, pharmacy = (
        InstitutionKind.HOSPITAL,
        InstitutionKind.CLINIC,
        InstitutionKind.PHARMACY,
    )
    return [
        Institution(
            "H31010001",
            "Demo City First People's Hospital",
            hospital,
            3,
            DEMO_REGION,
            suspended_practitioners=frozenset({SUSPENDED_PRACTITIONER}),
        ),
        Institution("H31010002", "Demo District Central Hospital", hospital, 2, DEMO_REGION),
        Institution(
            "H31010003", "Demo Maternal and Child Health Hospital", hospital, 2, DEMO_REGION
        ),
        Institution("H31010004", "Demo Riverside Community Hospital", hospital, 1, DEMO_REGION),
        Institution(
            "H32010001", "Neighbour Province University Hospital", hospital, 3, REMOTE_REGION
        ),
        Institution("C31010001", "Demo Street Community Clinic", clinic, 1, DEMO_REGION),
        Institution(
            "C31010002",
            "Demo Family Medicine Clinic",
            clinic,
            1,
            DEMO_REGION,
            status=InstitutionStatus.SUSPENDED,
        ),
        Institution("P31010001", "Demo Health Pharmacy No. 1", pharmacy, 0, DEMO_REGION),
        Institution("P31010002", "Demo Health Pharmacy No. 2", pharmacy, 0, DEMO_REGION),
        Institution("P31010003", "Demo 24-Hour Pharmacy", pharmacy, 0, DEMO_REGION),
    ]
