"""The web dashboard at /app: server-rendered pages (Jinja2 + htmx) over the same services as
the API."""

from agentconnect.web.app import create_web_app, mount_web

__all__ = ["create_web_app", "mount_web"]
