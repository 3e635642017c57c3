"""recoil plan_cmd (to be filled)."""
