"""The `pipeline` console script: parse, build one request object, dispatch. The only layer that imports both
`flows/` and `lifters/`; command groups live one per module and register on `cli.app.app`."""
