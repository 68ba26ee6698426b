"""Processes and stand-ins for the node tests (run as scripts in their own processes)."""
