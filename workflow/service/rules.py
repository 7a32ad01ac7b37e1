"""The rules a cycle runs by: its calendar file, its regime and its frameworks.

At `kpi cycle open` they are read from ``config/`` and stored verbatim in the
``rulebook`` table; from then on the cycle reads them from the database, so editing
a file in ``config/`` never changes a running cycle, and any score can be recomputed
from the exact text it was computed with.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import cast

from sqlalchemy import insert, select
from sqlmodel import Session

from workflow.calendar import WorkingCalendar, zone
from workflow.configfile import LoadedFile, validate
from workflow.cycle_config import CycleFile, LoadedCycle, parse_cycle_text
from workflow.errors import ConfigFileError, ConfigFileErrors, CycleNotFound, StoreError
from workflow.petition import starts_at_publication, with_petition_phases
from workflow.scoring.model import Framework, Regime, load_framework, load_regime
from workflow.store.tables import CYCLE as _CYCLE
from workflow.store.tables import RULEBOOK as _RULEBOOK
from workflow.store.tables import Cycle


@dataclass(frozen=True)
class CycleRules:
    """Everything needed to run one cycle, immutable once the cycle is open."""

    cycle_id: str
    config: CycleFile
    config_hash: str
    regime: Regime
    frameworks: dict[str, Framework] = field(default_factory=dict)  # by content hash

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return self.config.working_calendar()

    @cached_property
    def tz_name(self) -> str:
        return self.config.timezone

    def framework_for_group(self, position_group: str) -> Framework | None:
        for fw in self.frameworks.values():
            if position_group in fw.position_groups:
                return fw
        return None

    @property
    def petition_from_publication(self) -> bool:
        """Whether the petition window runs from the publication of the unit's results
        (the regime's ``petition.starts``) rather than from the result's notification."""
        return starts_at_publication(self.regime)

    @property
    def scorer_decides_petition(self) -> bool:
        """Whether the one who classified decides a petition against it (the regime's
        ``petition.resolved_by: evaluator``) rather than their direct superior."""
        return self.regime.petition is not None and self.regime.petition.resolved_by == \
            "evaluator"

    @property
    def further_reviews(self) -> int:
        """How many times a petition's decision may itself be petitioned (the regime's
        ``petition.re_review`` and ``re_review_limit``; 0: the decision finalises)."""
        return self.regime.petition.further_reviews if self.regime.petition else 0

    @property
    def min_peer_responses(self) -> int:
        return self.config.peers.min_responses or self.regime.peer_min_responses

    def validate_zone(self) -> None:
        zone(self.config.timezone)


def _rule_file(config_dir: Path, kind: str, rule_id: str) -> Path:
    path = config_dir / kind / f"{rule_id}.yaml"
    if not path.exists():
        raise ConfigFileError(str(path), None, "", f"no {kind[:-1]} {rule_id!r}: expected this "
                              "file (its name is the id)")
    return path


def load_rules_from_files(loaded: LoadedCycle, config_dir: Path) -> CycleRules:
    """The cycle's regime and frameworks read from ``config_dir``; errors name each file."""
    cycle = loaded.config
    regime_path = _rule_file(config_dir, "regimes", cycle.regime)
    regime = load_regime(regime_path, expected_id=cycle.regime)
    frameworks: dict[str, Framework] = {}
    groups: dict[str, str] = {}
    errors: list[ConfigFileError] = []
    for fw_id in cycle.frameworks:
        path = _rule_file(config_dir, "frameworks", fw_id)
        fw = load_framework(path, regime, expected_id=fw_id)
        for group in fw.position_groups:
            if group in groups:
                errors.append(ConfigFileError(str(path), None, "position_groups",
                                              f"{group!r} is also covered by framework "
                                              f"{groups[group]!r}; each group needs one framework"))
            groups[group] = fw.id
        frameworks[fw.content_hash] = fw
    floor = regime.peer_min_responses
    asked = cycle.peers.min_responses
    if asked is not None and asked < floor and cycle.peers.min_responses_exception is None:
        errors.append(cast(ConfigFileError, loaded.error(("peers", "min_responses"), (
            f"{asked} is below the quorum of regime {regime.id} ({floor}): with fewer "
            "answers a peer's answer can be told apart. Raise it, or document the exception "
            "with peers.min_responses_exception: {reason: ..., decision: ...}"))))
    resolved, petition_problems = with_petition_phases(cycle, regime)
    errors.extend(cast(ConfigFileError, loaded.error(loc, msg)) for loc, msg in petition_problems)
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigFileErrors(errors)
    return CycleRules(cycle.id, resolved, loaded.content_hash, regime, frameworks)


