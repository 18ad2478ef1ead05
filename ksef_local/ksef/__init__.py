"""Everything that talks to KSeF, or pretends to be KSeF (the simulator)."""
