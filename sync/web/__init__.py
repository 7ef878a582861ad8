"""The planners' web page (``flowtrac-sync serve``): a thin aiohttp layer over ``sync.api``.

Sign in, upload a sheet, review the plan, apply it with live progress and download the
reconciliation report; every rule stays in the library, the page only shows its results.
"""

from .app import RunningWeb, WebSettings, make_app, running_web

__all__ = ["RunningWeb", "WebSettings", "make_app", "running_web"]
