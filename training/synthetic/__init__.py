"""A seeded synthetic CRM history with known, planted mechanisms.

Real CRM exports are private, so the service is developed, tested and demonstrated on
a generated history whose causal structure is known. :func:`generate` returns the four
tables of :mod:`scoring.contract` plus an *oracle* (the true probabilities the
generator drew from), so evaluation can say how close a model gets to the truth, not
only how it ranks. Everything is vectorised numpy: the only Python loops run over
small vocabularies (channels, intent bins), never over leads. The same seed gives
identical frames.

Planted mechanisms (the docs describe these; a test checks each one is visible):

Arrivals
    Leads are created over ``months`` months from ``start``. The daily arrival rate has
    seasonality (spring and autumn busy, August and the second half of December quiet,
    weekends at ~30 % of a weekday) and a mild growth trend (+25 % a year).
    ``mql_at`` = ``created_at`` + 0–20 days (a third become MQL within two hours: the
    form that created the lead was itself the MQL trigger).

Firmographics and contact
    ``channel`` from :class:`~scoring.contract.Channel` with realistic shares, a few
    named campaigns per channel, ~10 industries, company size from ``COMPANY_SIZES``
    with ``revenue_band`` correlated to it, country/region (NA, EMEA, APAC, LATAM),
    seniority and department, a ``job_title`` built from both ("VP of Marketing"),
    consent flags (email opt-in lower in EMEA: GDPR) and fake PII (name, an email at a
    company-like domain, a ``+<cc>-555-…`` phone). ~2 % of leads are *duplicates*:
    they copy the person and company of an earlier lead (so they are detectable).

Hidden ICP fit
    A sum of effects of industry (software/fintech/healthcare strong, government and
    education weak), company size (51–1000 best), region (NA/EMEA better), seniority
    (director+ better) and department (marketing/sales/IT best), plus a targeting
    offset per channel and campaign (referral/partner good, paid social weak).
    A hidden *budget* score comes from company size and revenue band (revenue above
    what the headcount suggests means more budget).

Hidden intent and engagement
    Latent intent (channel, campaign, industry, fit, noise) sets how many touches a lead
    makes and their type mix: high intent means more ``pricing_page_view``,
    ``demo_request``, ``webinar_attended``, ``content_download``. A separate latent
    *readiness* sets *when*: ready leads concentrate touches in the last 14 days before
    MQL, others were active 2–9 weeks earlier (a few up to 6 months) and went quiet.
    Every lead has a conversion ("trigger") touch shortly before ``mql_at``. Touches
    may precede ``created_at``: the marketing-automation platform knew the contact (a
    subscriber, a cookie) before the CRM lead record existed. The model-facing signal
    is the *recency-weighted engagement* ``log1p(sum(weight(type) * exp(-age / 10 d)))``
    over pre-MQL touches: a touch two months old counts ~350x less than yesterday's.

True P(SQL) at MQL time
    ``logistic(a + fit + 1.5 * engagement + seasonality(mql month) + noise)``, with the
    engagement standardised by fixed constants (so a lead's probability does not depend
    on the population size) and a noise term (sd 0.8) no model can see: the oracle's
    edge over any model. Seasonality on
    conversion: autumn budget season up, August and late December down.
    Three hidden flags bypass this: *bad contact data* (~6 %, more from paid social
    and events), *duplicate* (~2 %) and *junk* (~2 %: students, job seekers,
    vendors); such leads are never accepted.

Sales feedback (one row per sales decision)
    The first decision comes ``first_response_hours`` after ``mql_at`` (lognormal,
    median ~5 h; ~80 % inside the 8 h accept/reject SLA; most weekend MQLs wait until
    Monday 08:00 UTC). ``no_response`` decisions come after 3–6 attempts spread over
    days. A rejected lead gets its reason tag from its own cause (softmax over causes):

    - ``not_icp`` — low ICP fit (firmographics);
    - ``no_budget`` — low budget (small company / revenue band, some industries);
    - ``too_early`` — low *recent* engagement with otherwise decent fit (engaged months
      ago, quiet now); ~40 % of them (more if high intent) come back 30–150 days later
      with a burst of new touches and get a second feedback row, ``accepted``;
    - ``competitor_won`` — competitive industries (retail, telecom, media; crypto),
      larger companies (longer cycles) and leads that took long to become MQL;
    - ``no_response`` / ``bad_contact_data`` — mostly the bad-contact flag, plus a
      small base rate of no-shows; ``duplicate`` — the duplicate flag;
      ``other`` — the junk flag;
    - ``returned_to_nurture`` (a decision, no reason tag) — small share, low intent.

    Leads whose decision would fall after ``snapshot_at`` have no feedback row yet.

Deals (outcomes)
    Each SQL closes ``cycle`` days after its acceptance (gamma, true median ~95 days,
    longer for larger companies). P(won) = ``logistic(b + 0.6 fit + 0.5 budget -
    0.6 competition + industry effect + noise)``, ~25 % overall; leads that came back
    after ``too_early`` win a little more often (their timing is now right). Won deals
    have an ``amount`` (lognormal, median ~$70K, larger for larger companies); lost
    deals have a ``loss_reason`` (``competitor`` more likely in competitive
    industries and long cycles, ``price`` with low budget, ``no_decision``,
    ``timing``). Deals that would close after ``snapshot_at`` have no outcome row yet
    (right-censoring: the observed cycle median is therefore shorter, ~85 days).

Touches after MQL
    Accepted leads get sales-driven activity (calls, pricing views, demos), rejected
    leads get nurture emails, returners a re-engagement burst. These exist to test
    point-in-time correctness: they correlate with the label and must never reach a
    feature computed at ``mql_at``. Touches after ``snapshot_at`` are dropped.

Drift (``drift=True``)
    From ``drift_at`` (default: the month boundary two thirds into the window,
    2026-01-01 with the defaults) ``paid_social`` lead quality falls sharply (lower fit
    and intent, more bad contact data) and a new industry, ``crypto``, appears (~10 % of
    new leads, never before ``drift_at``): high intent and MQL→SQL, but low budget,
    heavy competition and a low win rate. Without drift nothing changes over time
    except seasonality and the trend. The same seed with and without drift gives an
    identical history for leads created before the month containing ``drift_at``.

Oracle
    ``p_sql_true`` = P(eventually SQL | everything the generator knew at MQL time)
    = P(accepted) + P(rejected as too_early) · P(comes back); ``p_won_true`` weights
    each path by its win probability. Outcomes are drawn from exactly these numbers.

Typical figures (20 000 leads, seed 42): MQL→SQL ~38 %, SQL→won ~24 % of closed deals,
median won deal ~$70K, median observed cycle ~85 days, median first response ~4.8 h.
"""

