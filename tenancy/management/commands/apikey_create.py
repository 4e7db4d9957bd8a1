"""apikey_create --tenant SLUG --scopes read,write,ingest[,finance] [--customer CODE …] [--name N]

Prints the new partner API key alone on stdout (nothing else, so scripts can capture it);
unknown tenant, scope or customer account: a clear error on stderr and exit status 1.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenancy.context import tenant_context
from tenancy.errors import DomainError
from tenancy.models import ApiScope, CustomerAccount, Tenant
from tenancy.services import api_key_issue


class Command(BaseCommand):
    help = "Issue a partner API key for a tenant and print it (shown once, stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--scopes", required=True, help=f"comma-separated: {','.join(ApiScope.values)}"
        )
        parser.add_argument(
            "--customer",
            action="append",
            default=[],
            metavar="CODE",
            help="limit the key to this customer account (by code); repeatable",
        )
        parser.add_argument("--name", default="", help="a name to recognise the key by")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            raw_key = issue(
                tenant_slug=options["tenant"],
                scopes=[s.strip() for s in options["scopes"].split(",") if s.strip()],
                customer_codes=options["customer"],
                name=options["name"],
            )
        except DomainError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(1)
        self.stdout.write(raw_key)


def issue(*, tenant_slug: str, scopes: list[str], customer_codes: list[str], name: str) -> str:
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        raise DomainError(f"unknown tenant {tenant_slug!r}", code="unknown_tenant")
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown or not scopes:
        raise DomainError(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
            f"expected some of {', '.join(ApiScope.values)}",
            code="unknown_scope",
        )
    with tenant_context(tenant.pk):
        accounts = list(CustomerAccount.objects.filter(code__in=customer_codes))
        missing = sorted(set(customer_codes) - {a.code for a in accounts})
        if missing:
            raise DomainError(
                f"unknown customer account(s) {', '.join(missing)} in tenant {tenant_slug}",
                code="unknown_customer_account",
            )
        issued = api_key_issue(
            name=name or f"CLI key ({','.join(scopes)})",
            scopes=scopes,
            customer_accounts=accounts,
        )
    return issued.raw_key
