"""Vector sizes frozen into the database schema (migrations). A system check compares them with
the configured models' output sizes; a store that switches to a model of another size changes these
and runs ``makemigrations`` for its own schema."""

TEXT_DIM = 384  # all-MiniLM-L6-v2
IMAGE_DIM = 1280  # EfficientNet-Lite0 pooled features
