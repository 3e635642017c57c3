"""recoil-fal: video models on fal's queue API as a Recoil provider."""
