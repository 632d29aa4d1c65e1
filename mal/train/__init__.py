"""Training: data loading, the trainer loop, checkpoints."""
