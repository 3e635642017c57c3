"""Testing helpers for Recoil and its plugin authors (fixtures, fake servers, conformance)."""
