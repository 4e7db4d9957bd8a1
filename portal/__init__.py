"""Portal: the ops dashboard, the tenant-branded customer portal and their live updates."""
