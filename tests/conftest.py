"""Fixtures: a real database per test, initialised with the real migrations.

``svc`` and ``new_service`` run on the store the ``backend`` fixture names. By default
that is SQLite only (a copy of one migrated file per test). A module or test marked
``both_stores`` runs on SQLite AND PostgreSQL: the contract suite, the same tests
against both stores. On PostgreSQL one migrated template database is made per test
session, each test gets its own ``CREATE DATABASE ... TEMPLATE`` copy, dropped after
it; every database of the session carries the session's prefix and whatever is left
is dropped at the end.

Without a PostgreSQL on 127.0.0.1:5432 (or ``KPI_TEST_PG_DSN``) the PostgreSQL
params skip with a message saying how to run them; with ``KPI_REQUIRE_POSTGRES=1``
(CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workflow.service.core import Service
from workflow.service.setup import init_database
from workflow.settings import PROJECT_ROOT, Settings
from workflow.store.db import Store

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_DSN = os.environ.get(
    "KPI_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3")
HOW_TO_RUN_PG = ("start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres "
                 "(`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) "
                 "or set KPI_TEST_PG_DSN; README, Running the tests")


def make_settings(database_url: str, **overrides: object) -> Settings:
    defaults: dict[str, object] = {
        "config_dir": PROJECT_ROOT / "config", "templates_dir": PROJECT_ROOT / "templates",
        "base_url": "http://kpi.test", "secret_key": "test-secret-key-0123456789"}
    return Settings(database_url=database_url, **{**defaults, **overrides})  # type: ignore[arg-type]


# --- the order of the modules (pytest -n 2 --dist loadfile) ------------------------------

# The modules that take longest, longest first (seconds measured on the 2-core machine
# shared with other runs, load 10-16, 2026-12-02; a quiet machine takes about half).
# xdist gives each worker a whole module at a time in the order collected: started
# first, the long ones run side by side on both workers while the short ones fill in
# behind them, so that both workers finish near each other (longest-first
# scheduling). Left to the end, as the per-module test count ordering did
# (`--loadscope-reorder`; pyproject.toml turns it off), one long module ran alone
# while the other worker had nothing left. A module missing here only runs later; a
# wrong figure costs balance, never a test.
LONGEST_FIRST = (
    "tests/e2e/test_accessibility.py",  # 290: the tour of every page, axe at two widths
    "tests/integration/test_workers.py",  # 150-250: whole cycles with worker processes
    "tests/integration/test_full_cycle.py",  # 166
    "tests/integration/test_petition_re_review.py",  # ~120, both stores
    "tests/integration/test_waiver_approvers.py",  # 80, both stores
    "tests/integration/test_machine_properties.py",  # 29 on a quiet machine
    "tests/integration/test_scoring_leaders.py",  # 56, both stores
    "tests/integration/test_web.py",  # 55
    "tests/integration/test_web_vietnamese.py",  # 53
    "tests/e2e/test_browser.py",  # 47
    "tests/integration/test_simulation_is_the_sweep.py",  # 20-40 each, the simulations
    "tests/integration/test_simulation_publication.py",
    "tests/integration/test_simulation_re_review.py",
    "tests/integration/test_web_admin_vi.py",  # 38 (138 before its world was seeded once)
    "tests/integration/test_web_admin_cycles.py",  # 38 (113)
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules of LONGEST_FIRST first, in its order; then the others, those with the
    most tests first (what xdist's own reordering did), each module's tests as they were."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    order = sorted(modules, key=lambda path: (rank.get(path, len(rank)),
                                              -len(modules[path]) if path not in rank else 0))
    items[:] = [item for path in order for item in modules[path]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend``: both stores for ``both_stores`` tests, PostgreSQL alone for
    ``postgres_only`` ones, else SQLite."""
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("postgres_only") is not None:
        metafunc.parametrize("backend", [
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
        ], indirect=True)
        return
    if metafunc.definition.get_closest_marker("both_stores") is None \
            or metafunc.definition.get_closest_marker("sqlite_only") is not None:
        metafunc.parametrize("backend", ["sqlite"], indirect=True, ids=["sqlite"])
        return
    metafunc.parametrize("backend", [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store this test runs on: ``sqlite`` or ``postgresql``."""
    return str(getattr(request, "param", "sqlite"))


# --- SQLite ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated empty SQLite file; each test copies it (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "empty.sqlite3"
    svc = Service(Store(f"sqlite:///{path}"), make_settings(f"sqlite:///{path}"))
    init_database(svc)
    svc.store.dispose()
    return path


# --- PostgreSQL -----------------------------------------------------------------


def pg_admin() -> Any:
    """An autocommit connection to the PostgreSQL the tests use, or skip/fail saying why."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        if os.environ.get("KPI_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"psycopg is not installed ({exc}); {HOW_TO_RUN_PG}")
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("KPI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"KPI_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable ({exc})")
        pytest.skip(f"no PostgreSQL reachable ({str(exc).strip()}); {HOW_TO_RUN_PG}")


def pg_url(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the test server."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_DSN)
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    user = params.get("user", "postgres")
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


class PgDatabases:
    """The session's PostgreSQL databases: a migrated template and copies of it."""

    def __init__(self) -> None:
        self.admin = pg_admin()
        self.drop_leftovers()
        self.prefix = f"kpi_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tpl"
        self._n = 0
        self.admin.execute(f"CREATE DATABASE {self.template}")
        url = pg_url(self.template)
        svc = Service(Store(url), make_settings(url))
        init_database(svc)
        svc.store.dispose()  # a template must have no connections when it is copied

    def drop_leftovers(self) -> None:
        """Drop the databases of earlier runs that were killed before their clean-up:
        on a server on this machine, those named after a process that no longer runs
        and that nobody is connected to."""
        import psycopg

        host = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_DSN).get("host", "127.0.0.1")
        if str(host) not in ("127.0.0.1", "localhost", "::1") and not str(host).startswith("/"):
            return  # another machine's pids mean nothing here
        rows = self.admin.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE 'kpi\\_t\\_%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
        ).fetchall()
        for (name,) in rows:
            pid = name.split("_")[2]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                self.drop(name)

    def create(self, template: str | None = None) -> str:
        """A new database copied from ``template`` (a database of this session nobody is
        connected to; by default the migrated empty one); returns its name."""
        self._n += 1
        name = f"{self.prefix}_{self._n}"
        # FILE_COPY: much faster than WAL_LOG for a small database copied many times.
        self.admin.execute(f"CREATE DATABASE {name} TEMPLATE {template or self.template} "
                           "STRATEGY FILE_COPY")
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def drop_all(self) -> None:
        names = [r[0] for r in self.admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (self.prefix + "%",)).fetchall()]
        for name in sorted(names, key=lambda n: n == self.template):  # template last
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture
def pg_database(pg_databases: PgDatabases) -> Iterator[str]:
    """The URL of an empty migrated PostgreSQL database of this test, dropped after it."""
    name = pg_databases.create()
    try:
        yield pg_url(name)
    finally:
        pg_databases.drop(name)


