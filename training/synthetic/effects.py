"""Effect sizes and vocabularies of the synthetic CRM generator.

Effects are on the logit scale unless said otherwise. They are constants (not fitted
to the generated population) so that a lead's probabilities do not depend on n_leads;
analysis scripts read them through ``training.synthetic``.
"""

from __future__ import annotations

from typing import NamedTuple

from scoring.contract import (
    Channel,
    RejectionReason,
    SalesDecision,
    TouchType,
)

# --- vocabularies and effect sizes --------------------------------------------------------
# Effects are on the logit scale unless said otherwise. They are constants (not fitted
# to the generated population) so that a lead's probabilities do not depend on n_leads.


class _ChannelRow(NamedTuple):
    share: float
    fit: float  # targeting quality: how well the channel finds ICP accounts
    intent: float
    bad_contact: float  # probability of the hidden bad-contact-data flag


_CHANNELS: dict[Channel, _ChannelRow] = {
    Channel.SEO: _ChannelRow(0.18, 0.0, 0.0, 0.05),
    Channel.PAID_SEARCH: _ChannelRow(0.16, 0.1, 0.2, 0.05),
    Channel.PAID_SOCIAL: _ChannelRow(0.14, -0.3, -0.3, 0.09),
    Channel.CONTENT: _ChannelRow(0.10, 0.0, 0.1, 0.07),
    Channel.WEBINAR: _ChannelRow(0.08, 0.2, 0.4, 0.05),
    Channel.REFERRAL: _ChannelRow(0.06, 0.5, 0.4, 0.02),
    Channel.EVENT: _ChannelRow(0.06, 0.3, 0.1, 0.08),  # badge scans: bad data
    Channel.EMAIL: _ChannelRow(0.08, 0.0, 0.0, 0.04),
    Channel.DIRECT: _ChannelRow(0.07, 0.2, 0.5, 0.04),
    Channel.PARTNER: _ChannelRow(0.05, 0.4, 0.2, 0.03),
    Channel.OTHER: _ChannelRow(0.02, -0.3, -0.2, 0.10),
}

# The unobservable drift (hidden_drift_channel): acceptance logit penalty after drift_at.
_HIDDEN_DRIFT_PENALTY = 3.0

# After drift_at (drift=True only): paid social starts buying cheap, low-quality leads.
_DRIFT_PAID_SOCIAL = _ChannelRow(0.0, -1.8, -1.5, 0.15)


class _CampaignRow(NamedTuple):
    weight: float  # share within its channel
    intent: float
    fit: float


_CAMPAIGNS: dict[Channel, dict[str, _CampaignRow]] = {
    Channel.SEO: {
        "seo_blog": _CampaignRow(0.5, -0.1, 0.0),
        "seo_comparison_pages": _CampaignRow(0.3, 0.3, 0.1),
        "seo_pricing_guides": _CampaignRow(0.2, 0.4, 0.0),
    },
    Channel.PAID_SEARCH: {
        "paid_search_brand": _CampaignRow(0.40, 0.5, 0.1),
        "paid_search_generic": _CampaignRow(0.45, -0.2, -0.1),
        "paid_search_competitor": _CampaignRow(0.15, 0.3, 0.2),
    },
    Channel.PAID_SOCIAL: {
        "paid_social_linkedin_abm": _CampaignRow(0.35, 0.2, 0.4),
        "paid_social_facebook_leadgen": _CampaignRow(0.40, -0.4, -0.4),
        "paid_social_retargeting": _CampaignRow(0.25, 0.2, 0.0),
    },
    Channel.CONTENT: {
        "content_ebook_roi": _CampaignRow(0.40, 0.0, 0.0),
        "content_whitepaper_security": _CampaignRow(0.35, 0.1, 0.1),
        "content_benchmark_report": _CampaignRow(0.25, 0.0, 0.2),
    },
    Channel.WEBINAR: {
        "webinar_q2_ai": _CampaignRow(0.40, 0.2, 0.1),
        "webinar_q4_planning": _CampaignRow(0.35, 0.1, 0.0),
        "webinar_customer_stories": _CampaignRow(0.25, 0.3, 0.1),
    },
    Channel.REFERRAL: {
        "referral_customer": _CampaignRow(0.7, 0.2, 0.2),
        "referral_program": _CampaignRow(0.3, 0.0, 0.0),
    },
    Channel.EVENT: {
        "event_saas_summit": _CampaignRow(0.40, 0.2, 0.2),
        "event_regional_roadshow": _CampaignRow(0.35, 0.0, 0.0),
        "event_trade_show_booth": _CampaignRow(0.25, -0.3, -0.1),
    },
    Channel.EMAIL: {
        "email_newsletter": _CampaignRow(0.6, -0.1, 0.0),
        "email_nurture_sequence": _CampaignRow(0.4, 0.2, 0.0),
    },
    Channel.DIRECT: {
        "direct_website": _CampaignRow(0.8, 0.0, 0.0),
        "direct_contact_sales": _CampaignRow(0.2, 0.6, 0.1),
    },
    Channel.PARTNER: {
        "partner_resellers": _CampaignRow(0.6, 0.0, 0.0),
        "partner_integrations": _CampaignRow(0.4, 0.2, 0.2),
    },
    Channel.OTHER: {"other_unknown": _CampaignRow(1.0, 0.0, 0.0)},
}


