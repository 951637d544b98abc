"""Creating a role's tables: every role declares its peewee models without a
database (see store/db.py) and creates them here in the database it is given."""
from peewee import SchemaManager


def create(db, models, safe=True):
    """Create the models' tables (and indexes) in `db`, in the given order."""
    with db.connection_context():
        for model in models:
            SchemaManager(model, db).create_all(safe=safe)
