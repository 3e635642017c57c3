"""recoil group_cmd (to be filled)."""
