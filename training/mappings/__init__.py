"""Built-in CRM export mappings (YAML), loaded by ``training.importing.load_mapping``."""
