"""The playbook-lift quality test: harness, judge, report."""
