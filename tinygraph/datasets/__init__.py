"""Data files that ship inside tinygraph (read through `tinygraph.data`); see README.md here."""
