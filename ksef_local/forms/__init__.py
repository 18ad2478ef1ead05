"""Parsing and validation of what users type; Polish messages per field, no SQL."""
