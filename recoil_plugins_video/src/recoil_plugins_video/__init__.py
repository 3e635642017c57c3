"""Recoil video modality runner base and the image_t2i keyframe runner."""
