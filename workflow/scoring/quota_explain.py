"""How a quota pool's allowance was reached, in both languages. Pure.

Every meter of a pool (the calibration page, the cycle report, `kpi calibration show`)
says which rule gave its allowance: the ratio of the class it is relative to, rounded
down; the small-pool rule when the rounding leaves none (``at_least_one`` gives one,
``agency_only`` leaves a small task group unmetered); and the exception ratio with the
decision on record, when the cycle has one.
"""

from __future__ import annotations

from decimal import Decimal

from workflow.catalog import N_
from workflow.scoring.explain import Num, say
from workflow.scoring.quota import PoolMeter, floor_allowed

RULES: dict[str, str] = {
    "quota_rule_floor": N_("%(ratio)s%% of %(relative)s, rounded down: %(allowed)s allowed"),
    "quota_rule_at_least_one": N_(
        "%(ratio)s%% of %(relative)s rounds down to 0; the regime lets a small pool have "
        "%(allowed)s"),
    "quota_rule_not_metered": N_(
        "not metered: %(ratio)s%% of %(relative)s rounds down to 0, and the regime meters a "
        "small task group only within the agency"),
    "quota_rule_exception": N_("%(rule)s (exception ratio by decision %(decision)s)"),
}


def _msg(key: str, **params: object) -> dict[str, str]:
    return say(RULES[key], **params)


def allowance_rule(meter: PoolMeter, exception_decision: str | None = None) -> dict[str, str]:
    """The rule that gave ``meter`` its allowance (or left it unmetered), per language."""
    common = {"ratio": Num(meter.ratio * 100, 2, strip=True), "relative": meter.relative,
              "allowed": meter.allowed}
    if not meter.metered:
        text = _msg("quota_rule_not_metered", **common)
    elif meter.small and meter.allowed > floor_allowed(Decimal(meter.ratio), meter.relative):
        text = _msg("quota_rule_at_least_one", **common)
    else:
        text = _msg("quota_rule_floor", **common)
    if exception_decision:
        text = _msg("quota_rule_exception", rule=text, decision=exception_decision)
    return text
