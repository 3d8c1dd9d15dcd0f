"""3D pose lifters: models, losses, metrics and (later) trainers that read the feature cache."""
