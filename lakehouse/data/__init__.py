"""The data wing: object storage, Iceberg tables, ingest, SQL."""
