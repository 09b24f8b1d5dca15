"""Application loops that wire the pure core to the adapters."""
