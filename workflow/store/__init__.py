"""The database: tables, engines and transactions, bulk writes, the audit chain."""
