"""stylerec.E018: a host's migration that gives its product table vector columns must run after
stylerec's 0001_vector_extension, or ``migrate`` fails half-way with 'type "vector" does not
exist' (issue #14: ``check`` said nothing). The whole path, with a real host and a real
``makemigrations``, is tests/host/test_install_into_a_store.py."""

from __future__ import annotations

from django.db import migrations, models
from django.db.migrations.graph import MigrationGraph
from pgvector.django import VectorField

from stylerec.checks import VECTOR_EXTENSION_MIGRATION, check_product_migrations, product_migration_errors

VECTOR = ("stylerec", "0001_vector_extension")


def _graph(*, catalog_ops: list, depends_on_vector: bool) -> MigrationGraph:
    graph = MigrationGraph()
    graph.add_node(VECTOR, migrations.Migration(VECTOR[1], VECTOR[0]))
    first = migrations.Migration("0001_initial", "catalog")
    first.operations = [
        migrations.CreateModel(
            "Product", [("id", models.BigAutoField(primary_key=True)), ("name", models.TextField())]
        )
    ]
    second = migrations.Migration("0002_stylerec", "catalog")
    second.operations = catalog_ops
    graph.add_node(("catalog", "0001_initial"), first)
    graph.add_node(("catalog", "0002_stylerec"), second)
    graph.add_dependency(second, ("catalog", "0002_stylerec"), ("catalog", "0001_initial"))
    if depends_on_vector:
        graph.add_dependency(first, ("catalog", "0001_initial"), VECTOR)
    return graph


ADD_VECTOR = [migrations.AddField("product", "text_embedding", VectorField(dimensions=3, null=True))]


def test_a_migration_adding_vectors_without_the_dependency_is_an_error():
    graph = _graph(catalog_ops=ADD_VECTOR, depends_on_vector=False)
    (error,) = product_migration_errors(graph=graph, label="catalog", model_name="product")
    assert error.id == "stylerec.E018" and "catalog.0002_stylerec" in error.msg
    assert '("stylerec", "0001_vector_extension")' in error.hint


def test_a_dependency_anywhere_upstream_is_enough():
    graph = _graph(catalog_ops=ADD_VECTOR, depends_on_vector=True)  # through 0001_initial
    assert product_migration_errors(graph=graph, label="catalog", model_name="product") == []


def test_migrations_without_vector_columns_need_nothing():
    ops = [migrations.AddField("product", "colour", models.CharField(max_length=20, default=""))]
    graph = _graph(catalog_ops=ops, depends_on_vector=False)
    assert product_migration_errors(graph=graph, label="catalog", model_name="product") == []


def test_stylerecs_own_product_model_passes():
    assert VECTOR_EXTENSION_MIGRATION == VECTOR
    assert check_product_migrations() == []
