"""Test helpers of recoil-replicate: a fake Replicate predictions API that follows Replicate's
rules (:mod:`recoil_replicate.testing.fake_replicate`) and the pytest fixture
``fake_replicate`` (:mod:`recoil_replicate.testing.pytest_plugin`, loaded by pytest when this
distribution is installed)."""
