"""Reusable test fakes (scripted servers)."""
