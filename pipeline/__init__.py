"""Pure stage functions (dataset adapters, decode, crop, backbone, keypoint decode) and the Typer CLI."""
