"""Tenancy: tenants, users, memberships and roles, API keys, the audit log and RLS context."""
