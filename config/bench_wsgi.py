"""WSGI entry point of the API benchmark's gunicorn: the production application with the
benchmark's URLconf (config/bench_urls.py, which adds the floor view)."""

from django.conf import settings

from config.wsgi import application

settings.ROOT_URLCONF = "config.bench_urls"

__all__ = ["application"]
