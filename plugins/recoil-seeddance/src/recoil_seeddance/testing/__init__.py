"""Test helpers of recoil-seeddance: a fake Ark task API that follows Ark's rules
(:mod:`recoil_seeddance.testing.fake_ark`) and the pytest fixture ``fake_ark``
(:mod:`recoil_seeddance.testing.pytest_plugin`, loaded by pytest when this distribution
is installed)."""
