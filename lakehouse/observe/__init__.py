"""The observe wing: ObservedOps, the audit rows of every mode call."""
