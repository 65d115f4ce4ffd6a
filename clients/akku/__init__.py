"""The Akku IAM API client (contract: docs/akku.md)."""
