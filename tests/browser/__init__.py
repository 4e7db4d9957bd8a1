"""End-to-end tests in Chromium through Playwright (marked ``browser``)."""