from __future__ import annotations

from training.synthetic.arrays import (
    _choice_by_group,
    _choice_rows,
    _lookup,
    _normalised,
    _Parts,
    _sigmoid,
    _size_param,
    _softmax,
    _stack,
    _weekday,
)
from training.synthetic.assembly import _Block, _block_rng, _simulate_block, generate
from training.synthetic.deals import _Deals, _draw_deals
from training.synthetic.effects import (
    _AMOUNT_MEDIAN,
    _AMOUNT_SIGMA,
    _ARRIVAL_GROWTH_PER_YEAR,
    _ARRIVAL_LATE_DECEMBER,
    _ARRIVAL_MONTH,
    _ARRIVAL_WEEKEND,
    _BAD_CONTACT_NO_RESPONSE,
    _CAMPAIGNS,
    _CHANNELS,
    _COMEBACK_MIX,
    _COMMENT_MISSING,
    _COMMENTS,
    _COMPANY_STEMS,
    _COMPANY_SUFFIXES,
    _CONVERSION_MONTH,
    _COUNTRIES,
    _CRYPTO_SHARE_AFTER_DRIFT,
    _CYCLE_SCALE_DAYS,
    _CYCLE_SHAPE,
    _DEPARTMENT,
    _DRIFT_PAID_SOCIAL,
    _DUPLICATE_RATE,
    _ENGAGEMENT_CENTER,
    _ENGAGEMENT_SCALE,
    _ENGAGEMENT_TAU_DAYS,
    _FIRST_NAMES,
    _FREEMAIL,
    _FUNCTIONS,
    _HIDDEN_DRIFT_PENALTY,
    _INDUSTRIES,
    _JOB_TITLES,
    _JUNK_RATE,
    _LAST_NAMES,
    _LOSS_REASONS,
    _MIN_GAP_DAYS,
    _NURTURE_MIX,
    _REGIONS,
    _REJECT_OUTCOMES,
    _RESPONSE_MEDIAN_HOURS,
    _RESPONSE_SIGMA,
    _RESPONSE_WEEKEND_WAIT,
    _RETURN_DAYS,
    _RETURN_INTERCEPT,
    _SALES_MIX,
    _SECONDS_PER_DAY,
    _SENIORITY,
    _SIZES,
    _SQL_ENGAGEMENT,
    _SQL_INTERCEPT,
    _SQL_NOISE_SD,
    _TOTAL_CENTER,
    _TOTAL_SCALE,
    _TOUCH_MIX,
    _TOUCH_TYPES,
    _TRIGGER_BASE,
    _TRIGGER_SLOPE,
    _TRIGGER_TYPES,
    _WIN_INTERCEPT,
    _WIN_NOISE_SD,
    _WIN_RETURNER_BONUS,
    _CampaignRow,
    _ChannelRow,
    _CountryRow,
    _IndustryRow,
    _SizeRow,
)
from training.synthetic.frames import (
    _feedback_frame,
    _labels,
    _lead_ids,
    _leads_frame,
    _order_by_lead_then_time,
    _outcomes_frame,
    _timestamps,
    _touches_frame,
)
from training.synthetic.population import (
    _business_hours,
    _campaign_table,
    _copy_duplicates,
    _draw_arrivals,
    _draw_latents,
    _draw_mql,
    _draw_population,
    _Population,
)
from training.synthetic.sales import (
    _comment_keys,
    _comment_texts,
    _comment_vocabulary,
    _contact_attempts,
    _conversion_season,
    _draw_comments,
    _draw_sales_path,
    _reason_logits,
    _response_hours,
    _SalesPath,
)
from training.synthetic.touches import (
    _INTENT_BINS,
    _draw_post_mql_touches,
    _draw_pre_mql_touches,
    _engagement,
    _fixed_mix,
    _intent_bin,
    _intent_mix,
    _touch_block,
    _touch_channels,
    _Touches,
)
from training.synthetic.window import _make_window, _utc, _Window

