import tinygraph.ops  # noqa
