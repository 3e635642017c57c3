"""Pytest plugin: fixtures for testing Recoil plugins (registered via the pytest11 entry point)."""
