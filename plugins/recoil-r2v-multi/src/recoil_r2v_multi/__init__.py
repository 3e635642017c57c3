"""Recoil r2v_multi modality runner."""
