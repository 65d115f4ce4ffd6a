"""The scoring factors, by what they read: volumes across accounts and addresses (volume.py),
one account's behaviour over time (behaviour.py), and context (context.py). playbooks/scoring.py
names them for the playbooks and adds them up."""