class _IndustryRow(NamedTuple):
    share: float
    fit: float
    intent: float
    budget: float
    competition: float  # drives competitor_won rejections and "competitor" losses
    win: float  # industry effect on the SQL→won logit


_INDUSTRIES: dict[str, _IndustryRow] = {
    "software": _IndustryRow(0.18, 1.0, 0.2, 0.0, 0.2, 0.2),
    "fintech": _IndustryRow(0.10, 0.8, 0.1, 0.1, 0.3, 0.1),
    "healthcare": _IndustryRow(0.10, 0.6, 0.0, 0.0, 0.1, 0.1),
    "manufacturing": _IndustryRow(0.12, 0.0, -0.1, 0.0, 0.2, 0.0),
    "retail": _IndustryRow(0.12, -0.3, 0.0, -0.1, 1.0, -0.2),
    "education": _IndustryRow(0.08, -0.7, -0.1, -0.4, 0.0, -0.1),
    "logistics": _IndustryRow(0.08, -0.1, -0.1, 0.0, 0.2, 0.0),
    "media": _IndustryRow(0.07, -0.3, 0.0, -0.1, 0.5, -0.1),
    "government": _IndustryRow(0.05, -1.0, -0.2, 0.1, -0.3, -0.2),
    "telecom": _IndustryRow(0.10, 0.1, 0.0, 0.0, 0.9, -0.2),
    # only with drift=True, only after drift_at: hyped, but no money and a crowded market
    "crypto": _IndustryRow(0.0, 0.3, 0.6, -0.6, 1.0, -1.0),
}
_CRYPTO_SHARE_AFTER_DRIFT = 0.10


class _SizeRow(NamedTuple):
    share: float
    fit: float
    budget: float
    revenue_center: float  # expected index into REVENUE_BANDS
    cycle: float  # multiplier of the sales-cycle length
    amount: float  # multiplier of the deal size


_SIZES: dict[str, _SizeRow] = {
    "1-10": _SizeRow(0.14, -1.0, -1.6, 0.0, 0.75, 0.45),
    "11-50": _SizeRow(0.22, -0.4, -0.8, 0.8, 0.85, 0.60),
    "51-200": _SizeRow(0.24, 0.5, 0.0, 1.6, 0.95, 0.85),
    "201-500": _SizeRow(0.16, 0.7, 0.4, 2.4, 1.00, 1.00),
    "501-1000": _SizeRow(0.10, 0.5, 0.7, 3.1, 1.10, 1.25),
    "1001-5000": _SizeRow(0.09, 0.0, 0.9, 3.9, 1.25, 1.60),
    "5001+": _SizeRow(0.05, -0.4, 1.0, 4.8, 1.45, 2.20),
}

_SENIORITY: dict[str, tuple[float, float]] = {  # (share, fit)
    "intern": (0.03, -1.3),
    "individual": (0.30, -0.5),
    "manager": (0.30, 0.0),
    "director": (0.17, 0.5),
    "vp": (0.10, 0.7),
    "c_level": (0.07, 0.6),
    "owner": (0.03, 0.3),
}

