"""The version, kept apart so that fa3.py can name it in SystemInfo without importing the app."""
VERSION = "0.1.0"
