"""Recoil provider: offline animatic previs clips, the default."""
