"""The web app for everyone who acts in a cycle: ``create_app(svc)``."""

from workflow.web.app import create_app
from workflow.web.context import DemoHooks

__all__ = ["DemoHooks", "create_app"]
