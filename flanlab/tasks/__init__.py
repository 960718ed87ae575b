"""Task cards (one YAML per dataset), the registry that loads them, and FLAN's clusters."""
