"""Search over cases, customers, messages, promises and knowledge, scoped to the viewer."""
