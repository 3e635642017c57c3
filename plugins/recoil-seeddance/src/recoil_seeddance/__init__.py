"""Recoil provider: Seedance models over the Ark task API."""
