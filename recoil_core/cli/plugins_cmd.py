"""recoil plugins_cmd (to be filled)."""
