"""Everything that reads or writes the database (and the secret store): all SQL lives in this package."""
