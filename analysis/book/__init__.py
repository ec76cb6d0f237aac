"""The book: its build, the generated overview pages and the changelog of releases.

The build fingerprints the chapters, executes them, writes their results and publishes the book
atomically.
"""
