"""``field__any=[…]``: membership in a list sent as ONE array parameter (``= ANY(%s)``).

Why: ``__in`` prepares, quotes and placeholds every element in Python (about 4 µs each) and
sends a statement as long as the list; the ingest batches look up hundreds of ids at a time,
and building those IN lists came to a tenth of a worker's time. An empty list matches nothing.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # the value is a list, not one value of the field

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        # Typed like the column, so PostgreSQL sees one constant array it can hash (an
        # untyped ARRAY[...] of ints against a bigint column was compared element by element).
        array_type = self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY({rhs}::{array_type}[])", [*lhs_params, *rhs_params]


# Relations keep lookups of their own (RelatedIn, RelatedExact...): register on both.
Field.register_lookup(Any)
ForeignObject.register_lookup(Any)
