"""Storage: the schema (SQLAlchemy Core), the engine, and Alembic migrations."""
