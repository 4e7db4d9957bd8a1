"""Marks which URL patterns a test proves the access rules of.

``tests/tenancy/test_url_coverage.py`` reads these markers from the test sources and fails when
a URL pattern of ours has none.
"""

from __future__ import annotations


def covers_url(*names: str):
    def mark(test):
        test.covers_urls = names
        return test

    return mark
