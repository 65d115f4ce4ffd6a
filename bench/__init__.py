"""Riposte's benchmarks, measured side by side with Temporal's own baseline (`make bench`)."""
