"""Command line: one ``atomlearn`` command with sub-commands."""