def quorum_exception(rules: CycleRules) -> str | None:
    """The documented exception letting the cycle go below the regime's peer quorum,
    as `kpi cycle check` prints it; None when the cycle keeps the floor."""
    peers = rules.config.peers
    floor = rules.regime.peer_min_responses
    if peers.min_responses is None or peers.min_responses >= floor \
            or peers.min_responses_exception is None:
        return None
    exception = peers.min_responses_exception
    return (f"peers.min_responses {peers.min_responses} is below the quorum of regime "
            f"{rules.regime.id} ({floor}) by exception: {exception.reason} "
            f"(decision: {exception.decision})")


def store_rulebook(session: Session, kind: str, name: str, version: int, text: str,
                   now: object) -> str:
    """Keep ``text`` in the rulebook (once per content hash); returns the hash."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    exists = session.execute(
        select(_RULEBOOK.c.id).where(_RULEBOOK.c.kind == kind, _RULEBOOK.c.content_hash == digest)
    ).first()
    if exists is None:
        session.execute(insert(_RULEBOOK).values(kind=kind, name=name, version=version,
                                                 content_hash=digest, text=text, stored_at=now))
    return digest


class RulesCache:
    """Per-process cache of CycleRules read back from the rulebook."""

    def __init__(self) -> None:
        self._by_cycle: dict[str, CycleRules] = {}
        # Set when the cycle opens and never changed after: read once per process
        # (a snapshot used to re-read the cycle row for it on every load).
        self._calibrators: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, cycle_id: str) -> CycleRules:
        cached = self._by_cycle.get(cycle_id)
        if cached is not None:
            return cached
        rules = self._load(session, cycle_id)
        with self._lock:
            self._by_cycle[cycle_id] = rules
        return rules

    def put(self, rules: CycleRules) -> None:
        with self._lock:
            self._by_cycle[rules.cycle_id] = rules
            # Opening picks the calibrator after it puts the rules: read it afresh.
            self._calibrators.pop(rules.cycle_id, None)

    def usual_people(self) -> set[str]:
        """The calibrators and admins of the cycles known here: people most steps may
        mail, fetched with a snapshot (service.core) before its cycle is known."""
        out = {c for c in self._calibrators.values() if c}
        for rules in list(self._by_cycle.values()):
            out.update(rules.config.admins)
        return out

    def calibrator(self, session: Session, cycle_id: str) -> str | None:
        """The calibrator of the cycle's quota pool (None when nobody is named)."""
        try:
            return self._calibrators[cycle_id]
        except KeyError:
            pass
        found = session.execute(select(_CYCLE.c.calibrator_id)
                                .where(_CYCLE.c.id == cycle_id)).scalar()
        with self._lock:
            self._calibrators[cycle_id] = found
        return found

    @staticmethod
    def _text(session: Session, kind: str, digest: str) -> str:
        row = session.execute(
            select(_RULEBOOK.c.text).where(_RULEBOOK.c.kind == kind,
                                           _RULEBOOK.c.content_hash == digest)
        ).first()
        if row is None:
            raise StoreError(f"the rulebook has no {kind} with hash {digest[:12]}; "
                             "the database was changed by hand")
        return str(row.text)

    def _load(self, session: Session, cycle_id: str) -> CycleRules:
        cycle = session.get(Cycle, cycle_id)
        if cycle is None:
            raise CycleNotFound(cycle_id)
        config = parse_cycle_text(self._text(session, "cycle", cycle.config_hash),
                                  f"<cycle {cycle_id}>").config
        regime = validate(LoadedFile(Path(f"<regime {cycle.regime_id}>"),
                                     self._text(session, "regime", cycle.regime_hash)), Regime)
        frameworks: dict[str, Framework] = {}
        rows = session.execute(
            select(_RULEBOOK.c.text, _RULEBOOK.c.content_hash)
            .where(_RULEBOOK.c.kind == "framework")
        ).all()
        for row in rows:
            fw = validate(LoadedFile(Path("<framework>"), row.text), Framework)
            if fw.regime == regime.id:
                frameworks[row.content_hash] = fw.model_copy(
                    update={"content_hash": row.content_hash})
        resolved, problems = with_petition_phases(config, regime)
        if problems:  # checked when the cycle opened: only a hand-edited database gets here
            raise StoreError(f"cycle {cycle_id}: its stored rules disagree: {problems[0][1]}")
        return CycleRules(cycle_id, resolved, cycle.config_hash, regime, frameworks)
