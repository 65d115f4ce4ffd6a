"""Starting alert runs: the one path shared by the webhook gateway and the Akku-stream detector."""
