"""Price sources: one module per API, each declaring its endpoint and parsing its answers."""
