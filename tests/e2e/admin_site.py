"""An admin's live site over the small organisation with its April cycle open, for the
browser tests of the admin pages that write into a config folder of their own (the
cycle form, the organisation import, the series upload): seeded once per module,
copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from tests.conftest import make_settings
from tests.e2e.conftest import LiveServer
from tests.e2e.test_accessibility import _Sessions
from tests.support import CONFIG, DATA, at
from tests.web_support import Clock
from workflow.service.core import Service
from workflow.service.cycles import open_cycle
from workflow.service.org import import_org
from workflow.store.db import Store
from workflow.web import create_app


def seed_admin_folder(folder: Path, schema_template: Path, admin: str, *,
                      series: bool = False) -> Path:
    """``folder`` with ``config`` (the regimes, frameworks and the small cycle; with
    ``series``, an empty series folder) and ``seed.sqlite3``: the small organisation
    imported and its April cycle opened."""
    config = folder / "config"
    for part in ("regimes", "frameworks"):
        shutil.copytree(CONFIG / part, config / part)
    (config / "cycles").mkdir()
    if series:
        (config / "series").mkdir()
    shutil.copy(DATA / "small_cycle.yaml", config / "cycles" / "t-2026-04.yaml")
    svc = admin_service(folder / "seed.sqlite3", config, admin, schema_template)
    import_org(svc, DATA / "small_org.csv", now=at("2026-05-01 09:00"))
    open_cycle(svc, config / "cycles" / "t-2026-04.yaml", now=at("2026-05-02 10:00"))
    svc.store.dispose()
    return folder


def admin_service(path: Path, config: Path, admin: str, template: Path | None = None
                  ) -> Service:
    """A service on the SQLite file ``path`` (a copy of ``template`` if given) whose
    only admin is ``admin``, reading ``config``."""
    if template is not None:
        shutil.copy(template, path)
    url = f"sqlite:///{path}"
    return Service(Store(url), replace(make_settings(url, admins=(admin,)), config_dir=config))


@contextmanager
def admin_site(seeded: Path, tmp_path: Path, admin: str, now: str
               ) -> Iterator[tuple[Service, LiveServer, _Sessions]]:
    """This test's copy of the seeded folder served live, the clock at ``now``."""
    config = tmp_path / "config"
    shutil.copytree(seeded / "config", config)
    shutil.copy(seeded / "seed.sqlite3", tmp_path / "kpi.sqlite3")
    svc = admin_service(tmp_path / "kpi.sqlite3", config, admin)
    clock = Clock()
    clock.set(now)
    app = create_app(svc, clock=clock)
    try:
        with LiveServer(app) as live:
            yield svc, live, _Sessions(app.state.web.signer, svc)
    finally:
        svc.store.dispose()
