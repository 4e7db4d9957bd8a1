import pytest


@pytest.fixture(autouse=True)
def _local_carriers_allowed(settings):
    """The stand-in carriers listen on 127.0.0.1: allowed the one explicit way the outbound
    guard has (WEBHOOK_ALLOWED_NETWORKS); the default stays empty. Tests that show a refusal
    empty it again."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