_DEPARTMENT: dict[str, tuple[float, float]] = {  # (share, fit)
    "marketing": (0.25, 0.6),
    "sales": (0.15, 0.5),
    "it": (0.15, 0.4),
    "engineering": (0.12, 0.0),
    "finance": (0.07, -0.2),
    "operations": (0.09, -0.1),
    "hr": (0.05, -0.7),
    "executive": (0.07, 0.3),
    "other": (0.05, -0.6),
}

_REGIONS: dict[str, tuple[float, float]] = {  # (share, fit)
    "NA": (0.42, 0.2),
    "EMEA": (0.32, 0.1),
    "APAC": (0.16, -0.1),
    "LATAM": (0.10, -0.3),
}


class _CountryRow(NamedTuple):
    region: str
    share: float  # within the region
    dial: str
    tld: str


_COUNTRIES: dict[str, _CountryRow] = {
    "US": _CountryRow("NA", 0.82, "+1", "com"),
    "CA": _CountryRow("NA", 0.18, "+1", "ca"),
    "GB": _CountryRow("EMEA", 0.30, "+44", "co.uk"),
    "DE": _CountryRow("EMEA", 0.25, "+49", "de"),
    "FR": _CountryRow("EMEA", 0.15, "+33", "fr"),
    "NL": _CountryRow("EMEA", 0.10, "+31", "nl"),
    "ES": _CountryRow("EMEA", 0.10, "+34", "es"),
    "AE": _CountryRow("EMEA", 0.10, "+971", "ae"),
    "AU": _CountryRow("APAC", 0.30, "+61", "com.au"),
    "SG": _CountryRow("APAC", 0.20, "+65", "sg"),
    "JP": _CountryRow("APAC", 0.20, "+81", "jp"),
    "IN": _CountryRow("APAC", 0.30, "+91", "in"),
    "BR": _CountryRow("LATAM", 0.45, "+55", "com.br"),
    "MX": _CountryRow("LATAM", 0.35, "+52", "com.mx"),
    "AR": _CountryRow("LATAM", 0.10, "+54", "com.ar"),
    "CL": _CountryRow("LATAM", 0.10, "+56", "cl"),
}

# Arrival seasonality per calendar month (Jan..Dec) and on conversion (logit, Jan..Dec).
_ARRIVAL_MONTH = (0.95, 1.0, 1.15, 1.2, 1.15, 1.0, 0.85, 0.6, 1.15, 1.25, 1.1, 0.85)
_ARRIVAL_LATE_DECEMBER = 0.45  # multiplier from 20 December on
_ARRIVAL_WEEKEND = 0.3
_ARRIVAL_GROWTH_PER_YEAR = 0.25
_CONVERSION_MONTH = (0.0, 0.05, 0.1, 0.1, 0.05, -0.05, -0.15, -0.35, 0.1, 0.2, 0.15, -0.2)

