"""System checks that catch a database role able to bypass row-level security."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connections


def app_role_problems() -> list[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        is_super, bypass = cursor.fetchone()
    problems = []
    if is_super:
        problems.append("the application database role is a superuser")
    if bypass:
        problems.append("the application database role has BYPASSRLS")
    if settings.DATABASES["default"]["USER"] == settings.DATABASES["owner"]["USER"]:
        problems.append("the application connects as the schema owner (set DATABASE_OWNER_URL)")
    return problems


@register(Tags.database)
def check_app_role(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases:
        return []
    return [
        Error(f"Row-level security is not enforced: {p}.", id="tenancy.E001")
        for p in app_role_problems()
    ]
