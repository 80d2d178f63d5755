"""A Milvus collection of documents by key (thumbnails, fits): a VARCHAR key and a VARCHAR
value. Milvus wants a vector field in every collection; these have a constant placeholder."""

from pymilvus import DataType, MilvusClient

MAX_CHARS = 65_535  # Milvus's VARCHAR limit
PLACEHOLDER = [0.0, 0.0]


def create(client: MilvusClient, name: str, key: str, value: str, key_length: int) -> None:
    """Create the collection unless it exists, then load it."""
    if not client.has_collection(name):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(key, DataType.VARCHAR, is_primary=True, max_length=key_length)
        schema.add_field(value, DataType.VARCHAR, max_length=MAX_CHARS)
        schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
        index = client.prepare_index_params()
        index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index)
    client.load_collection(name)
