"""The partner REST API of shipments: create, list, read, edit, cancel, timelines, templates."""
