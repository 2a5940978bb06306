"""``/rules``: the alert rules the API was started with (read-only), each with its sentence."""

from __future__ import annotations

import fastapi

from cryptomonitor.alerting import ruletext
from cryptomonitor.alerting.rules import Rule
from cryptomonitor.api import deps, schemas
from cryptomonitor.util import times

router = fastapi.APIRouter()


@router.get("/rules", summary="The alert rules in force (CRYPTOMONITOR_RULES_FILE)")
def rules(svc: deps.ServiceDep) -> schemas.Rules:
    return schemas.Rules(origin=svc.rules_origin, rules=[_info(r) for r in svc.rules])


def _info(rule: Rule) -> schemas.RuleInfo:
    return schemas.RuleInfo(
        name=rule.name,
        sentence=ruletext.sentence(rule),
        condition=rule.condition,
        metric=rule.metric,
        threshold=rule.threshold,
        thresholds=dict(rule.thresholds),
        recover=rule.recover,
        window_seconds=rule.window or None,
        lookback_seconds=rule.lookback or None,
        direction=rule.direction,
        for_seconds=rule.pending,
        cooldown_seconds=rule.cooldown,
        repeat_seconds=rule.repeat,
        once=rule.once,
        expires=times.format_time(rule.expires) if rule.expires else None,
        severity=rule.severity,
        symbols=list(rule.symbols),
        sources=list(rule.sources),
        of=list(rule.of),
        silent=rule.silent,
        interval_seconds=rule.interval or None,
        fast=rule.fast or None,
        slow=rule.slow or None,
        band=list(rule.band) if rule.band else None,
        recover_band=list(rule.recover_band) if rule.recover_band else None,
    )
