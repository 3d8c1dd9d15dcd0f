"""Lifter models; build them by name through `lifters.models.registry.build_model`."""
