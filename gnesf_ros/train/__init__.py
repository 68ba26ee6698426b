"""Training GNeSF on synthetic scans: 2D semantic supervision through rendering (Eq. 5-6, 8-9)."""
