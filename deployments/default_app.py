"""The application with its default arguments, for `serve build deployments.default_app:app`
(`serve build` wants an Application, not a builder). serve_config.yaml's import_path stays the
builder, `deployments.app:build_app`, so its typed `args` apply."""

from deployments.app import build_app

app = build_app({})