# Touch types, in TouchType order: base share of pre-MQL touches, how strongly intent
# shifts the mix towards the type, and its weight in the engagement score.
_TOUCH_TYPES: tuple[TouchType, ...] = tuple(TouchType)
_TOUCH_MIX: dict[TouchType, tuple[float, float, float]] = {  # (base, intent slope, weight)
    TouchType.PAGE_VIEW: (0.36, 0.0, 0.3),
    TouchType.PRICING_PAGE_VIEW: (0.05, 0.6, 1.5),
    TouchType.EMAIL_OPEN: (0.24, 0.0, 0.15),
    TouchType.EMAIL_CLICK: (0.09, 0.2, 0.5),
    TouchType.CONTENT_DOWNLOAD: (0.07, 0.4, 1.0),
    TouchType.WEBINAR_REGISTERED: (0.04, 0.3, 0.6),
    TouchType.WEBINAR_ATTENDED: (0.025, 0.5, 1.5),
    TouchType.DEMO_REQUEST: (0.01, 0.9, 3.0),
    TouchType.FORM_SUBMIT: (0.05, 0.2, 1.0),
    TouchType.CHAT: (0.03, 0.3, 1.0),
    TouchType.CALL: (0.015, 0.4, 1.2),
}
_TRIGGER_TYPES = (
    TouchType.FORM_SUBMIT,
    TouchType.CONTENT_DOWNLOAD,
    TouchType.WEBINAR_ATTENDED,
    TouchType.DEMO_REQUEST,
)
_TRIGGER_BASE = (0.45, 0.35, 0.15, 0.05)
_TRIGGER_SLOPE = (0.0, 0.2, 0.5, 1.0)
_SALES_MIX = {  # after acceptance: the sales process shows up in the MAP too
    TouchType.CALL: 0.2,
    TouchType.EMAIL_OPEN: 0.29,
    TouchType.EMAIL_CLICK: 0.1,
    TouchType.PRICING_PAGE_VIEW: 0.15,
    TouchType.DEMO_REQUEST: 0.06,
    TouchType.PAGE_VIEW: 0.15,
    TouchType.CHAT: 0.05,
}
_NURTURE_MIX = {
    TouchType.EMAIL_OPEN: 0.55,
    TouchType.EMAIL_CLICK: 0.12,
    TouchType.PAGE_VIEW: 0.25,
    TouchType.CONTENT_DOWNLOAD: 0.05,
    TouchType.WEBINAR_REGISTERED: 0.03,
}
_COMEBACK_MIX = {
    TouchType.PRICING_PAGE_VIEW: 0.3,
    TouchType.PAGE_VIEW: 0.2,
    TouchType.EMAIL_CLICK: 0.15,
    TouchType.CONTENT_DOWNLOAD: 0.15,
    TouchType.WEBINAR_ATTENDED: 0.1,
    TouchType.DEMO_REQUEST: 0.1,
}
_ENGAGEMENT_TAU_DAYS = 10.0
_ENGAGEMENT_CENTER, _ENGAGEMENT_SCALE = 1.15, 0.42  # standardises log1p(engagement)
_TOTAL_CENTER, _TOTAL_SCALE = 1.9, 0.6  # standardises log1p(pre-MQL touch count)

# Sales path (logit scale).
_SQL_INTERCEPT = -1.7
_SQL_ENGAGEMENT = 1.5
_SQL_NOISE_SD = 0.8
_DUPLICATE_RATE = 0.02
_JUNK_RATE = 0.02
_BAD_CONTACT_NO_RESPONSE = 0.55  # else bad_contact_data
_RETURN_INTERCEPT = -0.45
_RETURN_DAYS = (30.0, 150.0)
_RESPONSE_MEDIAN_HOURS, _RESPONSE_SIGMA = 4.6, 0.5
_RESPONSE_WEEKEND_WAIT = 0.7  # share of weekend hand-offs left until Monday
_WIN_INTERCEPT = -2.05
_WIN_NOISE_SD = 0.7
_WIN_RETURNER_BONUS = 0.3
_CYCLE_SHAPE, _CYCLE_SCALE_DAYS = 3.5, 30.0  # gamma: median ~95 days
_AMOUNT_MEDIAN, _AMOUNT_SIGMA = 70_000.0, 0.4

# The decision a non-flagged, not-accepted lead gets, with its cause (see _reason_logits).
_REJECT_OUTCOMES: tuple[RejectionReason | None, ...] = (
    RejectionReason.NOT_ICP,
    RejectionReason.NO_BUDGET,
    RejectionReason.TOO_EARLY,
    RejectionReason.COMPETITOR_WON,
    RejectionReason.NO_RESPONSE,
    None,  # returned_to_nurture
)
_LOSS_REASONS = ("competitor", "no_decision", "price", "timing")

