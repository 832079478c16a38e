"""Names of the unique constraints whose violation a repository reports in ``ConflictError.details``.

The PostgreSQL schema uses the same names (partial unique indexes for soft-deletable tables, PostgreSQL's
default ``<table>_<columns>_key`` names for the others), so callers and tests may rely on them whatever the
adapter.
"""

UNIQUE_AGENT_CLUSTER = "unique_agent_cluster"
UNIQUE_GENERATOR_NAME = "unique_generator_name"
UNIQUE_STACK_NAME = "unique_stack_name"
UNIQUE_TEMPLATE_VERSION = "unique_template_version"
AGENT_LABEL = "agent_labels_agent_id_label_key"
AGENT_ANNOTATION_KEY = "agent_annotations_agent_id_key_key"
AGENT_TARGET = "agent_targets_agent_id_stack_id_key"
STACK_LABEL = "stack_labels_stack_id_label_key"
STACK_ANNOTATION_KEY = "stack_annotations_stack_id_key_key"
TEMPLATE_LABEL = "template_labels_template_id_label_key"
TEMPLATE_ANNOTATION_KEY = "template_annotations_template_id_key_key"
RENDERED_OBJECT = "rendered_deployment_objects_deployment_object_id_key"


def primary_key(table: str) -> str:
    """The primary-key constraint of a table (a duplicate id)."""
    return f"{table}_pkey"


__all__ = [
    "AGENT_ANNOTATION_KEY",
    "AGENT_LABEL",
    "AGENT_TARGET",
    "RENDERED_OBJECT",
    "STACK_ANNOTATION_KEY",
    "STACK_LABEL",
    "TEMPLATE_ANNOTATION_KEY",
    "TEMPLATE_LABEL",
    "UNIQUE_AGENT_CLUSTER",
    "UNIQUE_GENERATOR_NAME",
    "UNIQUE_STACK_NAME",
    "UNIQUE_TEMPLATE_VERSION",
    "primary_key",
]
