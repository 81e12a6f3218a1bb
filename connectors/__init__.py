"""Platform connectors and export importers: platform data in, ``Post``/``Mention`` records out."""
