"""The web demo keys its audit chain stably (issue 14): a demo stopped and started
again on its database, or `kpi audit verify` run with the key the demo prints,
verifies the chain it wrote. It was keyed with a fresh random secret on every start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workflow.bootstrap import build_service
from workflow.cli.demo import DEMO_AUDIT_KEY, demo_settings, verify_hint
from workflow.service.audit_check import verify
from workflow.settings import PROJECT_ROOT, Settings
from workflow.web.demo import prepare


def test_a_restarted_demo_verifies_the_chain_it_wrote(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kpi.sqlite3'}"
    base = Settings(config_dir=PROJECT_ROOT / "config", templates_dir=PROJECT_ROOT / "templates")
    first = demo_settings(base, url)
    svc = build_service(first, check_schema=False)
    prepare(svc, first.config_dir, lambda _line: None)
    svc.store.dispose()
    again = demo_settings(base, url)
    assert again.secret_key != first.secret_key  # sessions still get a key of their own
    restarted = build_service(again, check_schema=False)
    result = verify(restarted)
    restarted.store.dispose()
    assert result.ok and result.keyed and result.rows > 100, result
    # The command the demo prints verifies it too, from a shell with nothing else set.
    hint = verify_hint(first)
    assert hint == f"KPI_AUDIT_KEY={DEMO_AUDIT_KEY} "
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(KPI_DATABASE_URL=url, KPI_AUDIT_KEY=DEMO_AUDIT_KEY)
    out = subprocess.run([sys.executable, "-m", "workflow.cli", "audit", "verify"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    wrong = subprocess.run([sys.executable, "-m", "workflow.cli", "audit", "verify"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120,
                           env={**env, "KPI_AUDIT_KEY": "another"}, check=False)
    assert wrong.returncode != 0  # the check can fail: the key matters


def test_a_configured_key_wins_over_the_demo_key() -> None:
    base = Settings(secret_key="configured-secret-0123456789")
    assert demo_settings(base, "sqlite://").audit_key == ""  # derived from the secret
    assert demo_settings(base, "sqlite://").secret_key == base.secret_key
    assert demo_settings(Settings(audit_key="k"), "sqlite://").audit_key == "k"
