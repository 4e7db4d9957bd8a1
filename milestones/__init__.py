"""Milestones: tenant-configured, versioned templates and the timeline computed from events."""
