"""The commands as drivers of the one session lifecycle (harness/session): each only plans
its work and produces records."""
