"""recoil run_cmd (to be filled)."""