_COMMENTS: dict[str, tuple[str, ...]] = {
    RejectionReason.NOT_ICP: (
        "outside our target segment",
        "no decision-making role",
        "wrong industry for our product",
    ),
    RejectionReason.NO_BUDGET: (
        "no budget this year",
        "budget frozen until next fiscal year",
        "cannot afford the paid tiers",
    ),
    RejectionReason.TOO_EARLY: (
        "asked to call back next quarter",
        "just researching for now",
        "project planned for next year",
    ),
    RejectionReason.COMPETITOR_WON: (
        "already signed with a competitor",
        "renewed with the incumbent vendor",
        "chose a cheaper alternative",
    ),
    RejectionReason.NO_RESPONSE: (
        "no answer after calls and emails",
        "voicemail only",
        "no reply to follow-ups",
    ),
    RejectionReason.BAD_CONTACT_DATA: (
        "phone number invalid",
        "email bounced",
        "fake name on the form",
    ),
    RejectionReason.DUPLICATE: (
        "duplicate of an existing lead",
        "already in pipeline with another rep",
    ),
    RejectionReason.OTHER: ("job seeker", "vendor pitching us", "student research project"),
    SalesDecision.ACCEPTED: (
        "BANT confirmed, demo booked",
        "discovery call done",
        "budget and timeline confirmed",
    ),
    SalesDecision.RETURNED_TO_NURTURE: (
        "interested but not now, keep nurturing",
        "send case studies and check in later",
    ),
    "comeback": ("came back, ready to talk", "re-engaged after nurture, demo booked"),
}
_COMMENT_MISSING = 0.3

_FIRST_NAMES = (
    "James", "Mary", "Ahmed", "Sofia", "Liam", "Olivia", "Noah", "Emma", "Lucas", "Mia",
    "Hiroshi", "Yuki", "Priya", "Arjun", "Mateo", "Valentina", "Hannah", "Jonas", "Chloe",
    "Louis", "Aisha", "Omar", "Elena", "Pablo", "Grace", "Daniel", "Anna", "Wei", "Lena",
    "Samuel",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Muller", "Schmidt", "Dubois", "Martin", "Rossi", "Tanaka",
    "Sato", "Patel", "Sharma", "Silva", "Santos", "Lopez", "Brown", "Wilson", "Taylor",
    "Jansen", "de Vries", "Kim", "Chen", "Nguyen", "Haddad", "Novak", "Kowalski", "Evans",
    "Murphy", "Fischer", "Costa",
)  # fmt: skip
_COMPANY_STEMS = (
    "north", "blue", "apex", "nova", "bright", "iron", "silver", "quantum", "green", "swift",
    "clear", "summit", "vertex", "atlas", "pixel", "harbor", "lumen", "cedar", "orbit",
    "delta",
)  # fmt: skip
_COMPANY_SUFFIXES = ("labs", "systems", "soft", "works", "group", "tech", "data", "logic", "hub")
_FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com")

_FUNCTIONS = ("Marketing", "Sales", "IT", "Engineering", "Finance", "Operations", "HR")
_JOB_TITLES: dict[str, tuple[str, ...]] = {  # per seniority, in DEPARTMENTS order
    "intern": (*(f"{d} Intern" for d in _FUNCTIONS), "Executive Office Intern", "Intern"),
    "individual": (
        "Marketing Specialist",
        "Account Executive",
        "IT Specialist",
        "Software Engineer",
        "Financial Analyst",
        "Operations Analyst",
        "HR Generalist",
        "Executive Assistant",
        "Consultant",
    ),
    "manager": (*(f"{d} Manager" for d in _FUNCTIONS), "Office Manager", "Project Manager"),
    "director": (*(f"Director of {d}" for d in _FUNCTIONS), "Chief of Staff", "Director"),
    "vp": (*(f"VP of {d}" for d in _FUNCTIONS), "VP, Strategy", "Vice President"),
    "c_level": (
        "Chief Marketing Officer",
        "Chief Revenue Officer",
        "Chief Information Officer",
        "Chief Technology Officer",
        "Chief Financial Officer",
        "Chief Operating Officer",
        "Chief People Officer",
        "Chief Executive Officer",
        "Chief Strategy Officer",
    ),
    "owner": (
        "Owner",
        "Founder",
        "Founder",
        "Founder & CTO",
        "Owner",
        "Owner",
        "Owner",
        "Founder & CEO",
        "Owner",
    ),
}

_SECONDS_PER_DAY = 86_400.0
_MIN_GAP_DAYS = 60.0 / _SECONDS_PER_DAY  # keeps event order intact after rounding to seconds
