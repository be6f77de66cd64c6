"""Serving: ``luckybag predict`` and ``bag`` on an export (imports only the core and itself)."""
