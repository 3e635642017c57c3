"""Recoil r2v_multi modality runner."""

from recoil_r2v_multi.runner import R2VMultiRunner

__all__ = ["R2VMultiRunner"]
