"""The operator's tools that work on a data directory's files: backup and restore."""
