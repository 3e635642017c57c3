"""Recoil video_i2v modality runner."""
