"""Billing: milestone-triggered charges, reconciliation and invoice exports for finance."""
