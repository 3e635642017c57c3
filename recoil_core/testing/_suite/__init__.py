"""Helpers of this repository's own test suites (the kernel's, the plugins' and the
integration tests): the money checks of an episode run (:mod:`.money`), grouping strategy
doubles and the commands that call them (:mod:`.strategies`), and the guides' example
plugins installed for tests (:mod:`.doc_examples`). Not part of the documented testing API
for plugin authors (docs/testing-plugins.md); they change with the repository's tests."""

__all__: list[str] = []
