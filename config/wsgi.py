"""WSGI entry point: production HTTP is served by gunicorn (see docker-compose.yml)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.runtime import tune_gc  # noqa: E402 — needs the settings loaded above

tune_gc()
