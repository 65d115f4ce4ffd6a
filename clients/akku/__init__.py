"""The Akku IAM API client (contract: akku-api.md)."""
