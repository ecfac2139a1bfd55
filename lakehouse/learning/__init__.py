"""The learning wing: playbook lift, pathway memory, distillation, drift."""
