"""The book: the build (fingerprints, chapter execution, results, atomic publication), the
generated overview pages and the changelog of releases."""
