from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Setting(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTING_UNSPECIFIED: _ClassVar[Setting]
    PHARMACY: _ClassVar[Setting]
    OUTPATIENT: _ClassVar[Setting]
    INPATIENT: _ClassVar[Setting]
    MAJOR_OUTPATIENT: _ClassVar[Setting]

class Scheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEME_UNSPECIFIED: _ClassVar[Scheme]
    EMP: _ClassVar[Scheme]
    RES: _ClassVar[Scheme]

class PersonType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERSON_TYPE_UNSPECIFIED: _ClassVar[PersonType]
    ACTIVE: _ClassVar[PersonType]
    RETIRED: _ClassVar[PersonType]
    ADULT: _ClassVar[PersonType]
    STUDENT: _ClassVar[PersonType]

class MemberStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATUS_UNSPECIFIED: _ClassVar[MemberStatus]
    MEMBER_ACTIVE: _ClassVar[MemberStatus]
    MEMBER_SUSPENDED: _ClassVar[MemberStatus]
    MEMBER_TERMINATED: _ClassVar[MemberStatus]
    MEMBER_DECEASED: _ClassVar[MemberStatus]

class CardStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CARD_STATUS_UNSPECIFIED: _ClassVar[CardStatus]
    CARD_ACTIVE: _ClassVar[CardStatus]
    CARD_LOST: _ClassVar[CardStatus]
    CARD_FROZEN: _ClassVar[CardStatus]
    CARD_CANCELLED: _ClassVar[CardStatus]

class Assistance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSISTANCE_NONE: _ClassVar[Assistance]
    DIBAO: _ClassVar[Assistance]
    WUBAO: _ClassVar[Assistance]
    YOUFU: _ClassVar[Assistance]

class Referral(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERRAL_NONE: _ClassVar[Referral]
    REFERRAL_IN_PROVINCE: _ClassVar[Referral]
    REFERRAL_OUT_OF_PROVINCE: _ClassVar[Referral]

class LineStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINE_STATUS_UNSPECIFIED: _ClassVar[LineStatus]
    PAID: _ClassVar[LineStatus]
    SELF_PAY: _ClassVar[LineStatus]
    REJECTED: _ClassVar[LineStatus]

class SettlementStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTLEMENT_STATUS_UNSPECIFIED: _ClassVar[SettlementStatus]
    QUOTED: _ClassVar[SettlementStatus]
    SETTLED: _ClassVar[SettlementStatus]
    REFUSED: _ClassVar[SettlementStatus]
    REVERSED: _ClassVar[SettlementStatus]
SETTING_UNSPECIFIED: Setting
PHARMACY: Setting
OUTPATIENT: Setting
INPATIENT: Setting
MAJOR_OUTPATIENT: Setting
SCHEME_UNSPECIFIED: Scheme
EMP: Scheme
RES: Scheme
PERSON_TYPE_UNSPECIFIED: PersonType
ACTIVE: PersonType
RETIRED: PersonType
ADULT: PersonType
STUDENT: PersonType
MEMBER_STATUS_UNSPECIFIED: MemberStatus
MEMBER_ACTIVE: MemberStatus
MEMBER_SUSPENDED: MemberStatus
MEMBER_TERMINATED: MemberStatus
MEMBER_DECEASED: MemberStatus
CARD_STATUS_UNSPECIFIED: CardStatus
CARD_ACTIVE: CardStatus
CARD_LOST: CardStatus
CARD_FROZEN: CardStatus
CARD_CANCELLED: CardStatus
ASSISTANCE_NONE: Assistance
DIBAO: Assistance
WUBAO: Assistance
YOUFU: Assistance
REFERRAL_NONE: Referral
REFERRAL_IN_PROVINCE: Referral
REFERRAL_OUT_OF_PROVINCE: Referral
LINE_STATUS_UNSPECIFIED: LineStatus
PAID: LineStatus
SELF_PAY: LineStatus
REJECTED: LineStatus
SETTLEMENT_STATUS_UNSPECIFIED: SettlementStatus
QUOTED: SettlementStatus
SETTLED: SettlementStatus
REFUSED: SettlementStatus
REVERSED: SettlementStatus

class FeeLine(_message.Message):
    __slots__ = ("feedetl_sn", "item_code", "unit_price_fen", "quantity", "amount_fen", "days_supply", "service_date", "prescription_no", "practitioner_code", "in_discharge_order")
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    ITEM_CODE_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FEN_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    DAYS_SUPPLY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DATE_FIELD_NUMBER: _ClassVar[int]
    PRESCRIPTION_NO_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_CODE_FIELD_NUMBER: _ClassVar[int]
    IN_DISCHARGE_ORDER_FIELD_NUMBER: _ClassVar[int]
    feedetl_sn: int
    item_code: str
    unit_price_fen: int
    quantity: int
    amount_fen: int
    days_supply: int
    service_date: str
    prescription_no: str
    practitioner_code: str
    in_discharge_order: bool
    def __init__(self, feedetl_sn: _Optional[int] = ..., item_code: _Optional[str] = ..., unit_price_fen: _Optional[int] = ..., quantity: _Optional[int] = ..., amount_fen: _Optional[int] = ..., days_supply: _Optional[int] = ..., service_date: _Optional[str] = ..., prescription_no: _Optional[str] = ..., practitioner_code: _Optional[str] = ..., in_discharge_order: _Optional[bool] = ...) -> None: ...

class SettleRequest(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "setting", "card_no", "service_date", "use_account", "lines", "diagnosis_code", "referral", "emergency", "episode_id", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    SETTING_FIELD_NUMBER: _ClassVar[int]
    CARD_NO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DATE_FIELD_NUMBER: _ClassVar[int]
    USE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    setting: Setting
    card_no: str
    service_date: str
    use_account: bool
    lines: _containers.RepeatedCompositeFieldContainer[FeeLine]
    diagnosis_code: str
    referral: Referral
    emergency: bool
    episode_id: str
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., setting: _Optional[_Union[Setting, str]] = ..., card_no: _Optional[str] = ..., service_date: _Optional[str] = ..., use_account: _Optional[bool] = ..., lines: _Optional[_Iterable[_Union[FeeLine, _Mapping]]] = ..., diagnosis_code: _Optional[str] = ..., referral: _Optional[_Union[Referral, str]] = ..., emergency: _Optional[bool] = ..., episode_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class Amounts(_message.Message):
    __slots__ = ("medfee_sumamt_fen", "fulamt_ownpay_fen", "overlmt_selfpay_fen", "preselfpay_fen", "inscp_scp_amt_fen", "referral_payfirst_fen", "deductible_fen", "band_selfpay_fen", "fund_pay_sumamt_fen", "hifp_pay_fen", "supplementary_pay_fen", "hifmi_pay_fen", "maf_pay_fen", "psn_part_amt_fen", "acct_pay_fen", "acct_current_pay_fen", "acct_prior_pay_fen", "psn_cash_pay_fen")
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FULAMT_OWNPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    OVERLMT_SELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PRESELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_PAYFIRST_FEN_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIBLE_FEN_FIELD_NUMBER: _ClassVar[int]
    BAND_SELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFP_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENTARY_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFMI_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    MAF_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_PART_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_CURRENT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PRIOR_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_CASH_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    medfee_sumamt_fen: int
    fulamt_ownpay_fen: int
    overlmt_selfpay_fen: int
    preselfpay_fen: int
    inscp_scp_amt_fen: int
    referral_payfirst_fen: int
    deductible_fen: int
    band_selfpay_fen: int
    fund_pay_sumamt_fen: int
    hifp_pay_fen: int
    supplementary_pay_fen: int
    hifmi_pay_fen: int
    maf_pay_fen: int
    psn_part_amt_fen: int
    acct_pay_fen: int
    acct_current_pay_fen: int
    acct_prior_pay_fen: int
    psn_cash_pay_fen: int
    def __init__(self, medfee_sumamt_fen: _Optional[int] = ..., fulamt_ownpay_fen: _Optional[int] = ..., overlmt_selfpay_fen: _Optional[int] = ..., preselfpay_fen: _Optional[int] = ..., inscp_scp_amt_fen: _Optional[int] = ..., referral_payfirst_fen: _Optional[int] = ..., deductible_fen: _Optional[int] = ..., band_selfpay_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., hifp_pay_fen: _Optional[int] = ..., supplementary_pay_fen: _Optional[int] = ..., hifmi_pay_fen: _Optional[int] = ..., maf_pay_fen: _Optional[int] = ..., psn_part_amt_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., acct_current_pay_fen: _Optional[int] = ..., acct_prior_pay_fen: _Optional[int] = ..., psn_cash_pay_fen: _Optional[int] = ...) -> None: ...

class LineResult(_message.Message):
    __slots__ = ("feedetl_sn", "item_code", "status", "reasons", "amount_fen", "fulamt_ownpay_fen", "overlmt_selfpay_fen", "preselfpay_fen", "inscp_scp_amt_fen")
    FEEDETL_SN_FIELD_NUMBER: _ClassVar[int]
    ITEM_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    FULAMT_OWNPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    OVERLMT_SELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PRESELFPAY_FEN_FIELD_NUMBER: _ClassVar[int]
    INSCP_SCP_AMT_FEN_FIELD_NUMBER: _ClassVar[int]
    feedetl_sn: int
    item_code: str
    status: LineStatus
    reasons: _containers.RepeatedScalarFieldContainer[str]
    amount_fen: int
    fulamt_ownpay_fen: int
    overlmt_selfpay_fen: int
    preselfpay_fen: int
    inscp_scp_amt_fen: int
    def __init__(self, feedetl_sn: _Optional[int] = ..., item_code: _Optional[str] = ..., status: _Optional[_Union[LineStatus, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., amount_fen: _Optional[int] = ..., fulamt_ownpay_fen: _Optional[int] = ..., overlmt_selfpay_fen: _Optional[int] = ..., preselfpay_fen: _Optional[int] = ..., inscp_scp_amt_fen: _Optional[int] = ...) -> None: ...

class SettlementResponse(_message.Message):
    __slots__ = ("settlement_id", "request_id", "psn_no", "institution_code", "setting", "status", "refusal_reason", "replay", "policy_version", "amounts", "lines", "warnings", "notes", "acct_current_balance_fen", "acct_prior_balance_fen", "service_date", "settled_at", "reversal_id")
    SETTLEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    SETTING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    AMOUNTS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ACCT_CURRENT_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PRIOR_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DATE_FIELD_NUMBER: _ClassVar[int]
    SETTLED_AT_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_ID_FIELD_NUMBER: _ClassVar[int]
    settlement_id: str
    request_id: str
    psn_no: str
    institution_code: str
    setting: Setting
    status: SettlementStatus
    refusal_reason: str
    replay: bool
    policy_version: str
    amounts: Amounts
    lines: _containers.RepeatedCompositeFieldContainer[LineResult]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    notes: _containers.RepeatedScalarFieldContainer[str]
    acct_current_balance_fen: int
    acct_prior_balance_fen: int
    service_date: str
    settled_at: str
    reversal_id: str
    def __init__(self, settlement_id: _Optional[str] = ..., request_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., institution_code: _Optional[str] = ..., setting: _Optional[_Union[Setting, str]] = ..., status: _Optional[_Union[SettlementStatus, str]] = ..., refusal_reason: _Optional[str] = ..., replay: _Optional[bool] = ..., policy_version: _Optional[str] = ..., amounts: _Optional[_Union[Amounts, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[LineResult, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., notes: _Optional[_Iterable[str]] = ..., acct_current_balance_fen: _Optional[int] = ..., acct_prior_balance_fen: _Optional[int] = ..., service_date: _Optional[str] = ..., settled_at: _Optional[str] = ..., reversal_id: _Optional[str] = ...) -> None: ...

class EligibilityRequest(_message.Message):
    __slots__ = ("institution_code", "psn_no", "card_no", "service_date", "setting")
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CARD_NO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_DATE_FIELD_NUMBER: _ClassVar[int]
    SETTING_FIELD_NUMBER: _ClassVar[int]
    institution_code: str
    psn_no: str
    card_no: str
    service_date: str
    setting: Setting
    def __init__(self, institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., card_no: _Optional[str] = ..., service_date: _Optional[str] = ..., setting: _Optional[_Union[Setting, str]] = ...) -> None: ...

class ChronicRegistration(_message.Message):
    __slots__ = ("disease_code", "valid_from", "valid_to")
    DISEASE_CODE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_FIELD_NUMBER: _ClassVar[int]
    disease_code: str
    valid_from: str
    valid_to: str
    def __init__(self, disease_code: _Optional[str] = ..., valid_from: _Optional[str] = ..., valid_to: _Optional[str] = ...) -> None: ...

class RemoteRegistration(_message.Message):
    __slots__ = ("institution_codes", "valid_from", "valid_to")
    INSTITUTION_CODES_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_FIELD_NUMBER: _ClassVar[int]
    institution_codes: _containers.RepeatedScalarFieldContainer[str]
    valid_from: str
    valid_to: str
    def __init__(self, institution_codes: _Optional[_Iterable[str]] = ..., valid_from: _Optional[str] = ..., valid_to: _Optional[str] = ...) -> None: ...

class EligibilityResponse(_message.Message):
    __slots__ = ("psn_no", "eligible", "refusal_reason", "scheme", "person_type", "cohort", "member_status", "card_status", "assistance", "insured_region", "benefit_start", "benefit_year", "acct_current_balance_fen", "acct_prior_balance_fen", "deductible_remaining_fen", "pooled_cap_remaining_fen", "outpatient_band_remaining_fen", "assistance_cap_remaining_fen", "chronic_registrations", "remote_registration", "open_episode_id", "policy_version")
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    PERSON_TYPE_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_STATUS_FIELD_NUMBER: _ClassVar[int]
    CARD_STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSISTANCE_FIELD_NUMBER: _ClassVar[int]
    INSURED_REGION_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_START_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_YEAR_FIELD_NUMBER: _ClassVar[int]
    ACCT_CURRENT_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PRIOR_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIBLE_REMAINING_FEN_FIELD_NUMBER: _ClassVar[int]
    POOLED_CAP_REMAINING_FEN_FIELD_NUMBER: _ClassVar[int]
    OUTPATIENT_BAND_REMAINING_FEN_FIELD_NUMBER: _ClassVar[int]
    ASSISTANCE_CAP_REMAINING_FEN_FIELD_NUMBER: _ClassVar[int]
    CHRONIC_REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
    REMOTE_REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    OPEN_EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    psn_no: str
    eligible: bool
    refusal_reason: str
    scheme: Scheme
    person_type: PersonType
    cohort: str
    member_status: MemberStatus
    card_status: CardStatus
    assistance: Assistance
    insured_region: str
    benefit_start: str
    benefit_year: int
    acct_current_balance_fen: int
    acct_prior_balance_fen: int
    deductible_remaining_fen: int
    pooled_cap_remaining_fen: int
    outpatient_band_remaining_fen: int
    assistance_cap_remaining_fen: int
    chronic_registrations: _containers.RepeatedCompositeFieldContainer[ChronicRegistration]
    remote_registration: RemoteRegistration
    open_episode_id: str
    policy_version: str
    def __init__(self, psn_no: _Optional[str] = ..., eligible: _Optional[bool] = ..., refusal_reason: _Optional[str] = ..., scheme: _Optional[_Union[Scheme, str]] = ..., person_type: _Optional[_Union[PersonType, str]] = ..., cohort: _Optional[str] = ..., member_status: _Optional[_Union[MemberStatus, str]] = ..., card_status: _Optional[_Union[CardStatus, str]] = ..., assistance: _Optional[_Union[Assistance, str]] = ..., insured_region: _Optional[str] = ..., benefit_start: _Optional[str] = ..., benefit_year: _Optional[int] = ..., acct_current_balance_fen: _Optional[int] = ..., acct_prior_balance_fen: _Optional[int] = ..., deductible_remaining_fen: _Optional[int] = ..., pooled_cap_remaining_fen: _Optional[int] = ..., outpatient_band_remaining_fen: _Optional[int] = ..., assistance_cap_remaining_fen: _Optional[int] = ..., chronic_registrations: _Optional[_Iterable[_Union[ChronicRegistration, _Mapping]]] = ..., remote_registration: _Optional[_Union[RemoteRegistration, _Mapping]] = ..., open_episode_id: _Optional[str] = ..., policy_version: _Optional[str] = ...) -> None: ...

class ReverseRequest(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "settlement_id", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    settlement_id: str
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., settlement_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class ReversalResponse(_message.Message):
    __slots__ = ("reversal_id", "settlement_id", "replay", "reversed_amounts", "acct_current_balance_fen", "acct_prior_balance_fen", "reversed_at")
    REVERSAL_ID_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    REVERSED_AMOUNTS_FIELD_NUMBER: _ClassVar[int]
    ACCT_CURRENT_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PRIOR_BALANCE_FEN_FIELD_NUMBER: _ClassVar[int]
    REVERSED_AT_FIELD_NUMBER: _ClassVar[int]
    reversal_id: str
    settlement_id: str
    replay: bool
    reversed_amounts: Amounts
    acct_current_balance_fen: int
    acct_prior_balance_fen: int
    reversed_at: str
    def __init__(self, reversal_id: _Optional[str] = ..., settlement_id: _Optional[str] = ..., replay: _Optional[bool] = ..., reversed_amounts: _Optional[_Union[Amounts, _Mapping]] = ..., acct_current_balance_fen: _Optional[int] = ..., acct_prior_balance_fen: _Optional[int] = ..., reversed_at: _Optional[str] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "original_request_id", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    original_request_id: str
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., original_request_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("outcome", "settlement_id", "reversal_id", "replay")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[CancelResponse.Outcome]
        REVERSED: _ClassVar[CancelResponse.Outcome]
        TOMBSTONED: _ClassVar[CancelResponse.Outcome]
        NOTHING_TO_DO: _ClassVar[CancelResponse.Outcome]
    OUTCOME_UNSPECIFIED: CancelResponse.Outcome
    REVERSED: CancelResponse.Outcome
    TOMBSTONED: CancelResponse.Outcome
    NOTHING_TO_DO: CancelResponse.Outcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    outcome: CancelResponse.Outcome
    settlement_id: str
    reversal_id: str
    replay: bool
    def __init__(self, outcome: _Optional[_Union[CancelResponse.Outcome, str]] = ..., settlement_id: _Optional[str] = ..., reversal_id: _Optional[str] = ..., replay: _Optional[bool] = ...) -> None: ...

class AdmitRequest(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "card_no", "admission_date", "diagnosis_code", "referral", "emergency", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    CARD_NO_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_DATE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    card_no: str
    admission_date: str
    diagnosis_code: str
    referral: Referral
    emergency: bool
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., card_no: _Optional[str] = ..., admission_date: _Optional[str] = ..., diagnosis_code: _Optional[str] = ..., referral: _Optional[_Union[Referral, str]] = ..., emergency: _Optional[bool] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class DischargeRequest(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "episode_id", "discharge_date", "discharge_order_date", "diagnosis_code", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    DISCHARGE_DATE_FIELD_NUMBER: _ClassVar[int]
    DISCHARGE_ORDER_DATE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSIS_CODE_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    episode_id: str
    discharge_date: str
    discharge_order_date: str
    diagnosis_code: str
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., episode_id: _Optional[str] = ..., discharge_date: _Optional[str] = ..., discharge_order_date: _Optional[str] = ..., diagnosis_code: _Optional[str] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class EpisodeResponse(_message.Message):
    __slots__ = ("episode_id", "status", "warnings", "replay", "refusal_reason")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    status: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    replay: bool
    refusal_reason: str
    def __init__(self, episode_id: _Optional[str] = ..., status: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., replay: _Optional[bool] = ..., refusal_reason: _Optional[str] = ...) -> None: ...

class FeeDetailChunk(_message.Message):
    __slots__ = ("request_id", "institution_code", "psn_no", "episode_id", "lines", "operator_id", "terminal_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    institution_code: str
    psn_no: str
    episode_id: str
    lines: _containers.RepeatedCompositeFieldContainer[FeeLine]
    operator_id: str
    terminal_id: str
    def __init__(self, request_id: _Optional[str] = ..., institution_code: _Optional[str] = ..., psn_no: _Optional[str] = ..., episode_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[FeeLine, _Mapping]]] = ..., operator_id: _Optional[str] = ..., terminal_id: _Optional[str] = ...) -> None: ...

class FeeDetailUploadResponse(_message.Message):
    __slots__ = ("episode_id", "lines_received", "lines_added", "lines_unchanged", "episode_line_count", "episode_amount_fen", "replay")
    EPISODE_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    LINES_ADDED_FIELD_NUMBER: _ClassVar[int]
    LINES_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    EPISODE_LINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EPISODE_AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    episode_id: str
    lines_received: int
    lines_added: int
    lines_unchanged: int
    episode_line_count: int
    episode_amount_fen: int
    replay: bool
    def __init__(self, episode_id: _Optional[str] = ..., lines_received: _Optional[int] = ..., lines_added: _Optional[int] = ..., lines_unchanged: _Optional[int] = ..., episode_line_count: _Optional[int] = ..., episode_amount_fen: _Optional[int] = ..., replay: _Optional[bool] = ...) -> None: ...

class GetSettlementRequest(_message.Message):
    __slots__ = ("institution_code", "settlement_id", "psn_no", "request_id")
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PSN_NO_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    institution_code: str
    settlement_id: str
    psn_no: str
    request_id: str
    def __init__(self, institution_code: _Optional[str] = ..., settlement_id: _Optional[str] = ..., psn_no: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReconcileTotals(_message.Message):
    __slots__ = ("settlement_count", "medfee_sumamt_fen", "fund_pay_sumamt_fen", "hifp_pay_fen", "supplementary_pay_fen", "hifmi_pay_fen", "maf_pay_fen", "acct_pay_fen", "psn_cash_pay_fen", "reversal_count", "reversed_medfee_sumamt_fen")
    SETTLEMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    FUND_PAY_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFP_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    SUPPLEMENTARY_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    HIFMI_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    MAF_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    ACCT_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    PSN_CASH_PAY_FEN_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVERSED_MEDFEE_SUMAMT_FEN_FIELD_NUMBER: _ClassVar[int]
    settlement_count: int
    medfee_sumamt_fen: int
    fund_pay_sumamt_fen: int
    hifp_pay_fen: int
    supplementary_pay_fen: int
    hifmi_pay_fen: int
    maf_pay_fen: int
    acct_pay_fen: int
    psn_cash_pay_fen: int
    reversal_count: int
    reversed_medfee_sumamt_fen: int
    def __init__(self, settlement_count: _Optional[int] = ..., medfee_sumamt_fen: _Optional[int] = ..., fund_pay_sumamt_fen: _Optional[int] = ..., hifp_pay_fen: _Optional[int] = ..., supplementary_pay_fen: _Optional[int] = ..., hifmi_pay_fen: _Optional[int] = ..., maf_pay_fen: _Optional[int] = ..., acct_pay_fen: _Optional[int] = ..., psn_cash_pay_fen: _Optional[int] = ..., reversal_count: _Optional[int] = ..., reversed_medfee_sumamt_fen: _Optional[int] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("institution_code", "from_date", "to_date", "declared")
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    institution_code: str
    from_date: str
    to_date: str
    declared: ReconcileTotals
    def __init__(self, institution_code: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., declared: _Optional[_Union[ReconcileTotals, _Mapping]] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("result", "gateway", "declared", "difference", "clearing_time_zone")
    class Result(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESULT_UNSPECIFIED: _ClassVar[ReconcileResponse.Result]
        MATCH: _ClassVar[ReconcileResponse.Result]
        MISMATCH: _ClassVar[ReconcileResponse.Result]
    RESULT_UNSPECIFIED: ReconcileResponse.Result
    MATCH: ReconcileResponse.Result
    MISMATCH: ReconcileResponse.Result
    RESULT_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CLEARING_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    result: ReconcileResponse.Result
    gateway: ReconcileTotals
    declared: ReconcileTotals
    difference: ReconcileTotals
    clearing_time_zone: str
    def __init__(self, result: _Optional[_Union[ReconcileResponse.Result, str]] = ..., gateway: _Optional[_Union[ReconcileTotals, _Mapping]] = ..., declared: _Optional[_Union[ReconcileTotals, _Mapping]] = ..., difference: _Optional[_Union[ReconcileTotals, _Mapping]] = ..., clearing_time_zone: _Optional[str] = ...) -> None: ...

class ExportSettlementsRequest(_message.Message):
    __slots__ = ("institution_code", "from_date", "to_date")
    INSTITUTION_CODE_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    institution_code: str
    from_date: str
    to_date: str
    def __init__(self, institution_code: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...
