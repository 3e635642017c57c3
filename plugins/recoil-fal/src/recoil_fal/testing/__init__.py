"""Test helpers of recoil-fal: a fake fal queue API (:mod:`recoil_fal.testing.fake_fal`)
and the pytest fixture ``fake_fal`` (:mod:`recoil_fal.testing.pytest_plugin`)."""
