"""recoil-replicate: video models over Replicate's predictions API, as a Recoil provider."""