__all__ = [
    "_AMOUNT_MEDIAN",
    "_AMOUNT_SIGMA",
    "_ARRIVAL_GROWTH_PER_YEAR",
    "_ARRIVAL_LATE_DECEMBER",
    "_ARRIVAL_MONTH",
    "_ARRIVAL_WEEKEND",
    "_BAD_CONTACT_NO_RESPONSE",
    "_CAMPAIGNS",
    "_CHANNELS",
    "_COMEBACK_MIX",
    "_COMMENTS",
    "_COMMENT_MISSING",
    "_COMPANY_STEMS",
    "_COMPANY_SUFFIXES",
    "_CONVERSION_MONTH",
    "_COUNTRIES",
    "_CRYPTO_SHARE_AFTER_DRIFT",
    "_CYCLE_SCALE_DAYS",
    "_CYCLE_SHAPE",
    "_DEPARTMENT",
    "_DRIFT_PAID_SOCIAL",
    "_DUPLICATE_RATE",
    "_ENGAGEMENT_CENTER",
    "_ENGAGEMENT_SCALE",
    "_ENGAGEMENT_TAU_DAYS",
    "_FIRST_NAMES",
    "_FREEMAIL",
    "_FUNCTIONS",
    "_HIDDEN_DRIFT_PENALTY",
    "_INDUSTRIES",
    "_INTENT_BINS",
    "_JOB_TITLES",
    "_JUNK_RATE",
    "_LAST_NAMES",
    "_LOSS_REASONS",
    "_MIN_GAP_DAYS",
    "_NURTURE_MIX",
    "_REGIONS",
    "_REJECT_OUTCOMES",
    "_RESPONSE_MEDIAN_HOURS",
    "_RESPONSE_SIGMA",
    "_RESPONSE_WEEKEND_WAIT",
    "_RETURN_DAYS",
    "_RETURN_INTERCEPT",
    "_SALES_MIX",
    "_SECONDS_PER_DAY",
    "_SENIORITY",
    "_SIZES",
    "_SQL_ENGAGEMENT",
    "_SQL_INTERCEPT",
    "_SQL_NOISE_SD",
    "_TOTAL_CENTER",
    "_TOTAL_SCALE",
    "_TOUCH_MIX",
    "_TOUCH_TYPES",
    "_TRIGGER_BASE",
    "_TRIGGER_SLOPE",
    "_TRIGGER_TYPES",
    "_WIN_INTERCEPT",
    "_WIN_NOISE_SD",
    "_WIN_RETURNER_BONUS",
    "_Block",
    "_CampaignRow",
    "_ChannelRow",
    "_CountryRow",
    "_Deals",
    "_IndustryRow",
    "_Parts",
    "_Population",
    "_SalesPath",
    "_SizeRow",
    "_Touches",
    "_Window",
    "_block_rng",
    "_business_hours",
    "_campaign_table",
    "_choice_by_group",
    "_choice_rows",
    "_comment_keys",
    "_comment_texts",
    "_comment_vocabulary",
    "_contact_attempts",
    "_conversion_season",
    "_copy_duplicates",
    "_draw_arrivals",
    "_draw_comments",
    "_draw_deals",
    "_draw_latents",
    "_draw_mql",
    "_draw_population",
    "_draw_post_mql_touches",
    "_draw_pre_mql_touches",
    "_draw_sales_path",
    "_engagement",
    "_feedback_frame",
    "_fixed_mix",
    "_intent_bin",
    "_intent_mix",
    "_labels",
    "_lead_ids",
    "_leads_frame",
    "_lookup",
    "_make_window",
    "_normalised",
    "_order_by_lead_then_time",
    "_outcomes_frame",
    "_reason_logits",
    "_response_hours",
    "_sigmoid",
    "_simulate_block",
    "_size_param",
    "_softmax",
    "_stack",
    "_timestamps",
    "_touch_block",
    "_touch_channels",
    "_touches_frame",
    "_utc",
    "_weekday",
    "generate",
]
