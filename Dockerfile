# Milepost application image: web (gunicorn), ws (uvicorn), worker/beat (celery) and the
# one-shot migrate service all run it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# System libraries: pango and fonts for invoice PDFs (WeasyPrint, billing/documents.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so code changes do not reinstall them. pyproject.toml declares no
# packages (packages = []): `pip install .` installs the dependencies; the code is copied below.
# README* is a glob so the build does not depend on the README existing.
COPY pyproject.toml README* ./
RUN pip install .

# The project, owned by root and read-only for the app user. Listed explicitly (no .local/,
# .venv/ or tests/ in the image); tests/test_compose.py checks every first-party app is here.
COPY manage.py ./
COPY config ./config
COPY templates ./templates
COPY static ./static
COPY tenancy ./tenancy
COPY milestones ./milestones
COPY shipments ./shipments
COPY integrations ./integrations
COPY billing ./billing
COPY portal ./portal

# Non-root user; it may write only the collected static files and uploaded media (volumes).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home milepost \
    && mkdir -p /app/staticfiles /app/media \
    && chown milepost:milepost /app/staticfiles /app/media
USER milepost

EXPOSE 8000 8001
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