# --- services -------------------------------------------------------------------


class _Copies:
    """Services on copies of a template database made for one test (an SQLite file
    copied into the test's folder, or ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL),
    disposed and dropped when the test ends."""

    def __init__(self, request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.pg: PgDatabases | None = (request.getfixturevalue("pg_databases")
                                       if backend == "postgresql" else None)
        self.made: list[Service] = []
        self.pg_made: list[str] = []

    def service(self, file_template: Path | str, pg_template: str | None, file_name: str,
                overrides: dict[str, object]) -> Service:
        if self.pg is not None:
            db = self.pg.create(pg_template)
            self.pg_made.append(db)
            url = pg_url(db)
        else:
            path = self.tmp_path / file_name
            shutil.copy(file_template, path)
            url = f"sqlite:///{path}"
        svc = Service(Store(url), make_settings(url, **overrides))
        self.made.append(svc)
        return svc

    def close(self) -> None:
        for svc in self.made:
            svc.store.dispose()
        if self.pg is not None:
            for db in self.pg_made:
                self.pg.drop(db)


@pytest.fixture
def new_service(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                schema_template: Path) -> Iterator[Callable[..., Service]]:
    """Make services on fresh databases of ``backend`` (several per test when needed)."""
    copies = _Copies(request, backend, tmp_path)

    def make(name: str = "kpi.sqlite3", **overrides: object) -> Service:
        return copies.service(schema_template, None, name, overrides)

    yield make
    copies.close()


@pytest.fixture
def svc(new_service: Callable[..., Service]) -> Service:
    return new_service()


# --- seeded worlds: seeded once, copied per test ------------------------------------


class SeededTemplates:
    """Databases seeded once per test process (an organisation imported, a cycle opened,
    people acting) under a key, that each test then copies: a file copy on SQLite, a
    ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. Seeding the small world costs about
    a second on this machine, a copy about 15 ms (SQLite) or 0.2 s (PostgreSQL)."""

    def __init__(self, folder: Path, schema_template: Path,
                 pg: Callable[[], PgDatabases]) -> None:
        self.folder, self.schema_template, self._pg = folder, schema_template, pg
        self.made: dict[tuple[str, str], str] = {}  # (backend, key): file or database
        self.seeds: dict[str, str] = {}  # key: the seed function that made it

    def template(self, backend: str, key: str, seed: Callable[[Service], object],
                 overrides: dict[str, object]) -> str:
        """The seeded template of ``key`` on ``backend`` (seeded now if it is not yet)."""
        where = f"{seed.__module__}.{seed.__qualname__}"
        assert self.seeds.setdefault(key, where) == where, \
            f"seeded world {key!r} is seeded by {self.seeds[key]} and by {where}: two keys"
        if (backend, key) not in self.made:
            if backend == "postgresql":
                name = self._pg().create()
                url = pg_url(name)
            else:
                name = str(self.folder / f"{len(self.made)}-{key}.sqlite3")
                shutil.copy(self.schema_template, name)
                url = f"sqlite:///{name}"
            svc = Service(Store(url), make_settings(url, **overrides))
            try:
                seed(svc)
            finally:
                # No connection may outlive it: the copies need a quiet template (and on
                # SQLite the file, its write-ahead log folded in).
                svc.store.dispose()
            self.made[(backend, key)] = name
        return self.made[(backend, key)]


@pytest.fixture(scope="session")
def seeded_templates(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     schema_template: Path) -> SeededTemplates:
    return SeededTemplates(tmp_path_factory.mktemp("seeded"), schema_template,
                           lambda: request.getfixturevalue("pg_databases"))


@pytest.fixture
def seeded_service(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                   seeded_templates: SeededTemplates) -> Iterator[Callable[..., Service]]:
    """``seeded_service(key, seed, **settings)``: a service on this test's own copy of
    the database ``seed(svc)`` made once under ``key`` (on ``backend``), with the
    settings ``make_settings`` gives plus ``settings``. The first call of a key seeds
    it, with that call's settings: every call of a key must mean the same world (a
    ``config_dir`` of the test's own, holding the same files, is fine: the database
    keeps the texts it used, never a path)."""
    copies = _Copies(request, backend, tmp_path)

    def make(key: str, seed: Callable[[Service], object], **overrides: object) -> Service:
        template = seeded_templates.template(backend, key, seed, overrides)
        return copies.service(template, template, f"{key}.sqlite3", overrides)

    yield make
    copies.close()
