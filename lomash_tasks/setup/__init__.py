"""The `inv setup` pipeline: ordered, idempotent steps and their summary."""
