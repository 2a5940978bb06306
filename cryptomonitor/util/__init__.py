"""Small pure helpers with no home of their own: time conversions, exact float sums."""
